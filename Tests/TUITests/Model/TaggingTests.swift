import Foundation
import Testing

@testable import TUI

/// Tagging with Space, and one confirmation for disconnecting every tagged client.
struct TaggingTests {
    @Test(
        "Space tags and moves on; d asks once, listing the tagged clients; y disconnects them all and untags; U untags; tags of clients that left go"
    )
    func tagAndKick() {
        var s = TableStateTests.state(TableStateTests.rows)
        s.sortColumn = .clientId
        s.descending = false
        s.refresh()
        #expect(s.selectedId == "a")
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        #expect(s.tagged == ["a"] && s.selectedId == "b")
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        #expect(s.tagged == ["a", "b", "c"])
        _ = s.handle(.up, columns: Column.allCases, pageSize: 10)
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        #expect(s.tagged == ["a", "b"], "Space again untags")
        #expect(s.handle(.char("d"), columns: Column.allCases, pageSize: 10) == nil)
        #expect(s.mode == .confirmKickTagged(["a", "b"]))
        let screen = TableView.render(state: s, source: SourceInfo(url: "x"), totals: Rates(), detail: nil, width: 100, height: 12, nowMs: 0)
        #expect(screen.lines[screen.height - 2].text.contains("Disconnect 2 tagged clients: a, b? [y/N]"))
        #expect(s.handle(.char("y"), columns: Column.allCases, pageSize: 10) == .kickMany(["a", "b"]))
        #expect(s.tagged.isEmpty && s.mode == .table)
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        #expect(!s.tagged.isEmpty)
        _ = s.handle(.char("U"), columns: Column.allCases, pageSize: 10)
        #expect(s.tagged.isEmpty)
        _ = s.handle(.home, columns: Column.allCases, pageSize: 10)
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        s.setRows(TableStateTests.rows.filter { $0.clientId != "a" }, rates: [:])
        #expect(s.tagged.isEmpty, "a left the table")
        _ = s.handle(.char("p"), columns: Column.allCases, pageSize: 10)
        #expect(s.paused, "p pauses")
    }
}
