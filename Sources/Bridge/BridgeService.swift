import Broker
import Logging
import NIOCore
import ServiceLifecycle

/// Runs the configured bridges as a `Service`: they start with it and, on graceful shutdown,
/// send DISCONNECT to both sides (their sessions stay) before the broker closes. Put it after
/// the broker's service in a `ServiceGroup`, which stops services in reverse order.
public struct BridgeService: Service {
    public let bridges: [MQTTBridge]

    /// Each bridge runs on one of the broker's event loops, taken in turn.
    public init(configurations: [BridgeConfiguration], broker: Broker, logger: Logger) throws {
        let group = broker.eventLoopGroup
        bridges = try configurations.map { try MQTTBridge(configuration: $0, broker: broker, eventLoop: group.next(), logger: logger) }
    }

    public func run() async throws {
        for bridge in bridges { bridge.start() }
        try? await gracefulShutdown()
        for bridge in bridges { await bridge.stop() }
    }
}
