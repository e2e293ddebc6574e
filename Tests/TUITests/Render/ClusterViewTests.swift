import Foundation
import Testing

@testable import TUI

/// The cluster view's keys and rendering.
struct ClusterViewTests {
    @Test("n opens the nodes (or says there are none); Enter narrows the table to the node's clients; Esc widens it")
    func nodes() {
        var rows = TableStateTests.rows
        rows[0].node = "n1"
        rows[1].node = "n2"
        rows[2].node = "n1"
        var s = TableStateTests.state(rows)
        _ = s.handle(.char("n"), columns: Column.allCases, pageSize: 10)
        #expect(s.mode == .table && s.status.contains("no cluster view"))
        var n1 = NodeRow(name: "n1", status: "running")
        n1.receivedRate = 1500
        s.nodes = [n1, NodeRow(name: "n2", status: "stopped")]
        _ = s.handle(.char("n"), columns: Column.allCases, pageSize: 10)
        #expect(s.mode == .nodes(0))
        let screen = TableView.render(state: s, source: SourceInfo(url: "x"), totals: Rates(), detail: nil, width: 120, height: 12, nowMs: 0)
        #expect(
            screen.lines[3].text.contains("NODE") && screen.lines[4].text.contains("n1") && screen.lines[4].text.contains("1.5k")
                && screen.lines[5].text.contains("stopped")
        )
        _ = s.handle(.down, columns: Column.allCases, pageSize: 10)
        _ = s.handle(.enter, columns: Column.allCases, pageSize: 10)
        #expect(s.mode == .table && s.nodeFilter == "n2" && s.visible.map(\.clientId) == ["a"])
        _ = s.handle(.escape, columns: Column.allCases, pageSize: 10)
        #expect(s.nodeFilter == nil && s.visible.count == 4)
    }
}
