import Broker
import Prometheus
import Synchronization

import AviaryLocks

/// Prometheus text exposition at `/metrics` of every figure of `Broker.metricCatalogue()` that
/// has a Prometheus name. The broker keeps its own atomics; at each scrape the growth of each
/// counter is added to its swift-prometheus counter and gauges are set, so the registry always
/// matches the live figures.
final class PrometheusExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let broker: Broker
    /// The last value added to each counter, by family and labels.
    private let counted = Mutex<[String: Int64]>([:])

    init(broker: Broker) {
        self.broker = broker
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
        let catalogue = broker.metricCatalogue()
        counted.withLock { counted in
            for metric in catalogue {
                guard let name = metric.prometheus else { continue }
                switch metric.kind {
                case .gauge:
                    registry.makeGauge(name: name, labels: metric.labels, help: metric.help).set(metric.value)
                case .counter:
                    let key = name + metric.labels.map { "|\($0.0)=\($0.1)" }.joined()
                    let last = counted[key] ?? 0
                    let counter = registry.makeCounter(name: name, labels: metric.labels, help: metric.help)
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
