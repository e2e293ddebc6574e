import NIOCore
import Testing

@testable import MQTTCodec

struct CodecTests {
    static func encode(_ packet: MQTTPacket, _ version: ProtocolVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        packet.write(to: &buffer, version: version)
        return buffer
    }

    static func decoder(for fixture: PacketFixture) -> MQTTPacketDecoder {
        // A CONNECT teaches the decoder its version; other packets need it set beforehand.
        if case .connect = fixture.packet { return MQTTPacketDecoder() }
        return MQTTPacketDecoder(version: fixture.version)
    }

    @Test("encode then decode gives the same packet", arguments: PacketFixtures.all)
    func roundTrip(fixture: PacketFixture) throws {
        var buffer = Self.encode(fixture.packet, fixture.version)
        #expect(buffer.readableBytes == fixture.packet.encodedSize(version: fixture.version))
        var decoder = Self.decoder(for: fixture)
        let decoded = try decoder.decode(buffer: &buffer)
        #expect(decoded == fixture.packet)
        #expect(buffer.readableBytes == 0)
    }

    @Test("fed one byte at a time, the decoder waits and then decodes", arguments: PacketFixtures.all)
    func byteAtATime(fixture: PacketFixture) throws {
        let encoded = Self.encode(fixture.packet, fixture.version)
        var decoder = Self.decoder(for: fixture)
        var buffer = ByteBuffer()
        var result: MQTTPacket?
        for (index, byte) in encoded.readableBytesView.enumerated() {
            buffer.writeInteger(byte)
            result = try decoder.decode(buffer: &buffer)
            if index < encoded.readableBytes - 1 { #expect(result == nil) }
        }
        #expect(result == fixture.packet)
    }

    @Test("two packets in one read are decoded in order")
    func twoPacketsInOneBuffer() throws {
        var buffer = Self.encode(.pingreq, .v5)
        buffer.writeImmutableBuffer(Self.encode(.puback(AckPacket(packetId: 9)), .v5))
        var decoder = MQTTPacketDecoder(version: .v5)
        #expect(try decoder.decode(buffer: &buffer) == .pingreq)
        #expect(try decoder.decode(buffer: &buffer) == .puback(AckPacket(packetId: 9)))
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test("known bytes: the 3.1.1 CONNECT from the specification's example")
    func knownConnectBytes() throws {
        // Protocol name MQTT, level 4, flags 0xCE (user, password, will QoS 1, clean), keepalive 10; 27 bytes follow.
        let bytes: [UInt8] =
            [0x10, 0x1B, 0x00, 0x04] + Array("MQTT".utf8) + [0x04, 0xCE, 0x00, 0x0A, 0x00, 0x02] + Array("id".utf8)
            + [0x00, 0x01] + Array("w".utf8) + [0x00, 0x01] + Array("m".utf8) + [0x00, 0x01] + Array("u".utf8)
            + [0x00, 0x02] + Array("pw".utf8)
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = MQTTPacketDecoder()
        let packet = try decoder.decode(buffer: &buffer)
        let expected = ConnectPacket(
            version: .v3_1_1,
            clientId: "id",
            cleanStart: true,
            keepAlive: 10,
            username: "u",
            password: ByteBuffer(string: "pw"),
            will: Will(topic: "w", payload: ByteBuffer(string: "m"), qos: .atLeastOnce)
        )
        #expect(packet == .connect(expected))
        #expect(decoder.version == .v3_1_1)
        #expect(Array(Self.encode(.connect(expected), .v3_1_1).readableBytesView) == bytes)
    }

    @Test(
        "variable byte integers use the fewest bytes",
        arguments: [
            (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
            (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
        ] as [(Int, [UInt8])]
    )
    func variableByteInteger(value: Int, bytes: [UInt8]) throws {
        var buffer = ByteBuffer()
        buffer.writeVariableByteInteger(value)
        #expect(Array(buffer.readableBytesView) == bytes)
        #expect(ByteBuffer.variableByteIntegerSize(value) == bytes.count)
        #expect(try buffer.readVariableByteInteger() == value)
    }

    @Test("3.1.1 CONNACK return codes map from 5.0 reasons")
    func connackReturnCodes() {
        #expect(ReasonCode.unsupportedProtocolVersion.connackReturnCodeV3 == 1)
        #expect(ReasonCode.clientIdentifierNotValid.connackReturnCodeV3 == 2)
        #expect(ReasonCode.serverUnavailable.connackReturnCodeV3 == 3)
        #expect(ReasonCode.quotaExceeded.connackReturnCodeV3 == 3)
        #expect(ReasonCode.badUserNameOrPassword.connackReturnCodeV3 == 4)
        #expect(ReasonCode.notAuthorized.connackReturnCodeV3 == 5)
    }
}
