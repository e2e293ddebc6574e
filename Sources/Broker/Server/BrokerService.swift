import ServiceLifecycle

/// Runs a started broker as a `Service`: on graceful shutdown it stops accepting, sends 5.0
/// clients DISCONNECT 0x8B and closes every connection.
public struct BrokerService: Service {
    public let broker: Broker

    public init(broker: Broker) { self.broker = broker }

    public func run() async throws {
        try? await gracefulShutdown()
        await broker.shutdown()
    }
}
