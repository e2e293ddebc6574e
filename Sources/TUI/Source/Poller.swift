import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

import AviaryLocks

/// What the last polls produced, handed from the poller to the UI thread under a lock.
public struct PollSnapshot: Sendable {
    public var generation = 0
    public var rows: [ClientRow] = []
    /// Monotonic seconds when `rows` were fetched (for rates).
    public var fetchedAt: Double = 0
    public var info: SourceInfo
    public var detailId: String?
    public var detail: DetailInfo?
    /// Outcomes of disconnect requests, oldest first, drained by the UI.
    public var messages: [String] = []
    /// The cluster's nodes (EMQX 5/6), from the last poll.
    public var nodes: [NodeRow] = []
    /// Every subscription, while the subscriptions view is open (nil otherwise or unavailable).
    public var subscriptions: [SubscriptionRow]?
}

/// Polls a management API (ours, NanoMQ's, EMQX's) on its own task, with backoff while the
/// API is unreachable; the UI reads `snapshot()` on its own thread.
public final class Poller: Sendable {
    let baseURL: String
    let user: String
    let password: String
    /// `Basic` with the user and password (EMQX 5/6: API key and secret), or, once EMQX 5/6
    /// refused them as a key, `Bearer` with a token from `POST /api/v5/login`.
    let authorization: Locked<String>
    let client: HTTPClient
    private let state: Locked<PollSnapshot>
    private let control = Locked((interval: 1.0, paused: false, detailId: String?.none))
    private let subscriptionsWanted = Locked(false)
    /// What the table shows, for server-side sort and paging of large tables.
    private let query = Locked(ViewQuery())

    public struct ViewQuery: Sendable, Equatable {
        public var sortField = "recv_oct"
        public var descending = true
        public var filter = ""
        public init() {}
    }

    /// Tables larger than this are fetched as a window (`window` rows, sorted and filtered by
    /// the server) where the API can sort and page (ours and EMQX v4).
    public static let fullFetchLimit = 2000
    public static let window = 500
    private let flavourBox = Locked<Flavour?>(nil)
    /// Set once the API answered a disconnect with "no such endpoint" (NanoMQ before its
    /// DELETE /api/v4/clients/{id}): `d` is not offered any more.
    let kickUnsupported = Locked(false)
    /// EMQX 5/6 took `fields=` (5.6+); false once it refused it.
    let v5FieldsAccepted = Locked(true)
    /// Clients on the source, from an unfiltered poll; nil until known (polls start windowed).
    private let knownTotal = Locked<Int?>(nil)

    public init(url: String, user: String, password: String, interval: Double) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        if !base.contains("://") { base = "http://" + base }
        baseURL = base
        self.user = user
        self.password = password
        authorization = Locked("Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        client = HTTPClient.shared
        state = Locked(PollSnapshot(info: SourceInfo(url: base)))
        control.withLock { $0.interval = interval }
    }

    public func snapshot() -> PollSnapshot { state.withLock { $0 } }

    public func drainMessages() -> [String] {
        state.withLock { s in
            defer { s.messages.removeAll() }
            return s.messages
        }
    }

    public func setQuery(_ q: ViewQuery) { query.withLock { $0 = q } }

    public func setInterval(_ seconds: Double) { control.withLock { $0.interval = seconds } }
    public func setSubscriptionsWanted(_ wanted: Bool) {
        subscriptionsWanted.withLock { $0 = wanted }
        if !wanted { state.withLock { $0.subscriptions = nil } }
    }
    public func setPaused(_ paused: Bool) { control.withLock { $0.paused = paused } }
    public func setDetail(_ id: String?) {
        control.withLock { $0.detailId = id }
        state.withLock {
            $0.detailId = id
            $0.detail = nil
        }
    }

    static func monotonic() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    // MARK: - HTTP

    struct Reply {
        var status: Int
        var body: [UInt8]
    }

