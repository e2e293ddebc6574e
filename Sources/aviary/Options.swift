import ArgumentParser
import Broker
import Foundation
import MQTTCodec

/// The settings as flags, shared by `aviary` and `aviary serve`. Every flag is optional so that
/// an absent one falls through to `AVIARY_*`, then to `--config`, then to the default.
struct SettingsOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("Config file of 'key = value' lines (env: AVIARY_CONFIG).", valueName: "file"))
    var config: String?

    @Option(name: .customLong("mqtt-host"), help: .setting("mqtt_host")) var mqttHost: String?
    @Option(name: .customLong("mqtt-port"), help: .setting("mqtt_port")) var mqttPort: String?
    @Option(name: .customLong("api-host"), help: .setting("api_host")) var apiHost: String?
    @Option(name: .customLong("api-port"), help: .setting("api_port")) var apiPort: String?
    @Option(name: .customLong("api-user"), help: .setting("api_user")) var apiUser: String?
    @Option(name: .customLong("api-password"), help: .setting("api_password")) var apiPassword: String?
    @Option(name: .customLong("api-idle-timeout"), help: .setting("api_idle_timeout")) var apiIdleTimeout: String?
    @Option(name: .customLong("api-max-connections"), help: .setting("api_max_connections")) var apiMaxConnections: String?
    @Option(name: .customLong("max-connections"), help: .setting("max_connections")) var maxConnections: String?
    @Option(name: .customLong("max-packet-size"), help: .setting("max_packet_size")) var maxPacketSize: String?
    @Option(name: .customLong("max-inflight"), help: .setting("max_inflight")) var maxInflight: String?
    @Option(name: .customLong("receive-maximum"), help: .setting("receive_maximum")) var receiveMaximum: String?
    @Option(name: .customLong("max-queued-messages"), help: .setting("max_queued_messages")) var maxQueuedMessages: String?
    @Option(name: .customLong("queue-high-water"), help: .setting("queue_high_water")) var queueHighWater: String?
    @Option(name: .customLong("queue-low-water"), help: .setting("queue_low_water")) var queueLowWater: String?
    @Option(name: .customLong("max-stall"), help: .setting("max_stall")) var maxStall: String?
    @Option(name: .customLong("overload-policy"), help: .setting("overload_policy")) var overloadPolicy: String?
    @Option(name: .customLong("max-subscriptions"), help: .setting("max_subscriptions")) var maxSubscriptions: String?
    @Option(name: .customLong("max-topic-length"), help: .setting("max_topic_length")) var maxTopicLength: String?
    @Option(name: .customLong("max-topic-levels"), help: .setting("max_topic_levels")) var maxTopicLevels: String?
    @Option(name: .customLong("max-session-expiry"), help: .setting("max_session_expiry")) var maxSessionExpiry: String?
    @Option(name: .customLong("max-keepalive"), help: .setting("max_keepalive")) var maxKeepalive: String?
    @Option(name: .customLong("keepalive-cap-v3"), help: .setting("keepalive_cap_v3")) var keepaliveCapV3: String?
    @Option(name: .customLong("validate-utf8-payloads"), help: .setting("validate_utf8_payloads")) var validateUTF8Payloads: String?
    @Option(name: .customLong("response-information"), help: .setting("response_information")) var responseInformation: String?
    @Option(name: .customLong("topic-alias-server"), help: .setting("topic_alias_server")) var topicAliasServer: String?
    @Option(name: .customLong("topic-alias-maximum"), help: .setting("topic_alias_maximum")) var topicAliasMaximum: String?
    @Option(name: .customLong("event-loops"), help: .setting("event_loops")) var eventLoops: String?
    @Option(name: .customLong("tcp-receive-buffer"), help: .setting("tcp_receive_buffer")) var tcpReceiveBuffer: String?
    @Option(name: .customLong("listener-per-loop"), help: .setting("listener_per_loop")) var listenerPerLoop: String?
    @Option(name: .customLong("persistence"), help: .setting("persistence")) var persistence: String?
    @Option(name: .customLong("persistence-dir"), help: .setting("persistence_dir")) var persistenceDir: String?
    @Option(name: .customLong("persistence-sync"), help: .setting("persistence_sync")) var persistenceSync: String?
    @Option(name: .customLong("persistence-max-bytes"), help: .setting("persistence_max_bytes")) var persistenceMaxBytes: String?
    @Option(name: .customLong("persistence-min-free-bytes"), help: .setting("persistence_min_free_bytes")) var persistenceMinFreeBytes: String?
    @Option(name: .customLong("connect-timeout"), help: .setting("connect_timeout")) var connectTimeout: String?
    @Option(name: .customLong("sys-interval"), help: .setting("sys_interval")) var sysInterval: String?
    @Option(name: .customLong("allow-anonymous"), help: .setting("allow_anonymous")) var allowAnonymous: String?
    @Option(name: .customLong("password-file"), help: .setting("password_file")) var passwordFile: String?
    @Option(name: .customLong("acl-file"), help: .setting("acl_file")) var aclFile: String?
    @Option(name: .customLong("tls-cert"), help: .setting("tls_cert")) var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: .setting("tls_key")) var tlsKey: String?
    @Option(name: .customLong("mqtt-tls-port"), help: .setting("mqtt_tls_port")) var mqttTLSPort: String?
    @Option(name: .customLong("tls-ca"), help: .setting("tls_ca")) var tlsCA: String?
    @Option(name: .customLong("ws-port"), help: .setting("ws_port")) var wsPort: String?
    @Option(name: .customLong("ws-path"), help: .setting("ws_path")) var wsPath: String?
    @Option(name: .customLong("wss-port"), help: .setting("wss_port")) var wssPort: String?
    @Option(name: .customLong("tls-verify-clients"), help: .setting("tls_verify_clients")) var tlsVerifyClients: String?
    @Option(name: .customLong("api-tls"), help: .setting("api_tls")) var apiTLS: String?
    @Option(name: .customLong("log-level"), help: .setting("log_level")) var logLevel: String?
    @Option(name: .customLong("log-format"), help: .setting("log_format")) var logFormat: String?

    /// Each setting's key with the flag's value, nil where the flag was not given.
    var flagValues: [(key: String, value: String?)] {
        [
            ("config", config), ("mqtt_host", mqttHost), ("mqtt_port", mqttPort), ("api_host", apiHost), ("api_port", apiPort),
            ("api_user", apiUser), ("api_password", apiPassword), ("api_idle_timeout", apiIdleTimeout),
            ("api_max_connections", apiMaxConnections), ("max_connections", maxConnections),
            ("max_packet_size", maxPacketSize), ("max_inflight", maxInflight), ("receive_maximum", receiveMaximum),
            ("max_queued_messages", maxQueuedMessages), ("queue_high_water", queueHighWater), ("queue_low_water", queueLowWater),
            ("max_stall", maxStall), ("overload_policy", overloadPolicy), ("max_subscriptions", maxSubscriptions),
            ("max_topic_length", maxTopicLength),
            ("max_topic_levels", maxTopicLevels), ("max_session_expiry", maxSessionExpiry), ("max_keepalive", maxKeepalive),
            ("topic_alias_maximum", topicAliasMaximum), ("topic_alias_server", topicAliasServer), ("keepalive_cap_v3", keepaliveCapV3),
            ("validate_utf8_payloads", validateUTF8Payloads), ("response_information", responseInformation), ("event_loops", eventLoops),
            ("tcp_receive_buffer", tcpReceiveBuffer), ("listener_per_loop", listenerPerLoop),
            ("persistence", persistence), ("persistence_dir", persistenceDir), ("persistence_sync", persistenceSync),
            ("persistence_max_bytes", persistenceMaxBytes), ("persistence_min_free_bytes", persistenceMinFreeBytes),
            ("connect_timeout", connectTimeout), ("sys_interval", sysInterval),
            ("allow_anonymous", allowAnonymous), ("password_file", passwordFile), ("acl_file", aclFile),
            ("tls_cert", tlsCert), ("tls_key", tlsKey), ("mqtt_tls_port", mqttTLSPort), ("tls_ca", tlsCA),
            ("ws_port", wsPort), ("ws_path", wsPath), ("wss_port", wssPort),
            ("tls_verify_clients", tlsVerifyClients), ("api_tls", apiTLS), ("log_level", logLevel), ("log_format", logFormat),
        ]
    }

    /// Flags, then the process's `AVIARY_*` variables, then the config file, then defaults.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ResolvedSettings {
        var flags: [String: String] = [:]
        for (key, value) in flagValues { if let value { flags[key] = value } }
        let resolved = try SettingsResolver.resolve(flags: flags, environment: environment)
        for name in resolved.unknownVariables {
            FileHandle.standardError.write(Data("aviary: warning: \(name) is not a setting and is ignored\n".utf8))
        }
        return resolved
    }
}

extension ArgumentHelp {
    /// Help for a setting's flag: what it does, its default and its other spellings.
    static func setting(_ key: String) -> ArgumentHelp {
        let setting = Setting.named(key)
        return ArgumentHelp("\(setting.summary) (default: \(setting.defaultValue), env: \(setting.variable))", valueName: setting.valueName)
    }
}
