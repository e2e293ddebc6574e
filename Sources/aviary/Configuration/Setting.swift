import Broker
import BrokerManagement
import Foundation
import Logging
import MQTTCodec

/// Everything `aviary serve` and `aviary` can be configured with, resolved from flags,
/// environment variables, a config file and defaults.
struct EffectiveConfiguration: Sendable {
    var broker = BrokerConfiguration()
    var api = ManagementConfiguration()
    var security = SecurityPolicy.Settings()
    var tls = TLSSettings()
    var logLevel: Logger.Level = .info
    var logFormat: LogFormat = .text
}

/// TLS for the MQTT listener (a second one, 8883 by convention) and for the management API.
struct TLSSettings: Sendable {
    var cert: String?
    var key: String?
    var ca: String?
    var verifyClients = false
    var mqttPort = 8883
    var api = false
}

/// How log lines are written to standard error.
enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's human-readable lines.
    case text
    /// One JSON object per line, for log collectors.
    case json
}

/// One setting in its three spellings — `--mqtt-port`, `AVIARY_MQTT_PORT`, `mqtt_port` in a
/// config file — with how to read it into an `EffectiveConfiguration` and how to print it back.
struct Setting {
    let key: String
    let summary: String
    /// What a valid value looks like, for error messages.
    let expected: String
    let valueName: String
    var isSecret = false
    /// Parses and stores a value; false when the value is not acceptable.
    let apply: (String, inout EffectiveConfiguration) -> Bool
    let render: (EffectiveConfiguration) -> String