    func request(_ path: String, method: HTTPMethod = .GET, json: [String: String]? = nil, authorized: Bool = true, timeout: Int64 = 5) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if authorized { request.headers.add(name: "Authorization", value: authorization.withLock { $0 }) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await client.execute(request, timeout: .seconds(timeout))
        let body = try await response.body.collect(upTo: 256 << 20)
        return Reply(status: Int(response.status.code), body: Array(body.readableBytesView))
    }

    static func encode(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? id
    }

    /// Works out which API this is: EMQX 5/6 from `/api/v5/status`, the others from
    /// `/api/v4/brokers` (or EMQX v3's).
    func detect() async throws -> (Flavour, name: String?, version: String?, uptime: String?, uptimeSeconds: Int64?) {
        if let v5 = try await detectV5() { return v5 }
        let reply = try await request("/api/v4/brokers")
        if reply.status == 401 { throw APIResponseError(status: 401, code: nil, message: "credentials rejected") }
        if reply.status == 404 {
            let v3 = try await request("/api/v3/brokers")
            if v3.status == 401 { throw APIResponseError(status: 401, code: nil, message: "credentials rejected") }
            guard v3.status == 200 else { throw APIResponseError(status: v3.status, code: nil, message: "not a NanoMQ or EMQX management API") }
            let b = Self.firstObject(v3.body)
            return (.emqx3, "EMQX", b?["version"] as? String, b?["uptime"] as? String, nil)
        }
        guard reply.status == 200, let b = Self.firstObject(reply.body) else {
            throw APIResponseError(status: reply.status, code: nil, message: "unexpected answer from /api/v4/brokers")
        }
        let descr = (b["sysdescr"] as? String ?? "").lowercased()
        let flavour: Flavour = descr.contains("aviary") ? .aviary : descr.contains("nanomq") ? .nanomq : .emqx4
        let name = flavour == .aviary ? "aviary" : flavour == .nanomq ? "NanoMQ" : "EMQX"
        let uptime = b["uptime"] as? String
        let seconds = (b["uptime_seconds"] as? NSNumber)?.int64Value ?? uptime.flatMap(Self.parseUptime)
        return (flavour, name, b["version"] as? String, uptime, seconds)
    }

