import MQTTCodec
import NIOCore
import NIOEmbedded
import Testing

@testable import Broker

struct SessionQueueTests {
    static func session(maxQueued: Int, configure: (inout BrokerConfiguration) -> Void = { _ in }) -> Session {
        var configuration = BrokerConfiguration()
        configuration.maxQueuedMessages = maxQueued
        configure(&configuration)
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
        return Session(
            identity: ClientIdentity(info: info, counters: ConnectionCounters()),
            gauges: gauges,
            expiryInterval: 60,
            window: 10,
            maxQueued: maxQueued,
            flow: FlowLimits(configuration)
        )
    }

    /// A connected session whose socket takes nothing (its sink is not writable).
    static func connected(maxQueued: Int, high: Int, low: Int, policy: OverloadPolicy = .drop) -> (Session, RecordingSink) {
        let session = Self.session(maxQueued: maxQueued) {
            $0.queueHighWater = high
            $0.queueLowWater = low
            $0.overloadPolicy = policy
        }
        let sink = RecordingSink(writable: false)
        session.link = sink
        return (session, sink)
    }

    static func item(_ name: String, _ qos: QoS) -> QueuedMessage {
        QueuedMessage(
            message: Message(topic: name, payload: ByteBuffer(string: name), qos: qos, retain: false),
            qos: qos,
            retain: false,
            subscriptionIdentifiers: []
        )
    }

    @Test("a full offline queue makes room by dropping its oldest QoS 0 message; without one the new message is refused; each drop counted")
    func dropPolicy() {
        let session = Self.session(maxQueued: 3)
        let now = NIODeadline.now()
        #expect(session.deliver(Self.item("a0", .atMostOnce), now: now) == .queued)
        #expect(session.deliver(Self.item("b1", .atLeastOnce), now: now) == .queued)
        #expect(session.deliver(Self.item("c2", .exactlyOnce), now: now) == .queued)
        #expect(session.deliver(Self.item("d1", .atLeastOnce), now: now) == .queued)  // drops a0 (QoS 0)
        #expect(session.queue.map(\.message.topic) == ["b1", "c2", "d1"])
        #expect(session.deliver(Self.item("e1", .atLeastOnce), now: now) == .dropped)  // full of QoS 1/2: refused
        #expect(session.deliver(Self.item("f0", .atMostOnce), now: now) == .dropped)
        #expect(session.queue.map(\.message.topic) == ["b1", "c2", "d1"])
        #expect(session.dropped == 3)
    }

    @Test("the QoS 0 count follows appends, drops and a clear")
    func qos0Bookkeeping() {
        let session = Self.session(maxQueued: 3)
        let now = NIODeadline.now()
        for name in ["a1", "b0", "c0"] { _ = session.deliver(Self.item(name, name.hasSuffix("0") ? .atMostOnce : .atLeastOnce), now: now) }
        #expect(session.queuedQoS0 == 2)
        _ = session.deliver(Self.item("d1", .atLeastOnce), now: now)  // drops b0
        _ = session.deliver(Self.item("e1", .atLeastOnce), now: now)  // drops c0
        #expect(session.queuedQoS0 == 0)
        #expect(session.queue.map(\.message.topic) == ["a1", "d1", "e1"])
        #expect(session.deliver(Self.item("f0", .atMostOnce), now: now) == .dropped)
        #expect(session.queuedQoS0 == 0)
        session.clearState()
        #expect(session.queuedQoS0 == 0 && session.queue.isEmpty)
        #expect(session.dropped == 3)
    }

    @Test("max queued 0 queues nothing and counts every message")
    func zeroQueue() {
        let session = Self.session(maxQueued: 0)
        #expect(session.deliver(Self.item("a", .atLeastOnce), now: .now()) == .dropped)
        #expect(session.queue.isEmpty)
        #expect(session.dropped == 1)
    }

    @Test(
        """
        connected: QoS 1/2 queue past max_queued without a drop, over the high-water mark they say so; QoS 0 there is dropped (policy drop) or \
        queued (throttle)
        """
    )
    func connectedQueue() {
        for policy in OverloadPolicy.allCases {
            let (session, _) = Self.connected(maxQueued: 2, high: 4, low: 2, policy: policy)
            let now = NIODeadline.now()
            var outcomes: [DeliveryOutcome] = []
            for i in 0..<6 { outcomes.append(session.deliver(Self.item("m\(i)", .atLeastOnce), now: now)) }
            #expect(outcomes == [.queued, .queued, .queued, .queued, .queuedOverHighWater, .queuedOverHighWater])
            let qos0 = session.deliver(Self.item("z", .atMostOnce), now: now)
            #expect(qos0 == (policy == .drop ? .dropped : .queuedOverHighWater))
            #expect(session.dropped == (policy == .drop ? 1 : 0))
            #expect(session.queue.count == (policy == .drop ? 6 : 7))
        }
    }

    @Test("holds: a publisher is held once per subscriber, let go at the low-water mark (resume sent once), and on going offline")
    func holdAndRelease() {
        let (session, sink) = Self.connected(maxQueued: 3, high: 4, low: 2)
        let publisher = RecordingSink()
        let now = NIODeadline.now()
        for i in 0..<6 { _ = session.deliver(Self.item("m\(i)", .atLeastOnce), now: now) }
        #expect(session.hold(publisher, now: now))
        #expect(!session.hold(publisher, now: now), "already held by this session")
        #expect(publisher.heldBy == 1 && session.isHolding && session.gauges.holdingPublishers == 1)
        sink.setWritable(true)
        session.pump(now: now)  // window 10: all six go out, the queue is empty
        #expect(publisher.heldBy == 0 && !session.isHolding)
        #expect(publisher.take().count == 1, "one resume")
        // Again, then offline with 6 queued: let go, and the queue is cut to max_queued (3), newest dropped.
        sink.setWritable(false)
        session.window = 0
        for i in 6..<12 { _ = session.deliver(Self.item("m\(i)", .atLeastOnce), now: now) }
        #expect(session.hold(publisher, now: now))
        session.link = nil
        session.releaseHolds()
        #expect(session.trimForOffline() == 3)
        #expect(session.queue.map(\.message.topic) == ["m6", "m7", "m8"])
        #expect(publisher.heldBy == 0)
    }

    @Test("stall: holding with no message taken for the limit, counted from when holding began or the last progress")
    func stall() {
        let (session, sink) = Self.connected(maxQueued: 3, high: 1, low: 0)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for i in 0..<3 { _ = session.deliver(Self.item("m\(i)", .atLeastOnce), now: start) }
        #expect(!session.hasStalled(now: start + .seconds(100), limit: .seconds(5)), "not holding anyone")
        _ = session.hold(RecordingSink(), now: start + .seconds(10))
        #expect(!session.hasStalled(now: start + .seconds(14), limit: .seconds(5)))
        #expect(session.hasStalled(now: start + .seconds(15), limit: .seconds(5)))
        sink.setWritable(true)
        session.window = 1
        session.pump(now: start + .seconds(15))  // one message out: progress, still over the low-water mark
        #expect(session.isHolding)
        #expect(!session.hasStalled(now: start + .seconds(19), limit: .seconds(5)))
        #expect(session.hasStalled(now: start + .seconds(20), limit: .seconds(5)))
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
