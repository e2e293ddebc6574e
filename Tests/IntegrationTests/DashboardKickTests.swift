import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

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

    @Test("the subscriptions view's data from aviary's /api/v4/subscriptions: every subscription, grouped")
    func subscriptions() async throws {
        let h = try await APIHarness.start()
        var clients: [TestClient] = []
        for i in 1...3 {
            let c = try TestClient(port: h.mqtt.port)
            #expect(try c.connect("sub-\(i)").reasonCode == .success)
            _ = try c.subscribe("plant/#", qos: .atLeastOnce)
            if i == 1 { _ = try c.subscribe("alerts", qos: .exactlyOnce, id: 2) }
            clients.append(c)
        }
        let poller = Poller(url: h.base, user: "admin", password: "public", interval: 0.25)
        poller.setSubscriptionsWanted(true)
        let s = try await EMQX5DashboardTests.poll(poller) { ($0.subscriptions?.count ?? 0) == 4 }
        let groups = SubscriptionGroup.group(s.subscriptions ?? [])
        #expect(groups.map(\.topic) == ["plant/#", "alerts"] && groups[0].clients == ["sub-1", "sub-2", "sub-3"] && groups[1].qos == 2)
        withExtendedLifetime(clients) {}
        await h.stop()
    }
}
