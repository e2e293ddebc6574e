import MQTTCodec
import NIOCore
import Testing

@testable import Broker

/// Routing, sessions, takeover, kick and wills on the broker's state alone: connections are
/// `RecordingSink`s, no sockets, no event loops.
struct BrokerStateTests {
    @Test("a message reaches every matching subscriber once, at the lower of both QoS, not the publisher with No Local")
    func routing() throws {
        var h = StateHarness()
        let a = RecordingSink()
        let b = RecordingSink()
        let c = RecordingSink()
        let ka = h.connect("a", sink: a).key
        let kb = h.connect("b", sink: b).key
        let kc = h.connect("c", sink: c).key
        let codeA = try h.subscribe(ka, a, "s/+", qos: .atMostOnce)
        #expect(codeA == [.grantedQoS0])
        let codeB = try h.subscribe(kb, b, "s/#", qos: .exactlyOnce)
        #expect(codeB == [.grantedQoS2])
        let codeB1 = try h.subscribe(kb, b, "s/1", qos: .atLeastOnce)  // overlaps: one delivery
        #expect(codeB1 == [.grantedQoS1])
        let noLocal = SubscribePacket(packetId: 2, subscriptions: [Subscription(topicFilter: "s/1", qos: .atLeastOnce, noLocal: true)])
        _ = try h.state.subscribe(noLocal, key: kc, sink: c, now: h.now)
        _ = c.take()
        let reached = h.publish("s/1", qos: .atLeastOnce, from: "c")
        #expect(reached == 2)
        let toA = a.publishes()
        let toB = b.publishes()
        #expect(toA.map(\.qos) == [.atMostOnce] && toA.first?.packetId == nil)
        #expect(toB.map(\.qos) == [.atLeastOnce] && toB.first?.packetId != nil)
        #expect(c.publishes().isEmpty, "[MQTT-3.8.3-3] No Local")
        let nobody = h.publish("other")
        #expect(nobody == 0)
    }

    @Test("a full window queues; PUBACK frees it and the queue moves on, in order")
    func windowAndQueue() throws {
        var h = StateHarness()
        let sub = RecordingSink()
        let key = h.connect("sub", sink: sub).key
        _ = try h.subscribe(key, sub, "t")
        for i in 0..<15 { h.publish("t", "\(i)") }
        let first = sub.publishes()
        #expect(first.count == 10, "window of 10")
        h.state.complete(first[0].packetId!, expecting: .awaitingPuback, key: key, sink: sub, now: h.now)
        let next = sub.publishes()
        #expect(next.map { String(buffer: $0.payload) } == ["10"])
        #expect(h.state.sessions.registry.row(clientId: "sub")?.mqueueLen == 4)
    }

    @Test("[MQTT-3.1.4-3] a takeover closes the old connection with 0x8E, and the old one can no longer touch the session")
    func takeover() throws {
        var h = StateHarness()
        let old = RecordingSink()
        let new = RecordingSink()
        let oldKey = h.connect("dup", sink: old, cleanStart: false, expiry: 60).key
        _ = try h.subscribe(oldKey, old, "t")
        _ = old.take()
        let (newKey, present) = h.connect("dup", sink: new, cleanStart: false, expiry: 60)
        #expect(present)
        #expect(newKey == oldKey, "the same session, in its slot")
        let closes = old.take().compactMap { if case .close(let c) = $0 { c } else { nil } }
        #expect(closes.count == 1 && closes.first?.reasonCode == .sessionTakenOver)
        // The old connection's late packets and close change nothing.
        let late = try h.subscribe(oldKey, old, "u")
        #expect(late == nil)
        h.state.connectionClosed(oldKey, sink: old, kind: .ungraceful, now: h.now)
        let live = h.state.stats().connections
        #expect(live == 1)
        let reachedNew = h.publish("t")
        #expect(reachedNew == 1)
        #expect(new.publishes().count == 1)
    }

    @Test("kick: the will goes out, the session ends at once, the connection hears 0x98")
    func kick() throws {
        var h = StateHarness()
        let watcher = RecordingSink()
        let victim = RecordingSink()
        let wk = h.connect("watcher", sink: watcher).key
        _ = try h.subscribe(wk, watcher, "wills/#")
        let will = Will(topic: "wills/victim", payload: ByteBuffer(string: "gone"), qos: .atLeastOnce)
        let vk = h.connect("victim", sink: victim, cleanStart: false, expiry: 3600, will: will).key
        let kicked = h.state.kick("victim", now: h.now)
        #expect(kicked)
        #expect(victim.take().contains { if case .close(.administrativeAction) = $0 { true } else { false } })
        #expect(watcher.publishes().map(\.topic) == ["wills/victim"])
        #expect(h.state.sessions.registry.row(clientId: "victim") == nil, "session discarded")
        h.state.connectionClosed(vk, sink: victim, kind: .ungraceful, now: h.now)
        #expect(watcher.publishes().isEmpty, "the will went out once")
        let again = h.state.kick("victim", now: h.now)
        #expect(!again)
    }

