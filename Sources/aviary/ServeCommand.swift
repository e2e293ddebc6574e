import ArgumentParser
@_spi(Simulation) import Broker
import BrokerManagement
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the MQTT broker and its management API headless (no terminal needed).",
        discussion: """
            Every setting is a flag, an AVIARY_* environment variable or a line of the --config file, in that order of precedence; --print-config \
            shows the result and where each value came from. SIGTERM or SIGINT shuts down gracefully: the listener closes, MQTT 5 clients get \
            DISCONNECT 0x8B, writes flush, then the API stops (at most 10 s). A second signal exits at once.

            Examples:
              aviary serve                  # MQTT on 0.0.0.0:1883, API on 127.0.0.1:8081
              aviary serve --config /etc/aviary/aviary.conf
              AVIARY_MQTT_PORT=11883 aviary serve --log-format json
              aviary serve --mqtt-port 0 --api-port 0     # free ports, both printed
              aviary serve --config aviary.conf --print-config
              curl -u admin:public 'http://127.0.0.1:8081/api/v4/clients?_limit=10'
            """
    )

    @OptionGroup var settings: SettingsOptions

    @Flag(name: .customLong("print-config"), help: "Print the effective configuration, with the source of each value, and exit.")
    var printConfig = false

    @Option(name: .customLong("simulate-clients"), help: .hidden)
    var simulateClients: Int = 0

    /// Upper bound of a graceful shutdown before the services are cancelled.
    static let shutdownLimit: Duration = .seconds(10)

    func run() async throws {
        let resolved = try settings.resolve()
        if printConfig {
            print(resolved.rendered())
            return
        }
        let configuration = resolved.configuration
        let security = try resolved.makeSecurityPolicy()
        let tls = try resolved.makeTLSConfiguration()
        LogOutput.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "aviary")
        let api = configuration.api
        let apiScheme = configuration.tls.api ? "https" : "http"
        let host = configuration.broker.host
        let path = configuration.broker.webSocketPath
        // Readiness is announced once the service group runs (its signal handlers are in place),
        // so a script that waits for these lines can send SIGTERM right after and get a clean stop.
        let application = try await resolved.buildApplication(security: security, tls: tls, logger: logger) { ports in
            print("aviary \(AviaryVersion.current) listening for MQTT on \(host):\(ports.mqtt)")
            if let tlsPort = ports.tls { print("listening for MQTT over TLS on \(host):\(tlsPort)") }
            if let wsPort = ports.webSocket { print("listening for MQTT over WebSockets on ws://\(host):\(wsPort)\(path)") }
            if let wssPort = ports.secureWebSocket { print("listening for MQTT over secure WebSockets on wss://\(host):\(wssPort)\(path)") }
            print("management API on \(apiScheme)://\(api.host):\(ports.api)")
            fflush(nil)  // a pipe or file is block-buffered: scripts wait for these lines
        }
        if simulateClients > 0 { application.broker.addSimulatedClients(simulateClients) }
        var groupConfiguration = ServiceGroupConfiguration(
            services: try resolved.services(of: application, logger: logger).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = Self.shutdownLimit
        groupConfiguration.maximumCancellationDuration = .seconds(2)
        let impatience = Task { await Self.exitOnSecondSignal(logger: logger) }
        let reloading = Task { await Self.reloadOnHangup(security, logger: logger) }
        defer {
            impatience.cancel()
            reloading.cancel()
        }
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.info("aviary stopped")
    }

    /// SIGHUP re-reads the password and ACL files; connected clients stay. A file with an error
    /// is reported and the rules in force are kept.
    static func reloadOnHangup(_ security: SecurityPolicy, logger: Logger) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            do {
                try security.reload()
                logger.notice("SIGHUP: password and ACL files reloaded")
            } catch {
                logger.error("SIGHUP: reload failed, the previous rules stay in force", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The service group handles the first SIGTERM/SIGINT; a second one ends the process at once.
    static func exitOnSecondSignal(logger: Logger) async {
        var seen = 0
        for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            seen += 1
            if seen == 2 {
                logger.warning("second signal during shutdown, exiting now", metadata: ["signal": "\(signal)"])
                let number: Int32 = signal == .sigint ? SIGINT : SIGTERM
                _exit(128 + number)
            }
        }
    }
}
