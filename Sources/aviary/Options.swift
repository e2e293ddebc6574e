import ArgumentParser
import Broker
import Logging

/// Log levels accepted by `--log-level`.
enum LogLevelOption: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

/// Flags of the broker, shared by `aviary` and `aviary serve`.
struct BrokerOptions: ParsableArguments {
    @Option(name: .customLong("mqtt-host"), help: "Address the MQTT listener binds to.")
    var mqttHost: String = "0.0.0.0"

    @Option(name: .customLong("mqtt-port"), help: "MQTT listener port; 0 picks a free port and prints it.")
    var mqttPort: Int = 1883

    @Option(name: .customLong("max-packet-size"), help: "Largest packet accepted from a client, in bytes.")
    var maxPacketSize: Int = BrokerConfiguration().maxPacketSize

    @Option(name: .customLong("max-inflight"), help: "Outgoing QoS 1/2 messages in flight per client.")
    var maxInflight: Int = BrokerConfiguration().maxInflight

    @Option(name: .customLong("max-queued-messages"), help: "Messages queued per client (offline or over its window).")
    var maxQueuedMessages: Int = BrokerConfiguration().maxQueuedMessages

    @Option(name: .customLong("max-connections"), help: "Most connections at once (0 = no limit).")
    var maxConnections: Int = 0

    @Option(name: .customLong("connect-timeout"), help: "Seconds a socket may wait before sending CONNECT.")
    var connectTimeout: Double = BrokerConfiguration().connectTimeout

    @Option(name: .customLong("sys-interval"), help: "Seconds between $SYS publications (0 = off).")
    var sysInterval: Double = BrokerConfiguration().sysInterval

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogLevelOption = .info

    func makeConfiguration() throws -> BrokerConfiguration {
        var c = BrokerConfiguration()
        c.host = mqttHost
        c.port = mqttPort
        c.maxPacketSize = maxPacketSize
        c.maxInflight = maxInflight
        c.maxQueuedMessages = maxQueuedMessages
        c.maxConnections = maxConnections
        c.connectTimeout = connectTimeout
        c.sysInterval = sysInterval
        do {
            try c.validate()
        } catch let error as ConfigurationError {
            throw ValidationError("--\(error.setting): expected \(error.expected)")
        }
        return c
    }
}

/// Flags of the management HTTP API.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("api-host"), help: "Address the management API binds to.")
    var apiHost: String = ManagementConfiguration().host

    @Option(name: .customLong("api-port"), help: "Management API port; 0 picks a free port and prints it.")
    var apiPort: Int = ManagementConfiguration().port

    @Option(name: .customLong("api-user"), help: "Management API Basic Auth user name.")
    var apiUser: String = ManagementConfiguration().username

    @Option(name: .customLong("api-password"), help: "Management API Basic Auth password.")
    var apiPassword: String = ManagementConfiguration().password

    func makeConfiguration() throws -> ManagementConfiguration {
        guard (0...65535).contains(apiPort) else { throw ValidationError("--api-port: expected a port number from 0 to 65535") }
        guard !apiHost.isEmpty else { throw ValidationError("--api-host: expected an IP address or host name") }
        guard !apiUser.isEmpty, !apiPassword.isEmpty else { throw ValidationError("--api-user/--api-password: expected non-empty credentials") }
        var c = ManagementConfiguration()
        c.host = apiHost
        c.port = apiPort
        c.username = apiUser
        c.password = apiPassword
        return c
    }
}
