/// Settings of the management HTTP API.
public struct ManagementConfiguration: Sendable, Hashable {
    /// Listener address; loopback by default so that the API is closed to the network.
    public var host = "127.0.0.1"
    /// Listener port (NanoMQ's default); 0 picks a free port.
    public var port = 8081
    /// Basic Auth credentials, required on every route (NanoMQ/EMQX v4 defaults).
    public var username = "admin"
    public var password = "public"
    /// Seconds a connection may stay idle, or take to send a request's headers, before it is
    /// closed (a dashboard polling every second never is; slowloris clients are).
    public var idleTimeout = 10
    /// Most open API connections; at the cap new ones wait in the backlog until one closes.
    public var maxConnections = 256

    public init() {}
}
