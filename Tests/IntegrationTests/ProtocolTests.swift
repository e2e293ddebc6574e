import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// Exact wire reactions of the broker, checked with a raw client built on our codec.
@Suite(.timeLimit(.minutes(1)))
struct ProtocolTests {
    static let allVersions: [ProtocolVersion] = [.v3_1, .v3_1_1, .v5]

    // MARK: - Connect state machine

    @Test("[MQTT-3.1.0-2] a second CONNECT closes the connection (5.0: DISCONNECT 0x82)", arguments: allVersions)
    func secondConnect(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: version)
        try c.connect("twice-\(version.rawValue)")
        c.send(.connect(ConnectPacket(version: version, clientId: "twice-\(version.rawValue)")))
        if version == .v5 {
            let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .protocolError)
        }
        #expect(c.waitClosed())
        #expect(h.broker.metrics.protocolErrors.load == 1)
        await h.stop()
    }

    @Test("[MQTT-3.1.0-1] a PUBLISH before CONNECT closes the connection without a reply")
    func publishBeforeConnect() async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: .v3_1_1)
        c.publish("a", "b")
        #expect(c.waitClosed())
        #expect(c.packetsRead == 0)
        #expect(h.broker.metrics.protocolErrors.load == 1)
        await h.stop()
    }

    @Test("[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 and a close")
    func unsupportedLevel() async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: .v3_1_1)
        c.sendRaw([0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61])
        let ack = try c.receive { if case .connack(let a) = $0 { a } else { nil } }
        #expect(ack.reasonCode == .unsupportedProtocolVersion)
        #expect(c.bytesRead == 4)  // 3.1.1 format: 20 02 00 01
        #expect(c.waitClosed())
        await h.stop()
    }

    @Test("a malformed 5.0 CONNECT gets CONNACK with the reason and a reason string")
    func malformedConnectV5() async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: .v5)
        // Receive Maximum 0 is a protocol error.
        c.sendRaw([0x10, 0x10, 0x00, 0x04] + Array("MQTT".utf8) + [0x05, 0x02, 0x00, 0x3C, 0x03, 0x21, 0x00, 0x00, 0x00, 0x01, 0x61])
        let ack = try c.receive { if case .connack(let a) = $0 { a } else { nil } }
        #expect(ack.reasonCode == .protocolError)
        #expect(ack.properties.reasonString?.contains("receiveMaximum") == true)
        #expect(c.waitClosed())
        await h.stop()
    }

    @Test("after CONNECT a 5.0 protocol violation gets DISCONNECT with its reason; 3.1.1 is just closed", arguments: [ProtocolVersion.v3_1_1, .v5])
    func violationAfterConnect(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let bystander = try TestClient(port: h.port, version: .v3_1_1)
        try bystander.connect("bystander")
        try bystander.subscribe("t/#")
        let c = try TestClient(port: h.port, version: version)
        try c.connect("violator")
        // A wildcard in a PUBLISH topic (5.0 adds an empty property list).
        c.sendRaw(version == .v5 ? [0x30, 0x06, 0x00, 0x03] + Array("a/+".utf8) + [0x00] : [0x30, 0x05, 0x00, 0x03] + Array("a/+".utf8))
        if version == .v5 {
            let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .topicNameInvalid)
        }
        #expect(c.waitClosed())
        #expect(c.packetsRead == (version == .v5 ? 2 : 1))  // CONNACK (+ DISCONNECT for 5.0)
        // The other client is unaffected.
        bystander.publish("t/1", "still here")
        #expect(try bystander.receivePublish().text == "still here")
        #expect(h.broker.metrics.protocolErrors.load == 1)
        await h.stop()
    }

    @Test("a packet above the maximum packet size is refused (5.0: DISCONNECT 0x95)")
    func packetTooLarge() async throws {
        let h = try await BrokerHarness.start { $0.maxPacketSize = 1024 }
        let c = try TestClient(port: h.port, version: .v5)
        let ack = try c.connect("big")
        #expect(ack.properties.maximumPacketSize == 1024)
        c.publish("t", String(repeating: "x", count: 2000))
        let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
        #expect(d.reasonCode == .packetTooLarge)
        #expect(c.waitClosed())
        await h.stop()
    }

    @Test("a socket that never sends CONNECT is closed after the CONNECT timeout")
    func connectTimeout() async throws {
        let h = try await BrokerHarness.start { $0.connectTimeout = 0.3 }
        let c = try TestClient(port: h.port)
        let started = Date()
        #expect(c.waitClosed(timeout: 5))
        let elapsed = Date().timeIntervalSince(started)
        // Never before the timeout (the exact timing is tested in simulated time, ConnectionHandlerTests).
        #expect(elapsed >= 0.25 && elapsed < 3, "closed after \(elapsed) s")
        #expect(h.broker.metrics.connectTimeouts.load == 1)
        await h.stop()
    }

    @Test("[MQTT-3.1.2-24] keepalive is enforced at 1.5 × (5.0: DISCONNECT 0x8D) and the will goes out")
    func keepAlive() async throws {
        let h = try await BrokerHarness.start()
        let listener = try TestClient(port: h.port)
        try listener.connect("listener")
        try listener.subscribe("will/#")
        let c = try TestClient(port: h.port, version: .v5)
        let started = Date()
        try c.connect("sleepy", keepAlive: 1, will: Will(topic: "will/sleepy", payload: ByteBuffer(string: "timed out")))
        let d = try c.receive(timeout: 5) { if case .disconnect(let d) = $0 { d } else { nil } }
        let elapsed = Date().timeIntervalSince(started)
        #expect(d.reasonCode == .keepAliveTimeout)
        #expect(elapsed >= 1.4 && elapsed < 3, "closed after \(elapsed) s")
        #expect(try listener.receivePublish().text == "timed out")
        await h.stop()
    }

    @Test("PINGREQ keeps a connection alive past its keepalive")
    func pingKeepsAlive() async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: .v3_1_1)
        try c.connect("pinger", keepAlive: 1)
        for _ in 0..<4 {
            usleep(600_000)
            c.send(.pingreq)
            #expect(try c.receive() == .pingresp)
        }
        await h.stop()
    }

    @Test("empty client ids: assigned for 5.0 and clean 3.1.1, refused otherwise")
    func emptyClientId() async throws {
        let h = try await BrokerHarness.start()
        let v5 = try TestClient(port: h.port, version: .v5)
        let ack5 = try v5.connect("", cleanStart: false)
        #expect(ack5.reasonCode == .success)
        let assigned = try #require(ack5.properties.assignedClientIdentifier)
        #expect(h.broker.client(id: assigned)?.connected == true)

        let clean = try TestClient(port: h.port, version: .v3_1_1)
        #expect(try clean.connect("", cleanStart: true).reasonCode == .success)

        let persistent = try TestClient(port: h.port, version: .v3_1_1)
        #expect(try persistent.connect("", cleanStart: false).reasonCode == .clientIdentifierNotValid)
        #expect(persistent.waitClosed())

        let v31 = try TestClient(port: h.port, version: .v3_1)
        #expect(try v31.connect("", cleanStart: true).reasonCode == .clientIdentifierNotValid)
        #expect(v31.waitClosed())
        await h.stop()
    }

    @Test("[MQTT-3.1.4-3] takeover closes the older connection (5.0: DISCONNECT 0x8E)", arguments: allVersions)
    func takeover(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let id = "dup-\(version.rawValue)"
        let old = try TestClient(port: h.port, version: version)
        try old.connect(id, cleanStart: false)
        try old.subscribe("kept/topic", qos: .atLeastOnce)
        let new = try TestClient(port: h.port, version: version)
        let ack = try new.connect(id, cleanStart: false)
        #expect(ack.sessionPresent)
        if version == .v5 {
            let d = try old.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .sessionTakenOver)
        }
        #expect(old.waitClosed())
        // The subscription moved with the session.
        let publisher = try TestClient(port: h.port)
        try publisher.connect("pub")
        publisher.publish("kept/topic", "hello")
        #expect(try new.receivePublish().text == "hello")
        #expect(h.broker.stats().connections == 2)
        await h.stop()
    }

    // MARK: - QoS flows

    @Test("unacknowledged QoS 1/2 messages are resent with DUP and the same id on resume", arguments: [QoS.atLeastOnce, .exactlyOnce])
    func resendOnResume(qos: QoS) async throws {
        let h = try await BrokerHarness.start()
        let sub = try TestClient(port: h.port, version: .v5)
        var props = Properties()
        props.sessionExpiryInterval = 60
        try sub.connect("resume", cleanStart: false, properties: props)
        try sub.subscribe("r", qos: qos)
        let pub = try TestClient(port: h.port)
        try pub.connect("pub")
        pub.publish("r", "important", qos: qos, id: 9)
        let first = try sub.receivePublish()
        #expect(!first.dup)
        sub.drop()  // no PUBACK/PUBREC
        try eventually("offline") { h.broker.client(id: "resume")?.connected == false }
        #expect(h.broker.client(id: "resume")?.inflight == 1)
        let again = try TestClient(port: h.port, version: .v5)
        #expect(try again.connect("resume", cleanStart: false, properties: props).sessionPresent)
        let resent = try again.receivePublish()
        #expect(resent.dup)
        #expect(resent.packetId == first.packetId)
        #expect(resent.text == "important")
        if qos == .atLeastOnce {
            again.send(.puback(AckPacket(packetId: resent.packetId!)))
        } else {
            again.send(.pubrec(AckPacket(packetId: resent.packetId!)))
            #expect(try again.receive() == .pubrel(AckPacket(packetId: resent.packetId!)))
            again.send(.pubcomp(AckPacket(packetId: resent.packetId!)))
        }
        try eventually("acknowledged") { h.broker.client(id: "resume")?.inflight == 0 }
        await h.stop()
    }

    @Test("[MQTT-4.3.3] a QoS 2 PUBLISH sent twice before PUBREL is delivered once")
    func qos2ExactlyOnce() async throws {
        let h = try await BrokerHarness.start()
        let sub = try TestClient(port: h.port)
        try sub.connect("q2-sub")
        try sub.subscribe("q2", qos: .exactlyOnce)
        let pub = try TestClient(port: h.port, version: .v3_1_1)
        try pub.connect("q2-pub")
        pub.publish("q2", "once", qos: .exactlyOnce, id: 5)
        #expect(try pub.receive() == .pubrec(AckPacket(packetId: 5)))
        pub.send(.publish(PublishPacket(topic: "q2", payload: ByteBuffer(string: "once"), qos: .exactlyOnce, dup: true, packetId: 5)))
        #expect(try pub.receive() == .pubrec(AckPacket(packetId: 5)))
        #expect(h.broker.client(id: "q2-pub")?.awaitingRel == 1)
        pub.send(.pubrel(AckPacket(packetId: 5)))
        #expect(try pub.receive() == .pubcomp(AckPacket(packetId: 5)))
        let got = try sub.receivePublish()
        #expect(got.text == "once" && got.qos == .exactlyOnce)
        sub.send(.pubrec(AckPacket(packetId: got.packetId!)))
        #expect(try sub.receive() == .pubrel(AckPacket(packetId: got.packetId!)))
        sub.send(.pubcomp(AckPacket(packetId: got.packetId!)))
        // A later marker arrives next: no second copy of "once" came before it.
        pub.publish("q2", "marker")
        #expect(try sub.receivePublish().text == "marker")
        await h.stop()
    }

    @Test("the outgoing window honours the client's Receive Maximum; the rest waits in the queue")
    func receiveMaximum() async throws {
        let h = try await BrokerHarness.start()
        let sub = try TestClient(port: h.port, version: .v5)
        var props = Properties()
        props.receiveMaximum = 2
        try sub.connect("window", properties: props)
        try sub.subscribe("w", qos: .atLeastOnce)
        let pub = try TestClient(port: h.port)
        try pub.connect("wpub")
        for n in 1...5 { pub.publish("w", "m\(n)", qos: .atLeastOnce, id: UInt16(n)) }
        let a = try sub.receivePublish()
        let b = try sub.receivePublish()
        #expect(sub.isSilent(for: 1.0))
        let snapshot = try #require(h.broker.client(id: "window"))
        #expect(snapshot.inflight == 2 && snapshot.mqueueLen == 3)
        sub.send(.puback(AckPacket(packetId: a.packetId!)))
        sub.send(.puback(AckPacket(packetId: b.packetId!)))
        var rest: [String] = []
        for _ in 0..<3 {
            let p = try sub.receivePublish()
            rest.append(p.text)
            sub.send(.puback(AckPacket(packetId: p.packetId!)))
        }
        #expect([a.text, b.text] + rest == ["m1", "m2", "m3", "m4", "m5"])
        await h.stop()
    }

    @Test("a full offline queue drops messages, counts them, and reports them per client")
    func queueOverflow() async throws {
        let h = try await BrokerHarness.start { $0.maxQueuedMessages = 5 }
        let sub = try TestClient(port: h.port, version: .v3_1_1)
        try sub.connect("slow", cleanStart: false)
        try sub.subscribe("q", qos: .atLeastOnce)
        sub.disconnect()
        try eventually("offline") { h.broker.client(id: "slow")?.connected == false }
        let pub = try TestClient(port: h.port)
        try pub.connect("qpub")
        for n in 1...8 {
            pub.publish("q", "m\(n)", qos: .atLeastOnce, id: UInt16(n))
            _ = try pub.receive()
        }
        let snapshot = try #require(h.broker.client(id: "slow"))
        #expect(snapshot.mqueueLen == 5)
        #expect(snapshot.mqueueDropped == 3)
        #expect(h.broker.metrics.messagesDropped.load == 3)
        let back = try TestClient(port: h.port, version: .v3_1_1)
        try back.connect("slow", cleanStart: false)
        var got: [String] = []
        for _ in 0..<5 {
            let p = try back.receivePublish()
            got.append(p.text)
            back.send(.puback(AckPacket(packetId: p.packetId!)))
        }
        #expect(got == ["m1", "m2", "m3", "m4", "m5"], "full of QoS 1: the newer messages were refused, none already queued thrown out")
        await h.stop()
    }

    @Test("max connections refuses further clients with 0x97 (3.1.1: return code 3)")
    func maxConnections() async throws {
        let h = try await BrokerHarness.start { $0.maxConnections = 2 }
        let a = try TestClient(port: h.port)
        try a.connect("a")
        let b = try TestClient(port: h.port)
        try b.connect("b")
        let c = try TestClient(port: h.port, version: .v5)
        #expect(try c.connect("c").reasonCode == .quotaExceeded)
        let d = try TestClient(port: h.port, version: .v3_1_1)
        #expect(try d.connect("d").reasonCode == .serverUnavailable)
        #expect(d.bytesRead == 4)
        #expect(h.broker.metrics.connectionsRefused.load == 2, "each refusal is counted")
        // Taking over an existing id is still allowed at the limit.
        let a2 = try TestClient(port: h.port)
        #expect(try a2.connect("a").reasonCode == .success)
        await h.stop()
    }

    // MARK: - Administration

    @Test("kick: a 5.0 client gets DISCONNECT 0x98, its will is published, its session is gone", arguments: [ProtocolVersion.v3_1_1, .v5])
    func kick(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let listener = try TestClient(port: h.port)
        try listener.connect("kick-listener")
        try listener.subscribe("gone/#")
        let c = try TestClient(port: h.port, version: version)
        var props = Properties()
        if version == .v5 { props.sessionExpiryInterval = 3600 }
        try c.connect("kicked", cleanStart: false, will: Will(topic: "gone/kicked", payload: ByteBuffer(string: "kicked out")), properties: props)
        #expect(h.broker.disconnect(clientId: "kicked"))
        if version == .v5 {
            let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .administrativeAction)
        }
        #expect(c.waitClosed())
        #expect(try listener.receivePublish().text == "kicked out")
        try eventually("session discarded") { h.broker.client(id: "kicked") == nil }
        #expect(!h.broker.disconnect(clientId: "kicked"))
        await h.stop()
    }

    @Test("shutdown sends 5.0 clients DISCONNECT 0x8B")
    func shutdownNotice() async throws {
        let h = try await BrokerHarness.start()
        let c = try TestClient(port: h.port, version: .v5)
        try c.connect("leaving")
        await h.stop()
        let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
        #expect(d.reasonCode == .serverShuttingDown)
        #expect(c.waitClosed())
    }

    @Test(
        """
        [MQTT-3.3.4-9] a client still publishing past Receive Maximum reads DISCONNECT 0x93 (the broker shuts down its write side and discards the \
        rest, no reset)
        """
    )
    func disconnectReasonReachesClient() async throws {
        let h = try await BrokerHarness.start { $0.receiveMaximum = 10 }
        let c = try TestClient(port: h.port, version: .v5)
        _ = try c.connect("flooder")
        // 11 QoS 2 messages without PUBREL, then 3,000 more in the same burst (~120 KB the
        // broker has not read when it decides to close).
        var burst: [UInt8] = []
        for id in UInt16(1)...3011 {
            var buffer = ByteBuffer()
            MQTTPacket.publish(PublishPacket(topic: "flood", payload: ByteBuffer(string: "0123456789"), qos: .exactlyOnce, packetId: id)).write(
                to: &buffer,
                version: .v5
            )
            burst += buffer.readableBytesView
        }
        #expect(c.sendReportingError(burst) == nil)
        // A client library keeps writing (PINGREQ here) and gives up on the first failed write:
        // the broker must keep taking bytes while the client reads why it is being closed.
        for _ in 0..<30 {
            #expect(c.sendReportingError([0xC0, 0x00]) == nil, "a write failed while the broker was closing")
            usleep(10_000)
        }
        let reason = try c.receive(timeout: 10) { if case .disconnect(let d) = $0 { d.reasonCode } else { nil } }
        #expect(reason == .receiveMaximumExceeded)
        #expect(c.waitClosed(timeout: 5), "then the broker closes")
        #expect(h.broker.metrics.protocolErrors.load == 1)
        await h.stop()
    }

    @Test(
        """
        max_keepalive with mosquitto_pub 3.1.1: a keepalive over the cap is refused (identifier rejected, as Mosquitto); within it, or with \
        keepalive_cap_v3 accept, it connects
        """
    )
    func keepAliveCapV3() async throws {
        for policy in KeepAliveCapPolicy.allCases {
            let h = try await BrokerHarness.start {
                $0.maxKeepAlive = 60
                $0.keepAliveCapV3 = policy
            }
            let over = try Subprocess.run(["mosquitto_pub", "-p", "\(h.port)", "-k", "120", "-t", "k", "-m", "x"])
            let within = try Subprocess.run(["mosquitto_pub", "-p", "\(h.port)", "-k", "30", "-t", "k", "-m", "x"])
            #expect(within.code == 0)
            if policy == .refuse {
                #expect(over.code != 0 && over.output.lowercased().contains("identifier rejected"), "\(over.output)")
            } else {
                #expect(over.code == 0, "\(over.output)")
            }
            await h.stop()
        }
    }

    @Test("5.0 over TCP: Response Information when requested and configured; validate_utf8_payloads with mosquitto_pub (PUBACK 0x99)")
    func responseInformationAndPayloadFormat() async throws {
        let h = try await BrokerHarness.start {
            $0.responseInformation = "replies/%c"
            $0.validateUTF8Payloads = true
        }
        let c = try TestClient(port: h.port, version: .v5)
        var request = Properties()
        request.requestResponseInformation = 1
        let ack = try c.connect("asker", properties: request)
        #expect(ack.properties.responseInformation == "replies/asker")
        let bad = try temporaryFile("\u{FFFD}", suffix: ".bin")
        try Data([0x66, 0xFF, 0x6F]).write(to: URL(fileURLWithPath: bad))
        defer { unlink(bad) }
        let pub = try Subprocess.run([
            "mosquitto_pub", "-p", "\(h.port)", "-V", "mqttv5", "-d", "-q", "1", "-t", "u", "-f", bad, "-D", "publish", "payload-format-indicator",
            "1",
        ])
        #expect(pub.output.contains("RC:153"), "\(pub.output)")
        #expect(h.broker.metrics.payloadFormatInvalid.load == 1)
        await h.stop()
    }

    @Test(
        """
        server topic aliases on the wire (topic_alias_server): 202 messages on a 60-byte topic take far fewer bytes with aliases; the same payloads \
        arrive
        """
    )
    func serverTopicAliasesOnTheWire() async throws {
        let h = try await BrokerHarness.start { $0.topicAliasServer = true }
        let topic = "factory/hall-3/line-12/station-07/sensor-042/temperature/raw"
        var clients: [TestClient] = []
        for aliases in [false, true] {
            let c = try TestClient(port: h.port, version: .v5)
            var props = Properties()
            if aliases { props.topicAliasMaximum = 10 }
            _ = try c.connect("wire-\(aliases)", properties: props)
            _ = try c.subscribe(topic)
            clients.append(c)
        }
        let before = clients.map(\.bytesRead)
        let publisher = try TestClient(port: h.port, version: .v5)
        _ = try publisher.connect("wire-pub")
        for n in 0..<202 { publisher.publish(topic, "\(n)") }
        var received: [[PublishPacket]] = []
        for c in clients { received.append(try (0..<202).map { _ in try c.receivePublish() }) }
        #expect(received[0].map(\.text) == received[1].map(\.text) && received[0].last?.text == "201")
        #expect(received[0].allSatisfy { $0.topic == topic && $0.properties.topicAlias == nil })
        #expect(received[1].first?.topic == topic && received[1].first?.properties.topicAlias == 1)
        #expect(received[1].dropFirst().allSatisfy { $0.topic.isEmpty && $0.properties.topicAlias == 1 })
        let bytes = zip(clients, before).map { $0.bytesRead - $1 }
        print("topic aliases: 202 messages on a \(topic.utf8.count)-byte topic: \(bytes[0]) bytes without, \(bytes[1]) with aliases")
        #expect(bytes[1] < bytes[0] / 3, "without \(bytes[0]), with \(bytes[1])")
        #expect(h.broker.metrics.topicAliasBytesSaved.load == UInt64(201 * topic.utf8.count))
        await h.stop()
    }

    @Test("a client that reads nothing and stops talking is closed after its keepalive even though the DISCONNECT cannot be written (bounded close)")
    func closeBoundedWhenUnwritable() async throws {
        let h = try await BrokerHarness.start()
        let stuck = try TestClient(port: h.port, version: .v5, receiveBuffer: 4096)
        _ = try stuck.connect("deaf", keepAlive: 1)
        _ = try stuck.subscribe("flood")
        let publisher = try TestClient(port: h.port, version: .v5)
        _ = try publisher.connect("flooder")
        let payload = String(repeating: "f", count: 8192)
        for _ in 0..<400 { publisher.publish("flood", payload) }  // 3 MB the deaf client never reads
        // Keepalive 1 s → closed at 1.5 s; the DISCONNECT stays unwritten, the close may not wait for it.
        try eventually("the deaf client's socket to be closed", timeout: 10) { h.broker.metrics.socketsOpen.load == 1 }
        #expect(h.broker.metrics.keepAliveTimeouts.load == 1)
        await h.stop()
        withExtendedLifetime(stuck) {}
    }

    @Test(
        "UNSUBSCRIBE over TCP: 3.1.1 UNSUBACK has no codes; 5.0 gets 0x00 / 0x11 per filter; delivery stops (a marker shows nothing came before it)",
        arguments: [ProtocolVersion.v3_1_1, .v5]
    )
    func unsubscribeOverTCP(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start()
        let sub = try TestClient(port: h.port, version: version)
        _ = try sub.connect("unsub-\(version.rawValue)")
        _ = try sub.subscribe("u/a")
        _ = try sub.subscribe("u/marker", id: 2)
        sub.send(.unsubscribe(UnsubscribePacket(packetId: 3, topicFilters: ["u/a", "never/held"])))
        let ack = try sub.receive { if case .unsuback(let a) = $0 { a } else { nil } }
        #expect(ack.packetId == 3)
        #expect(ack.reasonCodes == (version == .v5 ? [.success, .noSubscriptionExisted] : []))
        #expect(h.broker.subscriptions(clientId: "unsub-\(version.rawValue)").map(\.subscription.topicFilter) == ["u/marker"])
        let pub = try TestClient(port: h.port)
        _ = try pub.connect("unsub-pub-\(version.rawValue)")
        pub.publish("u/a", "after unsubscribe")
        pub.publish("u/marker", "marker")
        #expect(try sub.receivePublish().text == "marker", "nothing on u/a before the marker")
        await h.stop()
    }
}
