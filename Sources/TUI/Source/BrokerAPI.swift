import Foundation
import NIOHTTP1
import Synchronization

/// One kind of management API as the poller sees it: how its clients are listed, a client's
/// detail, every subscription, kicks, and broker-wide counters. One file per kind —
/// `AviaryAPI`, `NanoMQAPI`, `EMQX4API` (EMQX v3 and v4), `EMQX5API` (EMQX 5 and 6) — each a
/// small value made per poll over the `Poller`, which keeps the loop, the state shown and the
/// HTTP client. Detection (which kind answers) stays in the poller.
protocol BrokerAPI: Sendable {
    /// One poll's table.
    func listClients() async throws -> ClientListing
    /// Every field of one client and its subscriptions, for the detail view.
    func detail(_ id: String) async -> DetailInfo
    /// Every subscription, for the subscriptions view; nil when the API has none to give.
    func allSubscriptions() async -> [SubscriptionRow]?
    /// Disconnects one client; the status line's words.
    func kick(_ id: String) async -> String
    /// Disconnects several; one status line sums it up.
    func kick(_ ids: [String]) async -> String
    /// Whole-broker message counters, where the API has no per-client ones.
    func brokerMessages() async -> (received: UInt64, sent: UInt64)?
}

/// What one poll of the client list brought.
struct ClientListing {
    var page: ClientPage
    /// Set when only part of the table is shown ("top 500 by recv_oct").
    var window: String?
    /// The cluster's nodes (EMQX 5/6).
    var nodes: [NodeRow] = []
}

extension BrokerAPI {
    func brokerMessages() async -> (received: UInt64, sent: UInt64)? { nil }

    /// One by one.
    func kick(_ ids: [String]) async -> String {
        var failed: [String] = []
        var done = 0
        for id in ids {
            let outcome = await kick(id)
            if outcome.hasPrefix("disconnected ") { done += 1 } else { failed.append(outcome) }
        }
        return "disconnected \(done) of \(ids.count)" + (failed.isEmpty ? "" : "; " + failed.joined(separator: "; "))
    }
}

extension Flavour {
    /// The API of this kind, over `poller`.
    func api(_ poller: Poller) -> any BrokerAPI {
        switch self {
        case .aviary: AviaryAPI(poller: poller)
        case .nanomq: NanoMQAPI(poller: poller)
        case .emqx3, .emqx4: EMQX4API(poller: poller, version: self)
        case .emqx5: EMQX5API(poller: poller)
        }
    }
}

/// The `/api/v4`-shaped calls aviary, NanoMQ and EMQX v3/v4 share.
extension Poller {
    /// The listing with server-side sort and paging (aviary, EMQX v4): a table larger than
    /// `fullFetchLimit` is fetched as a window of `window` rows, sorted and filtered by the
    /// server. The first poll is windowed, so a huge table is never fetched whole just to learn
    /// its size; a small one is shown whole from the next poll on.
    func listWindowed() async throws -> ClientListing {
        let total = knownTotal.withLock { $0 }
        let (path, window, filtered): (String, String?, Bool)
        if let total, total <= Self.fullFetchLimit {
            (path, window, filtered) = ("/api/v4/clients?_limit=10000", nil, false)
        } else {
            let q = query.withLock { $0 }
            var windowed = "/api/v4/clients?_sort=\(q.sortField)&_order=\(q.descending ? "desc" : "asc")&_limit=\(Self.window)"
            if !q.filter.isEmpty { windowed += "&_like_clientid=" + Self.encode(q.filter) }
            (path, window, filtered) = (windowed, "top \(Self.window) by \(q.sortField)\(q.descending ? "" : " (ascending)")", !q.filter.isEmpty)
        }
        let page = try await listWhole(path)
        if !filtered { knownTotal.withLock { $0 = page.total } }
        return ClientListing(page: page, window: window != nil && page.total <= Self.fullFetchLimit && !filtered ? nil : window)
    }

