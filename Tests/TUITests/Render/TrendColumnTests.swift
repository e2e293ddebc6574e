import Foundation
import Testing

@testable import TUI

struct TrendColumnTests {
    @Test("TREND, once shown with F2, draws each client's messages per second from the history")
    func trend() {
        var s = TableStateTests.state(TableStateTests.rows)
        s.hiddenColumns = []
        var history = RateHistory()
        var r = Rates()
        for v in [1.0, 4, 8] {
            r.msgsIn = v
            history.record(total: r, rates: ["c": r])
        }
        let screen = TableView.render(
            state: s,
            source: SourceInfo(url: "x"),
            totals: r,
            detail: nil,
            width: 240,
            height: 12,
            nowMs: 0,
            history: history
        )
        let header = screen.lines[3].text
        let row = screen.lines.first { $0.text.hasPrefix("c ") }?.text ?? ""
        #expect(header.contains("TREND") && row.contains("▂▅█"), "\(header)\n\(row)")
    }
}
