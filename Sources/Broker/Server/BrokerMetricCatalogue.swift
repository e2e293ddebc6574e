import DurableStore
import MQTTCodec

#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// One figure of the broker, with every name it is published under: the single list that
/// `$SYS/broker/…`, `/api/v4/metrics` and Prometheus's `/metrics` all render.
public struct BrokerMetric: Sendable {
    public enum Kind: Sendable {
        /// Only grows (Prometheus `counter`, name ending in `_total`).
        case counter
        /// Goes up and down.
        case gauge
    }

    public let kind: Kind
    public let value: Int64
    public let help: String
    /// Key in `/api/v4/metrics` (EMQX's dotted names), if it is listed there.
    public let api: String?
    /// Topic under `$SYS/broker/` (Mosquitto's names), if it is published there.
    public let sys: String?
    /// Appended to the value on `$SYS` ("12 seconds").
    public let sysUnit: String
    /// Prometheus metric family, if exported.
    public let prometheus: String?
    public let labels: [(String, String)]

    public init(
        _ kind: Kind,
        _ value: UInt64,
        help: String,
        api: String? = nil,
        sys: String? = nil,
        sysUnit: String = "",
        prometheus: String? = nil,
        labels: [(String, String)] = []
    ) {
        self.kind = kind
        self.value = Int64(clamping: value)
        self.help = help
        self.api = api
        self.sys = sys
        self.sysUnit = sysUnit
        self.prometheus = prometheus
        self.labels = labels
    }
}

