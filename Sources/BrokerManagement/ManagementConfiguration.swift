/// Settings of the management HTTP API.
public struct ManagementConfiguration: Sendable, Hashable {
    /// Listener address; loopback by default so that the API is closed to the network.
    public var host = "127.0.0.1"
    /// Listener port (NanoMQ's default); 0 picks a free port.
    public var port = 8081
    /// Basic Auth credentials, required on every route (NanoMQ/EMQX v4 defaults).
    public var username = "admin"
    public var password = "public"

    public init() {}
}
