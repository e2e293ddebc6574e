import AsyncHTTPClient
import AviaryLocks
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// EMQX 5 and 6 (`/api/v5`, port 18083): detection from `/api/v5/status?format=json`, API key
/// and secret as Basic Auth or a bearer token from `POST /api/v5/login`, every client by
/// page/limit/hasnext within a budget per poll, the cluster's nodes, detail and subscriptions,
/// kick (204) and bulk kickout.
struct EMQX5API: BrokerAPI {
    let poller: Poller

    func listClients() async throws -> ClientListing {
        let (page, note) = try await list()
        return ClientListing(page: page, window: note, nodes: await nodes())
    }

    func allSubscriptions() async -> [SubscriptionRow]? {
        await poller.subscriptionsPaged({ "/api/v5/subscriptions?page=\($0)&limit=1000" }, fetch: { try await request($0) })
    }

    /// EMQX 5/6 if `/api/v5/status?format=json` says so (no credentials needed); nil for any
    /// other API. Version and uptime come from `/api/v5/nodes`.
    static func detect(_ poller: Poller) async throws -> (Flavour, name: String?, version: String?, uptime: String?, uptimeSeconds: Int64?)? {
        let status = try await poller.request("/api/v5/status?format=json", authorized: false)
        let json = try? JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
        let text = String(decoding: status.body.prefix(200), as: UTF8.self)
        // 5.0.25 and later answer JSON with app_status; 5.0.0–5.0.24 a line "Node … is started".
        guard status.status == 200 || status.status == 503, json?["app_status"] != nil || text.contains(" is started") else { return nil }
        let nodes = try await EMQX5API(poller: poller).request("/api/v5/nodes")
        guard nodes.status == 200, let list = try? JSONSerialization.jsonObject(with: Data(nodes.body)) as? [[String: Any]] else {
            throw Self.error(nodes)
        }
        let running = list.filter { ($0["node_status"] as? String) == "running" }
        let version = running.first?["version"] as? String
        // `uptime` is milliseconds; the header shows the longest-running node's.
        let uptimeMs = running.compactMap { ($0["uptime"] as? NSNumber)?.int64Value }.max()
        let name = list.count > 1 ? "EMQX cluster (\(running.count)/\(list.count) nodes running)" : "EMQX"
        return (.emqx5, name, version, nil, uptimeMs.map { $0 / 1000 })
    }

    /// A request to `/api/v5` with the credentials in force; a 401 that refuses them as an API
    /// key (or an expired token) is answered by logging in as a dashboard user and trying once
    /// more with the bearer token.
    func request(_ path: String, method: HTTPMethod = .GET, json: [String: String]? = nil) async throws -> Poller.Reply {
        let reply = try await poller.request(path, method: method, json: json, timeout: 60)
        guard reply.status == 401 else { return reply }
        let code = Self.code(reply.body)
        guard ["BAD_API_KEY_OR_SECRET", "TOKEN_TIME_OUT", "BAD_TOKEN", "AUTHORIZATION_HEADER_ERROR", "BAD_USERNAME_OR_PWD"].contains(code ?? "")
        else { return reply }
        let login = try await poller.request(
            "/api/v5/login",
            method: .POST,
            json: ["username": poller.user, "password": poller.password],
            authorized: false
        )
        guard login.status == 200, let body = try? JSONSerialization.jsonObject(with: Data(login.body)) as? [String: Any],
            let token = body["token"] as? String
        else {
            return reply  // neither an API key nor a dashboard user: the first refusal says why
        }
        poller.authorization.withLock { $0 = "Bearer " + token }
        return try await poller.request(path, method: method, json: json, timeout: 60)
    }

