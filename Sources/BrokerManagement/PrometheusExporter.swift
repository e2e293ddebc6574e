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
    /// The last value added to each counter, by family and labels.
    private let counted = Locked<[String: Int64]>([:])

    init(broker: Broker) {
        self.broker = broker
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
        let catalogue = broker.metricCatalogue()
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
