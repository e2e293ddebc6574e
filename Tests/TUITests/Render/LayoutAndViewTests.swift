import Foundation
import Testing

@testable import TUI

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
