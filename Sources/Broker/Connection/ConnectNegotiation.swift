import MQTTCodec
import NIOCore

/// What the broker answers a CONNECT, decided without a connection: the packet, the
/// configuration and the security policy in; the accepted parameters and the CONNACK
/// properties, or a refusal, out. [MQTT-3.1.4], section 3.2.
enum ConnectNegotiation {
    /// Why a CONNECT was refused, for the counters.
    enum Cause: Equatable {
        case protocolRule
        case authentication
        case acl
        case shutdown
    }

    /// An accepted CONNECT.
    struct Accepted: Equatable {
        var clientId: String
        /// Who the client is: the SCRAM user after enhanced authentication, else CONNECT's.
        var username: String?
        /// The keepalive in force (seconds), after `max_keepalive` for 5.0.
        var keepAliveSeconds: Int
        /// Session Expiry Interval after `max_session_expiry`; `UInt32.max` = never.
        var expiryInterval: UInt32
        /// Outgoing in-flight window: the client's Receive Maximum capped by `max_inflight`.
        var window: Int
        var clientMaximumPacketSize: Int
        /// Properties of the CONNACK (5.0), completed by `connackProperties`.
        var ackProperties: Properties
    }

    enum Verdict: Equatable {
        case accept(Accepted)
        case refuse(ReasonCode, String, Cause)
        /// Enhanced authentication with a method the broker offers: the exchange (AUTH packets)
        /// comes first, then `negotiate` again with its user.
        case authenticate(method: String)
    }

    /// Decides a CONNECT. Throws `MQTTProtocolError` for a will topic over the broker's limits
    /// (0x90, a protocol error of the packet rather than a refusal).
    /// `authenticatedUser` is the user an enhanced-authentication exchange proved (its
    /// password check is then done).
    static func negotiate(
        _ connect: ConnectPacket,
        configuration config: BrokerConfiguration,
        security: SecurityPolicy,
        shuttingDown: Bool,
        authenticatedUser: String? = nil,
        assignClientId: () -> String = Self.assignedClientId
    ) throws -> Verdict {
        let v5 = connect.version == .v5
        var ackProperties = Properties()
        if v5, let method = connect.properties.authenticationMethod, authenticatedUser == nil {
            guard method == ScramSHA256.method, security.offersScram else {
                let offered = security.offersScram ? " (offered: \(ScramSHA256.method))" : ""
                return .refuse(.badAuthenticationMethod, "authentication method '\(method)' is not supported\(offered)", .protocolRule)
            }
            if shuttingDown { return .refuse(.serverUnavailable, "server shutting down", .shutdown) }
            return .authenticate(method: method)
        }
        let username = authenticatedUser ?? connect.username
        var clientId = connect.clientId
        if clientId.isEmpty {
            switch connect.version {
            case .v5:
                clientId = assignClientId()
                ackProperties.assignedClientIdentifier = clientId
            case .v3_1_1 where connect.cleanStart:
                clientId = assignClientId()
            default:
                // [MQTT-3.1.3-8] (3.1.1 without clean session) and 3.1's 1–23 characters.
                return .refuse(.clientIdentifierNotValid, "empty client identifier requires clean session", .protocolRule)
            }
        }
        if shuttingDown { return .refuse(.serverUnavailable, "server shutting down", .shutdown) }
        if let will = connect.will {
            if let violation = TopicName.limitViolation(will.topic, maxLength: config.maxTopicLength, maxLevels: config.maxTopicLevels) {
                throw MQTTProtocolError(.topicNameInvalid, violation)
            }
        }
        if authenticatedUser == nil {
            switch security.authenticate(username: connect.username, password: connect.password.map { Array($0.readableBytesView) }) {
            case .allowed:
                break
            case .badCredentials:
                return .refuse(.badUserNameOrPassword, "bad user name or password", .authentication)
            case .notAuthorized:
                return .refuse(.notAuthorized, "anonymous clients are not allowed", .authentication)
            }
        }
        if let will = connect.will, !security.canPublish(will.topic, username: username, clientId: clientId) {
            return .refuse(.notAuthorized, "the ACL does not allow publishing the will to '\(will.topic)'", .acl)
        }
        var keepAliveSeconds = Int(connect.keepAlive)
        let overCap = keepAliveSeconds > config.maxKeepAlive || (keepAliveSeconds == 0 && config.maxKeepAlive < 65535)
        if v5 && overCap {
            keepAliveSeconds = config.maxKeepAlive
            ackProperties.serverKeepAlive = UInt16(keepAliveSeconds)
        } else if overCap && config.keepAliveCapV3 == .refuse {
            // 3.x has no Server Keep Alive to say so; Mosquitto answers "identifier rejected".
            let asked = keepAliveSeconds == 0 ? "no keepalive (0)" : "keepalive \(keepAliveSeconds) s"
            return .refuse(.clientIdentifierNotValid, "\(asked) is over max_keepalive \(config.maxKeepAlive) s", .protocolRule)
        }
        if config.validateUTF8Payloads, let will = connect.will, !Self.isValidPayload(will.payload, will.properties) {
            return .refuse(.payloadFormatInvalid, "the will says its payload is UTF-8 and it is not", .protocolRule)
        }
        let requestedExpiry: UInt32 = v5 ? (connect.properties.sessionExpiryInterval ?? 0) : (connect.cleanStart ? 0 : .max)
        let expiry = cappedExpiry(requestedExpiry, configuration: config)
        if v5 && expiry != requestedExpiry { ackProperties.sessionExpiryInterval = expiry }
        if v5 {
            ackProperties.receiveMaximum = UInt16(config.receiveMaximum)
            ackProperties.topicAliasMaximum = UInt16(config.topicAliasMaximum)
            ackProperties.maximumPacketSize = UInt32(config.maxPacketSize)
            ackProperties.retainAvailable = 1
            ackProperties.wildcardSubscriptionAvailable = 1
            ackProperties.subscriptionIdentifiersAvailable = 1
            ackProperties.sharedSubscriptionAvailable = 1
            if connect.properties.requestResponseInformation == 1, let information = config.responseInformation {
                ackProperties.responseInformation = information.split(separator: "%c", omittingEmptySubsequences: false).joined(separator: clientId)
            }
        }
        return .accept(
            Accepted(
                clientId: clientId,
                username: username,
                keepAliveSeconds: keepAliveSeconds,
                expiryInterval: expiry,
                window: min(Int(connect.properties.receiveMaximum ?? 65535), config.maxInflight),
                clientMaximumPacketSize: connect.properties.maximumPacketSize.map { Int($0) } ?? .max,
                ackProperties: ackProperties
            )
        )
    }

    /// False for a payload whose Payload Format Indicator says UTF-8 (1) that is not valid
    /// UTF-8 (section 3.3.2.3.2; U+0000 is allowed in payloads).
    static func isValidPayload(_ payload: ByteBuffer, _ properties: Properties) -> Bool {
        guard properties.payloadFormatIndicator == 1 else { return true }
        return payload.readableBytesView.withContiguousStorageIfAvailable { String(validating: $0, as: UTF8.self) != nil }
            ?? (String(validating: Array(payload.readableBytesView), as: UTF8.self) != nil)
    }

    /// `max_session_expiry` applied to a requested interval (CONNECT or DISCONNECT).
    static func cappedExpiry(_ requested: UInt32, configuration: BrokerConfiguration) -> UInt32 {
        guard let cap = configuration.maxSessionExpiry else { return requested }
        return min(requested, cap)
    }

    static func assignedClientId() -> String {
        "aviary-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
