import Broker
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import HummingbirdCore
import HummingbirdTLS
import Logging
import MQTTCodec
import NIOCore
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// The management API: NanoMQ v4 and EMQX v3/v4 compatible endpoints over the broker's
/// client table (docs/API.md). Routing is done here over the percent-decoded path
/// segments, so client ids containing `/`, `%`, spaces or non-ASCII characters work.
struct ManagementAPI: HTTPResponder {
    typealias Context = APIRequestContext

    static let zone = "default"

    let broker: Broker
    let configuration: ManagementConfiguration
    let node: String
    let exporter: PrometheusExporter
    let logger: Logger
    let throttle = AuthThrottle()

    init(broker: Broker, configuration: ManagementConfiguration, connections: APIConnections, logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.node = Self.nodeName()
        self.exporter = PrometheusExporter(broker: broker, connections: connections)
        self.logger = logger
    }

    static func nodeName() -> String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "aviary@" + (host.isEmpty ? "localhost" : host)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        let wait = throttle.delay(for: address)
        if wait > .zero { try? await Task.sleep(for: .nanoseconds(wait.nanoseconds)) }
        let response: Response
        do {
            let user = try authenticate(request)
            throttle.succeeded(address)
            let api = self
            let result: Result<Response, APIError> = await QueryThread.shared.run {
                do throws(APIError) {
                    return .success(try api.handle(request, user: user))
                } catch {
                    return .failure(error)
                }
            }
            response = try result.get()
        } catch {
            if error.status == .unauthorized, request.headers[.authorization] != nil {
                let failures = throttle.failed(address)
                if failures == throttle.freeFailures + 1 {
                    logger.warning("repeated management API authentication failures, slowing this address down", metadata: ["api.peer": "\(address)"])
                }
            }
            response = error.response
        }
        exporter.countRequest(method: request.method.rawValue, status: response.status.code)
        return response
    }

    // MARK: - Auth and routing

    private func authenticate(_ request: Request) throws(APIError) -> String {
        var challenge = HTTPFields()
        challenge[.wwwAuthenticate] = "Basic realm=\"aviary\""
        guard request.headers[.authorization] != nil else {
            throw APIError(status: .unauthorized, code: 104, message: "missing credentials (HTTP Basic Auth)", headers: challenge)
        }
        let basic = request.headers.basic
        let userMatches = ConstantTime.equals((basic?.username ?? "").utf8, configuration.username.utf8)
        let passwordMatches = ConstantTime.equals((basic?.password ?? "").utf8, configuration.password.utf8)
        guard let basic, userMatches && passwordMatches else {
            throw APIError(status: .unauthorized, code: 103, message: "wrong username or password", headers: challenge)
        }
        return basic.username
    }

    private func handle(_ request: Request, user: String) throws(APIError) -> Response {
        let rawPath = request.uri.path
        var segments: [String] = []
        for part in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = PercentDecoding.decode(part) else {
                throw .badParameter("malformed percent-encoding in path '\(rawPath)'")
            }
            segments.append(decoded)
        }
        guard let query = PercentDecoding.queryItems(request.uri.query) else {
            throw .badParameter("malformed percent-encoding in query")
        }
        for route in Self.routes {
            guard let parameters = route.match(segments) else { continue }
            guard route.methods.contains(request.method) else { throw .methodNotAllowed(route.methods) }
            if !route.acceptsQuery, let first = query.first { throw .badParameter("unknown query parameter '\(first.key)'") }
            let call = RouteCall(method: request.method, parameters: parameters, query: query, user: user)
            if let node = parameters["node"] { try checkNode(node) }
            return try route.handler(self, call)
        }
        throw .unknownRoute(rawPath)
    }

    func checkNode(_ name: String) throws(APIError) {
        guard name == node else { throw APIError(status: .notFound, code: 102, message: "unknown node '\(name)'; this node is '\(node)'") }
    }

    // MARK: - Endpoints

    func ok(meta: (inout JSONWriter) -> Void = { _ in }, data: (inout JSONWriter) -> Void) -> Response {
        var json = JSONWriter()
        json.object { o in
            o.field("code", 0)
            o.key("data")
            data(&o)
            meta(&o)
        }
        return Self.jsonResponse(json)
    }

    static func jsonResponse(_ json: JSONWriter) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: json.buffer))
    }

    func listClients(_ query: [(key: String, value: String)], v3: Bool) throws(APIError) -> Response {
        var parsed = try ClientQuery(items: query)
        if v3 { parsed.filters.append { $0.connected } }
        let (page, count) = parsed.apply(to: broker.registry)
        let rows = page.map(ClientSnapshot.init)
        var encoder = ClientJSON(node: node)
        return ok(
            meta: { o in
                o.key("meta")
                o.object { m in
                    m.field("page", parsed.page)
                    m.field("limit", parsed.limit)
                    m.field("count", count)
                    if !v3 { m.field("hasnext", parsed.paging.hasNext(count: count)) }
                }
            },
            data: { o in
                o.array { a in
                    for row in rows {
                        if v3 { encoder.writeV3(row, to: &a) } else { encoder.writeV4(row, to: &a) }
                    }
                }
            }
        )
    }

    /// The clients of one user name (a scan of the registry), in client id order.
    func lookup(username: String, connectedOnly: Bool, v3: Bool) -> Response {
        let rows = broker.registry.rows().filter { ($0.info.username ?? "") == username && (!connectedOnly || $0.connected) }
        return lookup(rows.sorted { $0.clientId < $1.clientId }, v3: v3)
    }

    /// One client by id (the registry's index).
    func lookup(clientId: String, connectedOnly: Bool, v3: Bool) -> Response {
        let rows = broker.registry.row(clientId: clientId).map { [$0] } ?? []
        return lookup(rows.filter { !connectedOnly || $0.connected }, v3: v3)
    }

    private func lookup(_ found: [ClientListing], v3: Bool) -> Response {
        let rows = found.map(ClientSnapshot.init)
        var encoder = ClientJSON(node: node)
        return ok { o in
            o.array { a in
                for row in rows {
                    if v3 { encoder.writeV3(row, to: &a) } else { encoder.writeV4(row, to: &a) }
                }
            }
        }
    }

    func kick(_ id: String, by user: String) throws(APIError) -> Response {
        guard broker.disconnect(clientId: id) else { throw .clientNotFound(id) }
        logger.notice("client kicked through the management API", metadata: ["client.id": "\(id)", "api.user": "\(user)"])
        var json = JSONWriter(capacity: 16)
        json.object { $0.field("code", 0) }
        return Self.jsonResponse(json)
    }

    func listSubscriptions(_ query: [(key: String, value: String)], clientId: String?) throws(APIError) -> Response {
        var paging = Paging()
        var filters: [(String, Subscription) -> Bool] = []
        for (key, value) in query {
            if try paging.accept(key, value) { continue }
            switch key {
            case "clientid", "client_id": filters.append { id, _ in id == value }
            case "topic": filters.append { _, s in s.topicFilter == value }
            case "qos":
                guard let q = UInt8(value), let qos = QoS(rawValue: q) else { throw .badParameter("qos must be 0, 1 or 2, got '\(value)'") }
                filters.append { _, s in s.qos == qos }
            case "share":
                filters.append { _, s in s.topicFilter.hasPrefix("$share/\(value)/") }
            case "_match_topic":
                guard (try? TopicName.validate(value)) != nil, !value.unicodeScalars.contains("\u{0}") else {
                    throw .badParameter("_match_topic must be a topic name, got '\(value)'")
                }
                filters.append { _, s in (try? TopicFilter(s.topicFilter))?.matches(value) ?? false }
            default:
                throw .badParameter("unknown query parameter '\(key)'")
            }
        }
        let all = broker.subscriptions(clientId: clientId)
            .filter { entry in filters.allSatisfy { $0(entry.clientId, entry.subscription) } }
            .sorted { ($0.clientId, $0.subscription.topicFilter) < ($1.clientId, $1.subscription.topicFilter) }
        let (page, limit) = (paging.page, paging.limit)
        let start = min(all.count, paging.offset)
        let rows = all[start..<(start + min(all.count - start, limit))]
        return ok(
            meta: { o in
                o.key("meta")
                o.object { m in
                    m.field("page", page)
                    m.field("limit", limit)
                    m.field("count", all.count)
                    m.field("hasnext", paging.hasNext(count: all.count))
                }
            },
            data: { o in
                o.array { a in
                    for (id, s) in rows {
                        a.object { e in
                            e.field("node", node)
                            e.field("clientid", id)
                            e.field("topic", s.topicFilter)
                            e.field("qos", Int(s.qos.rawValue))
                            e.field("nl", s.noLocal ? 1 : 0)
                            e.field("rap", s.retainAsPublished ? 1 : 0)
                            e.field("rh", Int(s.retainHandling.rawValue))
                        }
                    }
                }
            }
        )
    }

    func catalogue() -> Response {
        ok { o in
            o.array { a in
                for route in Self.routes {
                    for entry in route.catalogue {
                        a.object { e in
                            e.field("name", entry.name)
                            e.field("method", entry.method.rawValue)
                            e.field("path", entry.path)
                            e.field("descr", entry.description)
                        }
                    }
                }
            }
        }
    }

    private func uptimeText() -> String {
        let total = broker.uptimeSeconds
        let (d, h, m, s) = (total / 86400, total % 86400 / 3600, total % 3600 / 60, total % 60)
        var parts: [String] = []
        if d > 0 { parts.append("\(d) days") }
        if d > 0 || h > 0 { parts.append("\(h) hours") }
        if d > 0 || h > 0 || m > 0 { parts.append("\(m) minutes") }
        parts.append("\(s) seconds")
        return parts.joined(separator: ", ")
    }

    func writeBroker(_ o: inout JSONWriter) {
        var clock = ClientJSON(node: node)
        let now = Int64(time(nil)) * 1000
        o.object { b in
            b.field("datetime", clock.localTime(ms: now))
            b.field("node", node)
            b.field("node_status", "Running")
            b.field("sysdescr", "Aviary MQTT broker")
            b.field("uptime", uptimeText())
            b.field("uptime_seconds", broker.uptimeSeconds)
            b.field("started_at_ms", broker.startedAtMs)
            b.field("version", AviaryVersion.current)
        }
    }

    func writeNode(_ o: inout JSONWriter) {
        let stats = broker.stats()
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        o.object { n in
            n.field("node", node)
            n.field("node_status", "Running")
            n.field("connections", stats.connections)
            n.field("sessions", stats.sessions)
            n.field("uptime", uptimeText())
            n.field("uptime_seconds", broker.uptimeSeconds)
            n.field("version", AviaryVersion.current)
            n.field("max_fds", Int64(limit.rlim_cur))
            n.field("event_loops", broker.eventLoopCount)
        }
    }

    func writeStats(_ o: inout JSONWriter) {
        let s = broker.stats()
        o.object { n in
            n.field("node", node)
            n.key("stats")
            n.object { t in
                t.field("connections.count", s.connections)
                t.field("connections.max", s.connectionsMax)
                t.field("live_connections.count", s.connections)
                t.field("live_connections.max", s.connectionsMax)
                t.field("sessions.count", s.sessions)
                t.field("sessions.max", s.sessionsMax)
                t.field("subscriptions.count", s.subscriptions)
                t.field("subscriptions.max", s.subscriptionsMax)
                t.field("topics.count", s.topics)
                t.field("topics.max", s.topicsMax)
                t.field("retained.count", s.retained)
                t.field("retained.max", s.retainedMax)
            }
        }
    }

    func writeMetrics(_ o: inout JSONWriter) {
        let catalogue = broker.metricCatalogue()
        o.object { n in
            n.field("node", node)
            n.key("metrics")
            n.object { t in
                for metric in catalogue {
                    if let name = metric.api { t.field(name, metric.value) }
                }
            }
        }
    }
}

/// Builds the management API application; `main` and the tests both call it.
func buildManagementApplication(
    broker: Broker,
    configuration: ManagementConfiguration,
    logger: Logger,
    tls: TLSConfiguration? = nil,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let connections = APIConnections(max: configuration.maxConnections)
    let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(configuration.idleTimeout)))
    return Application(
        responder: ManagementAPI(broker: broker, configuration: configuration, connections: connections, logger: logger),
        server: try tls.map { try .tls(.http1(configuration: http1), tlsConfiguration: $0) } ?? .http1(configuration: http1),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "aviary",
            availableConnectionsDelegate: APIConnectionCap(connections: connections, logger: logger)
        ),
        onServerRunning: onServerRunning,
        eventLoopGroupProvider: .shared(ManagementEventLoop.group),
        logger: logger
    )
}
