import NIOCore
import Testing

@testable import MQTTCodec

/// One malformed input and the reason code the specification asks for.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var name: String
    var version: ProtocolVersion?
    var bytes: [UInt8]
    var reason: ReasonCode
    var maximumPacketSize = 1_048_576
    var testDescription: String { name }
}

enum MalformedCases {
    static func a(_ s: String) -> [UInt8] { Array(s.utf8) }
    static func str(_ s: String) -> [UInt8] { [UInt8(s.utf8.count >> 8), UInt8(s.utf8.count & 0xFF)] + a(s) }

    static func packet(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
        var b = ByteBuffer()
        b.writeVariableByteInteger(body.count)
        return [first] + Array(b.readableBytesView) + body
    }

    static func connect(name: String = "MQTT", level: UInt8 = 4, flags: UInt8 = 0x02, props: [UInt8]? = nil, rest: [UInt8] = str("c")) -> [UInt8] {
        packet(0x10, str(name) + [level, flags, 0x00, 0x3C] + (props.map { [UInt8($0.count)] + $0 } ?? []) + rest)
    }

    /// PUBLISH QoS 0 to topic "a" in 5.0 with the given raw property bytes.
    static func publish5(_ props: [UInt8], topic: String = "a") -> [UInt8] {
        packet(0x30, str(topic) + [UInt8(props.count)] + props + a("x"))
    }

