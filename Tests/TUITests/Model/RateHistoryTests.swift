import Foundation
import Testing

@testable import TUI

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
        let row = ClientRow(
            clientId: "c1",
            username: "",
            protocolName: "5.0",
            connected: true,
            recvOct: 1,
            sendOct: 1,
            recvMsg: 1,
            sendMsg: 1,
            fields: [("clientid", "c1")]
        )
        var rate = Rates()
        for v in [10.0, 20, 40, 80] {
            rate.msgsIn = v
            history.record(total: rate, rates: ["c1": rate])
        }
        state.setRows([row], rates: ["c1": rate])
        var source = SourceInfo(url: "http://x")
        let screen = TableView.render(state: state, source: source, totals: rate, detail: nil, width: 100, height: 20, nowMs: 0, history: history)
        let line = screen.lines[2].text
        #expect(
            line.contains(" msg in ") && line.contains("█") && line.contains("per second, peaks, last 4s") && !line.contains("bytes in")
                && Format.width(line) == 100,
            "\(line)"
        )
        let wide = TableView.render(state: state, source: source, totals: rate, detail: nil, width: 160, height: 20, nowMs: 0, history: history)
            .lines[2].text
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