    var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }
    var variable: String { "AVIARY_" + key.uppercased() }
    var defaultValue: String { render(EffectiveConfiguration()) }

    static func named(_ key: String) -> Setting {
        guard let setting = all.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// Every setting, in the order `--print-config` and the README list them.
    static var all: [Setting] {
        [
            host("mqtt_host", "Address the MQTT listener binds to.", \.broker.host),
            port("mqtt_port", "MQTT listener port; 0 picks a free port and prints it.", \.broker.port),
            host("api_host", "Address the management API binds to.", \.api.host),
            port("api_port", "Management API port; 0 picks a free port and prints it.", \.api.port),
            text("api_user", "Management API Basic Auth user name.", \.api.username),
            text("api_password", "Management API Basic Auth password.", \.api.password, secret: true),
            int(
                "api_idle_timeout",
                "Seconds an API connection may stay idle, or take to send a request's headers, before it is closed (slowloris).",
                \.api.idleTimeout,
                1...3600,
                unit: "seconds"
            ),
            int(
                "api_max_connections",
                "Most open API connections; at the cap new ones wait in the listen backlog until one closes (counted in /metrics).",
                \.api.maxConnections,
                1...100_000,
                unit: "connections"
            ),
            int(
                "max_connections",
                "Most client connections at once; further CONNECTs get 0x97 (0 = what the open-file limit allows).",
                \.broker.maxConnections,
                BrokerConfiguration.Bounds.maxConnections
            ),
            int(
                "max_packet_size",
                "Largest packet accepted from a client, in bytes.",
                \.broker.maxPacketSize,
                BrokerConfiguration.Bounds.maxPacketSize,
                unit: "bytes"
            ),
            int("max_inflight", "Outgoing QoS 1/2 messages in flight per client.", \.broker.maxInflight, BrokerConfiguration.Bounds.maxInflight),
            int(
                "receive_maximum",
                "Incoming QoS 2 messages awaiting PUBREL per client (Receive Maximum).",
                \.broker.receiveMaximum,
                BrokerConfiguration.Bounds.receiveMaximum
            ),
            int(
                "max_queued_messages",
                "Messages kept per offline session (0 = none); when full, QoS 0 make room, else new messages are refused.",
                \.broker.maxQueuedMessages,
                BrokerConfiguration.Bounds.maxQueuedMessages
            ),
            int(
                "queue_high_water",
                """
                Queued messages at which a connected subscriber holds back the publishers feeding it (QoS 1/2: PUBACK/PUBREC held; see README, \
                Overload).
                """,
                \.broker.queueHighWater,
                BrokerConfiguration.Bounds.queueWater
            ),
            int(
                "queue_low_water",
                "Queued messages at which held-back publishers resume (below queue_high_water).",
                \.broker.queueLowWater,
                BrokerConfiguration.Bounds.queueWater
            ),
            seconds(
                "max_stall",
                "Seconds a subscriber may hold publishers back without taking a message before it is disconnected (0 = never).",
                \.broker.maxStall,
                allowZero: true
            ),
            choice(
                "overload_policy",
                "QoS 0 messages for a connected subscriber at its high-water mark: drop (counted) or throttle (hold the publisher back).",
                \.broker.overloadPolicy
            ),
            int(
                "max_subscriptions",
                "Subscriptions one client may hold; further filters get SUBACK 0x97 (0 = no limit).",
                \.broker.maxSubscriptions,
                BrokerConfiguration.Bounds.maxSubscriptions
            ),
            int(
                "max_topic_length",
                "Longest topic name or filter accepted, in bytes.",
                \.broker.maxTopicLength,
                BrokerConfiguration.Bounds.maxTopicLength,
                unit: "bytes"
            ),
            int(
                "max_topic_levels",
                "Most '/'-separated levels in a topic name or filter.",
                \.broker.maxTopicLevels,
                BrokerConfiguration.Bounds.maxTopicLevels
            ),
            sessionExpiry(),
            int(
                "max_keepalive",
                "Largest keepalive granted, in seconds (5.0 clients asking for more get Server Keep Alive).",
                \.broker.maxKeepAlive,
                BrokerConfiguration.Bounds.maxKeepAlive,
                unit: "seconds"
            ),
            choice(
                "keepalive_cap_v3",
                """
                3.1/3.1.1 clients asking for a keepalive over max_keepalive (or none) when it is below 65535: refuse (CONNACK identifier rejected, \
                as Mosquitto) or accept.
                """,
                \.broker.keepAliveCapV3
            ),
            bool(
                "validate_utf8_payloads",
                "Check payloads marked UTF-8 (Payload Format Indicator 1): invalid ones get 0x99 (QoS 0: DISCONNECT 0x99).",
                \.broker.validateUTF8Payloads
            ),
            Setting(
                key: "response_information",
                summary: "Response Information for 5.0 clients that request it (%c = client id), e.g. responses/%c; none = not sent.",
                expected: "a topic prefix without wildcards, or none",
                valueName: "text",
                apply: { value, c in
                    guard !value.isEmpty, !value.contains("+"), !value.contains("#"),
                        !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                    else { return false }
                    c.broker.responseInformation = value.lowercased() == "none" ? nil : value
                    return true
                },
                render: { $0.broker.responseInformation ?? "none" }
            ),
            bool(
                "topic_alias_server",
                """
                Give topics aliases in PUBLISHes to 5.0 clients that accept them (Topic Alias Maximum > 0); off by default, as some client \
                libraries do not resolve them.
                """,
                \.broker.topicAliasServer
            ),
            int(
                "topic_alias_maximum",
                "Topic aliases accepted from each 5.0 client.",
                \.broker.topicAliasMaximum,
                BrokerConfiguration.Bounds.topicAliasMaximum
            ),
            int(
                "tcp_receive_buffer",
                """
                Kernel receive buffer of each client socket, in bytes (0 = the kernel's autotuning): bounds what waits unread in front of the \
                broker under overload; raise it for clients on long links that send much data.
                """,
                \.broker.tcpReceiveBuffer,
                BrokerConfiguration.Bounds.tcpReceiveBuffer,
                unit: "bytes"
            ),
            bool(
                "listener_per_loop",
                """
                One MQTT listening socket per event loop (SO_REUSEPORT, Linux): accepting a client costs no hop between threads; clients are spread \
                over the loops by address hash instead of in turn.
                """,
                \.broker.listenerPerLoop
            ),
            int(
                "event_loops",
                """
                Threads serving MQTT connections (0 = one per CPU core; 1 = Mosquitto's single thread: lowest latency at light load, less peak \
                throughput).
                """,
                \.broker.eventLoops,
                BrokerConfiguration.Bounds.eventLoops
            ),
            Setting(
                key: "persistence",
                summary: "Keep sessions, subscriptions, QoS 1/2 messages and retained messages across restarts and crashes (in persistence_dir).",
                expected: "on or off",
                valueName: "on|off",
                apply: { value, c in
                    switch value.lowercased() {
                    case "on", "true", "yes", "1": c.broker.persistence = true
                    case "off", "false", "no", "0": c.broker.persistence = false
                    default: return false
                    }
                    return true
                },
                render: { $0.broker.persistence ? "on" : "off" }
            ),
            Setting(
                key: "persistence_dir",
                summary: "Directory of the durable store (created if missing; one broker per directory).",
                expected: "a directory path",
                valueName: "path",
                apply: { value, c in
                    guard !value.isEmpty, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return false }
                    c.broker.persistenceDir = value
                    return true
                },
                render: { $0.broker.persistenceDir }
            ),
            Setting(
                key: "persistence_sync",
                summary:
                    """
                    always: write a batch as soon as there is something to write (what arrives during its fsync is the next batch); N: group commit \
                    every N milliseconds. Acknowledgements wait for their batch either way.
                    """,
                expected: "always or a whole number of milliseconds from 1 to \(BrokerConfiguration.Bounds.persistenceSyncMilliseconds.upperBound)",
                valueName: "always|ms",
                apply: { value, c in
                    if value.lowercased() == "always" {
                        c.broker.persistenceSyncMilliseconds = 0
                        return true
                    }
                    guard let n = Int(value), n >= 1, BrokerConfiguration.Bounds.persistenceSyncMilliseconds.contains(n) else { return false }
                    c.broker.persistenceSyncMilliseconds = n
                    return true
                },
                render: { $0.broker.persistenceSyncMilliseconds == 0 ? "always" : "\($0.broker.persistenceSyncMilliseconds)" }
            ),
            int(
                "persistence_max_bytes",
                """
                Most bytes the durable store may take on disk (0 = no cap); past it, what cannot be stored is refused (5.0: 0x80), not acknowledged.
                """,
                \.broker.persistenceMaxBytes,
                0...Int(Int64.max),
                unit: "bytes"
            ),
            int(
                "persistence_min_free_bytes",
                """
                Bytes the durable store keeps free on its file system (free pages inside it count): under them, new messages it would have to keep \
                are refused before they are routed (5.0: 0x80; 3.x: closed unacknowledged); writing goes on, so that queues drain.
                """,
                \.broker.persistenceMinFreeBytes,
                0...Int(Int64.max),
                unit: "bytes"
            ),
            seconds("connect_timeout", "Seconds a new socket may wait before sending CONNECT.", \.broker.connectTimeout, allowZero: false),
            seconds("sys_interval", "Seconds between $SYS publications (0 = off).", \.broker.sysInterval, allowZero: true),
            bool("allow_anonymous", "Accept clients without a user name (false is recommended with a password file).", \.security.allowAnonymous),
            path(
                "password_file",
                "mosquitto_passwd-format file of users and PBKDF2-SHA512 hashes (aviary passwd); reloaded on SIGHUP.",
                \.security.passwordFile
            ),
            path("acl_file", "Topic ACL file in Mosquitto's acl_file format (topic/pattern/user lines); reloaded on SIGHUP.", \.security.aclFile),
            path("tls_cert", "PEM certificate (chain) of the TLS listeners; with tls_key it opens MQTT over TLS on mqtt_tls_port.", \.tls.cert),
            path("tls_key", "PEM private key for tls_cert.", \.tls.key),
            port("mqtt_tls_port", "MQTT over TLS port (only with tls_cert and tls_key); 0 picks a free port and prints it.", \.tls.mqttPort),
            optionalPort(
                "ws_port",
                "MQTT over WebSockets port (ws://, subprotocol mqtt, on mqtt_host); 0 picks a free port and prints it; off = no listener.",
                \.broker.webSocketPort
            ),
            Setting(
                key: "ws_path",
                summary: "HTTP path of the WebSocket listeners.",
                expected: "a path starting with / (e.g. /mqtt)",
                valueName: "path",
                apply: { value, c in
                    guard value.hasPrefix("/"), !value.contains(" "), !value.contains("?"),
                        !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                    else { return false }
                    c.broker.webSocketPath = value
                    return true
                },
                render: { $0.broker.webSocketPath }
            ),
            optionalPort(
                "wss_port",
                "MQTT over secure WebSockets port (wss://, only with tls_cert and tls_key); 0 picks a free port; off = none.",
                \.broker.secureWebSocketPort
            ),
            path("tls_ca", "PEM CA certificates that client certificates must chain to (with tls_verify_clients).", \.tls.ca),
            bool("tls_verify_clients", "Require a client certificate signed by tls_ca on the TLS listeners.", \.tls.verifyClients),
            bool("api_tls", "Serve the management API over HTTPS with tls_cert and tls_key.", \.tls.api),
            Setting(
                key: "log_level",
                summary: "Least severe log level written.",
                expected: "one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "),
                valueName: "level",
                apply: { value, c in
                    guard let level = Logger.Level(rawValue: value.lowercased()) else { return false }
                    c.logLevel = level
                    return true
                },
                render: { $0.logLevel.rawValue }
            ),
            choice("log_format", "Log line format on standard error: text, or json (one object per line).", \.logFormat, valueName: "format"),
        ]
    }

    /// A setting whose values are the cases of a string enum ("drop or throttle").
    private static func choice<Value: RawRepresentable & CaseIterable>(
        _ key: String,
        _ summary: String,
        _ path: WritableKeyPath<EffectiveConfiguration, Value>,
        valueName: String = "policy"
    ) -> Setting where Value.RawValue == String {
        Setting(
            key: key,
            summary: summary,
            expected: Value.allCases.map(\.rawValue).joined(separator: " or "),
            valueName: valueName,
            apply: { value, c in
                guard let chosen = Value(rawValue: value.lowercased()) else { return false }
                c[keyPath: path] = chosen
                return true
            },
            render: { $0[keyPath: path].rawValue }
        )
    }

    private static func port(_ key: String, _ summary: String, _ path: WritableKeyPath<EffectiveConfiguration, Int>) -> Setting {
        int(key, summary, path, BrokerConfiguration.Bounds.port, expected: "a port number from 0 to 65535", valueName: "port")
    }

    private static func int(
        _ key: String,
        _ summary: String,
        _ path: WritableKeyPath<EffectiveConfiguration, Int>,
        _ range: ClosedRange<Int>,
        unit: String? = nil,
        expected: String? = nil,
        valueName: String = "n"
    ) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: expected ?? "a whole number from \(range.lowerBound) to \(range.upperBound)\(unit.map { " " + $0 } ?? "")",
            valueName: valueName,
            apply: { value, c in
                guard let n = Int(value), range.contains(n) else { return false }
                c[keyPath: path] = n
                return true
            },
            render: { "\($0[keyPath: path])" }
        )
    }

    private static func seconds(
        _ key: String,
        _ summary: String,
        _ path: WritableKeyPath<EffectiveConfiguration, Double>,
        allowZero: Bool
    ) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: allowZero ? "a number of seconds ≥ 0" : "a number of seconds > 0",
            valueName: "seconds",
            apply: { value, c in
                guard let s = Double(value), s.isFinite, allowZero ? s >= 0 : s > 0, s <= 86_400 * 365 else { return false }
                c[keyPath: path] = s
                return true
            },
            render: { c in
                let s = c[keyPath: path]
                return s == s.rounded() ? String(Int(s)) : String(s)
            }
        )
    }

    private static func host(_ key: String, _ summary: String, _ path: WritableKeyPath<EffectiveConfiguration, String>) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: "an IP address or host name",
            valueName: "address",
            apply: { value, c in
                guard !value.isEmpty, !value.contains(where: { $0.isWhitespace || $0 == "/" }) else { return false }
                c[keyPath: path] = value
                return true
            },
            render: { $0[keyPath: path] }
        )
    }

    private static func text(
        _ key: String,
        _ summary: String,
        _ path: WritableKeyPath<EffectiveConfiguration, String>,
        secret: Bool = false
    ) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: secret ? "a non-empty string without control characters" : "a non-empty string without ':' or control characters",
            valueName: secret ? "secret" : "name",
            isSecret: secret,
            apply: { value, c in
                // ':' cannot be in a Basic Auth user name; control characters break headers and logs.
                guard !value.isEmpty, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
                    secret || !value.contains(":")
                else { return false }
                c[keyPath: path] = value
                return true
            },
            render: { $0[keyPath: path] }
        )
    }

    private static func bool(_ key: String, _ summary: String, _ keyPath: WritableKeyPath<EffectiveConfiguration, Bool>) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: "true or false",
            valueName: "bool",
            apply: { value, c in
                switch value.lowercased() {
                case "true", "yes", "1", "on": c[keyPath: keyPath] = true
                case "false", "no", "0", "off": c[keyPath: keyPath] = false
                default: return false
                }
                return true
            },
            render: { "\($0[keyPath: keyPath])" }
        )
    }

    private static func path(_ key: String, _ summary: String, _ keyPath: WritableKeyPath<EffectiveConfiguration, String?>) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: "a file path, or none",
            valueName: "path",
            apply: { value, c in
                guard !value.isEmpty else { return false }
                c[keyPath: keyPath] = value.lowercased() == "none" ? nil : value
                return true
            },
            render: { $0[keyPath: keyPath] ?? "none" }
        )
    }

    private static func optionalPort(_ key: String, _ summary: String, _ path: WritableKeyPath<EffectiveConfiguration, Int?>) -> Setting {
        Setting(
            key: key,
            summary: summary,
            expected: "a port number from 0 to 65535, or off",
            valueName: "port|off",
            apply: { value, c in
                if value.lowercased() == "off" {
                    c[keyPath: path] = nil
                    return true
                }
                guard let n = Int(value), BrokerConfiguration.Bounds.port.contains(n) else { return false }
                c[keyPath: path] = n
                return true
            },
            render: { $0[keyPath: path].map { "\($0)" } ?? "off" }
        )
    }

    private static func sessionExpiry() -> Setting {
        Setting(
            key: "max_session_expiry",
            summary: "Cap on a session's expiry interval in seconds, also for 3.1.1 persistent sessions (none = no cap).",
            expected: "none or a whole number of seconds from 0 to 4294967295",
            valueName: "seconds",
            apply: { value, c in
                if value.lowercased() == "none" {
                    c.broker.maxSessionExpiry = nil
                    return true
                }
                guard let s = UInt32(value) else { return false }
                c.broker.maxSessionExpiry = s
                return true
            },
            render: { $0.broker.maxSessionExpiry.map { "\($0)" } ?? "none" }
        )
    }
}
