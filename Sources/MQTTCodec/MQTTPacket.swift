import NIOCore

/// Every MQTT control packet, decoded. `Equatable` so that codec tables can compare results.
public enum MQTTPacket: Hashable, Sendable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(AckPacket)
    case pubrec(AckPacket)
    case pubrel(AckPacket)
    case pubcomp(AckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(SubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)

    public var type: PacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

/// CONNECT (section 3.1).
public struct ConnectPacket: Hashable, Sendable {
    public var version: ProtocolVersion
    public var clientId: String
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: Will?
    public var properties: Properties
    /// 3.1/3.1.1: the top bit of the protocol level, set by a bridge (Mosquitto's
    /// `try_private`): the server does not send a bridge's own messages back to it and keeps
    /// their retain flag. 5.0 bridges say the same with No Local and Retain As Published.
    public var isBridge: Bool

    public init(
        version: ProtocolVersion,
        clientId: String,
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        username: String? = nil,
        password: ByteBuffer? = nil,
        will: Will? = nil,
        properties: Properties = .none,
        isBridge: Bool = false
    ) {
        self.isBridge = isBridge
        self.version = version
        self.clientId = clientId
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// The Will Message carried in CONNECT.
public struct Will: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var properties: Properties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, properties: Properties = .none) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNACK (section 3.2). `reasonCode` is the 5.0 code; 3.1/3.1.1 encode its return-code mapping.
public struct ConnAckPacket: Hashable, Sendable {
    public var sessionPresent: Bool
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: Properties = .none) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// PUBLISH (section 3.3). The payload is a slice of the read buffer: never copied on decode.
public struct PublishPacket: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` > 0.
    public var packetId: UInt16?
    public var properties: Properties

    public init(
        topic: String,
        payload: ByteBuffer,
        qos: QoS = .atMostOnce,
        retain: Bool = false,
        dup: Bool = false,
        packetId: UInt16? = nil,
        properties: Properties = .none
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetId = packetId
        self.properties = properties
    }

    /// How this message is delivered, with the packet identifier QoS 1 and 2 carry.
    public enum Delivery: Hashable, Sendable {
        case atMostOnce
        case atLeastOnce(packetId: UInt16)
        case exactlyOnce(packetId: UInt16)
    }

    /// `qos` with its packet identifier; nil for QoS 1 or 2 without one (the decoder never
    /// yields such a packet: it is malformed).
    public var delivery: Delivery? {
        switch (qos, packetId) {
        case (.atMostOnce, _): .atMostOnce
        case (.atLeastOnce, let id?): .atLeastOnce(packetId: id)
        case (.exactlyOnce, let id?): .exactlyOnce(packetId: id)
        default: nil
        }
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape (sections 3.4–3.7).
public struct AckPacket: Hashable, Sendable {
    public var packetId: UInt16
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(packetId: UInt16, reasonCode: ReasonCode = .success, properties: Properties = .none) {
        self.packetId = packetId
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// Retain Handling option of a 5.0 subscription (section 3.8.3.1).
public enum RetainHandling: UInt8, Hashable, Sendable {
    case sendOnSubscribe = 0
    case sendOnNewSubscribe = 1
    case doNotSend = 2
}

/// One topic filter of a SUBSCRIBE with its options.
public struct Subscription: Hashable, Sendable {
    public var topicFilter: String
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(
        topicFilter: String,
        qos: QoS,
        noLocal: Bool = false,
        retainAsPublished: Bool = false,
        retainHandling: RetainHandling = .sendOnSubscribe
    ) {
        self.topicFilter = topicFilter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

/// SUBSCRIBE (section 3.8).
public struct SubscribePacket: Hashable, Sendable {
    public var packetId: UInt16
    public var subscriptions: [Subscription]
    public var properties: Properties

    public init(packetId: UInt16, subscriptions: [Subscription], properties: Properties = .none) {
        self.packetId = packetId
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// SUBACK and UNSUBACK (sections 3.9 and 3.11). 3.1.1 UNSUBACK carries no reason codes.
public struct SubAckPacket: Hashable, Sendable {
    public var packetId: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(packetId: UInt16, reasonCodes: [ReasonCode], properties: Properties = .none) {
        self.packetId = packetId
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// UNSUBSCRIBE (section 3.10).
public struct UnsubscribePacket: Hashable, Sendable {
    public var packetId: UInt16
    public var topicFilters: [String]
    public var properties: Properties

    public init(packetId: UInt16, topicFilters: [String], properties: Properties = .none) {
        self.packetId = packetId
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

/// DISCONNECT (section 3.14). 3.1/3.1.1 DISCONNECT has no body.
public struct DisconnectPacket: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(reasonCode: ReasonCode = .normalDisconnection, properties: Properties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// AUTH (section 3.15, 5.0 only).
public struct AuthPacket: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(reasonCode: ReasonCode = .success, properties: Properties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
