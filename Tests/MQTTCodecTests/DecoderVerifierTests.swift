import NIOCore
import NIOTestUtils
import Testing

@testable import MQTTCodec

/// The decoder under SwiftNIO's own checker: `ByteToMessageDecoderVerifier` feeds every
/// fixture whole, a byte at a time and in random splits through `ByteToMessageHandler`, and
/// checks that nothing is lost, duplicated or left over.
struct DecoderVerifierTests {
    @Test("NIO's decoder verifier accepts the decoder on every fixture", arguments: PacketFixtures.all)
    func verifier(fixture: PacketFixture) throws {
        let bytes = CodecTests.encode(fixture.packet, fixture.version)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(bytes, [fixture.packet])],
            decoderFactory: { CodecTests.decoder(for: fixture) }
        )
    }

    @Test("NIO's decoder verifier: a CONNECT followed by packets of its version in one stream", arguments: ProtocolVersion.allCases)
    func connectThenPackets(version: ProtocolVersion) throws {
        let rows = PacketFixtures.all.filter { $0.version == version }
        guard let connect = rows.first(where: { if case .connect = $0.packet { true } else { false } }) else {
            Issue.record("no CONNECT fixture for \(version)")
            return
        }
        let rest = rows.filter { if case .connect = $0.packet { false } else { true } }
        var stream = CodecTests.encode(connect.packet, version)
        for row in rest { stream.writeImmutableBuffer(CodecTests.encode(row.packet, version)) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(stream, [connect.packet] + rest.map(\.packet))],
            decoderFactory: { MQTTPacketDecoder() }
        )
    }

    @Test("a malformed packet through NIO's processor throws the decoder's error, with the CONNECT's version")
    func processorError() throws {
        let processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder())
        // CONNECT, 5.0, with the reserved flag set [MQTT-3.1.2-3].
        let bytes = ByteBuffer(bytes: [0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x05, 0x01, 0x00, 0x3C, 0x00, 0x00, 0x00])
        #expect {
            try processor.process(buffer: bytes) { _ in }
        } throws: { error in
            guard let error = error as? MQTTProtocolError else { return false }
            return error.reasonCode == .malformedPacket && error.connectVersion == .v5
        }
    }

    @Test("read bytes are kept (payload slices share them) until 64 KiB are behind a partial packet")
    func reclaimPolicy() {
        let decoder = MQTTPacketDecoder(version: .v3_1_1)
        var consumed = ByteBuffer(repeating: 0, count: 100_000)
        consumed.moveReaderIndex(forwardBy: 100_000)
        #expect(!decoder.shouldReclaimBytes(buffer: consumed), "nothing left: the next read replaces the buffer, no copy")
        var small = ByteBuffer(repeating: 0, count: 8_192)
        small.moveReaderIndex(forwardBy: 4_096)
        #expect(!decoder.shouldReclaimBytes(buffer: small), "NIO's default would reclaim past 2 KiB")
        var large = ByteBuffer(repeating: 0, count: 70_000)
        large.moveReaderIndex(forwardBy: 65_537)
        #expect(decoder.shouldReclaimBytes(buffer: large))
    }
}
