/// A copy of one client's identity, session state and counters at one moment: what the
/// management API lists and the dashboard shows. A plain value, safe to pass anywhere.
public struct ClientSnapshot: Sendable, Hashable {
    public var info: ClientInfo
    public var connected: Bool
    /// Session Expiry Interval in seconds (`UInt32.max` = never).
    public var expiryInterval: UInt32
    /// Wall-clock milliseconds when the session was created.
    public var createdAtMs: Int64
    public var subscriptionsCount: Int
    /// Subscriptions the client may hold (0 = no limit).
    public var maxSubscriptions: Int
    public var inflight: Int
    public var maxInflight: Int
    public var awaitingRel: Int
    public var maxAwaitingRel: Int
    public var mqueueLen: Int
    public var maxMqueue: Int
    public var mqueueDropped: UInt64
    /// Payload bytes held for the client in its queue and in-flight window.
    public var heldBytes: UInt64
    /// Flow control: subscribers holding this client's publishing back, the acknowledgements
    /// held back from it, the publishers this client holds back (see `OverloadPolicy`).
    public var heldBy: UInt64
    public var heldAcks: UInt64
    public var holdingPublishers: Int

    public var recvOct: UInt64
    public var sendOct: UInt64
    public var recvPkt: UInt64
    public var sendPkt: UInt64
    public var recvMsg: UInt64
    public var sendMsg: UInt64
    public var recvCnt: UInt64
    public var sendCnt: UInt64
    public var sendPend: UInt64
    /// Packets queued on the connection for writing (`mailbox_len` analogue).
    public var outboxLen: UInt64
    /// Events processed by the connection (`reductions` analogue).
    public var events: UInt64

    public var clientId: String { info.clientId }
}
