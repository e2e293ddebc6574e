import Synchronization

/// Who a connection is, fixed at CONNECT, with its live counters. Immutable apart from the
/// atomics, so listings read it outside the broker lock.
public final class ClientIdentity: Sendable {
    public let info: ClientInfo
    public let counters: ConnectionCounters

    public init(info: ClientInfo, counters: ConnectionCounters) {
        self.info = info
        self.counters = counters
    }
}

/// What a row of the client table reads its figures from: the client's identity (with its
/// traffic counters) and its session's gauges. Every figure is read live from atomics.
public protocol ClientFigures {
    var identity: ClientIdentity { get }
    var gauges: SessionGauges { get }
}

// Inlinable: queries in other modules (the management API) read these for 100,000 rows per
// request; through the unspecialized getters each read retained and released the row's objects.
extension ClientFigures {
    @inlinable public var clientId: String { identity.info.clientId }
    @inlinable public var info: ClientInfo { identity.info }
    @inlinable public var connected: Bool { gauges.connected }
    @inlinable public var disconnectedAtMs: Int64? { gauges.disconnectedAtMs }
    @inlinable public var expiryInterval: UInt32 { gauges.expiryInterval }
    @inlinable public var createdAtMs: Int64 { gauges.createdAtMs }
    @inlinable public var subscriptionsCount: Int { gauges.subscriptionsCount }
    @inlinable public var maxSubscriptions: Int { gauges.maxSubscriptions }
    @inlinable public var inflight: Int { gauges.inflight }
    @inlinable public var maxInflight: Int { gauges.maxInflight }
    @inlinable public var awaitingRel: Int { gauges.awaitingRel }
    @inlinable public var maxAwaitingRel: Int { gauges.maxAwaitingRel }
    @inlinable public var mqueueLen: Int { gauges.mqueueLen }
    @inlinable public var maxMqueue: Int { gauges.maxMqueue }
    @inlinable public var mqueueDropped: UInt64 { gauges.mqueueDropped }
    @inlinable public var heldBytes: UInt64 { gauges.heldBytes }
    /// Flow control: subscribers holding this client's publishing back now (0 while offline),
    /// the acknowledgements it waits for because of that, and the publishers it holds back.
    @inlinable public var heldBy: UInt64 { connected ? identity.counters.heldBy.load(ordering: .relaxed) : 0 }
    @inlinable public var heldAcks: UInt64 { connected ? identity.counters.heldAcks.load(ordering: .relaxed) : 0 }
    @inlinable public var holdingPublishers: Int { gauges.holdingPublishers }
    @inlinable public var recvOct: UInt64 { identity.counters.recvOct.load(ordering: .relaxed) }
    @inlinable public var sendOct: UInt64 { identity.counters.sendOct.load(ordering: .relaxed) }
    @inlinable public var recvPkt: UInt64 { identity.counters.recvPkt.load(ordering: .relaxed) }
    @inlinable public var sendPkt: UInt64 { identity.counters.sendPkt.load(ordering: .relaxed) }
    @inlinable public var recvMsg: UInt64 { identity.counters.recvMsg.load(ordering: .relaxed) }
    @inlinable public var sendMsg: UInt64 { identity.counters.sendMsg.load(ordering: .relaxed) }
    @inlinable public var recvCnt: UInt64 { identity.counters.recvCnt.load(ordering: .relaxed) }
    @inlinable public var sendCnt: UInt64 { identity.counters.sendCnt.load(ordering: .relaxed) }
    @inlinable public var sendPend: UInt64 { identity.counters.sendPend.load(ordering: .relaxed) }
    @inlinable public var outboxLen: UInt64 { identity.counters.outboxLen.load(ordering: .relaxed) }
    @inlinable public var events: UInt64 { identity.counters.events.load(ordering: .relaxed) }
}

/// One row of the client table: the client's identity and its session's gauges, two
/// references, figures read live. Safe to keep and pass anywhere.
public struct ClientListing: ClientFigures, Sendable {
    public let identity: ClientIdentity
    public let gauges: SessionGauges

    public init(identity: ClientIdentity, gauges: SessionGauges) {
        self.identity = identity
        self.gauges = gauges
    }

    /// A view of this row for code that must not pay reference counting; valid while this
    /// row is alive.
    public var view: ClientView { ClientView(identity: identity, gauges: gauges) }
}

/// A row as a query scanning the registry sees it: the same figures, through references that
/// are not counted (`unowned(unsafe)`), so that looking at 100,000 rows costs no atomic
/// increments (retaining them was three quarters of a sorted query). Valid only while its
/// owner is: during `ClientRegistry.scan`, or while the `ClientListing` it came from lives.
/// Never keep one.
public struct ClientView: ClientFigures {
    public unowned(unsafe) let identity: ClientIdentity
    public unowned(unsafe) let gauges: SessionGauges
}

extension ClientSnapshot {
    /// Freezes a listing row: every figure is read once, now.
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
            heldBy: row.heldBy,
            heldAcks: row.heldAcks,
            holdingPublishers: row.holdingPublishers,
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
