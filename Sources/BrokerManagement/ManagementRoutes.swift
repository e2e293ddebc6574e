import Broker
import HTTPTypes
import Hummingbird
import NIOCore

/// A request matched to a route: its method, the values of the pattern's `{name}` segments
/// (percent-decoded), the query items and the authenticated user.
struct RouteCall {
    var method: HTTPRequest.Method
    var parameters: [String: String]
    var query: [(key: String, value: String)]
    var user: String

    subscript(_ name: String) -> String { parameters[name] ?? "" }
}

/// One endpoint of the management API. The table below is the only list of routes: requests
/// are dispatched through it, the `/api/v4` catalogue is rendered from it, and a test checks it
/// against api/openapi.json both ways.
struct Route: Sendable {
    /// Path segments; `{name}` matches any one segment (a `/` inside it is `%2F`).
    let pattern: [String]
    let methods: [HTTPRequest.Method]
    /// False: any query parameter is a 400 (code 108).
    let acceptsQuery: Bool
    /// Entries of the `/api/v4` catalogue (EMQX 4's shape), one per method listed.
    let catalogue: [(name: String, method: HTTPRequest.Method, path: String, description: String)]
    let handler: @Sendable (ManagementAPI, RouteCall) throws(APIError) -> Response

    init(
        _ path: String,
        _ methods: [HTTPRequest.Method] = [.get],
        query: Bool = false,
        catalogue: [(name: String, method: HTTPRequest.Method, description: String)] = [],
        _ handler: @escaping @Sendable (ManagementAPI, RouteCall) throws(APIError) -> Response
    ) {
        pattern = path.split(separator: "/").map(String.init)
        self.methods = methods
        acceptsQuery = query
        // The catalogue writes parameters as EMQX 4 did (`:clientid`) and paths below /api/v4.
        let short = "/" + pattern.dropFirst(2).map { $0.hasPrefix("{") ? ":" + $0.dropFirst().dropLast() : $0 }.joined(separator: "/")
        let listed = pattern.last?.hasPrefix("{") == true ? short : short + "/"
        self.catalogue = catalogue.map { ($0.name, $0.method, listed, $0.description) }
        self.handler = handler
    }

    /// The OpenAPI path of this route, e.g. `/api/v4/clients/{clientid}`.
    var path: String { "/" + pattern.joined(separator: "/") }

    /// The parameters when `segments` match the pattern, else nil.
    func match(_ segments: [String]) -> [String: String]? {
        guard segments.count == pattern.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, segment) in zip(pattern, segments) {
            if expected.hasPrefix("{") {
                parameters[String(expected.dropFirst().dropLast())] = segment
            } else if expected != segment {
                return nil
            }
        }
        return parameters
    }
}

extension ManagementAPI {
    /// Every route, in the order they are tried.
    static let routes: [Route] = [
        Route("metrics") { api, _ throws(APIError) in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: api.exporter.scrape())))
        },
        Route("api/v4") { api, _ throws(APIError) in api.catalogue() },
        Route("api/v4/openapi.json") { _, _ throws(APIError) in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        },
        Route("api/v4/brokers", catalogue: [("list_brokers", .get, "A list of brokers in the cluster")]) { api, _ throws(APIError) in
            api.ok { $0.array { api.writeBroker(&$0) } }
        },
        Route("api/v4/brokers/{node}") { api, _ throws(APIError) in api.ok { api.writeBroker(&$0) } },
        Route("api/v4/nodes", catalogue: [("list_nodes", .get, "A list of nodes in the cluster")]) { api, _ throws(APIError) in
            api.ok { $0.array { api.writeNode(&$0) } }
        },
        Route("api/v4/nodes/{node}") { api, _ throws(APIError) in api.ok { api.writeNode(&$0) } },
        Route("api/v4/clients", query: true, catalogue: [("list_clients", .get, "Paged, filtered, sortable list of clients")]) {
            api,
            call throws(APIError) in
            try api.listClients(call.query, v3: false)
        },
        Route("api/v4/nodes/{node}/clients", query: true, catalogue: [("list_node_clients", .get, "Clients of a node")]) {
            api,
            call throws(APIError) in
            try api.listClients(call.query, v3: false)
        },
        Route("api/v4/clients/username/{username}", catalogue: [("lookup_client_via_username", .get, "Look up clients by username")]) {
            api,
            call throws(APIError) in
            api.lookup(username: call["username"], connectedOnly: false, v3: false)
        },
        Route(
            "api/v4/clients/{clientid}",
            [.get, .delete],
            catalogue: [
                ("lookup_client", .get, "Look up a client by id"),
                ("kickout_client", .delete, "Disconnect a client (DISCONNECT 0x98 for MQTT 5)"),
            ]
        ) { api, call throws(APIError) in try api.clientById(call) },
        Route("api/v4/nodes/{node}/clients/{clientid}", [.get, .delete]) { api, call throws(APIError) in try api.clientById(call) },
        Route("api/v4/subscriptions", query: true, catalogue: [("list_subscriptions", .get, "Paged list of subscriptions")]) {
            api,
            call throws(APIError) in
            try api.listSubscriptions(call.query, clientId: nil)
        },
        Route("api/v4/subscriptions/{clientid}", query: true, catalogue: [("lookup_client_subscriptions", .get, "Subscriptions of a client")]) {
            api,
            call throws(APIError) in try api.listSubscriptions(call.query, clientId: call["clientid"])
        },
        Route("api/v4/nodes/{node}/subscriptions", query: true) { api, call throws(APIError) in try api.listSubscriptions(call.query, clientId: nil)
        },
        Route("api/v4/nodes/{node}/subscriptions/{clientid}", query: true) { api, call throws(APIError) in
            try api.listSubscriptions(call.query, clientId: call["clientid"])
        },
        Route("api/v4/stats", catalogue: [("list_stats", .get, "Connection, session, subscription and retained gauges")]) { api, _ throws(APIError) in
            api.ok { $0.array { api.writeStats(&$0) } }
        },
        Route("api/v4/metrics", catalogue: [("list_all_metrics", .get, "Byte, packet and message counters")]) { api, _ throws(APIError) in
            api.ok { $0.array { api.writeMetrics(&$0) } }
        },
        Route("api/v3/connections", query: true) { api, call throws(APIError) in try api.listClients(call.query, v3: true) },
        Route("api/v3/nodes/{node}/connections", query: true) { api, call throws(APIError) in try api.listClients(call.query, v3: true) },
        Route("api/v3/connections/{clientid}", [.get, .delete]) { api, call throws(APIError) in
            let id = call["clientid"]
            return call.method == .delete ? try api.kick(id, by: call.user) : api.lookup(clientId: id, connectedOnly: true, v3: true)
        },
        Route("api/v3/connection/username/{username}") { api, call throws(APIError) in
            api.lookup(username: call["username"], connectedOnly: true, v3: true)
        },
    ]

    fileprivate func clientById(_ call: RouteCall) throws(APIError) -> Response {
        let id = call["clientid"]
        return call.method == .delete ? try kick(id, by: call.user) : lookup(clientId: id, connectedOnly: false, v3: false)
    }
}

/// What the management API promises, for the test that holds it to api/openapi.json.
public enum ManagementAPIContract {
    /// Every (method, path) served, paths in OpenAPI form (`/api/v4/clients/{clientid}`).
    public static var routes: [(method: String, path: String)] {
        ManagementAPI.routes.flatMap { route in route.methods.map { ($0.rawValue, route.path) } }
    }

    /// The OpenAPI document as served at `/api/v4/openapi.json`.
    public static var openAPIDocument: String { OpenAPIDocument.json }
}