    /// A listing fetched whole.
    func listWhole(_ path: String) async throws -> ClientPage {
        let reply = try await request(path)
        return try ClientDecoder.decode(status: reply.status, body: reply.body, includeFields: false)
    }

    /// A client's fields from `lookup` and its subscriptions from `subscriptions`; when the
    /// lookup cannot find the id, the detail says so (`why` adds the API's reason).
    func detailV4(_ id: String, lookup: String, subscriptions: String, why: String = "") async -> DetailInfo {
        var fields: [(key: String, value: String)]?
        if let reply = try? await request(lookup + Self.encode(id)), let page = try? ClientDecoder.decode(status: reply.status, body: reply.body) {
            fields = page.rows.first?.fields
        }
        var info: DetailInfo
        if let reply = try? await request(subscriptions + Self.encode(id)), reply.status == 200,
            let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any],
            let data = json["data"] as? [[String: Any]]
        {
            info = DetailInfo(subscriptions: data.compactMap(Self.subscription).sorted { $0.topic < $1.topic })
        } else {
            info = DetailInfo(note: "subscriptions not available from this API")
        }
        info.fields = fields
        if fields == nil { info.note = "the API's lookup cannot find this id\(why): showing what the listing gives" }
        return info
    }

    /// Subscription rows of a `{data: [...], meta: {hasnext}}` body, of any of the APIs.
    static func subscriptionRows(_ body: [UInt8]) -> (rows: [SubscriptionRow], hasNext: Bool?)? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let data = json["data"] as? [[String: Any]] else {
            return nil
        }
        let list = data.compactMap { o -> SubscriptionRow? in
            guard let topic = o["topic"] as? String, let id = (o["clientid"] ?? o["client_id"]) as? String else { return nil }
            return SubscriptionRow(clientId: id, topic: topic, qos: (o["qos"] as? NSNumber)?.intValue ?? 0)
        }
        return (list, (json["meta"] as? [String: Any])?["hasnext"] as? Bool)
    }

    /// Every subscription from `path`, in one request.
    func subscriptionsWhole(_ path: String) async -> [SubscriptionRow]? {
        guard let reply = try? await request(path), reply.status == 200 else { return nil }
        return Self.subscriptionRows(reply.body)?.rows
    }

    /// Every subscription, page by page (at most `rowBudget`): `page` gives a page's path.
    func subscriptionsPaged(_ page: (Int) -> String, fetch: (String) async throws -> Reply) async -> [SubscriptionRow]? {
        var all: [SubscriptionRow] = []
        var number = 1
        while all.count < Self.rowBudget {
            guard let reply = try? await fetch(page(number)), reply.status == 200, let got = Self.subscriptionRows(reply.body) else {
                return all.isEmpty ? nil : all
            }
            all += got.rows
            if !(got.hasNext ?? false) || got.rows.isEmpty { break }
            number += 1
        }
        return all
    }

    /// What `DELETE path` answered: the status, the envelope's code and message, and the
    /// body's start.
    func delete(_ path: String) async throws -> (status: Int, code: Int?, message: String?, text: String) {
        let reply = try await request(path, method: .DELETE)
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        return (
            reply.status, (json?["code"] as? NSNumber)?.intValue, json?["message"] as? String, String(decoding: reply.body.prefix(300), as: UTF8.self)
        )
    }

    /// A kick by `DELETE path` where 200 with code 0 (or none) is done.
    func kickByDelete(_ id: String, path: String) async -> String {
        do {
            let answer = try await delete(path + Self.encode(id))
            if answer.status == 200 && (answer.code == nil || answer.code == 0) { return "disconnected \(id)" }
            return Self.kickFailure(id, answer)
        } catch {
            return "could not disconnect \(id): \(Self.describe(error))"
        }
    }

    static func kickFailure(_ id: String, _ answer: (status: Int, code: Int?, message: String?, text: String)) -> String {
        "could not disconnect \(id): HTTP \(answer.status)" + (answer.code.map { " code \($0)" } ?? "") + (answer.message.map { ": " + $0 } ?? "")
    }
}