    /// NanoMQ's and EMQX 4's uptime text ("0 Hours, 0 minutes, 19 seconds", "3 days, 2 hours,
    /// 5 minutes, 1 seconds") in seconds, so that the header can show it advancing.
    static func parseUptime(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)]
        var total: Int64 = 0
        var found = false
        let words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == "," })
        for (i, word) in words.enumerated() where i > 0 {
            guard let (_, scale) = units.first(where: { word.hasPrefix($0.0) }), let n = Int64(words[i - 1]) else { continue }
            total += n * scale
            found = true
        }
        return found ? total : nil
    }

    static func firstObject(_ body: [UInt8]) -> [String: Any]? {
        let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        if let list = json?["data"] as? [[String: Any]] { return list.first }
        return json?["data"] as? [String: Any]
    }

    /// The listing to fetch, and how it is windowed (nil: every client). The first poll is
    /// windowed, so a huge table is never fetched whole just to learn its size.
    func clientsPath(_ flavour: Flavour) -> (path: String, window: String?, filtered: Bool) {
        switch flavour {
        case .aviary, .emqx4:
            let total = knownTotal.withLock { $0 }
            if let total, total <= Self.fullFetchLimit { return ("/api/v4/clients?_limit=10000", nil, false) }
            let q = query.withLock { $0 }
            var path = "/api/v4/clients?_sort=\(q.sortField)&_order=\(q.descending ? "desc" : "asc")&_limit=\(Self.window)"
            if !q.filter.isEmpty { path += "&_like_clientid=" + Self.encode(q.filter) }
            return (path, "top \(Self.window) by \(q.sortField)\(q.descending ? "" : " (ascending)")", !q.filter.isEmpty)
        case .nanomq: return ("/api/v4/clients", nil, false)
        case .emqx3: return ("/api/v3/connections?_limit=10000", nil, false)
        case .emqx5: return ("/api/v5/clients", nil, false)  // paged by `listV5`
        }
    }

    /// Every subscription (at most 50,000): aviary, EMQX v4 and NanoMQ at /api/v4/subscriptions,
    /// EMQX v3 at /api/v3/subscriptions, EMQX 5/6 page by page at /api/v5/subscriptions.
    func fetchAllSubscriptions(_ flavour: Flavour) async -> [SubscriptionRow]? {
        func rows(_ body: [UInt8]) -> (rows: [SubscriptionRow], hasNext: Bool?)? {
            guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let data = json["data"] as? [[String: Any]] else { return nil }
            let list = data.compactMap { o -> SubscriptionRow? in
                guard let topic = o["topic"] as? String, let id = (o["clientid"] ?? o["client_id"]) as? String else { return nil }
                return SubscriptionRow(clientId: id, topic: topic, qos: (o["qos"] as? NSNumber)?.intValue ?? 0)
            }
            return (list, (json["meta"] as? [String: Any])?["hasnext"] as? Bool)
        }
        // Paged APIs: EMQX 5/6 (page, limit ≤ 1,000 before 5.5) and aviary / EMQX v4 (_page, _limit ≤ 10,000).
        let pageQuery: ((Int) -> String)? =
            switch flavour {
            case .emqx5: { "/api/v5/subscriptions?page=\($0)&limit=1000" }
            case .aviary, .emqx4: { "/api/v4/subscriptions?_page=\($0)&_limit=10000" }
            case .nanomq, .emqx3: nil
            }
        guard let pageQuery else {
            guard let reply = try? await request(flavour == .emqx3 ? "/api/v3/subscriptions?_limit=10000" : "/api/v4/subscriptions"), reply.status == 200 else { return nil }
            return rows(reply.body)?.rows
        }
        var all: [SubscriptionRow] = []
        var page = 1
        while all.count < Self.v5RowBudget {
            let path = pageQuery(page)
            guard let reply = try? await (flavour == .emqx5 ? requestV5(path) : request(path)), reply.status == 200, let got = rows(reply.body) else {
                return all.isEmpty ? nil : all
            }
            all += got.rows
            if !(got.hasNext ?? false) || got.rows.isEmpty { break }
            page += 1
        }
        return all
    }

    /// NanoMQ's whole-broker message counters from its Prometheus text, or nil.
    func nanoMQMessages() async -> (received: UInt64, sent: UInt64)? {
        guard let reply = try? await request("/api/v4/prometheus"), reply.status == 200 else { return nil }
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

    // MARK: - Loop

    /// Polls until the task is cancelled.
    public func run() async {
        var failures = 0
        var polls = 0
        while !Task.isCancelled {
            let (interval, paused, detailId) = control.withLock { ($0.interval, $0.paused, $0.detailId) }
            if paused {
                // The detail view still gets its fields when opened while paused.
                if let id = detailId, let flavour = flavourBox.withLock({ $0 }), state.withLock({ $0.detail == nil }) {
                    let detail = await fetchDetail(id, flavour: flavour)
                    state.withLock { s in if s.detailId == id { s.detail = detail } }
                }
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            let started = Self.monotonic()
            do {
                var flavour = flavourBox.withLock { $0 }
                if flavour == nil || polls % 10 == 0 {
                    let found = try await detect()
                    flavour = found.0
                    flavourBox.withLock { $0 = found.0 }
                    state.withLock {
                        $0.info.flavour = found.0
                        $0.info.brokerName = found.name
                        $0.info.version = found.version
                        $0.info.uptime = found.uptime
                        $0.info.uptimeSeconds = found.uptimeSeconds
                        $0.info.uptimeReadMs = Int64(Date().timeIntervalSince1970 * 1000)
                    }
                }
                let page: ClientPage
                let shownWindow: String?
                var nodes: [NodeRow] = []
                if flavour == .emqx5 {
                    (page, shownWindow) = try await listV5()
                    nodes = await nodesV5()
                } else {
                    let (path, window, filtered) = clientsPath(flavour!)
                    let reply = try await request(path)
                    page = try ClientDecoder.decode(status: reply.status, body: reply.body, includeFields: false)
                    if !filtered { knownTotal.withLock { $0 = page.total } }
                    // A small table is shown whole from the next poll on.
                    shownWindow = window != nil && page.total <= Self.fullFetchLimit && !filtered ? nil : window
                }
                let subscriptions = subscriptionsWanted.withLock { $0 } ? await fetchAllSubscriptions(flavour!) : nil
                // NanoMQ has no per-client counters; its broker counters give the header's rates.
                let brokerMessages = flavour == .nanomq ? await nanoMQMessages() : nil
                var detail: DetailInfo?
                if let id = detailId {
                    detail = await fetchDetail(id, flavour: flavour!)
                }
                let finished = Self.monotonic()
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                state.withLock { s in
                    s.generation += 1
                    s.rows = page.rows
                    s.fetchedAt = finished
                    s.info.total = page.total
                    s.info.window = shownWindow
                    s.info.brokerMessages = brokerMessages
                    s.nodes = nodes
                    s.subscriptions = subscriptions
                    s.info.canKick = !kickUnsupported.withLock { $0 }
                    s.info.lastPollMs = now
                    s.info.latencyMs = (finished - started) * 1000
                    s.info.error = nil
                    s.info.errorSinceMs = nil
                    s.info.retryIn = nil
                    s.info.authFailed = false
                    if s.detailId == detailId { s.detail = detail }
                }
                failures = 0
                polls += 1
                let rest = interval - (Self.monotonic() - started)
                if rest > 0 { try? await Task.sleep(for: .milliseconds(Int64(rest * 1000))) }
            } catch {
                failures += 1
                flavourBox.withLock { $0 = nil }
                let backoff = min(max(interval, 0.5) * pow(2, Double(min(failures - 1, 6))), 30)
                let message = Self.describe(error)
                let auth = (error as? APIResponseError)?.status == 401
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                state.withLock { s in
                    s.info.error = message
                    s.info.authFailed = auth
                    if s.info.errorSinceMs == nil { s.info.errorSinceMs = now }
                }
                let until = Self.monotonic() + backoff
                while !Task.isCancelled, Self.monotonic() < until {
                    state.withLock { $0.info.retryIn = until - Self.monotonic() }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let api = error as? APIResponseError { return api.description }
        if let http = error as? HTTPClientError { return "\(http)" }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }

    func fetchDetail(_ id: String, flavour: Flavour) async -> DetailInfo {
        if flavour == .emqx5 { return await fetchDetailV5(id) }
        let lookup = flavour == .emqx3 ? "/api/v3/connections/\(Self.encode(id))" : "/api/v4/clients/\(Self.encode(id))"
        var fields: [(key: String, value: String)]?
        if let reply = try? await request(lookup), let page = try? ClientDecoder.decode(status: reply.status, body: reply.body) {
            fields = page.rows.first?.fields
        }
        var info = await fetchSubscriptions(id, flavour: flavour)
        info.fields = fields
        if fields == nil {
            info.note = "the API's lookup cannot find this id\(flavour == .nanomq ? " (NanoMQ does not find ids with a space or '/')" : ""): showing what the listing gives"
        }
        return info
    }

    func fetchSubscriptions(_ id: String, flavour: Flavour) async -> DetailInfo {
        let path = flavour == .emqx3 ? "/api/v3/subscriptions/\(Self.encode(id))" : "/api/v4/subscriptions/\(Self.encode(id))"
        guard let reply = try? await request(path), reply.status == 200,
            let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any],
            let data = json["data"] as? [[String: Any]]
        else { return DetailInfo(note: "subscriptions not available from this API") }
        return DetailInfo(subscriptions: data.compactMap(Self.subscription).sorted { $0.topic < $1.topic })
    }

    /// One subscription object of any of the APIs: topic, QoS, and the 5.0 options (`nl`, `rap`,
    /// `rh`, as numbers or booleans) in words.
    static func subscription(_ o: [String: Any]) -> (topic: String, qos: Int, options: String)? {
        guard let topic = o["topic"] as? String else { return nil }
        func flag(_ key: String) -> Int { (o[key] as? NSNumber)?.intValue ?? ((o[key] as? Bool) == true ? 1 : 0) }
        var options: [String] = []
        if flag("nl") != 0 { options.append("No Local") }
        if flag("rap") != 0 { options.append("Retain As Published") }
        if flag("rh") != 0 { options.append("Retain Handling \(flag("rh"))") }
        return (topic, (o["qos"] as? NSNumber)?.intValue ?? 0, options.joined(separator: ", "))
    }

    /// Disconnects several clients: EMQX 5/6 in one `POST /api/v5/clients/kickout/bulk` (it
    /// always answers 204, so the next poll shows who is gone), the others one by one; one
    /// status line sums it up.
    public func kick(_ ids: [String]) async {
        let flavour = flavourBox.withLock { $0 } ?? .aviary
        if flavour == .emqx5 {
            let message = await kickBulkV5(ids)
            state.withLock { $0.messages.append(message) }
            return
        }
        for id in ids { await kick(id) }
        let outcomes = drainMessages()
        let done = outcomes.filter { $0.hasPrefix("disconnected ") }.count
        let failed = outcomes.filter { !$0.hasPrefix("disconnected ") }
        let summary = "disconnected \(done) of \(ids.count)" + (failed.isEmpty ? "" : "; " + failed.joined(separator: "; "))
        state.withLock { $0.messages.append(summary) }
    }

    /// Disconnects a client through the API's kick endpoint; the outcome goes to the status line.
    public func kick(_ id: String) async {
        let flavour = flavourBox.withLock { $0 } ?? .aviary
        let message: String
        if kickUnsupported.withLock({ $0 }) {
            message = "this API has no disconnect endpoint"
        } else if flavour == .emqx5 {
            message = await kickV5(id)
        } else {
            let path = flavour == .emqx3 ? "/api/v3/connections/\(Self.encode(id))" : "/api/v4/clients/\(Self.encode(id))"
            do {
                let reply = try await request(path, method: .DELETE)
                let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
                let code = (json?["code"] as? NSNumber)?.intValue
                let text = String(decoding: reply.body.prefix(300), as: UTF8.self)
                if reply.status == 200 && (code == nil || code == 0) {
                    message = "disconnected \(id)"
                } else if flavour == .nanomq, text.contains("CLIENT_IS_OFFLINE") {
                    message = "\(id) is offline: NanoMQ disconnects connected clients only"
                } else if flavour == .nanomq, [404, 405, 501].contains(reply.status) {
                    // 0.25.5 answers 404 {"code":102}: no such route. Newer NanoMQ has one.
                    kickUnsupported.withLock { $0 = true }
                    state.withLock { $0.info.canKick = false }
                    message = "this NanoMQ has no disconnect endpoint (DELETE /api/v4/clients/{id} answered HTTP \(reply.status)\(code.map { " code \($0)" } ?? "")); newer NanoMQ versions have it"
                } else {
                    message = "could not disconnect \(id): HTTP \(reply.status)" + (code.map { " code \($0)" } ?? "")
                        + ((json?["message"] as? String).map { ": " + $0 } ?? "")
                }
            } catch {
                message = "could not disconnect \(id): \(Self.describe(error))"
            }
        }
        state.withLock { $0.messages.append(message) }
    }
}
