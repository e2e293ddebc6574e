import ArgumentParser
import Broker
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the broker, its management API and the dashboard in this terminal (the default).",
        discussion: """
            Logs go to --log-file, not to the terminal. Quitting the dashboard stops the broker.
            Examples:
              aviary                          # broker on 0.0.0.0:1883, API on 127.0.0.1:8081, dashboard
              aviary --demo                   # plus a few real demo clients with live traffic
              aviary --mqtt-port 11883 --api-port 18081 --interval 0.5
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var api: APIOptions
    @OptionGroup var dashboard: DashboardOptions

    @Flag(name: .customLong("demo"), help: "Start demo MQTT clients (real TCP connections) with varied traffic.")
    var demo = false

    @Option(name: .customLong("log-file"), help: "Where the broker's log goes while the dashboard owns the terminal.")
    var logFile: String = "/tmp/aviary.log"

    func run() async throws {
        let configuration = try broker.makeConfiguration()
        var apiConfiguration = try api.makeConfiguration()
        // The log must not write into the dashboard: send stderr (swift-log's default) to the file.
        let fd = open(logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw ValidationError("--log-file: cannot open '\(logFile)' for writing") }
        let savedStderr = dup(2)
        dup2(fd, 2)
        close(fd)
        defer {
            dup2(savedStderr, 2)
            close(savedStderr)
        }
        var logger = Logger(label: "aviary")
        logger.logLevel = broker.logLevel.level
        let server = Broker(configuration: configuration, logger: logger)
        let port: Int
        do {
            port = try await server.start()
        } catch {
            throw ValidationError("cannot listen for MQTT on \(configuration.host):\(configuration.port): \(error)")
        }
        let apiPort = Mutex<Int?>(nil)
        let app = buildManagementApplication(broker: server, configuration: apiConfiguration, logger: logger) { channel in
            apiPort.withLock { $0 = channel.localAddress?.port }
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: BrokerService(broker: server)), .init(service: app)], logger: logger)
        )
        let running = Task { try await group.run() }
        for _ in 0..<100 where apiPort.withLock({ $0 }) == nil {
            if running.isCancelled { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let boundAPIPort = apiPort.withLock({ $0 }) else {
            await group.triggerGracefulShutdown()
            _ = await running.result
            throw ValidationError("the management API did not start on \(apiConfiguration.host):\(apiConfiguration.port) (see \(logFile))")
        }
        apiConfiguration.port = boundAPIPort
        logger.info("aviary started", metadata: ["mqtt.port": "\(port)", "api.port": "\(boundAPIPort)"])
        let traffic = demo ? DemoTraffic(port: port) : nil
        traffic?.start()
        let host = apiConfiguration.host == "0.0.0.0" ? "127.0.0.1" : apiConfiguration.host
        let signal = await dashboard.runDashboard(
            url: "http://\(host):\(boundAPIPort)",
            user: apiConfiguration.username,
            password: apiConfiguration.password
        )
        traffic?.stop()
        await group.triggerGracefulShutdown()
        _ = await running.result
        if signal != 0 { print("aviary: exiting on signal \(signal)") }
    }
}
