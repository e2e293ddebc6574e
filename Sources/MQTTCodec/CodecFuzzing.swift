import NIOCore

/// What the fuzzer (`make fuzz`, Fuzz/Sources) runs on each input, here so that the tests run the
/// very same checks over the seed corpus and every saved crash (Fuzz/regressions).
///
/// The first byte chooses what is fuzzed; the rest is the input:
/// - bits 0–1: the decoder's version (none yet: the stream must start with CONNECT; 3.1; 3.1.1; 5.0)
/// - bit 2: a small maximum packet size (256 bytes)
/// - bit 3: the rest is a 5.0 property block, parsed in the context picked by bits 4–7
///
/// Every packet the decoder accepts must encode, and its encoding must decode to a packet that
/// encodes to the same bytes; each decoded packet must consume input. A violation traps.
@_spi(Fuzzing) public enum CodecFuzzing {
    public struct Outcome: Sendable, Hashable {
        /// Packets decoded (or 1 for a property block that parsed).
        public var decoded = 0
        /// The error that ended decoding, if any.
        public var error: String?
        /// Bytes left that did not make a whole packet.
        public var leftover = 0
    }

    static let contexts: [PropertyContext] = [
        .connect, .will, .connack, .publish, .ack, .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth,
    ]
    static let versions: [ProtocolVersion?] = [nil, .v3_1, .v3_1_1, .v5]

    @discardableResult
    public static func run(_ bytes: some Collection<UInt8>) -> Outcome {
        var outcome = Outcome()
        guard let selector = bytes.first else { return outcome }
        var input = ByteBuffer(bytes: bytes.dropFirst())
        if selector & 0b1000 != 0 {
            do {
                _ = try Properties.read(from: &input, context: contexts[Int(selector >> 4) % contexts.count])
                outcome.decoded = 1
            } catch {
                outcome.error = "\(error)"
            }
            outcome.leftover = input.readableBytes
            return outcome
        }
        var decoder = MQTTPacketDecoder(version: versions[Int(selector & 0b11)], maximumPacketSize: selector & 0b100 != 0 ? 256 : 268_435_460)
        while input.readableBytes > 0 {
            let before = input.readableBytes
            let packet: MQTTPacket
            do {
                guard let decoded = try decoder.decode(buffer: &input) else { break }
                packet = decoded
            } catch {
                outcome.error = "\(error)"
                break
            }
            precondition(input.readableBytes < before, "a decoded packet consumed no input")
            outcome.decoded += 1
            checkRoundTrip(packet, version: decoder.version ?? .v5)
        }
        outcome.leftover = input.readableBytes
        return outcome
    }

    private static func checkRoundTrip(_ packet: MQTTPacket, version: ProtocolVersion) {
        var encoded = ByteBuffer()
        packet.write(to: &encoded, version: version)
        var decoder = MQTTPacketDecoder(version: packet.type == .connect ? nil : version)
        var copy = encoded
        let again: MQTTPacket?
        do {
            again = try decoder.decode(buffer: &copy)
        } catch {
            preconditionFailure("our encoding of an accepted \(packet.type.name) does not decode: \(error)")
        }
        guard let again else { preconditionFailure("our encoding of an accepted \(packet.type.name) is incomplete") }
        precondition(copy.readableBytes == 0, "our encoding of \(packet.type.name) has trailing bytes")
        var reencoded = ByteBuffer()
        again.write(to: &reencoded, version: version)
        precondition(reencoded == encoded, "\(packet.type.name) does not round-trip: \(packet) vs \(again)")
    }
}
