import Foundation
import TestSupport
import Testing

@testable import TUI

/// The dashboard's poller against a NanoMQ stand-in that answers with the responses captured
/// from NanoMQ 0.25.5 (`Scripts/fake_nanomq.py`): uptime that advances, broker message rates
/// from /api/v4/prometheus, the detail of an id NanoMQ's lookup cannot find, and kick both as
/// 0.25.5 (no endpoint: said once, then not offered) and as newer NanoMQ (DELETE).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NanoMQDashboardTests {
    static let golden = Tools.fixtures.appendingPathComponent("nanomq").path

    static func fake(kick: Bool) throws -> (Subprocess, String) {
        let fake = try FakeAPI.nanomq(golden: golden, kick: kick)
        return (fake.process, fake.base)
    }

    @Test("uptime in seconds (from \"0 Hours, 0 minutes, 19 seconds\"), broker message counters from Prometheus, PROTO on every row")
    func header() async throws {
        let (server, base) = try Self.fake(kick: false)
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "admin", password: "public", interval: 0.25)
        let s = try await EMQX5DashboardTests.poll(poller) { $0.generation >= 2 }
        #expect(s.info.flavour == .nanomq && s.info.brokerName == "NanoMQ" && s.info.uptimeSeconds == 19, "\(s.info)")
        let messages = try #require(s.info.brokerMessages)
        #expect(messages.received > 46 && messages.sent > 67 && (messages.sent - 67) == 2 * (messages.received - 46), "\(messages)")
        #expect(s.rows.allSatisfy { ["3.1", "3.1.1", "5.0"].contains($0.protocolName) } && s.rows.contains { $0.clientId == "dev/ice 1" })
        var tracker = RateTracker()
        tracker.updateBroker(received: 46, sent: 67, at: 0)
        tracker.updateBroker(received: messages.received, sent: messages.sent, at: 2)
        #expect(tracker.total.msgsIn == Double(messages.received - 46) / 2 && tracker.total.msgsOut == Double(messages.sent - 67) / 2)
    }

    @Test("the detail of \"dev/ice 1\", which NanoMQ's lookup cannot find, shows the listing's fields and says why")
    func detailOfOddId() async throws {
        let (server, base) = try Self.fake(kick: false)
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "admin", password: "public", interval: 0.25)
        poller.setDetail("dev/ice 1")
        let s = try await EMQX5DashboardTests.poll(poller) { $0.detail != nil }
        #expect(
            s.detail?.fields == nil && (s.detail?.note ?? "").contains("NanoMQ does not find ids with a space or '/'"),
            "\(String(describing: s.detail?.note))"
        )
        var state = TableState()
        state.setRows(s.rows, rates: [:])
        let lines = TableView.detailLines(state: state, id: "dev/ice 1", detail: s.detail, width: 120, height: 20).map(\.text)
        #expect(
            lines.contains { $0.contains("client id") && $0.contains("dev/ice 1") }
                && lines.contains { $0.contains("protocol") && $0.contains("3.1.1") },
            "\(lines)"
        )
        #expect(!lines.contains { $0.contains("loading every field") } && lines.contains { $0.contains("showing what the listing gives") })
    }

    @Test(
        """
        NanoMQ 0.25.5 (no DELETE route): d says so once, then the API is known not to kick; newer NanoMQ: DELETE disconnects, an offline client is \
        named
        """
    )
    func kick() async throws {
        let (old, oldBase) = try Self.fake(kick: false)
        defer { old.signal(SIGTERM) }
        let before = Poller(url: oldBase, user: "admin", password: "public", interval: 0.25)
        _ = try await EMQX5DashboardTests.poll(before) { $0.generation >= 1 }
        #expect(before.snapshot().info.canKick, "not known before trying")
        await before.kick("paho-carol")
        #expect(
            before.drainMessages().first?.contains("this NanoMQ has no disconnect endpoint (DELETE /api/v4/clients/{id} answered HTTP 404 code 102)")
                == true
        )
        #expect(!before.snapshot().info.canKick)
        await before.kick("paho-carol")
        #expect(before.drainMessages() == ["this API has no disconnect endpoint"], "not asked again")

        let (new, newBase) = try Self.fake(kick: true)
        defer { new.signal(SIGTERM) }
        let after = Poller(url: newBase, user: "admin", password: "public", interval: 0.25)
        _ = try await EMQX5DashboardTests.poll(after) { $0.generation >= 1 }
        await after.kick("sub-v311")
        await after.kick("sub-v311")
        #expect(after.drainMessages() == ["disconnected sub-v311", "sub-v311 is offline: NanoMQ disconnects connected clients only"])
        #expect(after.snapshot().info.canKick)
    }
}
