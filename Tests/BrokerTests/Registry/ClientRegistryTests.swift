import Dispatch
import MQTTCodec
import NIOCore
import Synchronization
import Testing

@testable import Broker

/// The client registry beside the broker's state: writers (sessions starting and ending) and
/// readers (the API) at once, on several threads; run under ThreadSanitizer by
/// `make sanitize`.
struct ClientRegistryTests {
    @Test("sessions come and go in the state; the registry mirrors them exactly, slot for slot")
    func mirrorsTheSessionStore() throws {
        var h = StateHarness()
        var sinks: [String: RecordingSink] = [:]
        var keys: [String: SessionKey] = [:]
        for i in 0..<200 {
            let id = "c\(i)"
            let sink = RecordingSink()
            sinks[id] = sink
            keys[id] = h.connect(id, sink: sink, cleanStart: i % 2 == 0, expiry: i % 2 == 0 ? 0 : 60).key
        }
        // Even ids have no session expiry: closing ends them. Odd ones stay, offline.
        for i in stride(from: 0, to: 200, by: 3) {
            let id = "c\(i)"
            h.state.connectionClosed(keys[id]!, sink: sinks[id]!, kind: .graceful, now: h.now)
        }
        let registry = h.state.sessions.registry
        let expected = Set(h.state.sessions.map(\.clientId))
        #expect(Set(registry.rows().map(\.clientId)) == expected)
        #expect(registry.count == expected.count)
        for id in expected {
            let row = registry.row(clientId: id)
            #expect(row?.clientId == id)
            let offline = Int(id.dropFirst())! % 3 == 0
            #expect(row?.connected == !offline, "\(id)")
        }
        #expect(registry.row(clientId: "c0") == nil, "ended sessions leave the registry")
    }

    @Test("counters and gauges read through the registry are exact after churn: queue, drops, subscriptions")
    func gaugesAfterChurn() throws {
        var h = StateHarness { $0.maxQueuedMessages = 5 }
        let sink = RecordingSink()
        let key = h.connect("sub", sink: sink, cleanStart: false, expiry: 60).key
        _ = try h.subscribe(key, sink, "t/#")
        _ = try h.subscribe(key, sink, "u")
        h.state.connectionClosed(key, sink: sink, kind: .ungraceful, now: h.now)
        for i in 0..<8 { h.publish("t/\(i)") }
        let row = try #require(h.state.sessions.registry.row(clientId: "sub"))
        #expect(row.connected == false && row.disconnectedAtMs != nil)
        #expect(row.subscriptionsCount == 2)
        #expect(row.gauges.subscriptions.map(\.topicFilter).sorted() == ["t/#", "u"])
        let listed = h.state.sessions.registry.subscriptions()
        #expect(listed.count == 2 && listed.allSatisfy { $0.clientId == "sub" })
        let ignored = h.state.unsubscribe(UnsubscribePacket(packetId: 9, topicFilters: ["u"]), key: key, sink: sink)
        #expect(ignored == nil, "a closed connection no longer owns the session")
        #expect(row.mqueueLen == 5 && row.mqueueDropped == 3 && row.heldBytes == 5)
        #expect(row.expiryInterval == 60)
        // Back online: the queue drains into the window, the row follows.
        let again = RecordingSink()
        _ = h.connect("sub", sink: again, cleanStart: false, expiry: 60)
        let after = try #require(h.state.sessions.registry.row(clientId: "sub"))
        #expect(after.connected && after.mqueueLen == 0 && after.inflight == 5 && after.maxInflight == 10)
        #expect(again.publishes().count == 5)
        let codes = h.state.unsubscribe(UnsubscribePacket(packetId: 9, topicFilters: ["u"]), key: key, sink: again)
        #expect(codes == [.success])
        #expect(h.state.sessions.registry.subscriptions(clientId: "sub").map(\.subscription.topicFilter) == ["t/#"])
    }

    @Test("four readers scan and page while two writers add and remove 20,000 rows: no torn rows, exact count at the end")
    func concurrentReadersAndWriters() throws {
        let registry = ClientRegistry()
        let identities = (0..<2_000).map { StateHarness.identity("r\($0)") }
        let gauges = identities.map { _ in SessionGauges(createdAtMs: 1, maxSubscriptions: 0, maxAwaitingRel: 1, maxMqueue: 1) }
        let writersDone = Tally()
        let seen = Tally()
        let group = DispatchGroup()
        for writer in 0..<2 {
            DispatchQueue.global().async(group: group) {
                // Writer w owns the even or odd slots: set, count up, remove some, set again.
                for round in 0..<10 {
                    for slot in stride(from: writer, to: 2_000, by: 2) {
                        registry.set(ClientListing(identity: identities[slot], gauges: gauges[slot]), slot: slot)
                        identities[slot].counters.recvOct.wrappingAdd(1, ordering: .relaxed)
                        if round % 2 == 1 && slot % 4 < 2 { registry.remove(slot: slot) }
                    }
                }
                writersDone.value.add(1, ordering: .relaxed)
            }
        }
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                repeat {
                    var rows = 0
                    registry.scan { view, slot in
                        // A torn row would name another client than its slot's.
                        precondition(view.clientId == "r\(slot)")
                        rows += 1
                    }
                    _ = registry.page(offset: 0, limit: 50)
                    _ = registry.row(clientId: "r7")
                    seen.value.add(rows, ordering: .relaxed)
                } while writersDone.value.load(ordering: .relaxed) < 2
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        // The last round (odd) removed the slots with slot % 4 < 2: half remain.
        #expect(registry.count == 1_000)
        #expect(registry.rows().allSatisfy { Int($0.clientId.dropFirst())! % 4 >= 2 })
        #expect(identities.allSatisfy { $0.counters.recvOct.load(ordering: .relaxed) == 10 })
        #expect(seen.value.load(ordering: .relaxed) > 0)
    }
}

private final class Tally: Sendable {
    let value = Atomic<Int>(0)
}
