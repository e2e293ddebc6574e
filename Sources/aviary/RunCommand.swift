import ArgumentParser
import AviaryLocks
import Broker
import BrokerManagement
import Foundation
import Logging
import MQTTClient
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the broker, its management API and the dashboard in this terminal (the default).",
        discussion: """
            The settings are those of `aviary serve` (flags, AVIARY_* variables, a --config file). Logs go to --log-file, not to the terminal. \
            Quitting the dashboard stops the broker.

            Examples:
              aviary                        # broker on 0.0.0.0:1883, API on 127.0.0.1:8081
              aviary --demo                 # plus real demo clients with live traffic
              aviary --mqtt-port 11883 --api-port 18081 --interval 0.5
              aviary --config aviary.conf --log-format json --log-file aviary.json
            """
    )

    @OptionGroup var settings: SettingsOptions

    @Option(name: .customLong("interval"), help: "Seconds between dashboard polls (0.25 to 10).")
    var interval: Double = 1

    @Flag(name: .customLong("no-color"), help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    @Flag(name: .customLong("demo"), help: "Start demo MQTT clients (real TCP connections) with varied traffic.")
    var demo = false

    @Option(name: .customLong("log-file"), help: "Where the broker's log goes while the dashboard owns the terminal.")
    var logFile: String = "/tmp/aviary.log"

    static let noTerminal = """
        aviary: standard input and standard output must be a terminal for the dashboard; \
        `aviary serve` runs the broker and its API without one
        """

    func validate() throws {
        guard (0.25...10).contains(interval) else { throw ValidationError("--interval: expected seconds from 0.25 to 10") }
    }

    func run() async throws {
        // The dashboard needs a terminal; without one nothing is started (no broker left
        // running behind a dashboard that cannot draw).
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            FileHandle.standardError.write(Data((Self.noTerminal + "\n").utf8))
            throw ExitCode(2)
        }
        let resolved = try settings.resolve()
        let configuration = resolved.configuration
        let security = try resolved.makeSecurityPolicy()
        let tls = try resolved.makeTLSConfiguration()
        if configuration.tls.api {
            throw SettingsError("api_tls: the dashboard of `aviary` talks to its own API over loopback HTTP; use `aviary serve` for an HTTPS API")
        }
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
        LogOutput.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "aviary")
        let apiPort = Locked<Int?>(nil)
        let application = try await resolved.buildApplication(security: security, tls: tls, logger: logger) { ports in
            apiPort.withLock { $0 = ports.api }
        }
        let port = application.mqttPort
        let api = configuration.api
        let group = ServiceGroup(
            configuration: .init(services: try resolved.services(of: application, logger: logger).map { .init(service: $0) }, logger: logger)
        )
        let running = Task { try await group.run() }
        for _ in 0..<100 where apiPort.withLock({ $0 }) == nil {
            if running.isCancelled { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let boundAPIPort = apiPort.withLock({ $0 }) else {
            await group.triggerGracefulShutdown()
            _ = await running.result
            throw SettingsError("the management API did not start on \(api.host):\(api.port) (see \(logFile))")
        }
        logger.info("aviary started", metadata: ["mqtt.port": "\(port)", "api.port": "\(boundAPIPort)"])
        let traffic = demo ? DemoTraffic(port: port) : nil
        traffic?.start()
        let host = api.host == "0.0.0.0" ? "127.0.0.1" : api.host
        var arguments = ["http://\(host):\(boundAPIPort)", "--interval", "\(interval)"]
        if noColor { arguments.append("--no-color") }
        do {
            let dashboard = try DashboardProcess.spawn(arguments: arguments, user: api.username, password: api.password)
            // SIGTERM/SIGINT/SIGHUP sent to aviary go to the dashboard, which restores the terminal and exits.
            let forwarding = Task {
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup) {
                    kill(dashboard, signal.rawValue)
                }
            }
            let code = await DashboardProcess.wait(for: dashboard)
            forwarding.cancel()
            if code != 0 { logger.warning("the dashboard exited with status \(code)") }
        } catch {
            logger.error("cannot start the dashboard: \(error)")
            FileHandle(fileDescriptor: savedStderr).write(Data("aviary: \(error)\n".utf8))
        }
        traffic?.stop()
        await group.triggerGracefulShutdown()
        _ = await running.result
    }
}
