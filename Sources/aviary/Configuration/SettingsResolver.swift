import AviaryLocks
import Bridge
import Broker
import BrokerManagement
import Configuration
import Foundation
import MQTTCodec
import Synchronization

/// A configuration problem, worded for the operator: it names the setting, where the value came
/// from and what was expected. The process exits non-zero before opening any port.
struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a setting's effective value came from.
enum SettingSource: Equatable, CustomStringConvertible {
    case defaultValue
    case flag(String)
    case environment(String)
    case file(path: String, line: Int)

    var description: String {
        switch self {
        case .defaultValue: "default"
        case .flag(let flag): "flag \(flag)"
        case .environment(let name): "environment variable \(name)"
        case .file(let path, let line): "\(path) line \(line)"
        }
    }
}

/// The configuration in effect, with the source of every setting.
struct ResolvedSettings {
    var configuration = EffectiveConfiguration()
    var sources: [String: SettingSource] = [:]
    var configFile: String?
    /// The `connection` blocks of the config file, with the line each starts on.
    var bridges: [(configuration: BridgeConfiguration, line: Int)] = []
    /// Reads the password and ACL files named by the settings; an error names the setting, its
    /// source, the file and the line.
    func makeSecurityPolicy() throws(SettingsError) -> SecurityPolicy {
        do {
            return try SecurityPolicy(settings: configuration.security)
        } catch {
            let failing = (error as? PasswordFile.ParseError) != nil ? "password_file" : "acl_file"
            throw SettingsError("\(failing) (\(sources[failing] ?? .defaultValue)): \(error)")
        }
    }

    /// AVIARY_* variables that name no setting (reported as warnings, not errors).
    var unknownVariables: [String] = []

    /// The configuration as config-file lines, each with its source; secrets are not shown.
    func rendered() -> String {
        var lines = ["# aviary effective configuration\(configFile.map { " (config file \($0))" } ?? "")"]
        let settings = Setting.all
        let width = settings.map { $0.key.count }.max() ?? 0
        for setting in settings {
            let value = setting.isSecret ? "********" : setting.render(configuration)
            let assignment = setting.key.padding(toLength: width, withPad: " ", startingAt: 0) + " = " + value
            let padded = assignment.count < 40 ? assignment.padding(toLength: 40, withPad: " ", startingAt: 0) : assignment
            lines.append(padded + "  # " + (sources[setting.key] ?? .defaultValue).description)
        }
        for (bridge, line) in bridges {
            lines.append("")
            lines.append(
                "connection = \(bridge.name)".padding(toLength: 40, withPad: " ", startingAt: 0) + "  # \(configFile ?? "config file") line \(line)"
            )
            lines += Self.render(bridge)
        }
        return lines.joined(separator: "\n")
    }

    /// A bridge as the lines of its block, every setting shown (defaults too); no password.
    static func render(_ bridge: BridgeConfiguration) -> [String] {
        func word(_ text: String) -> String { text.isEmpty ? "\"\"" : text }
        let versions: [ProtocolVersion: String] = [.v3_1: "mqttv31", .v3_1_1: "mqttv311", .v5: "mqttv50"]
        var lines = [
            "address = \(bridge.addresses.map(\.description).joined(separator: " "))",
            "bridge_protocol_version = \(versions[bridge.version]!)",
            "remote_clientid = \(bridge.remoteClientId)",
            "local_clientid = \(bridge.localClientId)",
            "cleansession = \(bridge.cleanSession)",
            "session_expiry = \(bridge.sessionExpiry == .max ? "never" : "\(bridge.sessionExpiry)")",
            "keepalive_interval = \(bridge.keepAlive)",
            "try_private = \(bridge.tryPrivate)",
            "restart_timeout = \(bridge.restartBase.formatted()) \(bridge.restartCap.formatted())",
        ]
        if let user = bridge.username { lines.append("remote_username = \(user)") }
        if bridge.password != nil { lines.append("remote_password = ********") }
        if let tls = bridge.tls {
            lines.append("bridge_cafile = \(tls.caFile)")
            if let cert = tls.certFile { lines.append("bridge_certfile = \(cert)") }
            if let key = tls.keyFile { lines.append("bridge_keyfile = \(key)") }
            lines.append("bridge_insecure = \(tls.insecure)")
        }
        for topic in bridge.topics {
            lines.append(
                """
                topic = \(word(topic.pattern)) \(topic.direction.rawValue) \(topic.qos.rawValue) \(word(topic.localPrefix)) \
                \(word(topic.remotePrefix))
                """
            )
        }
        return lines
    }
}

