import Foundation
import Synchronization

/// NanoMQ's HTTP API v4: the whole list at once (no paging, no per-client counters), broker
/// message counters from its Prometheus text, a lookup that cannot find ids with a space or
/// '/', and a kick endpoint only in versions after 0.25.5.
struct NanoMQAPI: BrokerAPI {
    let poller: Poller

    func listClients() async throws -> ClientListing {
        ClientListing(page: try await poller.listWhole("/api/v4/clients"))
    }

    func detail(_ id: String) async -> DetailInfo {
        await poller.detailV4(
            id,
            lookup: "/api/v4/clients/",
            subscriptions: "/api/v4/subscriptions/",
            why: " (NanoMQ does not find ids with a space or '/')"
        )
    }

    func allSubscriptions() async -> [SubscriptionRow]? {
        await poller.subscriptionsWhole("/api/v4/subscriptions")
    }

    /// 200: done; CLIENT_IS_OFFLINE: NanoMQ kicks connected clients only; 404/405/501: this
    /// NanoMQ has no such route (0.25.5 answers 404 {"code":102}), so `d` is not offered again.
    func kick(_ id: String) async -> String {
        do {
            let answer = try await poller.delete("/api/v4/clients/" + Poller.encode(id))
            if answer.status == 200 && (answer.code == nil || answer.code == 0) { return "disconnected \(id)" }
            if answer.text.contains("CLIENT_IS_OFFLINE") { return "\(id) is offline: NanoMQ disconnects connected clients only" }
            if [404, 405, 501].contains(answer.status) {
                poller.markKickUnsupported()
                return
                    """
                    this NanoMQ has no disconnect endpoint (DELETE /api/v4/clients/{id} answered HTTP \
                    \(answer.status)\(answer.code.map { " code \($0)" } ?? "")); newer NanoMQ versions have it
                    """
            }
            return Poller.kickFailure(id, answer)
        } catch {
            return "could not disconnect \(id): \(Poller.describe(error))"
        }
    }

    /// `nanomq_messages_received` and `_sent` from `/api/v4/prometheus`.
    func brokerMessages() async -> (received: UInt64, sent: UInt64)? {
        guard let reply = try? await poller.request("/api/v4/prometheus"), reply.status == 200 else { return nil }
        return Self.parsePrometheusMessages(String(decoding: reply.body, as: UTF8.self))
    }

    static func parsePrometheusMessages(_ text: String) -> (received: UInt64, sent: UInt64)? {
        var received: UInt64?
        var sent: UInt64?
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]) else { continue }
            if parts[0] == "nanomq_messages_received" { received = UInt64(max(0, value)) }
            if parts[0] == "nanomq_messages_sent" { sent = UInt64(max(0, value)) }
        }
        guard let received, let sent else { return nil }
        return (received, sent)
    }
}
