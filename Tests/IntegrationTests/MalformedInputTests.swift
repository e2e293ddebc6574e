import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

/// Hostile bytes against a running broker over TCP, while a publisher and a subscriber carry on:
/// each input gets the reaction the specification asks for, the others lose nothing, and the
/// protocol-error counter moves once per offending connection.
@Suite(.timeLimit(.minutes(2)))
struct MalformedInputTests {
    enum Reaction: Sendable, CustomStringConvertible {
        /// CONNACK with this reason (5.0) and a close.
        case connack(ReasonCode)
        /// DISCONNECT with this reason (5.0) and a close.
        case disconnect(ReasonCode)
        /// A close without any reply.
        case close

        var description: String {
            switch self {
            case .connack(let r): "CONNACK \(r)"
            case .disconnect(let r): "DISCONNECT \(r)"
            case .close: "close"
            }
        }
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var version: ProtocolVersion = .v5
        /// Send a valid CONNECT first.
        var connected = true
        var bytes: [UInt8]
        var reaction: Reaction
        var description: String { "\(name) (\(version.displayName))" }
    }

    static func packet(_ typeAndFlags: UInt8, _ body: [UInt8]) -> [UInt8] {
        var length = body.count
        var header = [typeAndFlags]
        repeat {
            var byte = UInt8(length % 128)
            length /= 128
            if length > 0 { byte |= 0x80 }
            header.append(byte)
        } while length > 0
        return header + body
    }

    static func string(_ bytes: [UInt8]) -> [UInt8] { [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes }
    static func string(_ text: String) -> [UInt8] { string(Array(text.utf8)) }

    static let cases: [Case] = [
        Case(
            name: "truncated PUBLISH: topic length beyond the packet",
            bytes: packet(0x30, [0x00, 0x0A, 0x61, 0x62]),
            reaction: .disconnect(.malformedPacket)
        ),
        Case(
            name: "truncated SUBSCRIBE: filter without options",
            bytes: packet(0x82, [0x00, 0x01, 0x00] + string("a/b")),
            reaction: .disconnect(.malformedPacket)
        ),
        Case(name: "remaining length of 5 bytes", bytes: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], reaction: .disconnect(.malformedPacket)),
        Case(
            name: "256 MiB declared length, refused from the header",
            bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01],
            reaction: .disconnect(.packetTooLarge)
        ),
        Case(
            name: "reserved flag bits on SUBSCRIBE",
            bytes: packet(0x80, [0x00, 0x01, 0x00] + string("a") + [0x00]),
            reaction: .disconnect(.malformedPacket)
        ),
        Case(name: "invalid UTF-8 in a topic", bytes: packet(0x30, string([0x61, 0xC3, 0x28]) + [0x00]), reaction: .disconnect(.malformedPacket)),
        Case(name: "U+0000 in a topic", bytes: packet(0x30, string([0x61, 0x00, 0x62]) + [0x00]), reaction: .disconnect(.malformedPacket)),
        Case(name: "wildcard in a PUBLISH topic", bytes: packet(0x30, string("a/#") + [0x00]), reaction: .disconnect(.topicNameInvalid)),
        Case(name: "packet id 0 on a QoS 1 PUBLISH", bytes: packet(0x32, string("a") + [0x00, 0x00, 0x00]), reaction: .disconnect(.malformedPacket)),
        Case(
            name: "duplicate Payload Format Indicator",
            bytes: packet(0x30, string("a") + [0x04, 0x01, 0x01, 0x01, 0x01]),
            reaction: .disconnect(.protocolError)
        ),
        Case(name: "unknown packet type 0", bytes: [0x00, 0x00], reaction: .disconnect(.malformedPacket)),
        Case(
            name: "second CONNECT",
            bytes: packet(0x10, string("MQTT") + [0x05, 0x02, 0x00, 0x3C, 0x00] + string("again")),
            reaction: .disconnect(.protocolError)
        ),
        Case(name: "PUBLISH before CONNECT", connected: false, bytes: packet(0x30, string("a") + [0x00]), reaction: .close),
        Case(
            name: "a will with QoS 3",
            connected: false,
            bytes: packet(0x10, string("MQTT") + [0x05, 0x1E, 0x00, 0x3C, 0x00] + string("w3") + [0x00] + string("will/t") + string("x")),
            reaction: .connack(.malformedPacket)
        ),
        Case(
            name: "topic alias above the maximum",
            bytes: packet(0x30, string("a") + [0x03, 0x23, 0x00, 0x65]),
            reaction: .disconnect(.topicAliasInvalid)
        ),
        Case(name: "3.1.1: wildcard in a PUBLISH topic", version: .v3_1_1, bytes: packet(0x30, string("a/+")), reaction: .close),
        Case(name: "3.1.1: reserved flag bits on PUBREL", version: .v3_1_1, bytes: packet(0x60, [0x00, 0x01]), reaction: .close),
        Case(
            name: "3.1.1: a will with QoS 3",
            version: .v3_1_1,
            connected: false,
            bytes: packet(0x10, string("MQTT") + [0x04, 0x1E, 0x00, 0x3C] + string("w3") + string("will/t") + string("x")),
            reaction: .close
        ),
    ]

    @Test("every malformed input gets its reaction while a QoS 1 stream between two other clients loses nothing")
    func hostileInputs() async throws {
        let h = try await BrokerHarness.start { $0.topicAliasMaximum = 100 }
        let count = 400
        let subscriber = try Subprocess(["mosquitto_sub", "-p", "\(h.port)", "-V", "mqttv5", "-q", "1", "-t", "steady", "-C", "\(count)", "-W", "60"])
        try eventually("the subscriber to be connected") { h.broker.clients().contains { $0.subscriptionsCount == 1 } }
        // One message every 10 ms for the whole run, from a separate process.
        let publisher = try Subprocess([
            "sh", "-c",
            "i=1; while [ $i -le \(count) ]; do echo $i; i=$((i+1)); sleep 0.01; done | mosquitto_pub -p \(h.port) -V mqttv5 -q 1 -t steady -l",
        ])
        for c in Self.cases {
            let before = h.broker.metrics.protocolErrors.load
            let client = try TestClient(port: h.port, version: c.version)
            if c.connected { try client.connect("hostile") }
            client.sendRaw(c.bytes)
            switch c.reaction {
            case .connack(let reason):
                let ack = try client.receive { if case .connack(let a) = $0 { a } else { nil } }
                #expect(ack.reasonCode == reason, "\(c)")
            case .disconnect(let reason):
                let d = try client.receive { if case .disconnect(let d) = $0 { d } else { nil } }
                #expect(d.reasonCode == reason, "\(c)")
                #expect(d.properties.reasonString?.isEmpty == false, "\(c): a reason string says why")
            case .close:
                break
            }
            #expect(client.waitClosed(), "\(c): the connection is closed")
            #expect(client.packetsRead == (c.connected ? 1 : 0) + (c.reaction.isReply ? 1 : 0), "\(c): nothing else was sent")
            try eventually("\(c): the protocol-error counter to move") { h.broker.metrics.protocolErrors.load == before + 1 }
        }
        #expect(publisher.wait(timeout: 30) == 0)
        #expect(subscriber.wait(timeout: 30) == 0)
        let received = subscriber.output.split(separator: "\n").map(String.init)
        #expect(received == (1...count).map(String.init), "the steady stream lost nothing: \(received.count) of \(count)")
        await h.stop()
    }
}

extension MalformedInputTests.Reaction {
    var isReply: Bool { if case .close = self { false } else { true } }
}