extension Broker {
    /// Heap bytes in use, over every malloc arena: what the arenas hold from the system, less
    /// their free chunks, plus large blocks mapped on their own (glibc's `malloc_info` totals;
    /// `mallinfo2` would count the main arena only). Exact where RSS moves by pages and with the
    /// allocator's caches, so that a leak of a few bytes per batch shows
    /// (`scripts/bench/rss_slope.sh`). Read at each scrape, never on the message path.
    static func heapBytesInUse() -> UInt64 {
        #if canImport(Glibc)
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return 0 }
        malloc_info(0, stream)
        fclose(stream)
        guard let buffer else { return 0 }
        defer { free(buffer) }
        let report = String(cString: buffer)
        // The totals over all arenas follow the last arena's </heap>.
        guard let totals = report.ranges(of: "</heap>").last.map({ report[$0.upperBound...] }) else { return 0 }
        func figure(_ element: String, _ type: String) -> Int64 {
            guard let start = totals.firstRange(of: "<\(element) type=\"\(type)\""),
                let sizeKey = totals[start.upperBound...].firstRange(of: "size=\""),
                let end = totals[sizeKey.upperBound...].firstIndex(of: "\"")
            else { return 0 }
            return Int64(totals[sizeKey.upperBound..<end]) ?? 0
        }
        let inUse = figure("system", "current") - figure("total", "fast") - figure("total", "rest") + figure("total", "mmap")
        return UInt64(max(0, inUse))
        #else
        return 0
        #endif
    }

    /// Every figure of the broker now, in the order `/api/v4/metrics` lists them.
    public func metricCatalogue() -> [BrokerMetric] {
        let m = metrics
        let s = stats()
        let security = self.security
        var list: [BrokerMetric] = [
            .init(
                .counter,
                m.bytesReceived.load,
                help: "Bytes read from MQTT sockets.",
                api: "bytes.received",
                sys: "bytes/received",
                prometheus: "aviary_bytes_received_total"
            ),
            .init(
                .counter,
                m.bytesSent.load,
                help: "Bytes written to MQTT sockets.",
                api: "bytes.sent",
                sys: "bytes/sent",
                prometheus: "aviary_bytes_sent_total"
            ),
            .init(.counter, m.packetsReceived.load, help: "MQTT control packets received.", api: "packets.received", sys: "packets/received"),
            .init(.counter, m.packetsSent.load, help: "MQTT control packets sent.", api: "packets.sent", sys: "packets/sent"),
        ]
        for type in PacketType.allCases {
            let i = Int(type.rawValue)
            list.append(
                .init(
                    .counter,
                    m.packetsReceivedByType[i].load,
                    help: "MQTT control packets received, by type.",
                    api: "packets.\(type.name).received",
                    prometheus: "aviary_packets_received_total",
                    labels: [("type", type.name)]
                )
            )
            list.append(
                .init(
                    .counter,
                    m.packetsSentByType[i].load,
                    help: "MQTT control packets sent, by type.",
                    api: "packets.\(type.name).sent",
                    prometheus: "aviary_packets_sent_total",
                    labels: [("type", type.name)]
                )
            )
        }
        list += [
            .init(.counter, m.messagesReceived.load, help: "PUBLISH packets received.", api: "messages.received", sys: "messages/received"),
            .init(.counter, m.messagesSent.load, help: "PUBLISH packets sent.", api: "messages.sent", sys: "messages/sent"),
            .init(
                .counter,
                m.messagesDropped.load,
                help:
                    """
                    Messages dropped: offline queue full, QoS 0 over a subscriber's high-water mark (overload_policy drop), too large for the \
                    client, expired.
                    """,
                api: "messages.dropped",
                sys: "messages/dropped",
                prometheus: "aviary_messages_dropped_total"
            ),
            .init(
                .counter,
                m.quotaExceeded.load,
                help: "QoS 1/2 messages no matching session could take (all full); MQTT 5 publishers got 0x97.",
                api: "messages.quota_exceeded",
                sys: "messages/quota_exceeded",
                prometheus: "aviary_messages_quota_exceeded_total"
            ),
            .init(
                .counter,
                m.payloadFormatInvalid.load,
                help: "PUBLISHes whose payload was marked UTF-8 and was not (validate_utf8_payloads): refused with 0x99.",
                api: "messages.payload_format_invalid",
                prometheus: "aviary_messages_payload_format_invalid_total"
            ),
            .init(
                .counter,
                m.topicAliasBytesSaved.load,
                help: "Topic bytes left out of PUBLISHes to 5.0 clients by server topic aliases.",
                api: "bytes.topic_alias_saved",
                prometheus: "aviary_topic_alias_bytes_saved_total"
            ),
            .init(
                .counter,
                m.topicAliasBytesSpent.load,
                help: "Bytes the Topic Alias properties of those PUBLISHes cost (net saving = saved - spent).",
                api: "bytes.topic_alias_spent",
                prometheus: "aviary_topic_alias_bytes_spent_total"
            ),
            .init(
                .counter,
                m.publishersHeld.load,
                help: "Times a publisher was held back by a subscriber at its queue's high-water mark.",
                api: "flow.publishers_held",
                sys: "flow/publishers_held",
                prometheus: "aviary_flow_publishers_held_total"
            ),
            .init(
                .counter,
                m.stallDisconnects.load,
                help: "Subscribers disconnected for holding publishers back max_stall seconds without taking a message.",
                api: "flow.stall_disconnects",
                sys: "flow/stall_disconnects",
                prometheus: "aviary_flow_stall_disconnects_total"
            ),
            .init(
                .counter,
                m.messagesNoSubscribers.load,
                help: "Messages published to a topic without subscribers.",
                api: "messages.dropped.no_subscribers",
                prometheus: "aviary_messages_no_subscribers_total"
            ),
        ]
        for qos in 0...2 {
            list.append(
                .init(
                    .counter,
                    m.messagesReceivedByQoS[qos].load,
                    help: "PUBLISH packets received, by QoS.",
                    api: "messages.qos\(qos).received",
                    prometheus: "aviary_messages_received_total",
                    labels: [("qos", "\(qos)")]
                )
            )
            list.append(
                .init(
                    .counter,
                    m.messagesSentByQoS[qos].load,
                    help: "PUBLISH packets sent, by QoS.",
                    api: "messages.qos\(qos).sent",
                    prometheus: "aviary_messages_sent_total",
                    labels: [("qos", "\(qos)")]
                )
            )
        }
        list += [
            .init(
                .counter,
                m.connectionsAccepted.load,
                help: "TCP connections accepted.",
                api: "client.connected",
                prometheus: "aviary_connections_accepted_total"
            ),
            .init(
                .counter,
                m.connectionsRefused.load,
                help: "CONNECTs refused.",
                api: "client.refused",
                prometheus: "aviary_connections_refused_total"
            ),
            .init(
                .counter,
                m.protocolErrors.load,
                help: "Connections closed for a protocol violation.",
                api: "client.protocol_errors",
                sys: "protocol errors",
                prometheus: "aviary_protocol_errors_total"
            ),
            .init(
                .counter,
                m.connectTimeouts.load,
                help: "Sockets closed for sending no CONNECT in time.",
                api: "client.connect_timeouts",
                prometheus: "aviary_connect_timeouts_total"
            ),
            .init(
                .counter,
                m.keepAliveTimeouts.load,
                help: "Connections closed by keepalive.",
                api: "client.keepalive_timeouts",
                prometheus: "aviary_keepalive_timeouts_total"
            ),
            .init(
                .counter,
                m.socketsRefused.load,
                help: "Sockets closed as accepted: the broker was at its connection capacity.",
                prometheus: "aviary_sockets_refused_total"
            ),
            .init(.counter, m.acceptErrors.load, help: "Failed accepts (EMFILE, ENFILE, ENOBUFS).", prometheus: "aviary_accept_errors_total"),
            .init(
                .counter,
                m.subscriptionsRefused.load,
                help: "SUBSCRIBE filters refused: per-client limit or topic limits.",
                prometheus: "aviary_subscriptions_refused_total"
            ),
            .init(
                .counter,
                security.authFailures.load,
                help: "CONNECTs refused for bad credentials or as anonymous.",
                prometheus: "aviary_auth_failures_total"
            ),
            .init(.counter, security.denials.load, help: "PUBLISH, SUBSCRIBE and wills denied by the ACL.", prometheus: "aviary_acl_denials_total"),
            .init(.gauge, UInt64(s.connections), help: "Clients connected now.", sys: "clients/connected", prometheus: "aviary_connections"),
            .init(.gauge, UInt64(s.sessions - s.connections), help: "Sessions without a connection.", sys: "clients/disconnected"),
            .init(.gauge, UInt64(s.sessions), help: "Sessions, connected or not.", sys: "clients/total", prometheus: "aviary_sessions"),
            .init(
                .gauge,
                UInt64(s.connectionsMax),
                help: "Most clients connected at once since start.",
                sys: "clients/maximum",
                prometheus: "aviary_connections_max"
            ),
            .init(.gauge, UInt64(s.subscriptions), help: "Subscriptions.", sys: "subscriptions/count", prometheus: "aviary_subscriptions"),
            .init(.gauge, UInt64(s.retained), help: "Retained messages.", sys: "retained messages/count", prometheus: "aviary_retained_messages"),
            .init(.gauge, m.socketsOpen.load, help: "TCP sockets open.", prometheus: "aviary_sockets_open"),
            .init(
                .gauge,
                UInt64(connectionLimit),
                help: "Most clients this broker accepts: max_connections or what the open-file limit allows.",
                prometheus: "aviary_connections_limit"
            ),
            .init(
                .gauge,
                UInt64(uptimeSeconds),
                help: "Seconds since the broker started.",
                sys: "uptime",
                sysUnit: " seconds",
                prometheus: "aviary_uptime_seconds"
            ),
            .init(
                .gauge,
                Self.heapBytesInUse(),
                help: "Bytes allocated with malloc and not freed, over all arenas (glibc's malloc_info): grows only with what the broker holds.",
                api: "process.heap_bytes",
                prometheus: "aviary_process_heap_bytes"
            ),
        ]
        if let store = core.store {
            let stats = store.currentStatistics()
            let recovery = core.recovery ?? RecoveryReport()
            let average = stats.batches == 0 ? 0 : stats.totalBatchMicros / stats.batches
            list += [
                .init(
                    .gauge,
                    UInt64(max(0, stats.bytesOnDisk)),
                    help: "Bytes of the durable store on disk (database and write-ahead log).",
                    api: "store.bytes",
                    prometheus: "aviary_store_bytes"
                ),
                .init(
                    .counter,
                    stats.batches,
                    help: "Batches committed to the durable store; each commit is one fsync of its write-ahead log (synchronous = FULL).",
                    api: "store.commits",
                    prometheus: "aviary_store_commits_total"
                ),
                .init(
                    .counter,
                    stats.operations,
                    help: "Changes written to the durable store (a put and delete of one message in one batch cancel out and are not written).",
                    api: "store.operations",
                    prometheus: "aviary_store_operations_total"
                ),
                .init(
                    .gauge,
                    stats.lastBatchMicros,
                    help: "Microseconds the last batch took to write and fsync.",
                    api: "store.batch_us.last",
                    prometheus: "aviary_store_batch_last_microseconds"
                ),
                .init(
                    .gauge,
                    average,
                    help: "Mean microseconds a batch takes to write and fsync, since start.",
                    api: "store.batch_us.mean",
                    prometheus: "aviary_store_batch_mean_microseconds"
                ),
                .init(
                    .gauge,
                    stats.maxBatchMicros,
                    help: "Longest batch write and fsync since start, in microseconds.",
                    api: "store.batch_us.max",
                    prometheus: "aviary_store_batch_max_microseconds"
                ),
                .init(
                    .counter,
                    m.storeWriteFailures.load,
                    help: "Writes of the durable store that failed (disk full, read-only, I/O error); a failed batch is retried once a second.",
                    api: "store.write_failures",
                    prometheus: "aviary_store_write_failures_total"
                ),
                .init(
                    .counter,
                    m.storeRefusals.load,
                    help: "Messages and subscriptions refused because the store could not keep them (5.0: 0x80; 3.x: connection closed).",
                    api: "store.refusals",
                    prometheus: "aviary_store_refusals_total"
                ),
                .init(
                    .gauge,
                    store.refusal == nil ? 0 : 1,
                    help: "1 while the store refuses new messages (short of room, a failed write, its file removed); the log says why.",
                    api: "store.refusing",
                    prometheus: "aviary_store_refusing"
                ),
                .init(
                    .gauge,
                    UInt64(clamping: store.room),
                    help: "Bytes the store can still grow into, as last checked: free on its file system (or under its cap), with its free pages.",
                    api: "store.room_bytes",
                    prometheus: "aviary_store_room_bytes"
                ),
                .init(
                    .gauge,
                    UInt64(recovery.sessions),
                    help: "Sessions restored from the durable store at start-up.",
                    api: "store.recovered.sessions",
                    prometheus: "aviary_store_recovered_sessions"
                ),
                .init(
                    .gauge,
                    UInt64(recovery.messages),
                    help: "Queued and in-flight messages restored from the durable store at start-up.",
                    api: "store.recovered.messages",
                    prometheus: "aviary_store_recovered_messages"
                ),
                .init(
                    .gauge,
                    UInt64(recovery.retained),
                    help: "Retained messages restored from the durable store at start-up.",
                    api: "store.recovered.retained",
                    prometheus: "aviary_store_recovered_retained"
                ),
                .init(
                    .gauge,
                    UInt64(max(0, recovery.milliseconds)),
                    help: "Milliseconds start-up took to read the durable store and rebuild its state.",
                    api: "store.recovery_ms",
                    prometheus: "aviary_store_recovery_milliseconds"
                ),
            ]
        }
        for bridge in bridges {
            let status = bridge.snapshot
            let row = registry.row(clientId: bridge.localClientId)
            let name = bridge.name
            let labels = [("bridge", name)]
            list += [
                .init(
                    .gauge,
                    status.state == .connected ? 1 : 0,
                    help: "1 while the bridge is connected to its upstream.",
                    api: "bridges.\(name).connected",
                    sys: "connection/\(name)/state",
                    prometheus: "aviary_bridge_connected",
                    labels: labels
                ),
                .init(
                    .counter,
                    bridge.forwardedOut,
                    help: "Messages a bridge sent to its upstream.",
                    api: "bridges.\(name).forwarded_out",
                    prometheus: "aviary_bridge_forwarded_out_total",
                    labels: labels
                ),
                .init(
                    .counter,
                    bridge.forwardedIn,
                    help: "Messages a bridge received from its upstream.",
                    api: "bridges.\(name).forwarded_in",
                    prometheus: "aviary_bridge_forwarded_in_total",
                    labels: labels
                ),
                .init(
                    .counter,
                    status.connects,
                    help: "Connections a bridge made to its upstream.",
                    api: "bridges.\(name).connects",
                    prometheus: "aviary_bridge_connects_total",
                    labels: labels
                ),
                .init(
                    .counter,
                    status.failures,
                    help: "Failed attempts and lost connections of a bridge.",
                    api: "bridges.\(name).failures",
                    prometheus: "aviary_bridge_failures_total",
                    labels: labels
                ),
                .init(
                    .gauge,
                    UInt64((row?.mqueueLen ?? 0) + (row?.inflight ?? 0)),
                    help: "Messages for a bridge's upstream not yet acknowledged by it (its local session's queue and messages in flight).",
                    api: "bridges.\(name).queued",
                    prometheus: "aviary_bridge_queued",
                    labels: labels
                ),
                .init(
                    .counter,
                    row?.mqueueDropped ?? 0,
                    help: "Messages for a bridge's upstream dropped from its full queue (max_queued_messages) or as too large for the upstream.",
                    api: "bridges.\(name).dropped",
                    prometheus: "aviary_bridge_dropped_total",
                    labels: labels
                ),
            ]
        }
        return list
    }
}