    static func code(_ body: [UInt8]) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["code"] as? String
    }

    /// An EMQX 5 error body `{code, message}` as the header shows it.
    static func error(_ reply: Poller.Reply) -> APIResponseError {
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        let code = json?["code"] as? String
        let message = json?["message"] as? String ?? String(decoding: reply.body.prefix(200), as: UTF8.self)
        return APIResponseError(status: reply.status, code: nil, message: code.map { "\($0): \(message)" } ?? message)
    }

    /// Every client, page by page until `hasnext` is false (before 5.0.15, which has no
    /// `hasnext`, until a short page), at most `Poller.rowBudget` rows. Rows are keyed by node and
    /// client id (offset paging over live data can repeat one). The note says when the table
    /// is larger than one poll fetches.
    /// The row fields the table uses (EMQX 5.6+ `fields=`: a tenth of a full row's bytes).
    static let fields = [
        "clientid", "username", "ip_address", "port", "proto_ver", "connected", "keepalive", "clean_start", "connected_at",
        "expiry_interval", "recv_oct", "send_oct", "recv_msg", "send_msg", "recv_pkt", "send_pkt", "mqueue_len",
        "mqueue_dropped", "inflight_cnt", "subscriptions_cnt", "node",
    ].joined(separator: ",")

    func list() async throws -> (ClientPage, note: String?) {
        var limit = 10_000
        var page = 1
        // Before 5.6 `fields` is not known (ignored, or a 400 on some versions: then without).
        var fields = poller.v5FieldsAccepted.withLock { $0 } ? "&fields=\(Self.fields)" : ""
        var rows: [ClientRow] = []
        var seen = Set<String>()
        var more = true
        var count: Int?
        while more {
            let reply = try await request("/api/v5/clients?page=\(page)&limit=\(limit)\(fields)")
            if reply.status == 400 && page == 1 && !fields.isEmpty && (Self.code(reply.body) ?? "").contains("INVALID")
                && String(decoding: reply.body, as: UTF8.self).contains("fields")
            {
                fields = ""
                poller.v5FieldsAccepted.withLock { $0 = false }
                continue
            }
            if reply.status == 400 && limit > 1000 && page == 1 {
                limit = 1000  // before 5.5 the largest page is 1,000
                continue
            }
            guard reply.status == 200 else { throw Self.error(reply) }
            let decoded = try ClientDecoder.decodeV5Page(reply.body)
            for row in decoded.rows where seen.insert("\(row.node ?? "")\u{0}\(row.clientId)").inserted { rows.append(row) }
            count = decoded.count ?? count
            more = decoded.hasNext ?? (decoded.rows.count == limit)
            page += 1
            if more && rows.count >= Poller.rowBudget {
                let total = count.map { "about \($0)" } ?? "more"
                return (
                    ClientPage(rows: rows, flavour: .emqx5, total: max(count ?? 0, rows.count)),
                    "first \(rows.count) of \(total) clients (one poll's budget)"
                )
            }
        }
        return (ClientPage(rows: rows, flavour: .emqx5, total: rows.count), nil)
    }

    /// The cluster view: `/nodes` (a stopped node has its name, status and role only) and, for
    /// each running node, its message rates over EMQX's last 10 s from
    /// `/monitor_current/nodes/{node}` (404 for a node that went down meanwhile: no rates).
    func nodes() async -> [NodeRow] {
        guard let reply = try? await request("/api/v5/nodes"), reply.status == 200,
            let list = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]]
        else { return [] }
        // Sessions per node: `/stats` without aggregation (with it, cluster-wide figures are
        // multiplied by the node count).
        var sessions: [String: Int] = [:]
        if let stats = try? await request("/api/v5/stats"), stats.status == 200,
            let perNode = try? JSONSerialization.jsonObject(with: Data(stats.body)) as? [[String: Any]]
        {
            for o in perNode { if let name = o["node"] as? String { sessions[name] = (o["sessions.count"] as? NSNumber)?.intValue } }
        }
        var nodes: [NodeRow] = []
        for o in list {
            guard var node = Self.node(o) else { continue }
            node.sessions = sessions[node.name]
            if node.status == "running", let current = try? await request("/api/v5/monitor_current/nodes/\(Poller.encode(node.name))"),
                current.status == 200,
                let m = try? JSONSerialization.jsonObject(with: Data(current.body)) as? [String: Any]
            {
                Self.apply(current: m, to: &node)
            }
            nodes.append(node)
        }
        return nodes
    }

    /// One object of `GET /api/v5/nodes`.
    static func node(_ o: [String: Any]) -> NodeRow? {
        guard let name = o["node"] as? String else { return nil }
        var node = NodeRow(name: name, status: o["node_status"] as? String ?? "?")
        node.role = o["role"] as? String
        node.version = o["version"] as? String
        node.connections = (o["connections"] as? NSNumber)?.intValue
        node.liveConnections = (o["live_connections"] as? NSNumber)?.intValue
        node.memoryUsed = o["memory_used"] as? String
        node.memoryTotal = o["memory_total"] as? String
        node.uptimeSeconds = (o["uptime"] as? NSNumber).map { $0.int64Value / 1000 }
        return node
    }

    /// `GET /api/v5/monitor_current/nodes/{node}`: rates over EMQX's last 10 s, current counts.
    static func apply(current m: [String: Any], to node: inout NodeRow) {
        node.receivedRate = (m["received_msg_rate"] as? NSNumber)?.doubleValue
        node.sentRate = (m["sent_msg_rate"] as? NSNumber)?.doubleValue
        node.connections = (m["connections"] as? NSNumber)?.intValue ?? node.connections
        node.liveConnections = (m["live_connections"] as? NSNumber)?.intValue ?? node.liveConnections
    }

    /// The client's fields (`GET /clients/{id}`) and subscriptions (`…/subscriptions`, with
    /// No Local, Retain As Published and Retain Handling).
    func detail(_ id: String) async -> DetailInfo {
        var info = DetailInfo()
        if let reply = try? await request("/api/v5/clients/\(Poller.encode(id))"), reply.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        {
            info.fields = ClientDecoder.fields(object)
        } else {
            info.note = "EMQX no longer has this client"
        }
        if let reply = try? await request("/api/v5/clients/\(Poller.encode(id))/subscriptions"), reply.status == 200,
            let list = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]]
        {
            info.subscriptions = list.compactMap(Poller.subscription).sorted { $0.topic < $1.topic }
        }
        return info
    }

    /// `POST /api/v5/clients/kickout/bulk` with the ids (5.1+): 204 whatever became of each;
    /// an older EMQX (404) gets them one by one.
    func kick(_ ids: [String]) async -> String {
        do {
            var request = HTTPClientRequest(url: poller.baseURL + "/api/v5/clients/kickout/bulk")
            request.method = .POST
            request.headers.add(name: "Authorization", value: poller.authorization.withLock { $0 })
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ids)))
            let response = try await poller.client.execute(request, timeout: .seconds(60))
            let status = Int(response.status.code)
            let body = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            switch status {
            case 204, 200: return "asked EMQX to disconnect \(ids.count) clients (bulk kickout); the next poll shows them gone"
            case 404:
                var done = 0
                for id in ids where await kick(id).hasPrefix("disconnected ") { done += 1 }
                return "disconnected \(done) of \(ids.count) (this EMQX has no bulk kickout)"
            default: return "could not disconnect \(ids.count) clients: \(Self.error(Poller.Reply(status: status, body: body)))"
            }
        } catch {
            return "could not disconnect \(ids.count) clients: \(Poller.describe(error))"
        }
    }

    /// `DELETE /api/v5/clients/{id}`: 204 is done; 404 means it was already gone; 403 that the
    /// API key's role may not disconnect.
    func kick(_ id: String) async -> String {
        do {
            let reply = try await request("/api/v5/clients/\(Poller.encode(id))", method: .DELETE)
            switch reply.status {
            case 204, 200: return "disconnected \(id)"
            case 404: return "\(id) was already gone (CLIENTID_NOT_FOUND)"
            case 403: return "could not disconnect \(id): this API key's role may not (\(Self.error(reply).message))"
            default: return "could not disconnect \(id): \(Self.error(reply))"
            }
        } catch {
            return "could not disconnect \(id): \(Poller.describe(error))"
        }
    }
}
