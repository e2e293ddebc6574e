import Foundation
import Testing

@testable import TUI

func row(
    _ id: String,
    user: String = "",
    connected: Bool = true,
    recv: UInt64? = 0,
    sent: UInt64? = 0,
    msgsIn: UInt64? = 0,
    msgsOut: UInt64? = 0,
    connectedAt: Int64 = 1_000,
    proto: String = "3.1.1",
    address: String? = "127.0.0.1",
    port: Int? = 1000
) -> ClientRow {
    ClientRow(
        clientId: id,
        username: user,
        address: address,
        port: port,
        protocolName: proto,
        connected: connected,
        keepAlive: 60,
        cleanStart: true,
        connectedAtMs: connectedAt,
        expiryInterval: 0,
        recvOct: recv,
        sendOct: sent,
        recvPkt: msgsIn.map { $0 + 2 },
        sendPkt: msgsOut.map { $0 + 2 },
        recvMsg: msgsIn,
        sendMsg: msgsOut,
        mqueueLen: 0,
        mqueueDropped: 0,
        inflight: 0,
        subscriptions: 1,
        willTopic: nil,
        fields: [("client_id", id)]
    )
}

struct FormatTests {
    @Test(
        "bytes in binary units",
        arguments: [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (10 * 1024 * 1024, "10.0 MiB"), (5 << 30, "5.0 GiB"),
            (200 * 1024, "200 KiB")] as [(UInt64, String)]
    )
    func bytes(value: UInt64, text: String) { #expect(Format.bytes(value) == text) }

    @Test("rates and counts", arguments: [(0.0, "0"), (0.5, "0.5"), (12.0, "12"), (3400.0, "3.4k"), (2_500_000.0, "2.5M")] as [(Double, String)])
    func rates(value: Double, text: String) { #expect(Format.rate(value) == text) }

    @Test("durations", arguments: [(0, "0s"), (42, "42s"), (307, "5m07s"), (7380, "2h03m"), (273_600, "3d04h")] as [(Int64, String)])
    func durations(seconds: Int64, text: String) { #expect(Format.duration(seconds: seconds) == text) }

    @Test("byte rates never go negative") func byteRate() {
        #expect(Format.byteRate(-5) == "0 B/s")
        #expect(Format.byteRate(1536) == "1.5 KiB/s")
    }

    @Test("fit pads, right-aligns and cuts with an ellipsis by display width")
    func fit() {
        #expect(Format.fit("abc", 5) == "abc  ")
        #expect(Format.fit("abc", 5, alignRight: true) == "  abc")
        #expect(Format.fit("abcdefgh", 5) == "abcd…")
        #expect(Format.width("中文é😀a") == 8)
        #expect(Format.fit("中文中文", 5) == "中文…")
        #expect(Format.width(Format.fit("中文中文", 5)) == 5)
        #expect(Format.truncate("abcdef", 3) == "abc")
    }
}

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
        let rates: [String: Rates] = ["a": { var r = Rates(); r.bytesIn = 5; r.msgsOut = 1; return r }(), "b": Rates(), "c": { var r = Rates(); r.bytesIn = 9; return r }()]
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

    @Test("navigation keys: j/k and arrows and the wheel move one row, PgUp/PgDn a page, Home/g and End/G the ends; F9 asks to disconnect, F1/h open help, F10 quits")
    func navigationKeys() {
        let many = (0..<30).map { row(String(format: "n%02d", $0), user: "u", recv: 0, sent: 0, msgsIn: 0, msgsOut: 0, connectedAt: 1_000, proto: "5.0", port: $0) }
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

struct LayoutAndViewTests {
    @Test("every column has room for its title and the sort marker")
    func titlesFit() {
        for c in Column.allCases { #expect(c.width >= Format.width(c.title) + 1, "\(c)") }
    }

    @Test("wider terminals show more columns; the essential ones always fit", arguments: [60, 80, 120, 160, 220, 240])
    func layout(width: Int) {
        let layout = Column.layout(width: width)
        let used = layout.reduce(0) { $0 + $1.width + 1 } - 1
        #expect(used <= width || layout.count == 3)
        #expect(layout.contains { $0.column == .clientId } && layout.contains { $0.column == .bytesInRate })
        if width >= 220 { #expect(layout.count == Column.allCases.count - 1, "all but NODE, which is for clusters") }
        #expect(Column.layout(width: width + 40).count >= layout.count)
        let cluster = Column.layout(width: width, nodes: true)
        #expect(cluster.reduce(0) { $0 + $1.width + 1 } - 1 <= width || cluster.count == 3)
        if width >= 240 { #expect(cluster.count == Column.allCases.count) }
        if width >= 120 { #expect(cluster.contains { $0.column == .node }, "NODE shows on an EMQX cluster from 120 columns") }
    }

    static func render(width: Int, height: Int, state: TableState, error: String? = nil) -> Screen {
        var info = SourceInfo(url: "http://127.0.0.1:8081")
        info.flavour = .aviary
        info.brokerName = "aviary"
        info.version = "0.1.0"
        info.error = error
        info.errorSinceMs = error == nil ? nil : 0
        return TableView.render(state: state, source: info, totals: Rates(), detail: nil, width: width, height: height, nowMs: 61_000)
    }

    @Test("frames have the terminal's size, a sorted-column marker and the rows", arguments: [(80, 24), (200, 50)])
    func frame(width: Int, height: Int) {
        var s = TableStateTests.state(TableStateTests.rows)
        s.sortColumn = .clientId
        s.descending = false
        s.refresh()
        let screen = Self.render(width: width, height: height, state: s)
        #expect(screen.lines.count == height)
        #expect(screen.lines.allSatisfy { Format.width($0.text) <= width })
        #expect(screen.lines[3].text.contains("CLIENT ID▲"))
        #expect(screen.lines[4].text.hasPrefix("a "))
        #expect(screen.lines[0].text.contains("clients 3 connected / 4"))
        #expect(screen.lines[height - 1].text.contains("q quit"))
        #expect(screen.lines[4].runs.first?.style == .selected)
        #expect(screen.lines[5].runs.first?.style == .dim)  // b is offline
    }

    @Test("an unreachable API shows a banner and dims the kept rows")
    func banner() {
        let s = TableStateTests.state(TableStateTests.rows)
        let screen = Self.render(width: 100, height: 20, state: s, error: "connection refused")
        #expect(screen.lines[2].text.contains("UNREACHABLE") && screen.lines[2].text.contains("connection refused"))
        #expect(screen.lines[5].runs.first?.style == .dim)
    }

    @Test("a tiny terminal gets a message instead of a broken table")
    func tooSmall() {
        let screen = Self.render(width: 30, height: 6, state: TableState())
        #expect(screen.lines.count == 6 && screen.text.contains("too small"))
    }

    @Test("the help overlay lists every key of the key table")
    func help() {
        var s = TableState()
        s.mode = .help
        let screen = Self.render(width: 120, height: 30, state: s)
        for entry in KeyHelp.entries { #expect(screen.text.contains(entry.keys), "\(entry.keys)") }
    }

    @Test("the confirmation names the client")
    func confirm() {
        var s = TableStateTests.state(TableStateTests.rows)
        s.mode = .confirmKick("c")
        #expect(Self.render(width: 100, height: 20, state: s).lines[18].text.contains("Disconnect c? [y/N]"))
    }
}

struct DocumentationTests {
    @Test("README lists every key of the help overlay")
    func readmeKeys() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for entry in KeyHelp.entries {
            #expect(text.contains("| `\(entry.keys)` | \(entry.action) |"), "README is missing the key \(entry.keys)")
        }
    }
}

/// The `/` filter's three forms.
struct ClientFilterTests {
    static let rows = ["dev-1", "dev-22", "sensor-7", "bridge-up"].map {
        ClientRow(clientId: $0, username: $0 == "sensor-7" ? "ops" : "", protocolName: "5.0", connected: true, fields: [])
    }

    @Test("plain text (any case), re:REGEX, !TEXT and !re:REGEX; a bad expression lets everything through and says why; only plain text goes to the server")
    func forms() {
        func ids(_ text: String) -> [String] { ClientFilter(text).apply(Self.rows).map(\.clientId) }
        #expect(ids("DEV") == ["dev-1", "dev-22"])
        #expect(ids("ops") == ["sensor-7"], "username too")
        #expect(ids("re:^dev-\\d$") == ["dev-1"])
        #expect(ids("!dev") == ["sensor-7", "bridge-up"])
        #expect(ids("!re:-\\d+$") == ["bridge-up"])
        #expect(ids("") == Self.rows.map(\.clientId))
        let bad = ClientFilter("re:(")
        #expect(bad.error != nil && bad.apply(Self.rows).count == 4)
        #expect(ClientFilter("Dev").serverNeedle == "dev" && ClientFilter("!dev").serverNeedle == nil && ClientFilter("re:x").serverNeedle == nil)
    }
}

/// History rings, sparklines and where they show.
struct HistoryTests {
    @Test("a ring keeps the latest samples, oldest first, in fixed memory")
    func ring() {
        var ring = SampleRing(capacity: 3)
        #expect(ring.samples.isEmpty)
        for v in 1...5 { ring.append(Double(v)) }
        #expect(ring.samples == [3, 4, 5] && ring.count == 3 && ring.capacity == 3)
    }

    @Test("sparklines scale to the peak, show the last `width` samples from the left, and degrade to ASCII")
    func sparkline() {
        #expect(Sparkline.render([0, 1, 2, 4, 8], width: 5) == "▁▂▃▅█")
        #expect(Sparkline.render([0, 0, 0], width: 3) == "▁▁▁")
        #expect(Sparkline.render([1, 2], width: 4) == "▅█  ")
        #expect(Sparkline.render([5, 1, 2, 4, 8], width: 3) == "▃▅█")
        #expect(Sparkline.render([0, 8], width: 2, unicode: false) == " #")
    }

    @Test("the history follows the table: a client that leaves is forgotten; at 10,000 clients it holds 10,000 × 2 rings of 60")
    func boundedPerClient() {
        var history = RateHistory()
        var rates: [String: Rates] = [:]
        for i in 0..<10_000 { rates["c\(i)"] = Rates() }
        for _ in 0..<100 { history.record(total: Rates(), rates: rates) }
        #expect(history.clients.count == 10_000 && history.clients["c1"]?.msgsIn.count == RateHistory.clientSamples)
        #expect(history.msgsIn.count == 100)
        rates = ["c1": Rates()]
        history.record(total: Rates(), rates: rates)
        #expect(history.clients.count == 1)
    }

    @Test("the header's third line shows the broker's history while the API answers; the detail view the client's")
    func rendered() {
        var history = RateHistory()
        var state = TableState()
        let row = ClientRow(clientId: "c1", username: "", protocolName: "5.0", connected: true, recvOct: 1, sendOct: 1, recvMsg: 1, sendMsg: 1, fields: [("clientid", "c1")])
        var rate = Rates()
        for v in [10.0, 20, 40, 80] {
            rate.msgsIn = v
            history.record(total: rate, rates: ["c1": rate])
        }
        state.setRows([row], rates: ["c1": rate])
        var source = SourceInfo(url: "http://x")
        let screen = TableView.render(state: state, source: source, totals: rate, detail: nil, width: 100, height: 20, nowMs: 0, history: history)
        let line = screen.lines[2].text
        #expect(line.contains(" msg in ") && line.contains("█") && line.contains("per second, peaks, last 4s") && !line.contains("bytes in") && Format.width(line) == 100, "\(line)")
        let wide = TableView.render(state: state, source: source, totals: rate, detail: nil, width: 160, height: 20, nowMs: 0, history: history).lines[2].text
        #expect(wide.contains(" bytes in ") && Format.width(wide) == 160, "\(wide)")
        source.error = "connection refused"
        let down = TableView.render(state: state, source: source, totals: rate, detail: nil, width: 100, height: 20, nowMs: 0, history: history)
        #expect(down.lines[2].text.contains("UNREACHABLE"), "an error wins the line")
        var info = DetailInfo()
        info.fields = [("clientid", "c1")]
        let detail = TableView.detailLines(state: state, id: "c1", detail: info, width: 120, height: 20, history: history.clients["c1"])
        #expect(detail.contains { $0.text.contains("msg/s in, history") && $0.text.contains("█") }, "\(detail.map(\.text))")
    }
}

/// The detail view's sections from each API's fields.
struct DetailSectionsTests {
    static func value(_ sections: [DetailSections.Section], _ title: String, _ label: String) -> String? {
        sections.first { $0.title == title }?.items.first { $0.label == label }?.value
    }

    @Test("aviary's fields: identity, connection, traffic in human units, queues with their limits, flow control, bridge; no duplicate of client_id/clientid")
    func aviary() {
        let fields: [(key: String, value: String)] = [
            ("client_id", "s1"), ("clientid", "s1"), ("username", "u"), ("ip_address", "10.0.0.5"), ("port", "5000"), ("proto_name", "MQTT"),
            ("proto_ver", "5"), ("clean_start", "false"), ("expiry_interval", "4294967295"), ("keepalive", "60"), ("node", "aviary@h"),
            ("recv_oct", "362945"), ("send_oct", "12"), ("recv_msg", "1500"), ("mqueue_len", "3"), ("max_mqueue", "1000"),
            ("inflight", "2"), ("max_inflight", "100"), ("awaiting_rel", "0"), ("max_awaiting_rel", "100"), ("subscriptions_cnt", "1"),
            ("max_subscriptions", "0"), ("held_back", "true"), ("held_acks", "20"), ("holding_publishers", "0"),
            ("bridge_name", "hq"), ("bridge_state", "backing off"), ("bridge_error", "Connection refused"), ("will_topic", "w/t"),
        ]
        let row = ClientRow(clientId: "s1", username: "u", address: "10.0.0.5", port: 5000, protocolName: "5.0", connected: true, connectedAtMs: 0, recvOct: 362945, fields: fields)
        let sections = DetailSections.build(fields: fields, row: row, rates: Rates(), history: nil, nowMs: 125_000)
        #expect(sections.map(\.title) == ["identity", "connection", "traffic", "queues and windows", "flow control", "bridge", "will"])
        #expect(Self.value(sections, "identity", "address") == "10.0.0.5:5000" && Self.value(sections, "identity", "protocol") == "5.0 (MQTT)")
        #expect(Self.value(sections, "identity", "session expiry") == "never expires")
        #expect(Self.value(sections, "connection", "connected for") == "2m05s" && Self.value(sections, "connection", "keepalive") == "60 s")
        #expect(Self.value(sections, "traffic", "received") == "\(Format.bytes(362945)) (362945 B), 1.5k msgs" && Self.value(sections, "traffic", "sent") == "12 B")
        #expect(Self.value(sections, "queues and windows", "queued") == "3 / 1.0k" && Self.value(sections, "queues and windows", "in flight") == "2 / 100")
        #expect(Self.value(sections, "queues and windows", "subscriptions") == "1 / no limit")
        #expect(Self.value(sections, "flow control", "acks waiting") == "20" && Self.value(sections, "bridge", "last error") == "Connection refused")
        #expect(sections.flatMap(\.items).filter { $0.label == "client id" }.count == 1)
    }

    @Test("EMQX 5's keys (inflight_cnt, mqueue_max, \"infinity\") and NanoMQ's few")
    func others() {
        let emqx: [(key: String, value: String)] = [("clientid", "e"), ("inflight_cnt", "1"), ("inflight_max", "32"), ("mqueue_max", "1000"), ("mqueue_len", "0"), ("subscriptions_cnt", "2"), ("subscriptions_max", "infinity"), ("node", "emqx@n1")]
        let row = ClientRow(clientId: "e", username: "", protocolName: "5.0", connected: true, node: "emqx@n1", fields: emqx)
        let sections = DetailSections.build(fields: emqx, row: row, rates: Rates(), history: nil, nowMs: 0)
        #expect(Self.value(sections, "queues and windows", "in flight") == "1 / 32" && Self.value(sections, "queues and windows", "subscriptions") == "2 / no limit")
        #expect(Self.value(sections, "connection", "node") == "emqx@n1")
        let nano: [(key: String, value: String)] = [("client_id", "n"), ("username", ""), ("keepalive", "30"), ("conn_state", "connected"), ("clean_start", "true"), ("proto_name", "MQIsdp"), ("proto_ver", "3")]
        let nanoRow = ClientRow(clientId: "n", username: "", protocolName: "3.1", connected: true, fields: nano)
        let nanoSections = DetailSections.build(fields: nano, row: nanoRow, rates: Rates(), history: nil, nowMs: 0)
        #expect(nanoSections.map(\.title) == ["identity", "connection"] && Self.value(nanoSections, "identity", "protocol") == "3.1 (MQIsdp)")
    }
}

/// Tagging with Space, and one confirmation for disconnecting every tagged client.
struct TaggingTests {
    @Test("Space tags and moves on; d asks once, listing the tagged clients; y disconnects them all and untags; U untags; tags of clients that left go")
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
        #expect(screen.lines[3].text.contains("NODE") && screen.lines[4].text.contains("n1") && screen.lines[4].text.contains("1.5k") && screen.lines[5].text.contains("stopped"))
        _ = s.handle(.down, columns: Column.allCases, pageSize: 10)
        _ = s.handle(.enter, columns: Column.allCases, pageSize: 10)
        #expect(s.mode == .table && s.nodeFilter == "n2" && s.visible.map(\.clientId) == ["a"])
        _ = s.handle(.escape, columns: Column.allCases, pageSize: 10)
        #expect(s.nodeFilter == nil && s.visible.count == 4)
    }
}

/// The subscriptions view's grouping and keys.
struct SubscriptionsViewTests {
    @Test("grouped by topic filter, most subscribed first; / filters topics; Enter narrows the table to the subscribers; Esc widens it")
    func view() {
        let subs = [SubscriptionRow(clientId: "a", topic: "x/#", qos: 1), SubscriptionRow(clientId: "c", topic: "x/#", qos: 2), SubscriptionRow(clientId: "b", topic: "y", qos: 0)]
        #expect(SubscriptionGroup.group(subs) == [SubscriptionGroup(topic: "x/#", qos: 2, clients: ["a", "c"]), SubscriptionGroup(topic: "y", qos: 0, clients: ["b"])])
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
        #expect(p.rendered.contains("hidden_columns = username, recv_pkt") && p.rendered.contains("sort = msgs_in_rate asc") && p.rendered.contains("interval = 0.25"))
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

struct TimestampTests {
    @Test("RFC 3339 as EMQX 5 writes it, with any fraction and offset, or Z")
    func rfc3339() {
        #expect(ClientDecoder.parseRFC3339("2026-11-21T09:15:02.417+00:00") == 1_795_252_502_417)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T10:15:02.417+01:00") == 1_795_252_502_417)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T09:15:02Z") == 1_795_252_502_000)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T04:15:02.4-05:00") == 1_795_252_502_400)
        #expect(ClientDecoder.parseRFC3339("yesterday") == nil && ClientDecoder.parseRFC3339("2026-11-21T09:15:02") == nil)
    }
}

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
        let screen = TableView.render(state: s, source: SourceInfo(url: "x"), totals: r, detail: nil, width: 240, height: 12, nowMs: 0, history: history)
        let header = screen.lines[3].text
        let row = screen.lines.first { $0.text.hasPrefix("c ") }?.text ?? ""
        #expect(header.contains("TREND") && row.contains("▂▅█"), "\(header)\n\(row)")
    }
}

struct SubscriptionOptionsTests {
    @Test("subscription objects of every API: topic, QoS and the 5.0 options in words (numbers or booleans)")
    func options() {
        #expect(Poller.subscription(["topic": "a/#", "qos": 1, "nl": 1, "rap": 0, "rh": 2])! == ("a/#", 1, "No Local, Retain Handling 2"))
        #expect(Poller.subscription(["topic": "b", "qos": 0, "nl": false, "rap": true])! == ("b", 0, "Retain As Published"))
        #expect(Poller.subscription(["clientid": "c", "topic": "n", "qos": 2])! == ("n", 2, ""), "NanoMQ has no options")
        #expect(Poller.subscription(["qos": 1]) == nil)
    }
}
