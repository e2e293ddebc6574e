/// One node of a cluster (EMQX 5/6), as the cluster view shows it.
public struct NodeRow: Sendable, Hashable {
    public var name: String
    /// `running` or `stopped` (a stopped core node is listed with its name and role only).
    public var status: String
    public var role: String?
    public var version: String?
    public var connections: Int?
    public var liveConnections: Int?
    /// Sessions held on the node (`/stats` per node: `sessions.count`).
    public var sessions: Int?
    /// Messages per second over EMQX's last 10 s window (`monitor_current/nodes/{node}`).
    public var receivedRate: Double?
    public var sentRate: Double?
    /// As EMQX writes them: "3.12G".
    public var memoryUsed: String?
    public var memoryTotal: String?
    public var uptimeSeconds: Int64?

    public init(name: String, status: String) {
        self.name = name
        self.status = status
    }

    /// The cluster view's columns: title, width, and the cell of a node.
    public static let columns: [(title: String, width: Int, cell: @Sendable (NodeRow) -> String)] = [
        ("NODE", 24, { $0.name }),
        ("STATUS", 8, { $0.status }),
        ("ROLE", 6, { $0.role ?? "–" }),
        ("VERSION", 8, { $0.version ?? "–" }),
        ("CONNS", 7, { $0.connections.map(String.init) ?? "–" }),
        ("LIVE", 7, { $0.liveConnections.map(String.init) ?? "–" }),
        ("SESSIONS", 8, { $0.sessions.map(String.init) ?? "–" }),
        ("MSG IN/s", 9, { $0.receivedRate.map(Format.rate) ?? "–" }),
        ("MSG OUT/s", 10, { $0.sentRate.map(Format.rate) ?? "–" }),
        ("MEMORY", 14, { n in n.memoryUsed.map { used in used + (n.memoryTotal.map { " / \($0)" } ?? "") } ?? "–" }),
        ("UP", 8, { $0.uptimeSeconds.map { Format.duration(seconds: $0) } ?? "–" }),
    ]
}
