import Foundation
import MQTTCodec

/// One bridge, as its `connection` block of the config file describes it. The keys are
/// Mosquitto's (`address`, `topic`, `bridge_protocol_version`, `cleansession`, …) written
/// `key = value` like every other line of aviary's config file.
public struct BridgeConfiguration: Sendable, Hashable {
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case out, `in`, both
        var sendsOut: Bool { self != .in }
        var takesIn: Bool { self != .out }
    }

    /// `topic PATTERN DIRECTION QOS LOCAL_PREFIX REMOTE_PREFIX`: messages on `LOCAL_PREFIX +
    /// PATTERN` here go to `REMOTE_PREFIX + PATTERN` upstream (out), and back (in).
    public struct Topic: Sendable, Hashable {
        public var pattern: String
        public var direction: Direction
        public var qos: QoS
        public var localPrefix: String
        public var remotePrefix: String
        public var localFilter: String { localPrefix + pattern }
        public var remoteFilter: String { remotePrefix + pattern }

        /// The topic on the other side, or nil when `topic` is not this line's.
        func remoteTopic(forLocal topic: String) -> String? {
            guard topic.hasPrefix(localPrefix), TopicFilter.matches(filter: localFilter, topic: topic) else { return nil }
            return remotePrefix + topic.dropFirst(localPrefix.count)
        }

        func localTopic(forRemote topic: String) -> String? {
            guard topic.hasPrefix(remotePrefix), TopicFilter.matches(filter: remoteFilter, topic: topic) else { return nil }
            return localPrefix + topic.dropFirst(remotePrefix.count)
        }
    }

    public struct TLS: Sendable, Hashable {
        /// CA certificates that sign the upstream's certificate (PEM).
        public var caFile: String
        public var certFile: String?
        public var keyFile: String?
        /// Skip the check that the certificate names the host (testing only).
        public var insecure = false
    }

    public var name: String
    /// Tried in order; the next one after a failure (failover to another node of a cluster).
    public var addresses: [Address] = []
    public var version: ProtocolVersion = .v3_1_1
    public var remoteClientId: String
    public var localClientId: String
    public var cleanSession = false
    /// 5.0: Session Expiry Interval asked of the upstream when `cleanSession` is false.
    public var sessionExpiry: UInt32 = .max
    public var keepAlive: UInt16 = 60
    public var username: String?
    public var password: String?
    public var tls: TLS?
    /// 3.1/3.1.1: say we are a bridge in the protocol level (0x84), as Mosquitto does, so that
    /// the upstream does not send our own messages back.
    public var tryPrivate = true
    /// Backoff between attempts: from `restartBase` doubling up to `restartCap` seconds, with jitter.
    public var restartBase = 1.0
    public var restartCap = 30.0
    public var topics: [Topic] = []

    public init(name: String) {
        self.name = name
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "aviary"
        self.remoteClientId = "\(host).\(name)"
        self.localClientId = "local.\(host).\(name)"
    }

    /// The keys a `connection` block may hold.
    public static let keys: [String] = [
        "address", "topic", "bridge_protocol_version", "remote_clientid", "local_clientid", "cleansession",
        "session_expiry", "keepalive_interval", "remote_username", "remote_password", "bridge_cafile",
        "bridge_certfile", "bridge_keyfile", "bridge_insecure", "try_private", "restart_timeout",
    ]

    /// A bad line of a `connection` block: what was expected.
    public struct InvalidValue: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Applies one `key = value` line of the block.
    public mutating func set(_ key: String, _ value: String) throws(InvalidValue) {
        switch key {
        case "address":
            addresses = try Self.parseAddresses(value)
        case "topic":
            topics.append(try Self.parseTopic(value))
        case "bridge_protocol_version":
            switch value {
            case "mqttv31": version = .v3_1
            case "mqttv311": version = .v3_1_1
            case "mqttv50", "mqttv5": version = .v5
            default: throw InvalidValue("expected mqttv31, mqttv311 or mqttv50, got '\(value)'")
            }
        case "remote_clientid", "local_clientid":
            guard !value.isEmpty, value.utf8.count <= 65535 else { throw InvalidValue("expected a client id") }
            if key == "remote_clientid" { remoteClientId = value } else { localClientId = value }
        case "cleansession":
            cleanSession = try Self.parseBool(value)
        case "session_expiry":
            if value == "never" {
                sessionExpiry = .max
            } else {
                guard let seconds = UInt32(value) else { throw InvalidValue("expected seconds or 'never', got '\(value)'") }
                sessionExpiry = seconds
            }
        case "keepalive_interval":
            guard let seconds = UInt16(value), seconds >= 5 else { throw InvalidValue("expected seconds from 5 to 65535, got '\(value)'") }
            keepAlive = seconds
        case "remote_username":
            username = value
        case "remote_password":
            password = value
        case "bridge_cafile":
            tls = TLS(caFile: value, certFile: tls?.certFile, keyFile: tls?.keyFile, insecure: tls?.insecure ?? false)
        case "bridge_certfile", "bridge_keyfile", "bridge_insecure":
            var current = tls ?? TLS(caFile: "")
            switch key {
            case "bridge_certfile": current.certFile = value
            case "bridge_keyfile": current.keyFile = value
            default: current.insecure = try Self.parseBool(value)
            }
            tls = current
        case "try_private":
            tryPrivate = try Self.parseBool(value)
        case "restart_timeout":
            let parts = value.split(separator: " ", omittingEmptySubsequences: true).map { Double($0) }
            guard (1...2).contains(parts.count), let base = parts[0], base > 0, let cap = parts.last!, cap >= base else {
                throw InvalidValue("expected 'BASE CAP' seconds (BASE > 0, CAP ≥ BASE) or one number of seconds, got '\(value)'")
            }
            restartBase = base
            restartCap = cap
        default:
            throw InvalidValue("unknown bridge setting '\(key)' (a connection block takes \(Self.keys.joined(separator: ", ")))")
        }
    }

    /// What a complete block must have; checked at the end of the block.
    public func validate() throws(InvalidValue) {
        guard !addresses.isEmpty else { throw InvalidValue("connection '\(name)' has no 'address' line") }
        guard !topics.isEmpty else { throw InvalidValue("connection '\(name)' has no 'topic' line") }
        if let tls, tls.caFile.isEmpty {
            throw InvalidValue("connection '\(name)': bridge_certfile, bridge_keyfile and bridge_insecure need bridge_cafile")
        }
        if (tls?.certFile == nil) != (tls?.keyFile == nil) {
            throw InvalidValue("connection '\(name)': bridge_certfile and bridge_keyfile go together")
        }
        if password != nil && username == nil && version != .v5 {
            throw InvalidValue("connection '\(name)': remote_password needs remote_username before MQTT 5.0")
        }
    }

    static func parseBool(_ value: String) throws(InvalidValue) -> Bool {
        switch value {
        case "true": return true
        case "false": return false
        default: throw InvalidValue("expected true or false, got '\(value)'")
        }
    }

    /// `host[:port]`, several separated by spaces or commas; IPv6 in brackets. Port 1883 by default.
    static func parseAddresses(_ value: String) throws(InvalidValue) -> [Address] {
        let items = value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard !items.isEmpty else { throw InvalidValue("expected host:port (several separated by spaces or commas)") }
        var addresses: [Address] = []
        for item in items {
            var host = item
            var port = 1883
            if item.hasPrefix("[") {
                guard let close = item.firstIndex(of: "]") else { throw InvalidValue("expected [IPv6]:port, got '\(item)'") }
                host = String(item[item.index(after: item.startIndex)..<close])
                let rest = item[item.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":"), let parsed = Int(rest.dropFirst()) else { throw InvalidValue("expected [IPv6]:port, got '\(item)'") }
                    port = parsed
                }
            } else if let colon = item.lastIndex(of: ":") {
                guard let parsed = Int(item[item.index(after: colon)...]) else { throw InvalidValue("expected host:port, got '\(item)'") }
                host = String(item[..<colon])
                port = parsed
            }
            guard !host.isEmpty, (1...65535).contains(port) else {
                throw InvalidValue("expected host:port with a port from 1 to 65535, got '\(item)'")
            }
            addresses.append(Address(host: host, port: port))
        }
        return addresses
    }

    /// `PATTERN [in|out|both [QOS [LOCAL_PREFIX [REMOTE_PREFIX]]]]`, `""` for an empty word.
    static func parseTopic(_ value: String) throws(InvalidValue) -> Topic {
        let words = value.split(separator: " ", omittingEmptySubsequences: true).map { $0 == "\"\"" ? "" : String($0) }
        let usage = "expected 'PATTERN [in|out|both [QOS [LOCAL_PREFIX [REMOTE_PREFIX]]]]'"
        guard (1...5).contains(words.count) else { throw InvalidValue("\(usage), got '\(value)'") }
        var topic = Topic(pattern: words[0], direction: .out, qos: .atMostOnce, localPrefix: "", remotePrefix: "")
        if words.count > 1 {
            guard let direction = Direction(rawValue: words[1]) else {
                throw InvalidValue("direction must be in, out or both, got '\(words[1])'")
            }
            topic.direction = direction
        }
        if words.count > 2 {
            guard let raw = UInt8(words[2]), let qos = QoS(rawValue: raw) else { throw InvalidValue("QoS must be 0, 1 or 2, got '\(words[2])'") }
            topic.qos = qos
        }
        if words.count > 3 { topic.localPrefix = words[3] }
        if words.count > 4 { topic.remotePrefix = words[4] }
        for (what, prefix) in [("local prefix", topic.localPrefix), ("remote prefix", topic.remotePrefix)]
        where prefix.contains("+") || prefix.contains("#") {
            throw InvalidValue("the \(what) '\(prefix)' may not hold wildcards (+ or #)")
        }
        guard !topic.localFilter.isEmpty else { throw InvalidValue("\(usage): the pattern is empty and so are the prefixes") }
        for filter in Set([topic.localFilter, topic.remoteFilter]) {
            do {
                try TopicFilter.validate(filter)
            } catch {
                throw InvalidValue("'\(filter)' is not a valid topic filter: \(error) ('+' and '#' stand alone in a level, '#' only last)")
            }
            if filter.hasPrefix("$share/") { throw InvalidValue("'\(filter)': a bridge topic cannot be a shared subscription") }
        }
        return topic
    }
}