    static let all: [MalformedCase] = [
        .init(name: "remaining length of 5 bytes", version: .v3_1_1, bytes: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], reason: .malformedPacket),
        .init(name: "declared length of 256 MiB", version: .v3_1_1, bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F], reason: .packetTooLarge),
        .init(
            name: "packet larger than the maximum packet size",
            version: .v5,
            bytes: publish5([], topic: String(repeating: "t", count: 40)),
            reason: .packetTooLarge,
            maximumPacketSize: 32
        ),
        .init(name: "reserved packet type 0", version: .v3_1_1, bytes: [0x00, 0x00], reason: .malformedPacket),
        .init(name: "AUTH in 3.1.1", version: .v3_1_1, bytes: [0xF0, 0x00], reason: .malformedPacket),
        .init(name: "PUBREL with flags 0000", version: .v3_1_1, bytes: [0x60, 0x02, 0x00, 0x01], reason: .malformedPacket),
        .init(name: "SUBSCRIBE with flags 0000", version: .v3_1_1, bytes: packet(0x80, [0x00, 0x01] + str("a") + [0x00]), reason: .malformedPacket),
        .init(name: "PINGREQ with a reserved flag", version: .v3_1_1, bytes: [0xC1, 0x00], reason: .malformedPacket),
        .init(name: "PINGREQ with a body", version: .v3_1_1, bytes: [0xC0, 0x01, 0x00], reason: .malformedPacket),
        .init(name: "3.1.1 DISCONNECT with a body", version: .v3_1_1, bytes: [0xE0, 0x01, 0x00], reason: .malformedPacket),
        .init(name: "PUBLISH with QoS 3", version: .v3_1_1, bytes: packet(0x36, str("a") + [0x00, 0x01]), reason: .malformedPacket),
        .init(name: "PUBLISH with DUP at QoS 0", version: .v3_1_1, bytes: packet(0x38, str("a")), reason: .malformedPacket),
        .init(name: "PUBLISH to a topic with +", version: .v3_1_1, bytes: packet(0x30, str("a/+")), reason: .topicNameInvalid),
        .init(name: "PUBLISH to a topic with #", version: .v3_1_1, bytes: packet(0x30, str("a/#")), reason: .topicNameInvalid),
        .init(name: "PUBLISH to an empty topic (3.1.1)", version: .v3_1_1, bytes: packet(0x30, str("")), reason: .topicNameInvalid),
        .init(name: "PUBLISH topic with invalid UTF-8", version: .v3_1_1, bytes: packet(0x30, [0x00, 0x02, 0xC3, 0x28]), reason: .malformedPacket),
        .init(name: "PUBLISH topic with U+0000", version: .v3_1_1, bytes: packet(0x30, [0x00, 0x02, 0x61, 0x00]), reason: .malformedPacket),
        .init(
            name: "PUBLISH topic with a UTF-16 surrogate",
            version: .v3_1_1,
            bytes: packet(0x30, [0x00, 0x03, 0xED, 0xA0, 0x80]),
            reason: .malformedPacket
        ),
        .init(name: "PUBLISH topic length beyond the packet", version: .v3_1_1, bytes: [0x30, 0x02, 0x00, 0x05], reason: .malformedPacket),
        .init(name: "PUBLISH QoS 1 with packet id 0", version: .v3_1_1, bytes: packet(0x32, str("a") + [0x00, 0x00]), reason: .malformedPacket),
        .init(name: "PUBACK with packet id 0", version: .v3_1_1, bytes: [0x40, 0x02, 0x00, 0x00], reason: .malformedPacket),
        .init(name: "SUBSCRIBE with packet id 0", version: .v3_1_1, bytes: packet(0x82, [0x00, 0x00] + str("a") + [0x00]), reason: .malformedPacket),
        .init(name: "SUBSCRIBE without a filter", version: .v3_1_1, bytes: packet(0x82, [0x00, 0x01]), reason: .protocolError),
        .init(name: "SUBSCRIBE with QoS 3", version: .v3_1_1, bytes: packet(0x82, [0x00, 0x01] + str("a") + [0x03]), reason: .malformedPacket),
        .init(
            name: "SUBSCRIBE 3.1.1 with 5.0 option bits",
            version: .v3_1_1,
            bytes: packet(0x82, [0x00, 0x01] + str("a") + [0x04]),
            reason: .malformedPacket
        ),
        .init(
            name: "SUBSCRIBE filter without options byte",
            version: .v3_1_1,
            bytes: packet(0x82, [0x00, 0x01] + str("a")),
            reason: .malformedPacket
        ),
        .init(name: "UNSUBSCRIBE without a filter", version: .v3_1_1, bytes: packet(0xA2, [0x00, 0x01]), reason: .protocolError),
        .init(name: "first packet is not CONNECT", version: nil, bytes: [0xC0, 0x00], reason: .protocolError),
        .init(name: "CONNECT reserved flag set", version: nil, bytes: connect(flags: 0x03), reason: .malformedPacket),
        .init(name: "CONNECT will QoS 3", version: nil, bytes: connect(flags: 0x1E, rest: str("c") + str("w") + str("m")), reason: .malformedPacket),
        .init(name: "CONNECT will retain without will flag", version: nil, bytes: connect(flags: 0x22), reason: .malformedPacket),
        .init(name: "CONNECT will QoS without will flag", version: nil, bytes: connect(flags: 0x0A), reason: .malformedPacket),
        .init(
            name: "CONNECT 3.1.1 password without user name",
            version: nil,
            bytes: connect(flags: 0x42, rest: str("c") + str("p")),
            reason: .malformedPacket
        ),
        .init(name: "CONNECT protocol level 6", version: nil, bytes: connect(level: 6), reason: .unsupportedProtocolVersion),
        .init(name: "CONNECT MQTT with level 3", version: nil, bytes: connect(level: 3), reason: .unsupportedProtocolVersion),
        .init(name: "CONNECT unknown protocol name", version: nil, bytes: connect(name: "HTTP"), reason: .unsupportedProtocolVersion),
        .init(
            name: "CONNECT will topic with wildcard",
            version: nil,
            bytes: connect(flags: 0x06, rest: str("c") + str("w/#") + str("m")),
            reason: .topicNameInvalid
        ),
        .init(name: "CONNECT truncated", version: nil, bytes: packet(0x10, str("MQTT") + [0x04]), reason: .malformedPacket),
        .init(name: "CONNECT client id not UTF-8", version: nil, bytes: connect(rest: [0x00, 0x01, 0xFF]), reason: .malformedPacket),
        .init(
            name: "CONNECT 5.0 duplicate session expiry",
            version: nil,
            bytes: connect(level: 5, props: [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]),
            reason: .protocolError
        ),
        .init(name: "CONNECT 5.0 receive maximum 0", version: nil, bytes: connect(level: 5, props: [0x21, 0, 0]), reason: .protocolError),
        .init(name: "CONNECT 5.0 maximum packet size 0", version: nil, bytes: connect(level: 5, props: [0x27, 0, 0, 0, 0]), reason: .protocolError),
        .init(name: "CONNECT 5.0 request problem information 2", version: nil, bytes: connect(level: 5, props: [0x17, 2]), reason: .protocolError),
        .init(name: "PUBLISH 5.0 duplicate property", version: .v5, bytes: publish5([0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]), reason: .protocolError),
        .init(
            name: "PUBLISH 5.0 property not allowed (session expiry)",
            version: .v5,
            bytes: publish5([0x11, 0, 0, 0, 1]),
            reason: .malformedPacket
        ),
        .init(name: "PUBLISH 5.0 unknown property 0x7F", version: .v5, bytes: publish5([0x7F, 0]), reason: .malformedPacket),
        .init(name: "PUBLISH 5.0 topic alias 0", version: .v5, bytes: publish5([0x23, 0, 0]), reason: .protocolError),
        .init(name: "PUBLISH 5.0 payload format indicator 2", version: .v5, bytes: publish5([0x01, 2]), reason: .protocolError),
        .init(name: "PUBLISH 5.0 empty topic without alias", version: .v5, bytes: publish5([], topic: ""), reason: .protocolError),
        .init(name: "PUBLISH 5.0 response topic with wildcard", version: .v5, bytes: publish5([0x08] + str("r/#")), reason: .protocolError),
        .init(
            name: "PUBLISH 5.0 property length beyond packet",
            version: .v5,
            bytes: packet(0x30, str("a") + [0x09, 0x01]),
            reason: .malformedPacket
        ),
        .init(name: "PUBLISH 5.0 truncated user property", version: .v5, bytes: publish5([0x26, 0x00, 0x01, 0x61]), reason: .malformedPacket),
        .init(
            name: "SUBSCRIBE 5.0 retain handling 3",
            version: .v5,
            bytes: packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x30]),
            reason: .protocolError
        ),
        .init(
            name: "SUBSCRIBE 5.0 reserved option bits",
            version: .v5,
            bytes: packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x40]),
            reason: .malformedPacket
        ),
        .init(
            name: "SUBSCRIBE 5.0 subscription identifier 0",
            version: .v5,
            bytes: packet(0x82, [0x00, 0x01, 0x02, 0x0B, 0x00] + str("a") + [0x00]),
            reason: .protocolError
        ),
        .init(
            name: "SUBSCRIBE 5.0 two subscription identifiers",
            version: .v5,
            bytes: packet(0x82, [0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02] + str("a") + [0x00]),
            reason: .protocolError
        ),
        .init(name: "PUBACK 5.0 invalid reason code", version: .v5, bytes: [0x40, 0x03, 0x00, 0x01, 0x05], reason: .malformedPacket),
        .init(name: "AUTH 5.0 invalid reason code", version: .v5, bytes: [0xF0, 0x01, 0x80], reason: .malformedPacket),
    ]
}

