import ArgumentParser
@_spi(Simulation) import Broker
import Logging
import NIOCore
import UnixSignals
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the MQTT broker and its management API headless (no terminal needed).",
        discussion: """
            Examples:
              aviary serve                        # MQTT on 0.0.0.0:1883, API on 127.0.0.1:8081
              aviary serve --mqtt-port 0 --api-port 0
                                                  # free ports; both are printed
              aviary serve --api-user ops --api-password 's3cret'
              curl -u admin:public 'http://127.0.0.1:8081/api/v4/clients?_sort=send_oct&_order=desc&_limit=10'
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var api: APIOptions

    @Option(name: .customLong("simulate-clients"), help: .hidden)
    var simulateClients: Int = 0

    func run() async throws {
        let configuration = try broker.makeConfiguration()
        let apiConfiguration = try api.makeConfiguration()
        var logger = Logger(label: "aviary")
        logger.logLevel = broker.logLevel.level
        let server = Broker(configuration: configuration, logger: logger)
        let port = try await server.start()
        if simulateClients > 0 { server.addSimulatedClients(simulateClients) }
        // Readiness is announced once the service group runs (its signal handlers are in place),
        // so a script that waits for these lines can send SIGTERM right after and get a clean stop.
        let app = buildManagementApplication(broker: server, configuration: apiConfiguration, logger: logger) { channel in
            print("aviary \(AviaryVersion.current) listening for MQTT on \(configuration.host):\(port)")
            print("management API on http://\(apiConfiguration.host):\(channel.localAddress?.port ?? apiConfiguration.port)")
            fflush(nil)  // a pipe or file is block-buffered: scripts wait for these lines
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: BrokerService(broker: server)), .init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
