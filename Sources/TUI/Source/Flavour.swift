import Foundation

/// Which management API a dashboard talks to; detected from the responses themselves.
public enum Flavour: String, Sendable, CaseIterable {
    /// Our broker: the union of NanoMQ and EMQX v4 keys, server-side sort and paging.
    case aviary
    /// NanoMQ HTTP API v4: no counters, no paging, no kick.
    case nanomq
    /// EMQX v4 `/api/v4/clients`.
    case emqx4
    /// EMQX v3 `/api/v3/connections`.
    case emqx3

    /// Whether the API has a kick endpoint (NanoMQ has none).
    public var canKick: Bool { self != .nanomq }

    /// Detects the flavour from one client object's keys.
    static func detect(_ object: [String: Any]) -> Flavour {
        if object["client_id"] != nil && object["clientid"] != nil { return .aviary }
        if object["clientid"] != nil { return .emqx4 }
        if object["conn_mod"] != nil || object["ipaddress"] != nil { return .emqx3 }
        return .nanomq
    }
}

/// A management API answered with an error envelope or a non-JSON body.
public struct APIResponseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var status: Int
    public var code: Int?
    public var message: String
    public var description: String {
        "HTTP \(status)" + (code.map { " code \($0)" } ?? "") + (message.isEmpty ? "" : ": \(message)")
    }
}

/// The decoded answer of a client listing or lookup.
public struct ClientPage: Sendable {
    public var rows: [ClientRow]
    public var flavour: Flavour?
    /// Total matching clients when the API pages (`meta.count`), else the row count.
    public var total: Int
}

/// Decodes client listings and lookups of every supported API into `ClientRow`s. The
/// dashboard's poller and the contract tests use this one decoder.
public enum ClientDecoder {
    public static func decode(status: Int, body: [UInt8]) throws -> ClientPage {
        let object = try? JSONSerialization.jsonObject(with: Data(body))
        guard let envelope = object as? [String: Any] else {
            let text = String(decoding: body.prefix(200), as: UTF8.self)
            throw APIResponseError(status: status, code: nil, message: text.contains("<html") ? "not a JSON API (HTML page)" : text)
        }
        let code = (envelope["code"] as? NSNumber)?.intValue
        guard status == 200, code == nil || code == 0 else {
            throw APIResponseError(status: status, code: code, message: envelope["message"] as? String ?? "")
        }
        guard let data = envelope["data"] as? [[String: Any]] else {
            throw APIResponseError(status: status, code: code, message: "response has no data array")
        }
        let rows = data.map(row)
        let meta = envelope["meta"] as? [String: Any]
        let total = (meta?["count"] as? NSNumber)?.intValue ?? rows.count
        return ClientPage(rows: rows, flavour: data.first.map(Flavour.detect), total: total)
    }

    static func row(_ o: [String: Any]) -> ClientRow {
        func string(_ keys: String...) -> String? {
            for key in keys { if let s = o[key] as? String { return s } }
            return nil
        }
        func number(_ keys: String...) -> NSNumber? {
            for key in keys { if let n = o[key] as? NSNumber { return n } }
            return nil
        }
        func counter(_ key: String) -> UInt64? { number(key).map { $0.uint64Value } }

        let level = number("proto_ver")?.intValue
        let protocolName: String =
            switch level {
            case 3: "3.1"
            case 4: "3.1.1"
            case 5: "5.0"
            default: string("proto_ver").map { $0 } ?? "?"
            }
        let connected: Bool
        if let state = string("conn_state") {
            connected = state == "connected"
        } else if let flag = o["connected"] as? Bool {
            connected = flag
        } else {
            connected = true  // EMQX v3 lists connections only
        }
        var connectedAtMs = number("connected_at_ms")?.int64Value
        if connectedAtMs == nil, let text = string("connected_at") { connectedAtMs = parseLocalTime(text) }
        if connectedAtMs == nil, let n = number("connected_at") { connectedAtMs = n.int64Value > 100_000_000_000 ? n.int64Value : n.int64Value * 1000 }
        let fields = o.keys.sorted().map { key -> (key: String, value: String) in
            let value = o[key]!
            if let n = value as? NSNumber {
                return (key, String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : n.stringValue)
            }
            return (key, value as? String ?? "\(value)")
        }
        return ClientRow(
            clientId: string("client_id", "clientid") ?? "",
            username: string("username") ?? "",
            address: string("ip_address", "ipaddress"),
            port: number("port")?.intValue,
            protocolName: protocolName,
            connected: connected,
            keepAlive: number("keepalive")?.intValue,
            cleanStart: (o["clean_start"] as? Bool),
            connectedAtMs: connectedAtMs,
            expiryInterval: number("expiry_interval")?.int64Value,
            recvOct: counter("recv_oct"),
            sendOct: counter("send_oct"),
            recvPkt: counter("recv_pkt"),
            sendPkt: counter("send_pkt"),
            recvMsg: counter("recv_msg"),
            sendMsg: counter("send_msg"),
            mqueueLen: counter("mqueue_len"),
            mqueueDropped: counter("mqueue_dropped"),
            inflight: counter("inflight"),
            subscriptions: counter("subscriptions_cnt"),
            willTopic: string("will_topic"),
            fields: fields
        )
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` as local time.
    static func parseLocalTime(_ text: String) -> Int64? {
        let numbers = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" }).compactMap { Int32($0) }
        guard numbers.count == 6 else { return nil }
        var parts = tm()
        parts.tm_year = numbers[0] - 1900
        parts.tm_mon = numbers[1] - 1
        parts.tm_mday = numbers[2]
        parts.tm_hour = numbers[3]
        parts.tm_min = numbers[4]
        parts.tm_sec = numbers[5]
        parts.tm_isdst = -1
        let seconds = mktime(&parts)
        return seconds < 0 ? nil : Int64(seconds) * 1000
    }
}
