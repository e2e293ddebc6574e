/// The MQTT protocol level a client asked for in its CONNECT packet.
public enum ProtocolVersion: UInt8, Sendable, Hashable, CaseIterable {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    case v3_1 = 3
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    case v3_1_1 = 4
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    case v5 = 5

    /// The protocol name carried in CONNECT.
    public var protocolName: String { self == .v3_1 ? "MQIsdp" : "MQTT" }

    /// How people write the version: `3.1`, `3.1.1`, `5.0`.
    public var displayName: String {
        switch self {
        case .v3_1: "3.1"
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }

    /// True for MQTT 5.0, the only version with properties and reason codes everywhere.
    @inlinable public var hasProperties: Bool { self == .v5 }
}

/// Quality of service of a PUBLISH or a subscription.
public enum QoS: UInt8, Sendable, Hashable, Comparable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The fourteen (fifteen with AUTH) control packet types, by their wire value.
public enum PacketType: UInt8, Sendable, Hashable, CaseIterable {
    case connect = 1
    case connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth

    /// Lower-case name as used in metrics labels (`connect`, `puback` …).
    public var name: String {
        switch self {
        case .connect: "connect"
        case .connack: "connack"
        case .publish: "publish"
        case .puback: "puback"
        case .pubrec: "pubrec"
        case .pubrel: "pubrel"
        case .pubcomp: "pubcomp"
        case .subscribe: "subscribe"
        case .suback: "suback"
        case .unsubscribe: "unsubscribe"
        case .unsuback: "unsuback"
        case .pingreq: "pingreq"
        case .pingresp: "pingresp"
        case .disconnect: "disconnect"
        case .auth: "auth"
        }
    }

    /// The fixed-header flag bits the specification requires for this type
    /// (PUBLISH has variable flags and is handled separately). [MQTT-2.1.3-1]
    var requiredFlags: UInt8 {
        switch self {
        case .pubrel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }
}
