import Foundation

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

/// The keys the table needs, from any of the supported shapes; decoded with `JSONDecoder`
/// (no boxing of every value). Everything else is fetched only for the detail view.
struct RawClient: Decodable {
    var client_id: String?
    var clientid: String?
    var username: String?
    var ip_address: String?
    var ipaddress: String?
    var port: Int?
    var proto_ver: Int?
    var conn_state: String?
    var connected: Bool?
    var conn_mod: String?
    var keepalive: Int?
    var clean_start: Bool?
    var connected_at: TextOrNumber?
    var connected_at_ms: Int64?
    var expiry_interval: Int64?
    var recv_oct, send_oct, recv_pkt, send_pkt, recv_msg, send_msg: UInt64?
    var mqueue_len, mqueue_dropped, inflight, subscriptions_cnt: UInt64?
    var will_topic: String?
    var held_back: Bool?
    var holding_publishers: UInt64?
    var bridge_state: String?
    var node: String?
    var inflight_cnt: UInt64?

    /// EMQX v4 and we send `connected_at` as text; other versions as a number.
    enum TextOrNumber: Decodable {
        case text(String)
        case number(Int64)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            // Text first: every API but EMQX v3 sends text, and a failed attempt costs a thrown
            // DecodingError per row (measured: most of a 10,000-row poll).
            if let text = try? c.decode(String.self) { self = .text(text) } else { self = .number(try c.decode(Int64.self)) }
        }
    }

    var flavour: Flavour {
        if client_id != nil && clientid != nil { return .aviary }
        if inflight_cnt != nil { return .emqx5 }
        if clientid != nil { return .emqx4 }
        if conn_mod != nil || ipaddress != nil { return .emqx3 }
        return .nanomq
    }
}

struct RawEnvelope: Decodable {
    struct Meta: Decodable { var count: Int? }
    var code: Int?
    var message: String?
    var data: [RawClient]?
    var meta: Meta?
}

/// Decodes client listings and lookups of every supported API into `ClientRow`s. The
/// dashboard's poller and the contract tests use this one decoder.
public enum ClientDecoder {
    /// `includeFields` also keeps every field of every object as text (for the detail view;
    /// the poller asks for it only for the one client on screen).
    public static func decode(status: Int, body: [UInt8], includeFields: Bool = true) throws -> ClientPage {
        let envelope: RawEnvelope
        do {
            envelope = try JSONDecoder().decode(RawEnvelope.self, from: Data(body))
        } catch {
            let text = String(decoding: body.prefix(200), as: UTF8.self)
            if (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any] {
                throw APIResponseError(status: status, code: nil, message: "unexpected JSON shape: \(error)")
            }
            throw APIResponseError(status: status, code: nil, message: text.contains("<html") ? "not a JSON API (HTML page)" : text)
        }
        guard status == 200, envelope.code == nil || envelope.code == 0 else {
            throw APIResponseError(status: status, code: envelope.code, message: envelope.message ?? "")
        }
        guard let data = envelope.data else {
            throw APIResponseError(status: status, code: envelope.code, message: "response has no data array")
        }
        var rows = data.map(row)
        if includeFields, let objects = (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["data"] as? [[String: Any]] {
            for i in rows.indices where i < objects.count { rows[i].fields = fields(objects[i]) }
        }
        return ClientPage(rows: rows, flavour: data.first?.flavour, total: envelope.meta?.count ?? rows.count)
    }

    struct V5Page: Decodable {
        struct Meta: Decodable {
            var count: Int?
            var hasnext: Bool?
        }
        var data: [RawClient]
        var meta: Meta?
    }

    /// One page of EMQX 5/6's `GET /api/v5/clients`: `{data, meta: {page, limit, count, hasnext}}`.
    static func decodeV5Page(_ body: [UInt8]) throws -> (rows: [ClientRow], hasNext: Bool?, count: Int?) {
        do {
            let page = try JSONDecoder().decode(V5Page.self, from: Data(body))
            return (page.data.map(row), page.meta?.hasnext, page.meta?.count)
        } catch {
            throw APIResponseError(status: 200, code: nil, message: "unexpected JSON shape from /api/v5/clients: \(error)")
        }
    }

    static func row(_ o: RawClient) -> ClientRow {
        let protocolName: String =
            switch o.proto_ver {
            case 3: "3.1"
            case 4: "3.1.1"
            case 5: "5.0"
            default: "?"
            }
        let connected = o.conn_state.map { $0 == "connected" } ?? o.connected ?? true  // EMQX v3 lists connections only
        var connectedAtMs = o.connected_at_ms
        if connectedAtMs == nil, let at = o.connected_at {
            switch at {
            case .text(let text): connectedAtMs = text.contains("T") ? parseRFC3339(text) : parseLocalTime(text)
            case .number(let n): connectedAtMs = n > 100_000_000_000 ? n : n * 1000
            }
        }
        return ClientRow(
            clientId: o.client_id ?? o.clientid ?? "",
            username: o.username ?? "",
            address: o.ip_address ?? o.ipaddress,
            port: o.port,
            protocolName: protocolName,
            connected: connected,
            keepAlive: o.keepalive,
            cleanStart: o.clean_start,
            connectedAtMs: connectedAtMs,
            expiryInterval: o.expiry_interval,
            recvOct: o.recv_oct,
            sendOct: o.send_oct,
            recvPkt: o.recv_pkt,
            sendPkt: o.send_pkt,
            recvMsg: o.recv_msg,
            sendMsg: o.send_msg,
            mqueueLen: o.mqueue_len,
            mqueueDropped: o.mqueue_dropped,
            inflight: o.inflight ?? o.inflight_cnt,
            subscriptions: o.subscriptions_cnt,
            willTopic: o.will_topic,
            heldBack: o.held_back ?? false,
            holdingPublishers: o.holding_publishers ?? 0,
            bridgeState: o.bridge_state,
            node: o.node,
            fields: []
        )
    }

    static func fields(_ o: [String: Any]) -> [(key: String, value: String)] {
        o.keys.sorted().map { key -> (key: String, value: String) in
            let value = o[key]!
            if let n = value as? NSNumber {
                return (key, String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : n.stringValue)
            }
            return (key, value as? String ?? "\(value)")
        }
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` as local time.
    /// EMQX 5's timestamps: `2026-11-21T09:15:02.417+00:00`.
    /// Read by hand: a formatter per row was most of a 10,000-row poll's time.
    static func parseRFC3339(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int32? {
            guard at + count <= b.count else { return nil }
            var v: Int32 = 0
            for i in at..<(at + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int32(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "),
            let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2), let minute = digits(14, 2),
            let second = digits(17, 2)
        else { return nil }
        var i = 19
        var millis: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale: Int64 = 100
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                millis += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        var offset: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let h = digits(i + 1, 2), let m = digits(i + 4, 2) else { return nil }
            offset = (Int64(h) * 3600 + Int64(m) * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        } else if i >= b.count || b[i] != UInt8(ascii: "Z") {
            return nil
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let utc = Int64(timegm(&parts))
        return (utc - offset) * 1000 + millis
    }

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
