/// The columns of the client table, in display order, with how to show and sort each.
public enum Column: String, CaseIterable, Sendable {
    case clientId, username, address, node, proto, state, connectedFor, keepAlive
    case bytesInRate, bytesOutRate, msgsInRate, msgsOutRate
    case recvOct, sendOct, recvPkt, sendPkt, queued, dropped, subscriptions
    /// Messages in + out per second over the last polls, as a sparkline (hidden until F2 shows it).
    case trend

    public var title: String {
        switch self {
        case .clientId: "CLIENT ID"
        case .username: "USER"
        case .address: "ADDRESS"
        case .node: "NODE"
        case .proto: "PROTO"
        case .state: "STATE"
        case .connectedFor: "UP"
        case .keepAlive: "KA"
        case .bytesInRate: "IN/s"
        case .bytesOutRate: "OUT/s"
        case .msgsInRate: "MSG IN/s"
        case .msgsOutRate: "MSG OUT/s"
        case .recvOct: "RECV"
        case .sendOct: "SENT"
        case .recvPkt: "PKT IN"
        case .sendPkt: "PKT OUT"
        case .queued: "QUEUED"
        case .dropped: "DROPPED"
        case .subscriptions: "SUBS"
        case .trend: "TREND"
        }
    }

    /// Long name for the sort menu and help.
    public var label: String {
        switch self {
        case .clientId: "client id"
        case .username: "username"
        case .address: "address:port"
        case .node: "cluster node"
        case .proto: "protocol version"
        case .state: "state (held: held back by a slow subscriber; holding: holds publishers back; bridge ✗: a bridge whose upstream is down)"
        case .connectedFor: "connected for"
        case .keepAlive: "keepalive"
        case .bytesInRate: "bytes in per second"
        case .bytesOutRate: "bytes out per second"
        case .msgsInRate: "messages in per second"
        case .msgsOutRate: "messages out per second"
        case .recvOct: "bytes received (recv_oct)"
        case .sendOct: "bytes sent (send_oct)"
        case .recvPkt: "packets received (recv_pkt)"
        case .sendPkt: "packets sent (send_pkt)"
        case .queued: "queued messages (mqueue_len)"
        case .dropped: "dropped messages (mqueue_dropped)"
        case .subscriptions: "subscriptions"
        case .trend: "messages per second, last polls (sparkline)"
        }
    }

    /// Cells of the column: always room for the title plus the ▲/▼ sort marker.
    public var width: Int {
        switch self {
        case .clientId: 20
        case .username: 10
        case .address: 21
        case .node: 16
        case .proto: 6
        case .state: 9
        case .connectedFor: 6
        case .keepAlive: 5
        case .bytesInRate, .bytesOutRate: 11
        case .msgsInRate: 9
        case .msgsOutRate: 10
        case .recvOct, .sendOct: 10
        case .recvPkt, .sendPkt: 8
        case .queued: 7
        case .dropped: 8
        case .subscriptions: 5
        case .trend: 16
        }
    }

    /// The management API field a server-side sort uses for this column (rates sort by the
    /// counter they come from).
    public var apiField: String {
        switch self {
        case .clientId: "clientid"
        case .username: "username"
        case .address: "ip_address"
        case .node: "node"
        case .proto: "proto_ver"
        case .state: "connected"
        case .connectedFor: "connected_at"
        case .keepAlive: "keepalive"
        case .bytesInRate, .recvOct: "recv_oct"
        case .bytesOutRate, .sendOct: "send_oct"
        case .msgsInRate: "recv_msg"
        case .msgsOutRate: "send_msg"
        case .recvPkt: "recv_pkt"
        case .sendPkt: "send_pkt"
        case .queued: "mqueue_len"
        case .dropped: "mqueue_dropped"
        case .subscriptions: "subscriptions_cnt"
        case .trend: "recv_msg"
        }
    }

    /// Filled from per-client counters, which NanoMQ's API does not have.
    var isCounter: Bool {
        switch self {
        case .bytesInRate, .bytesOutRate, .msgsInRate, .msgsOutRate, .recvOct, .sendOct, .recvPkt, .sendPkt, .queued, .dropped, .subscriptions,
            .trend:
            true
        default: false
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .clientId, .username, .address, .node, .proto, .state: false
        default: true
        }
    }

    /// Dropped first when the terminal is narrow (higher = dropped earlier).
    var dropOrder: Int {
        switch self {
        case .clientId, .bytesInRate, .bytesOutRate: 0
        case .msgsInRate, .msgsOutRate: 1
        case .state, .node: 2
        case .username: 3
        case .sendOct, .recvOct: 4
        case .address: 5
        case .queued, .dropped: 6
        case .proto: 7
        case .connectedFor: 8
        case .subscriptions: 9
        case .recvPkt, .sendPkt: 10
        case .keepAlive: 11
        case .trend: 12
        }
    }

