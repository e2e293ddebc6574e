import Foundation
import Testing

@testable import TUI

/// The column chooser and what the dashboard remembers.
struct PreferencesTests {
    @Test("the file round-trips; a bad line names the file, the line and what was expected")
    func file() throws {
        var p = DashboardPreferences()
        p.hiddenColumns = [.username, .recvPkt]
        p.sortColumn = .msgsInRate
        p.descending = false
        p.interval = 0.25
        p.targets = [.init(name: "hq", url: "https://emqx:18083", user: "key", password: "secret"), .init(name: "edge", url: "http://edge:8081")]
        let parsed = try DashboardPreferences(parsing: p.rendered, path: "d.conf")
        #expect(parsed == p, "\(p.rendered)")
        #expect(
            p.rendered.contains("hidden_columns = username, recv_pkt") && p.rendered.contains("sort = msgs_in_rate asc")
                && p.rendered.contains("interval = 0.25")
        )
        for (text, expected) in [
            ("sort = nonsense desc", "d.conf line 1: sort: expected a column name and asc or desc"),
            ("\n\nhidden_columns = clientid", "d.conf line 3: hidden_columns: expected column names"),
            ("interval = 60", "interval: expected seconds from 0.25 to 10"),
            ("colour = red", "expected hidden_columns, sort, interval or target"),
            ("target = hq", "target: expected NAME URL [USER [PASSWORD]]"),
            ("sort", "expected 'key = value'"),
        ] {
            #expect(throws: DashboardPreferences.Invalid.self) { try DashboardPreferences(parsing: text, path: "d.conf") }
            do { _ = try DashboardPreferences(parsing: text, path: "d.conf") } catch { #expect(error.description.contains(expected), "\(error)") }
        }
    }

    @Test("F2 lists the columns; Space hides and shows one (never the client id); Esc asks to save; the layout leaves hidden ones out")
    func chooser() {
        var s = TableStateTests.state(TableStateTests.rows)
        _ = s.handle(.function(2), columns: Column.allCases, pageSize: 10)
        #expect(s.mode == .columns(0))
        _ = s.handle(.char(" "), columns: Column.allCases, pageSize: 10)
        #expect(s.hiddenColumns == [.trend] && s.status.contains("always shown"), "TREND starts hidden")
        _ = s.handle(.down, columns: Column.allCases, pageSize: 10)
        _ = s.handle(.enter, columns: Column.allCases, pageSize: 10)
        #expect(s.hiddenColumns == [.username, .trend])
        let screen = TableView.render(state: s, source: SourceInfo(url: "x"), totals: Rates(), detail: nil, width: 100, height: 30, nowMs: 0)
        #expect(screen.text.contains("[ ] USER") && screen.text.contains("[x] CLIENT ID"))
        #expect(s.handle(.escape, columns: Column.allCases, pageSize: 10) == .savePreferences)
        #expect(!Column.layout(width: 220, hidden: s.hiddenColumns).contains { $0.column == .username })
        var restored = TableState()
        restored.apply(s.preferences)
        #expect(restored.hiddenColumns == [.username, .trend] && restored.sortColumn == s.sortColumn)
    }
}
