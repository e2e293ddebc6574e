import AsyncHTTPClient
import AviaryLocks
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

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
    let query = Locked(ViewQuery())

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
    let knownTotal = Locked<Int?>(nil)
    /// Rows (clients, subscriptions) fetched per poll at most from a paging API; a larger table
    /// is shown in part, with a header note.
    static let rowBudget = 50_000

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

    func request(
        _ path: String,
        method: HTTPMethod = .GET,
        json: [String: String]? = nil,
        authorized: Bool = true,
        timeout: Int64 = 5
    ) async throws -> Reply {
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
        if let v5 = try await EMQX5API.detect(self) { return v5 }
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
                    let detail = await flavour.api(self).detail(id)
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
                let api = flavour!.api(self)
                let listing = try await api.listClients()
                let page = listing.page
                let subscriptions = subscriptionsWanted.withLock { $0 } ? await api.allSubscriptions() : nil
                // NanoMQ has no per-client counters; its broker counters give the header's rates.
                let brokerMessages = await api.brokerMessages()
                var detail: DetailInfo?
                if let id = detailId {
                    detail = await api.detail(id)
                }
                let finished = Self.monotonic()
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                state.withLock { s in
                    s.generation += 1
                    s.rows = page.rows
                    s.fetchedAt = finished
                    s.info.total = page.total
                    s.info.window = listing.window
                    s.info.brokerMessages = brokerMessages
                    s.nodes = listing.nodes
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
        let message = kickUnsupported.withLock({ $0 }) ? "this API has no disconnect endpoint" : await currentAPI().kick(ids)
        state.withLock { $0.messages.append(message) }
    }

    /// Disconnects a client through the API's kick endpoint; the outcome goes to the status line.
    public func kick(_ id: String) async {
        let message = kickUnsupported.withLock({ $0 }) ? "this API has no disconnect endpoint" : await currentAPI().kick(id)
        state.withLock { $0.messages.append(message) }
    }

    /// The API detected last (aviary's before the first poll).
    private func currentAPI() -> any BrokerAPI {
        (flavourBox.withLock { $0 } ?? .aviary).api(self)
    }

    /// The API answered a kick with "no such endpoint": `d` is not offered any more.
    func markKickUnsupported() {
        kickUnsupported.withLock { $0 = true }
        state.withLock { $0.info.canKick = false }
    }
}
