#if canImport(Glibc)
import Broker
import MQTTCodec
import Glibc
#endif

/// Renders `ClientSnapshot`s in the shapes existing tools parse (see docs/API.md).
struct ClientJSON {
    let node: String
    private var lastSecond: Int64 = -1
    private var lastText = ""

    init(node: String) { self.node = node }

    /// `YYYY-MM-DD HH:MM:SS` in broker local time, as EMQX and NanoMQ print it.
    mutating func localTime(ms: Int64) -> String {
        let seconds = ms / 1000
        if seconds == lastSecond { return lastText }
        var t = time_t(seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        lastText =
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        lastSecond = seconds
        return lastText
    }

    /// NanoMQ v4 keys and EMQX v4 keys together, plus epoch-millisecond twins.
    mutating func writeV4(_ c: ClientSnapshot, to o: inout JSONWriter) {
        let info = c.info
        o.object { o in
            // NanoMQ
            o.field("client_id", info.clientId)
            o.field("username", info.username ?? "")
            o.field("keepalive", Int(info.keepAlive))
            o.field("conn_state", c.connected ? "connected" : "disconnected")
            o.field("clean_start", info.cleanStart)
            o.field("proto_name", info.protocolVersion.protocolName)
            o.field("proto_ver", Int(info.protocolVersion.rawValue))
            if let willTopic = info.willTopic {
                o.field("will_topic", willTopic)
                o.field("will_msg", info.willPayload.map { String(decoding: $0, as: UTF8.self) } ?? "")
            }
            // EMQX v4
            o.field("clientid", info.clientId)
            o.field("node", node)
            o.field("connected", c.connected)
            o.field("ip_address", info.peerAddress)
            o.field("port", info.peerPort)
            o.field("is_bridge", info.bridge != nil)
            o.field("zone", ManagementAPI.zone)
            o.field("expiry_interval", Int64(c.expiryInterval))
            o.field("connected_at", localTime(ms: info.connectedAtMs))
            o.field("created_at", localTime(ms: c.createdAtMs))
            if !c.connected, let at = info.disconnectedAtMs {
                o.field("disconnected_at", localTime(ms: at))
                o.field("disconnected_at_ms", at)
            }
            o.field("connected_at_ms", info.connectedAtMs)
            o.field("created_at_ms", c.createdAtMs)
            o.field("proto_ver_name", info.protocolVersion.displayName)
            o.field("subscriptions_cnt", c.subscriptionsCount)
            o.field("max_subscriptions", c.maxSubscriptions)
            o.field("inflight", c.inflight)
            o.field("max_inflight", c.maxInflight)
            o.field("awaiting_rel", c.awaitingRel)
            o.field("max_awaiting_rel", c.maxAwaitingRel)
            o.field("mqueue_len", c.mqueueLen)
            o.field("max_mqueue", c.maxMqueue)
            o.field("mqueue_dropped", c.mqueueDropped)
            o.field("recv_oct", c.recvOct)
            o.field("recv_cnt", c.recvCnt)
            o.field("recv_pkt", c.recvPkt)
            o.field("recv_msg", c.recvMsg)
            o.field("send_oct", c.sendOct)
            o.field("send_cnt", c.sendCnt)
            o.field("send_pkt", c.sendPkt)
            o.field("send_msg", c.sendMsg)
            o.field("send_pend", c.sendPend)
            o.field("mailbox_len", c.outboxLen)
            o.field("heap_size", c.heldBytes + c.sendPend)
            o.field("reductions", c.events)
            // aviary: flow control
            o.field("held_back", c.heldBy > 0)
            o.field("held_acks", c.heldAcks)
            o.field("holding_publishers", c.holdingPublishers)
            // aviary: the local side of a bridge of this broker
            if let bridge = info.bridge {
                let status = bridge.snapshot
                o.field("bridge_name", bridge.name)
                o.field("bridge_state", status.state.rawValue)
                o.field("bridge_upstream", status.address)
                if let error = status.lastError { o.field("bridge_error", error) }
                o.field("bridge_state_since_ms", status.sinceMs)
                o.field("bridge_connects", status.connects)
                o.field("bridge_failures", status.failures)
                o.field("bridge_forwarded_out", bridge.forwardedOut)
                o.field("bridge_forwarded_in", bridge.forwardedIn)
            }
        }
    }

    /// Exactly EMQX v3's 26 connection keys.
    mutating func writeV3(_ c: ClientSnapshot, to o: inout JSONWriter) {
        let info = c.info
        o.object { o in
            o.field("client_id", info.clientId)
            o.field("username", info.username ?? "")
            o.field("zone", ManagementAPI.zone)
            o.field("clean_start", info.cleanStart)
            o.field("proto_name", info.protocolVersion.protocolName)
            o.field("proto_ver", Int(info.protocolVersion.rawValue))
            o.field("keepalive", Int(info.keepAlive))
            o.field("is_bridge", info.bridge != nil)
            o.field("peercert", "nossl")
            o.field("conn_mod", "aviary_connection")
            o.field("connected_at", localTime(ms: info.connectedAtMs))
            o.field("node", node)
            o.field("ipaddress", info.peerAddress)
            o.field("port", info.peerPort)
            o.field("recv_oct", c.recvOct)
            o.field("recv_cnt", c.recvCnt)
            o.field("send_oct", c.sendOct)
            o.field("send_cnt", c.sendCnt)
            o.field("send_pend", c.sendPend)
            o.field("mailbox_len", c.outboxLen)
            o.field("heap_size", c.heldBytes + c.sendPend)
            o.field("reductions", c.events)
            o.field("recv_pkt", c.recvPkt)
            o.field("recv_msg", c.recvMsg)
            o.field("send_pkt", c.sendPkt)
            o.field("send_msg", c.sendMsg)
        }
    }
}
