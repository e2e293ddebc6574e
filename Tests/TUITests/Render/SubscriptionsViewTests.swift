import Foundation
import Testing

@testable import TUI

/// The subscriptions view's grouping and keys.
struct SubscriptionsViewTests {
    @Test("grouped by topic filter, most subscribed first; / filters topics; Enter narrows the table to the subscribers; Esc widens it")
    func view() {
        let subs = [
            SubscriptionRow(clientId: "a", topic: "x/#", qos: 1), SubscriptionRow(clientId: "c", topic: "x/#", qos: 2),
            SubscriptionRow(clientId: "b", topic: "y", qos: 0),
        ]
        #expect(
            SubscriptionGroup.group(subs) == [
                SubscriptionGroup(topic: "x/#", qos: 2, clients: ["a", "c"]), SubscriptionGroup(topic: "y", qos: 0, clients: ["b"]),
            ]
        )
        var s = TableStateTests.state(TableStateTests.rows)
        #expect(s.handle(.char("s"), columns: Column.allCases, pageSize: 10) == .subscriptionsWanted(true))
        #expect(s.mode == .subscriptions(0))
        let loading = TableView.render(state: s, source: SourceInfo(url: "x"), totals: Rates(), detail: nil, width: 100, height: 12, nowMs: 0)
        #expect(loading.text.contains("loading every subscription"))
        s.setSubscriptions(subs)
        _ = s.handle(.char("/"), columns: Column.allCases, pageSize: 10)
        _ = s.handle(.char("y"), columns: Column.allCases, pageSize: 10)
        _ = s.handle(.enter, columns: Column.allCases, pageSize: 10)
        #expect(s.visibleSubscriptions.map(\.topic) == ["y"])
        let screen = TableView.render(state: s, source: SourceInfo(url: "x"), totals: Rates(), detail: nil, width: 100, height: 12, nowMs: 0)
        #expect(screen.text.contains("TOPIC FILTER") && screen.lines[4].text.contains("y") && screen.lines[4].text.contains(" b"))
        #expect(s.handle(.enter, columns: Column.allCases, pageSize: 10) == .subscriptionsWanted(false))
        #expect(s.mode == .table && s.visible.map(\.clientId) == ["b"] && s.filter.isEmpty)
        _ = s.handle(.escape, columns: Column.allCases, pageSize: 10)
        #expect(s.visible.count == 4)
    }
}
