/// The detail view grouped as an operator reads it — identity, connection, traffic, queues and
/// windows, flow control, bridge, will — from the fields any of the APIs sends (aviary,
/// EMQX 5/6 and v3/v4, NanoMQ), in human units. Fields it does not place are in the raw view
/// (`r`), which lists every field as the API sent it.
public enum DetailSections {
    public struct Section: Sendable, Equatable {
        public var title: String
        public var items: [Item]
    }

    public struct Item: Sendable, Equatable {
        public var label: String
        public var value: String
    }

    public static func build(
        fields: [(key: String, value: String)],
        row: ClientRow,
        rates: Rates,
        history: RateHistory.Client?,
        nowMs: Int64,
        unicode: Bool = true
    ) -> [Section] {
        var f: [String: String] = [:]
        for (key, value) in fields { f[key] = value }
        func first(_ keys: String...) -> String? { keys.lazy.compactMap { f[$0] }.first { !$0.isEmpty && $0 != "null" } }
        func number(_ keys: String...) -> UInt64? { keys.lazy.compactMap { f[$0].flatMap { UInt64($0) } }.first }
        func limit(_ keys: String...) -> String? {
            guard let raw = keys.lazy.compactMap({ f[$0] }).first else { return nil }
            if raw == "infinity" || raw == "0" { return "no limit" }
            return UInt64(raw).map(Format.count) ?? raw
        }
        func pair(_ value: UInt64?, _ max: String?) -> String? {
            guard let value else { return nil }
            return Format.count(value) + (max.map { " / \($0)" } ?? "")
        }
        func bytes(_ value: UInt64?) -> String? {
            value.map { $0 < 1024 ? "\($0) B" : "\(Format.bytes($0)) (\($0) B)" }
        }
        func item(_ label: String, _ value: String?) -> Item? { value.map { Item(label: label, value: $0) } }

        var sections: [Section] = []
        func add(_ title: String, _ items: [Item?]) {
            let kept = items.compactMap { $0 }
            if !kept.isEmpty { sections.append(Section(title: title, items: kept)) }
        }

        let address = first("ip_address", "ipaddress").map { host in first("port").map { "\(host):\($0)" } ?? host } ?? row.address
        let protocolName = first("proto_name").map { "\(row.protocolName) (\($0))" } ?? row.protocolName
        let expiry: String? = first("expiry_interval").map { raw in
            guard let seconds = Int64(raw) else { return raw }
            return seconds >= 4_294_967_295 ? "never expires" : seconds == 0 ? "ends with the connection" : Format.duration(seconds: seconds)
        }
        add(
            "identity",
            [
                item("client id", row.clientId),
                item("username", row.username.isEmpty ? "(none)" : row.username),
                item("address", address),
                item("protocol", protocolName),
                item("clean start", first("clean_start", "clean_sess")),
                item("session expiry", expiry),
                item("listener", first("listener")),
            ]
        )
        let connectedFor: String? = row.connected ? row.connectedAtMs.map { Format.duration(seconds: (nowMs - $0) / 1000) } : nil
        add(
            "connection",
            [
                item("state", row.stateText),
                item("connected for", connectedFor),
                item("connected at", row.connected ? nil : first("connected_at")),
                item("disconnected at", row.connected ? nil : first("disconnected_at")),
                item("keepalive", first("keepalive").map { "\($0) s" }),
                item("node", row.node ?? first("node")),
            ]
        )
        var traffic: [Item?] = []
        if row.recvOct != nil {
            traffic.append(item("in", "\(Format.rate(rates.msgsIn)) msg/s, \(Format.byteRate(rates.bytesIn))"))
            traffic.append(item("out", "\(Format.rate(rates.msgsOut)) msg/s, \(Format.byteRate(rates.bytesOut))"))
            if let history, history.msgsIn.count > 1 {
                traffic.append(
                    item(
                        "msg/s in, history",
                        Sparkline.render(history.msgsIn.samples, width: 30, unicode: unicode)
                            + " peak \(Format.rate(history.msgsIn.samples.max() ?? 0))"
                    )
                )
                traffic.append(
                    item(
                        "msg/s out, history",
                        Sparkline.render(history.msgsOut.samples, width: 30, unicode: unicode)
                            + " peak \(Format.rate(history.msgsOut.samples.max() ?? 0))"
                    )
                )
            }
        }
        func totals(_ octets: String, _ messages: String, _ packets: String) -> String? {
            guard let bytes = bytes(number(octets)) else { return nil }
            return bytes + (number(messages).map { ", \(Format.count($0)) msgs" } ?? "")
                + (number(packets).map { ", \(Format.count($0)) pkts" } ?? "")
        }
        let pending = number("send_pend") ?? 0
        traffic += [
            item("received", totals("recv_oct", "recv_msg", "recv_pkt")),
            item("sent", totals("send_oct", "send_msg", "send_pkt")),
            item("socket reads/writes", number("recv_cnt").map { "\(Format.count($0)) / \(number("send_cnt").map(Format.count) ?? "–")" }),
            item("unwritten", pending > 0 ? bytes(pending) : nil),
        ]
        add("traffic", traffic)
        add(
            "queues and windows",
            [
                item("queued", pair(number("mqueue_len"), limit("max_mqueue", "mqueue_max"))),
                item("dropped", number("mqueue_dropped").map(Format.count)),
                item("in flight", pair(number("inflight", "inflight_cnt"), limit("max_inflight", "inflight_max"))),
                item("awaiting PUBREL", pair(number("awaiting_rel", "awaiting_rel_cnt"), limit("max_awaiting_rel", "awaiting_rel_max"))),
                item("subscriptions", pair(number("subscriptions_cnt"), limit("max_subscriptions", "subscriptions_max"))),
                item("held in memory", bytes(number("heap_size"))),
            ]
        )
        if f["held_back"] != nil || f["holding_publishers"] != nil {
            add(
                "flow control",
                [
                    item("held back", f["held_back"] == "true" ? "yes: a slow subscriber holds its acknowledgements" : "no"),
                    item("acks waiting", number("held_acks").map(Format.count)),
                    item("holding back", number("holding_publishers").map { "\($0) publisher\($0 == 1 ? "" : "s")" }),
                ]
            )
        }
        if f["bridge_name"] != nil {
            add(
                "bridge",
                [
                    item("name", first("bridge_name")),
                    item("link", first("bridge_state")),
                    item("upstream", first("bridge_upstream")),
                    item("last error", first("bridge_error")),
                    item("connections", number("bridge_connects").map(Format.count)),
                    item("failures", number("bridge_failures").map(Format.count)),
                    item("forwarded out", number("bridge_forwarded_out").map(Format.count)),
                    item("forwarded in", number("bridge_forwarded_in").map(Format.count)),
                ]
            )
        }
        add("will", [item("topic", first("will_topic") ?? row.willTopic), item("message", first("will_msg"))])
        return sections
    }
}
