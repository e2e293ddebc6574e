import Foundation
import Testing

@testable import TUI

struct TableStateTests {
    static func state(_ rows: [ClientRow], rates: [String: Rates] = [:]) -> TableState {
        var s = TableState()
        s.setRows(rows, rates: rates)
        return s
    }

    static let rows = [
        row("c", user: "zed", recv: 300, sent: 10, msgsIn: 3, msgsOut: 9, connectedAt: 3_000, proto: "5.0", port: 3),
        row("a", user: "amy", recv: 100, sent: 30, msgsIn: 1, msgsOut: 7, connectedAt: 1_000, proto: "3.1", port: 1),
        row("b", user: "bob", connected: false, recv: 100, sent: 20, msgsIn: 2, msgsOut: 8, connectedAt: 2_000, proto: "3.1.1", port: 2),
        row("d", user: "amy", recv: nil, sent: nil, msgsIn: nil, msgsOut: nil, connectedAt: 4_000, proto: "5.0", address: nil, port: nil),
    ]

    @Test("every column sorts both ways; ties by client id; missing values last", arguments: Column.allCases)
    func sortEveryColumn(column: Column) {
        let rates: [String: Rates] = [
            "a": {
                var r = Rates()
                r.bytesIn = 5
                r.msgsOut = 1
                return r
            }(), "b": Rates(),
            "c": {
                var r = Rates()
                r.bytesIn = 9
                return r
            }(),
        ]
        for descending in [false, true] {
            var s = Self.state(Self.rows, rates: rates)
            s.sortColumn = column
            s.descending = descending
            s.refresh()
            let values = s.visible.map { column.sortValue($0, rates[$0.clientId]) }
            for (i, (x, y)) in zip(values, values.dropFirst()).enumerated() {
                let a = s.visible[i].clientId
                let b = s.visible[i + 1].clientId
                switch (x, y) {
                case (.missing, .missing): #expect(a < b)
                case (.missing, _): Issue.record("\(column): missing value before a present one")
                case (_, .missing): break
                default:
                    if x == y {
                        #expect(a < b, "\(column) tie: \(a) before \(b)")
                    } else {
                        #expect(descending ? y < x : x < y, "\(column) \(descending ? "desc" : "asc"): \(a) before \(b)")
                    }
                }
            }
            #expect(s.visible.count == 4)
        }
    }

    @Test("concrete orders")
    func concreteOrders() {
        var s = Self.state(Self.rows)
        s.sortColumn = .recvOct
        s.descending = true
        s.refresh()
        #expect(s.visible.map(\.clientId) == ["c", "a", "b", "d"])  // a and b tie on 100: by id; d has no counters
        s.sortColumn = .username
        s.descending = false
        s.refresh()
        #expect(s.visible.map(\.clientId) == ["a", "d", "b", "c"])
    }

    @Test("the filter matches id, username and address, case-insensitively")
    func filter() {
        var s = Self.state(Self.rows)
        s.filter = "AMY"
        s.refresh()
        #expect(Set(s.visible.map(\.clientId)) == ["a", "d"])
        s.filter = "127.0"
        s.refresh()
        #expect(s.visible.count == 3)
        s.filter = "nothing"
        s.refresh()
        #expect(s.visible.isEmpty && s.selectedId == nil)
    }

    @Test("typing a filter is incremental; Esc clears it")
    func filterKeys() {
        var s = Self.state(Self.rows)
        let cols = Column.allCases
        _ = s.handle(.char("/"), columns: cols, pageSize: 10)
        #expect(s.filterEditing)
        for c in "bo" { _ = s.handle(.char(c), columns: cols, pageSize: 10) }
        #expect(s.visible.map(\.clientId) == ["b"])
        _ = s.handle(.backspace, columns: cols, pageSize: 10)
        #expect(s.filter == "b")
        _ = s.handle(.escape, columns: cols, pageSize: 10)
        #expect(s.filter.isEmpty && !s.filterEditing && s.visible.count == 4)
    }

    @Test("the selection follows the same client across refreshes and re-sorts")
    func selectionFollowsClient() {
        var s = Self.state(Self.rows)
        s.sortColumn = .clientId
        s.descending = false
        s.refresh()
        _ = s.handle(.down, columns: Column.allCases, pageSize: 10)
        #expect(s.selectedId == "b")
        _ = s.handle(.char("r"), columns: Column.allCases, pageSize: 10)
        #expect(s.selectedId == "b" && s.selectedIndex == 2)
        var changed = Self.rows
        changed.removeFirst()
        s.setRows(changed, rates: [:])
        #expect(s.selectedId == "b")
        _ = s.handle(.char("G"), columns: Column.allCases, pageSize: 10)
        #expect(s.selectedId == s.visible.last?.clientId)
        _ = s.handle(.home, columns: Column.allCases, pageSize: 10)
        #expect(s.selectedId == s.visible.first?.clientId)
    }

    @Test("< and > move the sort column through the shown columns; r reverses")
    func sortKeys() {
        var s = Self.state(Self.rows)
        let cols: [Column] = [.clientId, .bytesInRate, .bytesOutRate]
        s.sortColumn = .bytesInRate
        _ = s.handle(.char(">"), columns: cols, pageSize: 10)
        #expect(s.sortColumn == .bytesOutRate && s.descending)
        _ = s.handle(.char("<"), columns: cols, pageSize: 10)
        _ = s.handle(.char("<"), columns: cols, pageSize: 10)
        #expect(s.sortColumn == .clientId && !s.descending)
        _ = s.handle(.char("r"), columns: cols, pageSize: 10)
        #expect(s.descending)
    }

