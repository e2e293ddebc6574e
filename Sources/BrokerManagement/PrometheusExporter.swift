import Broker
import MQTTCodec
import Prometheus
import Synchronization

import AviaryLocks

/// Prometheus text exposition of the broker's counters at `/metrics`. The broker keeps its own
/// atomics; at each scrape their growth is added to swift-prometheus counters and the gauges
/// are set, so the registry always matches the live figures.
final class PrometheusExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let broker: Broker
    private let mirrors: Mutex<[(source: @Sendable () -> UInt64, counter: Prometheus.Counter, last: UInt64)]>

    init(broker: Broker) {
        self.broker = broker
        let m = broker.metrics
        let registry = self.registry
        var mirrors: [(source: @Sendable () -> UInt64, counter: Prometheus.Counter, last: UInt64)] = []
        func mirror(_ name: String, _ labels: [(String, String)] = [], help: String, _ source: @escaping @Sendable () -> UInt64) {
            mirrors.append((source, registry.makeCounter(name: name, labels: labels, help: help), 0))
        }
        mirror("aviary_bytes_received_total", help: "Bytes read from MQTT sockets.") { m.bytesReceived.load }
        mirror("aviary_bytes_sent_total", help: "Bytes written to MQTT sockets.") { m.bytesSent.load }
        for type in PacketType.allCases {
            let i = Int(type.rawValue)
            mirror("aviary_packets_received_total", [("type", type.name)], help: "MQTT control packets received, by type.") {
                m.packetsReceivedByType[i].load
            }
            mirror("aviary_packets_sent_total", [("type", type.name)], help: "MQTT control packets sent, by type.") {
                m.packetsSentByType[i].load
            }
        }
        for qos in 0...2 {
            mirror("aviary_messages_received_total", [("qos", "\(qos)")], help: "PUBLISH packets received, by QoS.") {
                m.messagesReceivedByQoS[qos].load
            }
            mirror("aviary_messages_sent_total", [("qos", "\(qos)")], help: "PUBLISH packets sent, by QoS.") { m.messagesSentByQoS[qos].load }
        }
        mirror("aviary_messages_dropped_total", help: "Messages dropped: queue full, too large for the client, expired.") {
            m.messagesDropped.load
        }
        mirror("aviary_messages_no_subscribers_total", help: "Messages published to a topic without subscribers.") {
            m.messagesNoSubscribers.load
        }
        mirror("aviary_protocol_errors_total", help: "Connections closed for a protocol violation.") { m.protocolErrors.load }
        mirror("aviary_connections_accepted_total", help: "TCP connections accepted.") { m.connectionsAccepted.load }
        mirror("aviary_connections_refused_total", help: "CONNECTs refused.") { m.connectionsRefused.load }
        mirror("aviary_sockets_refused_total", help: "Sockets closed as accepted: the broker was at its connection capacity.") {
            m.socketsRefused.load
        }
        mirror("aviary_accept_errors_total", help: "Failed accepts (EMFILE, ENFILE, ENOBUFS).") { m.acceptErrors.load }
        mirror("aviary_subscriptions_refused_total", help: "SUBSCRIBE filters refused: per-client limit or topic limits.") {
            m.subscriptionsRefused.load
        }
        let security = broker.security
        mirror("aviary_auth_failures_total", help: "CONNECTs refused for bad credentials or as anonymous.") { security.authFailures.load }
        mirror("aviary_acl_denials_total", help: "PUBLISH, SUBSCRIBE and wills denied by the ACL.") { security.denials.load }
        mirror("aviary_connect_timeouts_total", help: "Sockets closed for sending no CONNECT in time.") { m.connectTimeouts.load }
        mirror("aviary_keepalive_timeouts_total", help: "Connections closed by keepalive.") { m.keepAliveTimeouts.load }
        self.mirrors = Mutex(mirrors)
    }

    func countRequest(method: String, status: Int) {
        registry.makeCounter(
            name: "aviary_api_requests_total",
            labels: [("method", method), ("code", "\(status)")],
            help: "Management API requests, by method and status."
        ).increment()
    }

    /// Brings the registry up to date and renders it.
    func scrape() -> [UInt8] {
        mirrors.withLock { mirrors in
            for i in mirrors.indices {
                let value = mirrors[i].source()
                if value > mirrors[i].last {
                    mirrors[i].counter.increment(by: Int64(value - mirrors[i].last))
                    mirrors[i].last = value
                }
            }
        }
        let stats = broker.stats()
        func gauge(_ name: String, _ help: String, _ value: Int) {
            registry.makeGauge(name: name, help: help).set(Int64(value))
        }
        gauge("aviary_connections", "Clients connected now.", stats.connections)
        gauge("aviary_connections_max", "Most clients connected at once since start.", stats.connectionsMax)
        gauge("aviary_sessions", "Sessions, connected or not.", stats.sessions)
        gauge("aviary_subscriptions", "Subscriptions.", stats.subscriptions)
        gauge("aviary_retained_messages", "Retained messages.", stats.retained)
        gauge("aviary_sockets_open", "TCP sockets open.", Int(broker.metrics.socketsOpen.load))
        gauge("aviary_connections_limit", "Most clients this broker accepts: max_connections or what the open-file limit allows.", broker.connectionLimit)
        gauge("aviary_uptime_seconds", "Seconds since the broker started.", Int(broker.uptimeSeconds))
        return registry.emitToBuffer()
    }
}
