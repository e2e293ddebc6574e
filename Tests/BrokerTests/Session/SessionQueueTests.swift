import NIOCore
import NIOEmbedded
import Testing

@testable import Broker
import MQTTCodec

struct SessionQueueTests {
    static func session(maxQueued: Int) -> Session {
        let info = ClientInfo(
            clientId: "s",
            username: nil,
            peerAddress: "127.0.0.1",
            peerPort: 1,
            protocolVersion: .v5,
            keepAlive: 60,
            cleanStart: false,
            connectedAtMs: 0
        )
        let gauges = SessionGauges(createdAtMs: 0, maxSubscriptions: 0, maxAwaitingRel: 100, maxMqueue: maxQueued)
        return Session(identity: ClientIdentity(info: info, counters: ConnectionCounters()), gauges: gauges, expiryInterval: 60, window: 10, maxQueued: maxQueued)
    }

    static func item(_ name: String, _ qos: QoS) -> QueuedMessage {
        QueuedMessage(message: Message(topic: name, payload: ByteBuffer(string: name), qos: qos, retain: false), qos: qos, retain: false, subscriptionIdentifiers: [])
    }

    @Test("a full offline queue drops the oldest QoS 0 first, then the oldest, and counts each drop")
    func dropPolicy() {
        let session = Self.session(maxQueued: 3)
        let now = NIODeadline.now()
        #expect(session.deliver(Self.item("a0", .atMostOnce), now: now) == 0)
        #expect(session.deliver(Self.item("b1", .atLeastOnce), now: now) == 0)
        #expect(session.deliver(Self.item("c2", .exactlyOnce), now: now) == 0)
        #expect(session.deliver(Self.item("d1", .atLeastOnce), now: now) == 1)  // drops a0 (QoS 0)
        #expect(session.queue.map(\.message.topic) == ["b1", "c2", "d1"])
        #expect(session.deliver(Self.item("e1", .atLeastOnce), now: now) == 1)  // drops b1 (oldest)
        #expect(session.queue.map(\.message.topic) == ["c2", "d1", "e1"])
        #expect(session.dropped == 2)
    }

    @Test("the QoS 0 count follows appends, drops and a clear, so a queue without QoS 0 drops its head at once")
    func qos0Bookkeeping() {
        let session = Self.session(maxQueued: 3)
        let now = NIODeadline.now()
        for name in ["a1", "b0", "c0"] { session.deliver(Self.item(name, name.hasSuffix("0") ? .atMostOnce : .atLeastOnce), now: now) }
        #expect(session.queuedQoS0 == 2)
        session.deliver(Self.item("d1", .atLeastOnce), now: now)  // drops b0
        session.deliver(Self.item("e1", .atLeastOnce), now: now)  // drops c0
        #expect(session.queuedQoS0 == 0)
        #expect(session.queue.map(\.message.topic) == ["a1", "d1", "e1"])
        session.deliver(Self.item("f0", .atMostOnce), now: now)  // no QoS 0 left: drops a1, the head
        #expect(session.queue.map(\.message.topic) == ["d1", "e1", "f0"])
        #expect(session.queuedQoS0 == 1)
        session.clearState()
        #expect(session.queuedQoS0 == 0 && session.queue.isEmpty)
        #expect(session.dropped == 3)
    }

    @Test("max queued 0 queues nothing and counts every message")
    func zeroQueue() {
        let session = Self.session(maxQueued: 0)
        #expect(session.deliver(Self.item("a", .atLeastOnce), now: .now()) == 1)
        #expect(session.queue.isEmpty)
        #expect(session.dropped == 1)
    }

    @Test("expired messages are not sent and count as dropped")
    func expiry() {
        let session = Self.session(maxQueued: 5)
        var item = Self.item("old", .atLeastOnce)
        let now = NIODeadline.now()
        item.message.expiresAt = now - .seconds(1)
        session.deliver(item, now: now)
        #expect(session.queue.count == 1)
        let loop = EmbeddedEventLoop()
        let connections = NIOLoopBound(LoopConnections(connectTimeout: .seconds(10), eventLoop: loop), eventLoop: loop)
        let link = ConnectionLink(eventLoop: loop, loop: connections, version: .v5, counters: session.counters) { _ in }
        session.link = link
        session.pump(now: now)
        #expect(session.queue.isEmpty)
        #expect(session.inflight.isEmpty)
        #expect(session.dropped == 1)
    }
}
