import Foundation
import Broker
import MQTTCodec
import Testing
import TestSupport

@testable import TUI

/// The poller's disconnects against a real aviary: tagged clients one by one, summed up.
@Suite(.timeLimit(.minutes(2)))
struct DashboardKickTests {
    @Test("kicking tagged clients on aviary: each gets DELETE, one status line sums it up (an unknown id is named)")
    func kickMany() async throws {
        let h = try await APIHarness.start()
        let clients = try (1...3).map { i -> TestClient in
            let c = try TestClient(port: h.mqtt.port)
            #expect(try c.connect("tag-\(i)").reasonCode == .success)
            return c
        }
        let poller = Poller(url: h.base, user: "admin", password: "public", interval: 0.25)
        _ = try await EMQX5DashboardTests.poll(poller) { $0.rows.filter(\.connected).count == 3 }
        await poller.kick(["tag-1", "tag-3", "nobody"])
        let message = poller.drainMessages()
        #expect(message.count == 1 && message[0].hasPrefix("disconnected 2 of 3; could not disconnect nobody"), "\(message)")
        try await eventuallyAsync("both gone") { h.mqtt.broker.clients().filter(\.connected).map(\.clientId) == ["tag-2"] }
        _ = clients
        await h.stop()
    }
}
