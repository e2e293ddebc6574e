import MQTTCodec

/// Identity of a client connection, fixed at CONNECT.
public struct ClientInfo: Sendable, Hashable {
    public var clientId: String
    public var username: String?
    public var peerAddress: String
    public var peerPort: Int
    public var protocolVersion: ProtocolVersion
    public var keepAlive: UInt16
    public var cleanStart: Bool
    /// Wall-clock milliseconds since 1970.
    public var connectedAtMs: Int64
    public var disconnectedAtMs: Int64?
    public var willTopic: String?
    public var willPayload: [UInt8]?
    /// Set on the connection a bridge of this broker keeps to it (its local side).
    public var bridge: BridgeStatus?

    public init(
        clientId: String,
        username: String?,
        peerAddress: String,
        peerPort: Int,
        protocolVersion: ProtocolVersion,
        keepAlive: UInt16,
        cleanStart: Bool,
        connectedAtMs: Int64
    ) {
        self.clientId = clientId
        self.username = username
        self.peerAddress = peerAddress
        self.peerPort = peerPort
        self.protocolVersion = protocolVersion
        self.keepAlive = keepAlive
        self.cleanStart = cleanStart
        self.connectedAtMs = connectedAtMs
    }
}
