import AviaryLocks
import Broker
import Prometheus
import Synchronization

/// Prometheus text exposition at `/metrics` of every figure of `Broker.metricCatalogue()` that
/// has a Prometheus name. The broker keeps its own atomics; at each scrape the growth of each
/// counter is added to its swift-prometheus counter and gauges are set, so the registry always
/// matches the live figures.
final class PrometheusExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let broker: Broker
    private let connections: APIConnections
    /// The last value added to each counter, by family and labels.
    private let counted = Locked<[String: Int64]>([:])

    init(broker: Broker, connections: APIConnections) {
        self.broker = broker
        self.connections = connections
    }

    func countRequest(method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.descriptor("aviary_api_requests_total", "Management API requests, by method and status."),
            labels: [("method", method), ("code", "\(status)")]
        ).increment()
    }

    /// A family named in full (the catalogue's names already carry their unit, `_total`).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Brings the registry up to date and renders it.
    func scrape() -> [UInt8] {
        var catalogue = broker.metricCatalogue()
        catalogue += [
            BrokerMetric(
                .gauge,
                UInt64(max(0, connections.open.load(ordering: .relaxed))),
                help: "Open management API connections (api_max_connections caps them).",
                prometheus: "aviary_api_connections"
            ),
            BrokerMetric(
                .gauge,
                UInt64(max(0, connections.peak.load(ordering: .relaxed))),
                help: "The most management API connections open at once since start.",
                prometheus: "aviary_api_connections_peak"
            ),
            BrokerMetric(
                .counter,
                UInt64(connections.capped.load(ordering: .relaxed)),
                help: "Times the management API stopped accepting because api_max_connections were open.",
                prometheus: "aviary_api_connections_capped_total"
            ),
        ]
        counted.withLock { counted in
            for metric in catalogue {
                guard let name = metric.prometheus else { continue }
                switch metric.kind {
                case .gauge:
                    registry.makeGauge(descriptor: Self.descriptor(name, metric.help), labels: metric.labels).set(metric.value)
                case .counter:
                    let key = name + metric.labels.map { "|\($0.0)=\($0.1)" }.joined()
                    let last = counted[key] ?? 0
                    let counter = registry.makeCounter(descriptor: Self.descriptor(name, metric.help), labels: metric.labels)
                    if metric.value > last {
                        counter.increment(by: metric.value - last)
                        counted[key] = metric.value
                    }
                }
            }
        }
        return registry.emitToBuffer()
    }
}