    @Test("an ungraceful close with a Will Delay: the will waits, a reconnect cancels it, expiry publishes it")
    func delayedWill() throws {
        var h = StateHarness()
        let watcher = RecordingSink()
        let wk = h.connect("watcher", sink: watcher).key
        _ = try h.subscribe(wk, watcher, "w")
        var props = Properties()
        props.willDelayInterval = 5
        let will = Will(topic: "w", payload: ByteBuffer(string: "late"), qos: .atMostOnce, properties: props)
        let first = RecordingSink()
        let key = h.connect("d", sink: first, cleanStart: false, expiry: 60, will: will).key
        h.state.connectionClosed(key, sink: first, kind: .ungraceful, now: h.now)
        h.state.tick(now: h.now + .seconds(4))
        #expect(watcher.publishes().isEmpty)
        h.state.tick(now: h.now + .seconds(5))
        #expect(watcher.publishes().map(\.topic) == ["w"])
        // Again, but the client comes back within the delay.
        let second = RecordingSink()
        let key2 = h.connect("d", sink: second, cleanStart: false, expiry: 60, will: will).key
        h.state.connectionClosed(key2, sink: second, kind: .ungraceful, now: h.now)
        _ = h.connect("d", sink: RecordingSink(), cleanStart: false, expiry: 60)
        h.state.tick(now: h.now + .seconds(10))
        #expect(watcher.publishes().isEmpty, "[MQTT-3.1.3-9] cancelled by the reconnect")
    }

    @Test("offline sessions keep their subscriptions and expire; slots are reused")
    func expiryAndSlots() throws {
        var h = StateHarness()
        let s = RecordingSink()
        let key = h.connect("p", sink: s, cleanStart: false, expiry: 2).key
        _ = try h.subscribe(key, s, "t")
        h.state.connectionClosed(key, sink: s, kind: .graceful, now: h.now)
        let queued = h.publish("t")
        #expect(queued == 1, "queued for the offline session")
        let topics = h.state.stats().topics
        #expect(topics == 1)
        h.state.tick(now: h.now + .seconds(2))
        let after = h.state.stats()
        #expect(after.sessions == 0 && after.subscriptions == 0 && after.topics == 0)
        let again = h.connect("q", sink: RecordingSink()).key
        #expect(again == key, "the freed slot is reused")
    }

    @Test("retained messages: kept, replaced, cleared by an empty payload, sent on subscribe with RETAIN set")
    func retained() throws {
        var h = StateHarness()
        h.publish("r/1", "one", retain: true)
        h.publish("r/2", "two", retain: true)
        h.publish("r/2", "", retain: true)
        h.publish("r/3", "three", retain: true)
        h.publish("r/3", "THREE", retain: true)
        let s = RecordingSink()
        let key = h.connect("s", sink: s).key
        _ = try h.subscribe(key, s, "r/+")
        let got = s.publishes()
        #expect(Set(got.map { String(buffer: $0.payload) }) == ["one", "THREE"])
        #expect(got.allSatisfy { $0.retain }, "[MQTT-3.3.1-8]")
        let retainedCount = h.state.stats().retained
        #expect(retainedCount == 2)
    }

    @Test("shutdown closes every live connection with 0x8B and keeps the sessions, without wills")
    func shutdown() throws {
        var h = StateHarness()
        let watcher = RecordingSink()
        let wk = h.connect("watcher", sink: watcher).key
        _ = try h.subscribe(wk, watcher, "w")
        let s = RecordingSink()
        _ = h.connect("s", sink: s, cleanStart: false, expiry: 60, will: Will(topic: "w", payload: ByteBuffer(string: "x")))
        h.state.closeAll(now: h.now)
        #expect(s.take().contains { if case .close(.serverShuttingDown) = $0 { true } else { false } })
        #expect(watcher.take().contains { if case .close(.serverShuttingDown) = $0 { true } else { false } })
        let stats = h.state.stats()
        #expect(stats.connections == 0 && stats.sessions == 1)
        #expect(h.state.sessions.registry.row(clientId: "s")?.connected == false)
    }

    @Test("a session that came back and left again expires at its new deadline, not at the one it had before")
    func expiryMovesWithReconnect() throws {
        var h = StateHarness()
        let first = RecordingSink()
        let key = h.connect("p", sink: first, cleanStart: false, expiry: 2).key
        h.state.connectionClosed(key, sink: first, kind: .graceful, now: h.now)  // expires at +2 s
        h.now = h.now + .seconds(1)
        let second = RecordingSink()
        _ = h.connect("p", sink: second, cleanStart: false, expiry: 2)
        h.now = h.now + .milliseconds(500)
        h.state.connectionClosed(key, sink: second, kind: .graceful, now: h.now)  // now expires at +3.5 s
        h.state.tick(now: h.now + .milliseconds(500))  // the first deadline (+2 s) is due, and stale
        let kept = h.state.stats().sessions
        #expect(kept == 1)
        h.state.tick(now: h.now + .seconds(2))
        let gone = h.state.stats().sessions
        #expect(gone == 0)
    }
}