/// Resolves settings with swift-configuration: a `ConfigReader` over the flags (an
/// `InMemoryProvider`), `AVIARY_*` variables (`EnvironmentVariablesProvider`) and the config file
/// (`ConfigFileProvider`), in that order; the access reporter tells which one answered.
enum SettingsResolver {
    static func resolve(flags: [String: String], environment: [String: String]) throws(SettingsError) -> ResolvedSettings {
        let settings = Setting.all
        var resolved = ResolvedSettings()
        var providers: [any ConfigProvider] = []

        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in flags where key != "config" {
            flagValues[AbsoluteConfigKey([key])] = ConfigValue(.string(value), isSecret: Setting.named(key).isSecret)
        }
        let flagProvider = InMemoryProvider(name: "flags", values: flagValues)
        providers.append(flagProvider)

        let variables = environment.filter { $0.key.hasPrefix("AVIARY_") }
        let known = Set(settings.map(\.variable)).union(["AVIARY_CONFIG", "AVIARY_WATCH_USER", "AVIARY_WATCH_PASSWORD"])
        resolved.unknownVariables = variables.keys.filter { !known.contains($0) }.sorted()
        let environmentProvider = EnvironmentVariablesProvider(
            environmentVariables: variables,
            secretsSpecifier: .specific(Set(settings.filter(\.isSecret).map(\.variable)))
        ).prefixKeys(with: "aviary")
        providers.append(environmentProvider)

        var file: ConfigFile?
        if let path = flags["config"] ?? environment["AVIARY_CONFIG"] {
            guard !path.isEmpty else { throw SettingsError("--config / AVIARY_CONFIG: expected the path of a config file") }
            let loaded = try ConfigFile(path: path, knownKeys: Set(settings.map(\.key)), bridgeKeys: Set(BridgeConfiguration.keys))
            file = loaded
            resolved.configFile = path
            resolved.bridges = try loaded.bridges.map { block throws(SettingsError) in (try bridge(block, path: path), block.line) }
            var localIds: [String: String] = [:]
            for (bridge, line) in resolved.bridges {
                if let other = localIds[bridge.localClientId] {
                    throw SettingsError(
                        "\(path) line \(line): connection '\(bridge.name)' has the local_clientid '\(bridge.localClientId)' of connection '\(other)'"
                    )
                }
                localIds[bridge.localClientId] = bridge.name
            }
            providers.append(ConfigFileProvider(file: loaded))
        }

        let recorder = SourceRecorder()
        let reader = ConfigReader(providers: providers, accessReporter: recorder)
        for setting in settings {
            guard let value = reader.string(forKey: ConfigKey([setting.key]), isSecret: setting.isSecret) else {
                resolved.sources[setting.key] = .defaultValue
                continue
            }
            let source: SettingSource =
                switch recorder.provider(of: setting.key) {
                case flagProvider.providerName: .flag(setting.flag)
                case environmentProvider.providerName: .environment(setting.variable)
                default: .file(path: file?.path ?? "config file", line: file?.entries[setting.key]?.line ?? 0)
                }
            resolved.sources[setting.key] = source
            guard setting.apply(value, &resolved.configuration) else {
                let shown = setting.isSecret ? "" : " '\(value)'"
                throw SettingsError("invalid value\(shown) for \(setting.key) from \(source): expected \(setting.expected)")
            }
        }
        try checkAPIExposure(resolved)
        try checkWaterMarks(resolved)
        return resolved
    }

    /// A `connection` block as a bridge; a bad line is named with what was expected.
    static func bridge(_ block: ConfigFile.BridgeBlock, path: String) throws(SettingsError) -> BridgeConfiguration {
        var bridge = BridgeConfiguration(name: block.name)
        for (key, entry) in block.entries {
            do {
                try bridge.set(key, entry.value)
            } catch {
                throw SettingsError("\(path) line \(entry.line): \(key): \(error)")
            }
        }
        do {
            try bridge.validate()
            _ = try MQTTBridge.tlsContext(bridge)
        } catch {
            throw SettingsError("\(path) line \(block.line): \(error)")
        }
        return bridge
    }

    /// The low-water mark must be below the high-water mark, wherever each came from.
    static func checkWaterMarks(_ resolved: ResolvedSettings) throws(SettingsError) {
        let broker = resolved.configuration.broker
        guard broker.queueLowWater >= broker.queueHighWater else { return }
        let low = resolved.sources["queue_low_water"] ?? .defaultValue
        let high = resolved.sources["queue_high_water"] ?? .defaultValue
        throw SettingsError(
            """
            invalid value '\(broker.queueLowWater)' for queue_low_water from \(low): expected a number below queue_high_water \
            (\(broker.queueHighWater), from \(high))
            """
        )
    }

    /// The management API lists and disconnects every client: it may leave loopback only with a
    /// password of the operator's own.
    static func checkAPIExposure(_ resolved: ResolvedSettings) throws(SettingsError) {
        let api = resolved.configuration.api
        guard !isLoopback(api.host), api.password == ManagementConfiguration().password else { return }
        let source = resolved.sources["api_host"] ?? .defaultValue
        throw SettingsError(
            "refusing to serve the management API on \(api.host) (\(source)) with the default password '\(api.password)': "
                + "anyone who can reach it could list and disconnect every client. Set a password with --api-password, "
                + "AVIARY_API_PASSWORD or api_password in the config file (and a user with --api-user), or keep api_host on 127.0.0.1"
        )
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare == "localhost" || bare == "::1" || bare == "0:0:0:0:0:0:0:1" || bare.hasPrefix("127.")
    }
}

/// Remembers which provider supplied each key the reader looked up.
private final class SourceRecorder: AccessReporter {
    private let answers = Locked<[String: String]>([:])

    func report(_ event: AccessEvent) {
        let answering = event.providerResults.first { result in
            if case .success(let lookup) = result.result { lookup.value != nil } else { false }
        }
        let key = event.metadata.key.components.last ?? ""
        answers.withLock { $0[key] = answering?.providerName }
    }

    func provider(of key: String) -> String? { answers.withLock { $0[key] } }
}
