import Foundation
import Testing

@testable import TUI

struct RateTrackerTests {
    @Test("rates are deltas over the time between polls")
    func deltas() {
        var t = RateTracker()
        t.update([row("a", recv: 1000, sent: 0, msgsIn: 10, msgsOut: 0)], at: 10)
        #expect(t.rates["a"] == Rates())
        t.update([row("a", recv: 3000, sent: 500, msgsIn: 30, msgsOut: 5)], at: 12)
        let r = t.rates["a"]!
        #expect(r.bytesIn == 1000 && r.bytesOut == 250 && r.msgsIn == 10 && r.msgsOut == 2.5)
        #expect(t.total.bytesIn == 1000)
    }

    @Test("a reconnect or a counter reset gives 0, never a negative value or a spike")
    func resets() {
        var t = RateTracker()
        t.update([row("a", recv: 5000, msgsIn: 50)], at: 1)
        t.update([row("a", recv: 100, msgsIn: 1, connectedAt: 2_000)], at: 2)  // reconnected
        #expect(t.rates["a"] == Rates())
        t.update([row("a", recv: 50, msgsIn: 0, connectedAt: 2_000)], at: 3)  // counter went down
        #expect(t.rates["a"]!.bytesIn == 0 && t.rates["a"]!.msgsIn == 0)
        t.update([row("a", recv: 150, msgsIn: 1, connectedAt: 2_000)], at: 4)
        #expect(t.rates["a"]!.bytesIn == 100)
    }

    @Test("disconnected clients and APIs without counters have zero rates")
    func noCounters() {
        var t = RateTracker()
        t.update([row("n", recv: nil, sent: nil, msgsIn: nil, msgsOut: nil), row("d", connected: false, recv: 10)], at: 1)
        t.update([row("n", recv: nil, sent: nil, msgsIn: nil, msgsOut: nil), row("d", connected: false, recv: 20)], at: 2)
        #expect(t.rates["n"] == Rates() && t.rates["d"] == Rates())
    }
}
