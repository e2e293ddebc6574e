import AviaryLocks
import MQTTCodec
import NIOCore
import Synchronization
import Testing

@testable import Broker

/// Flow control on the broker's state: a subscriber at its high-water mark holds back the
/// publishers feeding it (and only them), lets them go at its low-water mark, is disconnected
/// after `max_stall` without progress; a message no session could take is 0x97.
struct FlowControlTests {
    static func harness(_ configure: (inout BrokerConfiguration) -> Void = { _ in }) -> StateHarness {
        StateHarness {
            $0.queueHighWater = 20
            $0.queueLowWater = 5
            configure(&$0)
        }
    }

    @Test(
        "only the publisher feeding a subscriber at its high-water mark is held; nothing is dropped; PUBACKs (window) let it go at the low-water mark"
    )
    func holdsOnlyItsPublishers() throws {
        var h = Self.harness()
        let slow = RecordingSink()
        let fast = RecordingSink()
        let ks = h.connect("slow", sink: slow).key
        let kf = h.connect("fast", sink: fast).key
        _ = try h.subscribe(ks, slow, "slow/t")
        _ = try h.subscribe(kf, fast, "fast/t", qos: .atMostOnce)  // keeps up: nothing waits for it
        let p1 = RecordingSink()
        let p2 = RecordingSink()
        let k1 = h.connect("p1", sink: p1).key
        let k2 = h.connect("p2", sink: p2).key
        // Window 10 in flight + 20 queued reach the mark; the 31st message is queued over it.
        for i in 0..<30 { #expect(h.publish("slow/t", "\(i)", key: k1, sink: p1).reasonCode == .success) }
        #expect(p1.heldBy == 0)
        #expect(h.publish("slow/t", "30", key: k1, sink: p1).accepted == 1)
        #expect(p1.heldBy == 1, "held by slow")
        for i in 0..<50 { h.publish("fast/t", "\(i)", key: k2, sink: p2) }
        #expect(p2.heldBy == 0, "a publisher of another topic is not held")
        h.publish("slow/t", "31", key: k1, sink: p1)
        #expect(p1.heldBy == 1, "held once per subscriber")
        let row = h.state.sessions.registry.row(clientId: "slow")
        #expect(row?.holdingPublishers == 1 && row?.mqueueLen == 22 && row?.mqueueDropped == 0)
        #expect(h.state.metrics.publishersHeld.load == 1)
        // The subscriber acknowledges: its queue moves into the window; at 5 queued p1 goes on.
        var sent = slow.publishes()
        #expect(sent.count == 10)
        var acked = 0
        while p1.heldBy > 0, !sent.isEmpty {
            let packet = sent.removeFirst()
            h.state.complete(packet.packetId!, expecting: .awaitingPuback, key: ks, sink: slow, now: h.now)
            acked += 1
            sent += slow.publishes()
        }
        #expect(p1.heldBy == 0)
        #expect(acked == 17, "22 queued - 17 = 5, the low-water mark")
        #expect(p1.take().count == 1, "one resume")
        #expect(h.state.sessions.registry.row(clientId: "slow")?.holdingPublishers == 0)
    }

    @Test("a client is not held back by its own subscription (it could not read the PUBACKs that drain it)")
    func notHeldBySelf() throws {
        var h = Self.harness()
        let loop = RecordingSink(writable: false)
        let key = h.connect("loop", sink: loop).key
        _ = try h.subscribe(key, loop, "echo")
        for i in 0..<40 { h.publish("echo", "\(i)", key: key, sink: loop) }
        #expect(loop.heldBy == 0)
    }

    @Test(
        "QoS 0 over the high-water mark: dropped and counted (drop), or queued with the publisher held (throttle)",
        arguments: OverloadPolicy.allCases
    )
    func qos0(policy: OverloadPolicy) throws {
        var h = Self.harness { $0.overloadPolicy = policy }
        let sub = RecordingSink(writable: false)
        let publisher = RecordingSink()
        let ks = h.connect("sub", sink: sub).key
        _ = try h.subscribe(ks, sub, "t", qos: .atMostOnce)
        let kp = h.connect("pub", sink: publisher).key
        for i in 0..<25 { h.publish("t", "\(i)", qos: .atMostOnce, key: kp, sink: publisher) }
        let row = h.state.sessions.registry.row(clientId: "sub")
        switch policy {
        case .drop:
            #expect(row?.mqueueLen == 20 && row?.mqueueDropped == 5)
            #expect(publisher.heldBy == 0)
        case .throttle:
            #expect(row?.mqueueLen == 25 && row?.mqueueDropped == 0)
            #expect(publisher.heldBy == 1)
        }
    }

    @Test("a QoS 1 message every matching (offline, full) session refuses: 0x97 and counted; one session taking it is enough")
    func quotaExceeded() throws {
        var h = Self.harness { $0.maxQueuedMessages = 2 }
        let a = RecordingSink()
        let b = RecordingSink()
        let ka = h.connect("a", sink: a, cleanStart: false, expiry: 3600).key
        _ = try h.subscribe(ka, a, "q")
        h.state.connectionClosed(ka, sink: a, kind: .graceful, now: h.now)
        let publisher = RecordingSink()
        let kp = h.connect("pub", sink: publisher).key
        #expect(h.publish("q", "1", key: kp, sink: publisher).reasonCode == .success)
        #expect(h.publish("q", "2", key: kp, sink: publisher).reasonCode == .success)
        let refused = h.publish("q", "3", key: kp, sink: publisher)
        #expect(refused == PublishResult(matched: 1, accepted: 0))
        #expect(refused.reasonCode == .quotaExceeded)
        #expect(h.state.metrics.quotaExceeded.load == 1)
        #expect(h.publish("nobody", key: kp, sink: publisher).reasonCode == .noMatchingSubscribers)
        let kb = h.connect("b", sink: b).key
        _ = try h.subscribe(kb, b, "q")
        #expect(h.publish("q", "4", key: kp, sink: publisher) == PublishResult(matched: 2, accepted: 1))
    }

    @Test("QoS 2: a 5.0 message nobody could take gets 0x97 and does not wait for PUBREL; one that was taken does")
    func quotaExceededQoS2() throws {
        var h = Self.harness { $0.maxQueuedMessages = 1 }
        let a = RecordingSink()
        let ka = h.connect("a", sink: a, cleanStart: false, expiry: 3600).key
        _ = try h.subscribe(ka, a, "q", qos: .exactlyOnce)
        h.state.connectionClosed(ka, sink: a, kind: .graceful, now: h.now)
        let publisher = RecordingSink()
        let kp = h.connect("pub", sink: publisher).key
        let message = Message(topic: "q", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, retain: false)
        let first = try h.state.publishExactlyOnce(message, packetId: 1, key: kp, sink: publisher, now: h.now)
        #expect(first?.reasonCode == .success)
        let second = try h.state.publishExactlyOnce(message, packetId: 2, key: kp, sink: publisher, now: h.now)
        #expect(second?.reasonCode == .quotaExceeded)
        let releasedFirst = h.state.released(1, key: kp, sink: publisher)
        let releasedSecond = h.state.released(2, key: kp, sink: publisher)
        #expect(releasedFirst)
        #expect(!releasedSecond, "0x97 ended the exchange")
    }

    @Test(
        """
        max_stall: a subscriber holding publishers back without taking a message is disconnected (0x97), its will goes out, its publishers go on, \
        its queue is cut to max_queued
        """
    )
    func stallDisconnect() throws {
        var h = Self.harness {
            $0.maxStall = 5
            $0.maxQueuedMessages = 8
        }
        let watcher = RecordingSink()
        let kw = h.connect("watcher", sink: watcher).key
        _ = try h.subscribe(kw, watcher, "wills/#")
        let stuck = RecordingSink(writable: false)
        let will = Will(topic: "wills/stuck", payload: ByteBuffer(string: "stalled"), qos: .atLeastOnce)
        let ks = h.connect("stuck", sink: stuck, cleanStart: false, expiry: 3600, will: will).key
        _ = try h.subscribe(ks, stuck, "t")
        let publisher = RecordingSink()
        let kp = h.connect("pub", sink: publisher).key
        for i in 0..<25 { h.publish("t", "\(i)", key: kp, sink: publisher) }
        #expect(publisher.heldBy == 1)
        h.now = h.now + .seconds(4)
        h.state.tick(now: h.now)
        #expect(!stuck.take().contains { if case .close = $0 { true } else { false } })
        h.now = h.now + .seconds(1)
        h.state.tick(now: h.now)
        #expect(stuck.take().contains { if case .close(.stalled) = $0 { true } else { false } })
        #expect(BrokerClose.stalled.reasonCode == .quotaExceeded && !BrokerClose.stalled.waitsForFlush)
        #expect(h.state.metrics.stallDisconnects.load == 1)
        #expect(publisher.heldBy == 0 && publisher.take().count == 1)
        #expect(watcher.publishes().map(\.topic) == ["wills/stuck"])
        let row = h.state.sessions.registry.row(clientId: "stuck")
        #expect(row?.connected == false && row?.mqueueLen == 8 && row?.mqueueDropped == 17)
        #expect(h.state.holders.isEmpty == false)
        h.state.tick(now: h.now + .seconds(1))
        #expect(h.state.holders.isEmpty, "pruned once it holds nobody")
    }

    @Test("max_stall 0: never disconnected")
    func stallOff() throws {
        var h = Self.harness { $0.maxStall = 0 }
        let stuck = RecordingSink(writable: false)
        let ks = h.connect("stuck", sink: stuck).key
        _ = try h.subscribe(ks, stuck, "t")
        let publisher = RecordingSink()
        let kp = h.connect("pub", sink: publisher).key
        for i in 0..<25 { h.publish("t", "\(i)", key: kp, sink: publisher) }
        h.state.tick(now: h.now + .seconds(3600))
        #expect(!stuck.take().contains { if case .close = $0 { true } else { false } })
        #expect(publisher.heldBy == 1)
    }

    @Test("drop warnings: one per client per 10 s however many drops (simulated time), each drop counted")
    func dropWarningThrottle() throws {
        let log = LogRecorder()
        var h = StateHarness(logger: log.logger) { $0.maxQueuedMessages = 1 }
        let a = RecordingSink()
        let ka = h.connect("offline", sink: a, cleanStart: false, expiry: 3600).key
        _ = try h.subscribe(ka, a, "q")
        h.state.connectionClosed(ka, sink: a, kind: .graceful, now: h.now)
        func warnings() -> Int { log.lines.withLock { $0.filter { $0.hasPrefix("warning messages dropped") }.count } }
        for i in 0..<4 { h.publish("q", "\(i)") }  // 1 kept, 3 refused
        #expect(warnings() == 1)
        h.now = h.now + .seconds(9)
        h.publish("q", "late")
        #expect(warnings() == 1, "within 10 s of the last warning")
        h.now = h.now + .seconds(1)
        h.publish("q", "later")
        #expect(warnings() == 2, "10 s after it")
        #expect(h.state.metrics.messagesDropped.load == 5)
        #expect(h.state.sessions.registry.row(clientId: "offline")?.mqueueDropped == 5)
    }
}
