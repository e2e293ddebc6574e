/// One client as the dashboard sees it, whichever API it came from. Counters are optional:
/// NanoMQ's API has none, EMQX v3 has no queue figures; the table shows "–" for what is absent.
public struct ClientRow: Sendable, Hashable {
    public var clientId: String
    public var username: String
    public var address: String?
    public var port: Int?
    /// "3.1", "3.1.1" or "5.0".
    public var protocolName: String
    public var connected: Bool
    public var keepAlive: Int?
    public var cleanStart: Bool?
    /// Wall-clock milliseconds since 1970.
    public var connectedAtMs: Int64?
    public var expiryInterval: Int64?
    public var recvOct: UInt64?
    public var sendOct: UInt64?
    public var recvPkt: UInt64?
    public var sendPkt: UInt64?
    public var recvMsg: UInt64?
    public var sendMsg: UInt64?
    public var mqueueLen: UInt64?
    public var mqueueDropped: UInt64?
    public var inflight: UInt64?
    public var subscriptions: UInt64?
    public var willTopic: String?
    /// Flow control (aviary): a subscriber holds this client's publishing back; this client
    /// holds back that many publishers.
    public var heldBack = false
    public var holdingPublishers: UInt64 = 0
    /// aviary's own bridges: the row of a bridge's local side carries its link's state
    /// (`connecting`, `connected`, `backing off`).
    public var bridgeState: String?
    /// The cluster node the client is on (EMQX 5/6; aviary names itself).
    public var node: String?
    /// Every field of the object as the API sent it, for the detail view.
    public var fields: [(key: String, value: String)]

    /// The STATE column: offline, connected, or under flow control.
    public var stateText: String {
        if let bridgeState {
            switch bridgeState {
            case "connected": return "bridge"
            case "connecting": return "bridge …"
            default: return "bridge ✗"
            }
        }
        guard connected else { return "offline" }
        if holdingPublishers > 0 { return "holding" }
        return heldBack ? "held" : "connected"
    }

    /// The row's own figures as detail fields, for when the API's lookup cannot give them.
    public var listedFields: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [("client id", clientId), ("username", username)]
        if let address { fields.append(("address", address + (port.map { ":\($0)" } ?? ""))) }
        fields.append(("protocol", protocolName))
        fields.append(("state", stateText))
        if let keepAlive { fields.append(("keepalive", "\(keepAlive) s")) }
        if let cleanStart { fields.append(("clean start", "\(cleanStart)")) }
        if let expiryInterval { fields.append(("session expiry", "\(expiryInterval) s")) }
        if let node { fields.append(("node", node)) }
        if let willTopic { fields.append(("will topic", willTopic)) }
        return fields
    }

    public static func == (a: ClientRow, b: ClientRow) -> Bool {
        a.clientId == b.clientId && a.connected == b.connected && a.bridgeState == b.bridgeState && a.heldBack == b.heldBack
            && a.holdingPublishers == b.holdingPublishers && a.recvOct == b.recvOct && a.sendOct == b.sendOct
            && a.recvMsg == b.recvMsg && a.sendMsg == b.sendMsg && a.fields.map(\.key) == b.fields.map(\.key)
            && a.fields.map(\.value) == b.fields.map(\.value)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(clientId) }
}