    /// The columns that fit `width` cells (one space between columns); the client id column
    /// takes what is left over, up to 40 cells. NODE only for a cluster (`nodes`); without
    /// per-client counters (NanoMQ) their columns, all "–", give their room to the others.
    public static func layout(width: Int, nodes: Bool = false, counters: Bool = true, hidden: Set<Column> = []) -> [(column: Column, width: Int)] {
        var shown = Column.allCases.filter { ($0 != .node || nodes) && (counters || !$0.isCounter) && !hidden.contains($0) }
        func total(_ cols: [Column]) -> Int { cols.reduce(0) { $0 + $1.width + 1 } - 1 }
        while total(shown) > width, shown.count > 1 {
            let drop = shown.max { $0.dropOrder < $1.dropOrder }!
            if drop.dropOrder == 0 { break }
            shown.removeAll { $0 == drop }
        }
        let spare = max(0, width - total(shown))
        return shown.map { c in (c, c == .clientId ? min(c.width + spare, 40) : c.width) }
    }

    public func text(_ row: ClientRow, _ rates: Rates?, nowMs: Int64) -> String {
        func opt(_ v: UInt64?, _ f: (UInt64) -> String) -> String { v.map(f) ?? "–" }
        let hasCounters = row.recvOct != nil
        switch self {
        case .clientId: return row.clientId
        case .username: return row.username
        case .address: return row.address.map { a in row.port.map { "\(a):\($0)" } ?? a } ?? "–"
        case .node: return row.node ?? "–"
        case .proto: return row.protocolName
        case .state: return row.stateText
        case .connectedFor:
            guard row.connected, let at = row.connectedAtMs else { return "–" }
            return Format.duration(seconds: (nowMs - at) / 1000)
        case .keepAlive: return row.keepAlive.map { "\($0)" } ?? "–"
        case .bytesInRate: return hasCounters ? Format.byteRate(rates?.bytesIn ?? 0) : "–"
        case .bytesOutRate: return hasCounters ? Format.byteRate(rates?.bytesOut ?? 0) : "–"
        case .msgsInRate: return row.recvMsg != nil ? Format.rate(rates?.msgsIn ?? 0) : "–"
        case .msgsOutRate: return row.sendMsg != nil ? Format.rate(rates?.msgsOut ?? 0) : "–"
        case .recvOct: return opt(row.recvOct, Format.bytes)
        case .sendOct: return opt(row.sendOct, Format.bytes)
        case .recvPkt: return opt(row.recvPkt, Format.count)
        case .sendPkt: return opt(row.sendPkt, Format.count)
        case .queued: return opt(row.mqueueLen, Format.count)
        case .dropped: return opt(row.mqueueDropped, Format.count)
        case .subscriptions: return opt(row.subscriptions, Format.count)
        case .trend: return ""  // drawn by the view from the history
        }
    }

    /// Sort value: numbers compare as numbers; a missing value sorts after every present one.
    func sortValue(_ row: ClientRow, _ rates: Rates?) -> SortValue {
        func n(_ v: UInt64?) -> SortValue { v.map { .number(Double($0)) } ?? .missing }
        switch self {
        case .clientId: return .text(row.clientId)
        case .username: return .text(row.username)
        case .address: return .text(row.address.map { "\($0):\(String(row.port ?? 0).leftPadded(5))" } ?? "")
        case .node: return .text(row.node ?? "")
        case .proto: return .text(row.protocolName)
        case .state: return .number(row.connected ? (row.holdingPublishers > 0 ? 3 : row.heldBack ? 2 : 1) : 0)
        case .connectedFor: return row.connected ? row.connectedAtMs.map { .number(-Double($0)) } ?? .missing : .missing
        case .keepAlive: return row.keepAlive.map { .number(Double($0)) } ?? .missing
        case .bytesInRate: return row.recvOct != nil ? .number(rates?.bytesIn ?? 0) : .missing
        case .bytesOutRate: return row.sendOct != nil ? .number(rates?.bytesOut ?? 0) : .missing
        case .msgsInRate: return row.recvMsg != nil ? .number(rates?.msgsIn ?? 0) : .missing
        case .msgsOutRate: return row.sendMsg != nil ? .number(rates?.msgsOut ?? 0) : .missing
        case .recvOct: return n(row.recvOct)
        case .sendOct: return n(row.sendOct)
        case .recvPkt: return n(row.recvPkt)
        case .sendPkt: return n(row.sendPkt)
        case .queued: return n(row.mqueueLen)
        case .dropped: return n(row.mqueueDropped)
        case .subscriptions: return n(row.subscriptions)
        case .trend: return row.recvMsg != nil ? .number((rates?.msgsIn ?? 0) + (rates?.msgsOut ?? 0)) : .missing
        }
    }
}

enum SortValue: Comparable {
    case number(Double)
    case text(String)
    case missing
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
