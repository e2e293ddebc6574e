import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// The per-connection counters equal what real clients wrote and read, at once.
@Suite(.timeLimit(.minutes(1)))
struct CountersTests {
    @Test("counters equal the bytes and packets a raw client wrote and read", arguments: [ProtocolVersion.v3_1_1, .v5])
    func rawClientCounters(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: version)
        try c.connect("counted")
        try c.subscribe("c/#", qos: .atLeastOnce)
        for n in 1...10 {
            c.publish("c/x", String(repeating: "p", count: n * 100), qos: .atLeastOnce, id: UInt16(n))
        }
        var acks = 0
        var publishes = 0
        while acks < 10 || publishes < 10 {
            switch try c.receive() {
            case .puback: acks += 1
            case .publish(let p):
                publishes += 1
                c.send(.puback(AckPacket(packetId: p.packetId!)))
            default: Issue.record("unexpected packet")
            }
        }
        c.send(.pingreq)
        #expect(try c.receive() == .pingresp)
        try eventually("counters settle") {
            let s = try #require(h.broker.client(id: "counted"))
            return s.recvOct == UInt64(c.bytesWritten) && s.sendOct == UInt64(c.bytesRead) && s.sendPend == 0
        }
        let s = try #require(h.broker.client(id: "counted"))
        #expect(s.recvOct == UInt64(c.bytesWritten))
        #expect(s.sendOct == UInt64(c.bytesRead))
        #expect(s.recvPkt == UInt64(c.packetsWritten))  // CONNECT, SUBSCRIBE, 10 PUBLISH, 10 PUBACK, PINGREQ
        #expect(s.sendPkt == UInt64(c.packetsRead))  // CONNACK, SUBACK, 10 PUBACK, 10 PUBLISH, PINGRESP
        #expect(s.recvPkt == 23 && s.sendPkt == 23)
        #expect(s.recvMsg == 10 && s.sendMsg == 10)
        // Reads are not packets: a read can end inside a packet (the receive buffer adapts down to
        // 64 bytes), so the bound is the bytes, each read taking at least one.
        #expect(s.recvCnt >= 1 && s.recvCnt <= s.recvOct)
        #expect(s.sendCnt >= 1 && s.sendCnt <= s.sendPkt)
        #expect(s.inflight == 0 && s.mqueueLen == 0 && s.subscriptionsCount == 1)
        #expect(h.broker.metrics.bytesReceived.load >= s.recvOct)
        await h.stop()
    }

    @Test("counters of a connected mosquitto_sub equal the bytes the protocol says it exchanged")
    func mosquittoCounters() async throws {
        let h = try await BrokerHarness.start()
        let topic = "meter/readings"
        let sub = try MosquittoClientTests.subscriber(h, id: "meter-sub", version: "mqttv311", args: ["-t", topic, "-q", "1"])
        let payloads = (1...5).map { "reading-\($0)-" + String(repeating: "x", count: $0 * 10) }
        for payload in payloads {
            try MosquittoClientTests.pub(h, ["-i", "meter-pub", "-t", topic, "-q", "1", "-m", payload])
        }
        // CONNACK (4) + SUBACK (5) + one QoS 1 PUBLISH per payload (header 2 + topic 2+n + id 2 + payload).
        let expectedSent = 4 + 5 + payloads.reduce(0) { $0 + 2 + 2 + topic.utf8.count + 2 + $1.utf8.count }
        // CONNECT (2 + 10 + 2 + id) + SUBSCRIBE (2 + 2 + 2 + topic + 1) + PUBACK (4) per message.
        let expectedReceived = (2 + 10 + 2 + "meter-sub".utf8.count) + (2 + 2 + 2 + topic.utf8.count + 1) + 4 * payloads.count
        try eventually("all acknowledged") { h.broker.client(id: "meter-sub")?.recvPkt == 7 }
        let s = try #require(h.broker.client(id: "meter-sub"))
        #expect(s.sendOct == UInt64(expectedSent))
        #expect(s.recvOct == UInt64(expectedReceived))
        #expect(s.sendMsg == 5 && s.recvMsg == 0)
        #expect(s.sendPkt == 7 && s.recvPkt == 7)
        #expect(h.broker.metrics.messagesReceived.load == 5)
        sub.signal(SIGKILL)
        await h.stop()
    }
}
