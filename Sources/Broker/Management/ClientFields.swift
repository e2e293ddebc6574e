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

/// Every numeric or string field of the client object that `_sort` accepts, with how to read
/// it from a snapshot. One table, so the sortable set and the JSON object cannot drift apart.
enum ClientFields {
    static func clamp(_ v: UInt64) -> Int64 { Int64(clamping: v) }

    static let sortable: [String: @Sendable (ClientSnapshot) -> SortKey] = [
        "client_id": { .text($0.clientId) },
        "clientid": { .text($0.clientId) },
        "username": { .text($0.info.username ?? "") },
        "keepalive": { .number(Int64($0.info.keepAlive)) },
        "conn_state": { .text($0.connected ? "connected" : "disconnected") },
        "connected": { .number($0.connected ? 1 : 0) },
        "clean_start": { .number($0.info.cleanStart ? 1 : 0) },
        "proto_name": { .text($0.info.protocolVersion.protocolName) },
        "proto_ver": { .number(Int64($0.info.protocolVersion.rawValue)) },
        "ip_address": { .text($0.info.peerAddress) },
        "port": { .number(Int64($0.info.peerPort)) },
        "expiry_interval": { .number(Int64($0.expiryInterval)) },
        "connected_at": { .number($0.info.connectedAtMs) },
        "connected_at_ms": { .number($0.info.connectedAtMs) },
        "created_at": { .number($0.createdAtMs) },
        "created_at_ms": { .number($0.createdAtMs) },
        "disconnected_at": { .number($0.info.disconnectedAtMs ?? 0) },
        "disconnected_at_ms": { .number($0.info.disconnectedAtMs ?? 0) },
        "subscriptions_cnt": { .number(Int64($0.subscriptionsCount)) },
        "inflight": { .number(Int64($0.inflight)) },
        "max_inflight": { .number(Int64($0.maxInflight)) },
        "awaiting_rel": { .number(Int64($0.awaitingRel)) },
        "max_awaiting_rel": { .number(Int64($0.maxAwaitingRel)) },
        "mqueue_len": { .number(Int64($0.mqueueLen)) },
        "max_mqueue": { .number(Int64($0.maxMqueue)) },
        "mqueue_dropped": { .number(clamp($0.mqueueDropped)) },
        "recv_oct": { .number(clamp($0.recvOct)) },
        "recv_cnt": { .number(clamp($0.recvCnt)) },
        "recv_pkt": { .number(clamp($0.recvPkt)) },
        "recv_msg": { .number(clamp($0.recvMsg)) },
        "send_oct": { .number(clamp($0.sendOct)) },
        "send_cnt": { .number(clamp($0.sendCnt)) },
        "send_pkt": { .number(clamp($0.sendPkt)) },
        "send_msg": { .number(clamp($0.sendMsg)) },
        "send_pend": { .number(clamp($0.sendPend)) },
        "mailbox_len": { .number(clamp($0.outboxLen)) },
        "heap_size": { .number(clamp($0.heldBytes + $0.sendPend)) },
        "reductions": { .number(clamp($0.events)) },
    ]
}
