import Broker
import MQTTCodec

/// A sortable value of one client field.
enum SortKey: Comparable, Sendable {
    case number(Int64)
    case text(String)

    static func < (lhs: SortKey, rhs: SortKey) -> Bool {
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)): a < b
        case (.text(let a), .text(let b)): a < b
        case (.number, .text): true
        case (.text, .number): false
        }
    }
}

/// Every numeric or string field of the client object that `_sort` accepts. A plain switch
/// (no stored closures) so that ranking 100,000 rows costs no thunks and no copies.
enum ClientField: String, CaseIterable, Sendable {
    case clientIdNanoMQ = "client_id"
    case clientId = "clientid"
    case username
    case keepalive
    case connState = "conn_state"
    case connected
    case cleanStart = "clean_start"
    case protoName = "proto_name"
    case protoVer = "proto_ver"
    case ipAddress = "ip_address"
    case port
    case expiryInterval = "expiry_interval"
    case connectedAt = "connected_at"
    case connectedAtMs = "connected_at_ms"
    case createdAt = "created_at"
    case createdAtMs = "created_at_ms"
    case disconnectedAt = "disconnected_at"
    case disconnectedAtMs = "disconnected_at_ms"
    case subscriptionsCnt = "subscriptions_cnt"
    case inflight
    case maxInflight = "max_inflight"
    case awaitingRel = "awaiting_rel"
    case maxAwaitingRel = "max_awaiting_rel"
    case mqueueLen = "mqueue_len"
    case maxMqueue = "max_mqueue"
    case mqueueDropped = "mqueue_dropped"
    case recvOct = "recv_oct"
    case recvCnt = "recv_cnt"
    case recvPkt = "recv_pkt"
    case recvMsg = "recv_msg"
    case sendOct = "send_oct"
    case sendCnt = "send_cnt"
    case sendPkt = "send_pkt"
    case sendMsg = "send_msg"
    case sendPend = "send_pend"
    case mailboxLen = "mailbox_len"
    case heapSize = "heap_size"
    case reductions
    case heldBack = "held_back"
    case heldAcks = "held_acks"
    case holdingPublishers = "holding_publishers"

    static var names: String { allCases.map(\.rawValue).sorted().joined(separator: ", ") }

    /// Whether `key(of:)` is a number for every row (else text): numeric fields are ranked on
    /// plain `Int64` keys.
    var isNumeric: Bool {
        switch self {
        case .clientIdNanoMQ, .clientId, .username, .connState, .protoName, .ipAddress: false
        default: true
        }
    }

    func key(of row: some ClientFigures) -> SortKey {
        func n(_ v: UInt64) -> SortKey { .number(Int64(clamping: v)) }
        func n(_ v: Int) -> SortKey { .number(Int64(v)) }
        switch self {
        case .clientIdNanoMQ, .clientId: return .text(row.clientId)
        case .username: return .text(row.info.username ?? "")
        case .keepalive: return n(Int(row.info.keepAlive))
        case .connState: return .text(row.connected ? "connected" : "disconnected")
        case .connected: return n(row.connected ? 1 : 0)
        case .cleanStart: return n(row.info.cleanStart ? 1 : 0)
        case .protoName: return .text(row.info.protocolVersion.protocolName)
        case .protoVer: return n(Int(row.info.protocolVersion.rawValue))
        case .ipAddress: return .text(row.info.peerAddress)
        case .port: return n(row.info.peerPort)
        case .expiryInterval: return n(Int(row.expiryInterval))
        case .connectedAt, .connectedAtMs: return .number(row.info.connectedAtMs)
        case .createdAt, .createdAtMs: return .number(row.createdAtMs)
        case .disconnectedAt, .disconnectedAtMs: return .number(row.disconnectedAtMs ?? 0)
        case .subscriptionsCnt: return n(row.subscriptionsCount)
        case .inflight: return n(row.inflight)
        case .maxInflight: return n(row.maxInflight)
        case .awaitingRel: return n(row.awaitingRel)
        case .maxAwaitingRel: return n(row.maxAwaitingRel)
        case .mqueueLen: return n(row.mqueueLen)
        case .maxMqueue: return n(row.maxMqueue)
        case .mqueueDropped: return n(row.mqueueDropped)
        case .recvOct: return n(row.recvOct)
        case .recvCnt: return n(row.recvCnt)
        case .recvPkt: return n(row.recvPkt)
        case .recvMsg: return n(row.recvMsg)
        case .sendOct: return n(row.sendOct)
        case .sendCnt: return n(row.sendCnt)
        case .sendPkt: return n(row.sendPkt)
        case .sendMsg: return n(row.sendMsg)
        case .sendPend: return n(row.sendPend)
        case .mailboxLen: return n(row.outboxLen)
        case .heapSize: return n(row.heldBytes + row.sendPend)
        case .reductions: return n(row.events)
        case .heldBack: return n(row.heldBy > 0 ? 1 : 0)
        case .heldAcks: return n(row.heldAcks)
        case .holdingPublishers: return n(row.holdingPublishers)
        }
    }
}
