import Synchronization

/// Who a connection is, fixed at CONNECT, with its live counters. Immutable apart from the
/// atomics, so listings read it outside the broker lock.
public final class ClientIdentity: Sendable {
    public let info: ClientInfo
    public let counters: ConnectionCounters

    init(info: ClientInfo, counters: ConnectionCounters) {
        self.info = info
        self.counters = counters
    }
}

/// One row of the client table as copied under the broker lock: a reference to the identity
/// and the session's few mutable numbers. Copying 100,000 of these takes a few milliseconds,
/// so a listing never holds the lock for its filtering, sorting or encoding.
public struct ClientListing: Sendable {
    public let identity: ClientIdentity
    public let connected: Bool
    public let disconnectedAtMs: Int64?
    public let expiryInterval: UInt32
    public let createdAtMs: Int64
    public let subscriptionsCount: Int
    public let maxSubscriptions: Int
    public let inflight: Int
    public let maxInflight: Int
    public let awaitingRel: Int
    public let maxAwaitingRel: Int
    public let mqueueLen: Int
    public let maxMqueue: Int
    public let mqueueDropped: UInt64
    public let heldBytes: UInt64

    public var clientId: String { identity.info.clientId }
    public var info: ClientInfo { identity.info }
    public var recvOct: UInt64 { identity.counters.recvOct.load(ordering: .relaxed) }
    public var sendOct: UInt64 { identity.counters.sendOct.load(ordering: .relaxed) }
    public var recvPkt: UInt64 { identity.counters.recvPkt.load(ordering: .relaxed) }
    public var sendPkt: UInt64 { identity.counters.sendPkt.load(ordering: .relaxed) }
    public var recvMsg: UInt64 { identity.counters.recvMsg.load(ordering: .relaxed) }
    public var sendMsg: UInt64 { identity.counters.sendMsg.load(ordering: .relaxed) }
    public var recvCnt: UInt64 { identity.counters.recvCnt.load(ordering: .relaxed) }
    public var sendCnt: UInt64 { identity.counters.sendCnt.load(ordering: .relaxed) }
    public var sendPend: UInt64 { identity.counters.sendPend.load(ordering: .relaxed) }
    public var outboxLen: UInt64 { identity.counters.outboxLen.load(ordering: .relaxed) }
    public var events: UInt64 { identity.counters.events.load(ordering: .relaxed) }
}

extension ClientSnapshot {
    /// Freezes a listing row: counters are read once, now.
    public init(_ row: ClientListing) {
        var info = row.identity.info
        info.disconnectedAtMs = row.disconnectedAtMs
        self.init(
            info: info,
            connected: row.connected,
            expiryInterval: row.expiryInterval,
            createdAtMs: row.createdAtMs,
            subscriptionsCount: row.subscriptionsCount,
            maxSubscriptions: row.maxSubscriptions,
            inflight: row.inflight,
            maxInflight: row.maxInflight,
            awaitingRel: row.awaitingRel,
            maxAwaitingRel: row.maxAwaitingRel,
            mqueueLen: row.mqueueLen,
            maxMqueue: row.maxMqueue,
            mqueueDropped: row.mqueueDropped,
            heldBytes: row.heldBytes,
            recvOct: row.recvOct,
            sendOct: row.sendOct,
            recvPkt: row.recvPkt,
            sendPkt: row.sendPkt,
            recvMsg: row.recvMsg,
            sendMsg: row.sendMsg,
            recvCnt: row.recvCnt,
            sendCnt: row.sendCnt,
            sendPend: row.sendPend,
            outboxLen: row.outboxLen,
            events: row.events
        )
    }
}