    @Test("disconnect asks first, defaults to No, and refuses where the API cannot kick")
    func kickConfirmation() {
        var s = Self.state(Self.rows)
        s.selectedId = "a"
        #expect(s.handle(.char("d"), columns: [], pageSize: 10) == nil)
        #expect(s.mode == .confirmKick("a"))
        #expect(s.handle(.char("n"), columns: [], pageSize: 10) == nil)
        #expect(s.mode == .table)
        _ = s.handle(.delete, columns: [], pageSize: 10)
        #expect(s.handle(.char("y"), columns: [], pageSize: 10) == .kick("a"))
        s.selectedId = "b"
        _ = s.handle(.char("d"), columns: [], pageSize: 10)
        #expect(s.mode == .table && s.status.contains("not connected"))
        s.canKick = false
        s.selectedId = "a"
        _ = s.handle(.char("d"), columns: [], pageSize: 10)
        #expect(s.mode == .table && s.status.contains("no disconnect endpoint"))
    }

    @Test("pause, interval bounds, help, detail and quit keys")
    func otherKeys() {
        var s = Self.state(Self.rows)
        #expect(s.handle(.char("p"), columns: [], pageSize: 10) == .pauseChanged(true))
        #expect(s.handle(.char("p"), columns: [], pageSize: 10) == .pauseChanged(false))
        for _ in 0..<10 { _ = s.handle(.char("+"), columns: [], pageSize: 10) }
        #expect(s.interval == 10)
        for _ in 0..<10 { _ = s.handle(.char("-"), columns: [], pageSize: 10) }
        #expect(s.interval == 0.25)
        _ = s.handle(.char("?"), columns: [], pageSize: 10)
        #expect(s.mode == .help)
        _ = s.handle(.char("x"), columns: [], pageSize: 10)
        s.selectedId = "c"
        #expect(s.handle(.enter, columns: [], pageSize: 10) == .openDetail("c"))
        _ = s.handle(.escape, columns: [], pageSize: 10)
        #expect(s.mode == .table)
        #expect(s.handle(.function(6), columns: [], pageSize: 10) == nil)
        _ = s.handle(.down, columns: [], pageSize: 10)
        _ = s.handle(.enter, columns: [], pageSize: 10)
        #expect(s.mode == .table && s.sortColumn != .bytesInRate)
        #expect(s.handle(.char("q"), columns: [], pageSize: 10) == .quit)
    }

    @Test(
        """
        navigation keys: j/k and arrows and the wheel move one row, PgUp/PgDn a page, Home/g and End/G the ends; F9 asks to disconnect, F1/h open \
        help, F10 quits
        """
    )
    func navigationKeys() {
        let many = (0..<30).map {
            row(String(format: "n%02d", $0), user: "u", recv: 0, sent: 0, msgsIn: 0, msgsOut: 0, connectedAt: 1_000, proto: "5.0", port: $0)
        }
        var s = Self.state(many)
        _ = s.handle(.char("<"), columns: [.clientId, .username], pageSize: 10)  // sort by client id, ascending
        func selected(after key: Key) -> String? {
            _ = s.handle(key, columns: [.clientId, .username], pageSize: 10)
            return s.selectedId
        }
        #expect(selected(after: .home) == "n00")
        #expect(selected(after: .char("j")) == "n01")
        #expect(selected(after: .down) == "n02")
        #expect(selected(after: .wheelDown) == "n03")
        #expect(selected(after: .char("k")) == "n02")
        #expect(selected(after: .wheelUp) == "n01")
        #expect(selected(after: .up) == "n00")
        #expect(selected(after: .pageDown) == "n09")
        #expect(selected(after: .pageDown) == "n18")
        #expect(selected(after: .pageUp) == "n09")
        #expect(selected(after: .end) == "n29")
        #expect(selected(after: .char("g")) == "n00")
        #expect(selected(after: .char("G")) == "n29")
        #expect(selected(after: .pageDown) == "n29", "stays at the end")
        _ = s.handle(.function(9), columns: [], pageSize: 10)
        #expect(s.mode == .confirmKick("n29"))
        _ = s.handle(.escape, columns: [], pageSize: 10)
        _ = s.handle(.function(1), columns: [], pageSize: 10)
        #expect(s.mode == .help)
        _ = s.handle(.escape, columns: [], pageSize: 10)
        _ = s.handle(.char("h"), columns: [], pageSize: 10)
        #expect(s.mode == .help)
        _ = s.handle(.escape, columns: [], pageSize: 10)
        #expect(s.handle(.function(10), columns: [], pageSize: 10) == .quit)
    }

    @Test("a click on a header sorts by it; a second click reverses")
    func headerClick() {
        var s = Self.state(Self.rows)
        s.lastLayout = Column.layout(width: 200)
        let x = s.lastLayout.prefix { $0.column != .username }.reduce(0) { $0 + $1.width + 1 }
        _ = s.handle(.click(x: x + 1, y: 3), columns: [], pageSize: 10)
        #expect(s.sortColumn == .username && !s.descending)
        _ = s.handle(.click(x: x + 1, y: 3), columns: [], pageSize: 10)
        #expect(s.descending)
    }
}