struct MalformedPacketTests {
    @Test("malformed input is rejected with the specified reason code", arguments: MalformedCases.all)
    func rejected(row: MalformedCase) {
        var decoder = MQTTPacketDecoder(version: row.version, maximumPacketSize: row.maximumPacketSize)
        var buffer = ByteBuffer(bytes: row.bytes)
        do {
            let packet = try decoder.decode(buffer: &buffer)
            Issue.record("decoded \(String(describing: packet)) instead of failing")
        } catch let error as MQTTProtocolError {
            #expect(error.reasonCode == row.reason, "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("an unsupported protocol level still teaches the decoder a version to answer in")
    func unsupportedLevelSetsVersion() {
        var decoder = MQTTPacketDecoder()
        var buffer = ByteBuffer(bytes: MalformedCases.connect(level: 7))
        #expect(throws: MQTTProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(decoder.version == .v3_1_1)
    }

    @Test("[MQTT-1.5.5-1] an oversized header is refused before its body arrives")
    func refusedBeforeBody() {
        var decoder = MQTTPacketDecoder(version: .v3_1_1, maximumPacketSize: 1024)
        var buffer = ByteBuffer(bytes: [0x30, 0x80, 0x80, 0x01])  // declares 16 KiB, sends nothing more
        #expect(throws: MQTTProtocolError(.packetTooLarge, "packet of 16388 bytes exceeds maximum packet size 1024")) {
            try decoder.decode(buffer: &buffer)
        }
    }
}
