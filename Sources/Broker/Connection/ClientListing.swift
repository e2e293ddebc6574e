import Synchronization

/// Who a connection is, fixed at CONNECT, with its live counters. Immutable apart from the
/// atomics, so listings read it outside the broker lock.
final class ClientIdentity: Sendable {
    let info: ClientInfo
    let counters: ConnectionCounters

    init(info: ClientInfo, counters: ConnectionCounters) {
        self.info = info
        self.counters = counters
    }
}

/// One row of the client table as copied under the broker lock: a reference to the identity
/// and the session's few mutable numbers. Copying 100,000 of these takes a few milliseconds,
/// so a listing never holds the lock for its filtering, sorting or encoding.
struct ClientListing: Sendable {
    let identity: ClientIdentity
    let connected: Bool
    let disconnectedAtMs: Int64?
    let expiryInterval: UInt32
    let createdAtMs: Int64
    let subscriptionsCount: Int
    let maxSubscriptions: Int
    let inflight: Int
    let maxInflight: Int
    let awaitingRel: Int
    let maxAwaitingRel: Int
    let mqueueLen: Int
    let maxMqueue: Int
    let mqueueDropped: UInt64
    let heldBytes: UInt64

    var clientId: String { identity.info.clientId }
    var info: ClientInfo { identity.info }
    var recvOct: UInt64 { identity.counters.recvOct.load(ordering: .relaxed) }
    var sendOct: UInt64 { identity.counters.sendOct.load(ordering: .relaxed) }
    var recvPkt: UInt64 { identity.counters.recvPkt.load(ordering: .relaxed) }
    var sendPkt: UInt64 { identity.counters.sendPkt.load(ordering: .relaxed) }
    var recvMsg: UInt64 { identity.counters.recvMsg.load(ordering: .relaxed) }
    var sendMsg: UInt64 { identity.counters.sendMsg.load(ordering: .relaxed) }
    var recvCnt: UInt64 { identity.counters.recvCnt.load(ordering: .relaxed) }
    var sendCnt: UInt64 { identity.counters.sendCnt.load(ordering: .relaxed) }
    var sendPend: UInt64 { identity.counters.sendPend.load(ordering: .relaxed) }
    var outboxLen: UInt64 { identity.counters.outboxLen.load(ordering: .relaxed) }
    var events: UInt64 { identity.counters.events.load(ordering: .relaxed) }
}

extension ClientSnapshot {
    /// Freezes a listing row: counters are read once, now.
    init(_ row: ClientListing) {
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
