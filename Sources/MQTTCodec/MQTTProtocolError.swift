/// A violation of the MQTT specification by the peer: carries the reason code that goes on the
/// wire (CONNACK or DISCONNECT for 5.0, a CONNACK return code or a plain close for 3.1/3.1.1) and a
/// readable description for the log, the counters and the API.
public struct MQTTProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reasonCode: ReasonCode
    public var message: String
    /// For an error inside a CONNECT whose protocol level was read: that level, so that the
    /// refusal CONNACK is written in it. nil otherwise.
    public var connectVersion: ProtocolVersion?

    public init(_ reasonCode: ReasonCode, _ message: String) {
        self.reasonCode = reasonCode
        self.message = message
    }

    /// A Malformed Packet (0x81): bytes that cannot be parsed as the specification says.
    public static func malformed(_ message: String) -> MQTTProtocolError { .init(.malformedPacket, message) }
    /// A Protocol Error (0x82): a well-formed packet the specification forbids here.
    public static func protocolViolation(_ message: String) -> MQTTProtocolError { .init(.protocolError, message) }

    /// Equal when the wire reason and the message are (the version is where it was found).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.reasonCode == rhs.reasonCode && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(reasonCode)
        hasher.combine(message)
    }

    public var description: String { "\(message) (reason \(reasonCode))" }
}
