import Logging
import MQTTCodec
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import Broker

/// The connection handler on an `EmbeddedChannel`: bytes in, exact packets out, counters, and
/// time moved by hand (`advanceTime`), so timeouts take no wall-clock time.
struct ConnectionHandlerTests {
    /// One connection to a broker core that has no listener.
    final class Connection {
        let core: BrokerCore
        let channel: EmbeddedChannel
        var decoder = MQTTPacketDecoder(version: .v5)

        convenience init(_ configure: (inout BrokerConfiguration) -> Void = { _ in }) throws {
            var configuration = BrokerConfiguration()
            configure(&configuration)
            try self.init(core: BrokerCore(configuration: configuration, security: .open, logger: Logger(label: "test")))
        }

        /// Another connection to the same broker core, on its own loop or on `loop`.
        init(core: BrokerCore, loop: EmbeddedEventLoop = EmbeddedEventLoop()) throws {
            self.core = core
            self.channel = EmbeddedChannel(loop: loop)
            let handler = MQTTConnectionHandler(core: core, logger: Logger(label: "test"), now: channel.embeddedEventLoop.now)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        }

        func send(_ packet: MQTTPacket, _ version: ProtocolVersion = .v5) throws {
            var buffer = ByteBuffer()
            packet.write(to: &buffer, version: version)
            try channel.writeInbound(buffer)
        }

        func send(bytes: [UInt8]) throws {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Every packet written so far, decoded in `version`.
        func received(_ version: ProtocolVersion = .v5) throws -> [MQTTPacket] {
            decoder.version = version
            var packets: [MQTTPacket] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                while let packet = try decoder.decode(buffer: &buffer) { packets.append(packet) }
            }
            return packets
        }

        func connect(_ clientId: String = "c", _ version: ProtocolVersion = .v5, keepAlive: UInt16 = 60) throws -> ConnAckPacket? {
            try send(.connect(ConnectPacket(version: version, clientId: clientId, keepAlive: keepAlive)), version)
            guard case .connack(let ack) = try received(version).first else { return nil }
            return ack
        }
    }

    @Test("[MQTT-3.1.2-24] keepalive 2 s: open at 2.75 s of silence, DISCONNECT 0x8D and closed by 3.25 s — in simulated time")
    func keepAliveTimeout() throws {
        let c = try Connection()
        #expect(try c.connect(keepAlive: 2)?.reasonCode == .success)
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(2_750))
        #expect(c.channel.isActive)
        #expect(try c.received().isEmpty)
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        let packets = try c.received()
        guard case .disconnect(let disconnect) = packets.first else {
            Issue.record("expected DISCONNECT, got \(packets)")
            return
        }
        #expect(disconnect.reasonCode == .keepAliveTimeout)
        #expect(!c.channel.isActive)
        #expect(c.core.metrics.keepAliveTimeouts.load == 1)
    }

    @Test("a PINGREQ restarts the keepalive; PINGRESP is two bytes and every counter moves")
    func pingKeepsAlive() throws {
        let c = try Connection()
        _ = try c.connect(keepAlive: 2)
        for _ in 0..<4 {
            c.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
            try c.send(bytes: [0xC0, 0x00])
            #expect(try c.channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xD0, 0x00]))
        }
        #expect(c.channel.isActive, "8 s with a ping every 2 s")
        let row = c.core.registry.row(clientId: "c")
        #expect(row?.recvPkt == 5 && row?.sendPkt == 5)
        #expect(row?.recvOct == UInt64(ConnectPacket(version: .v5, clientId: "c").encodedSizeForTest + 8))
    }

    @Test("no CONNECT within connect_timeout: closed without a word, at the timeout and not before")
    func connectTimeout() throws {
        let c = try Connection { $0.connectTimeout = 3 }
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(2_750))
        #expect(c.channel.isActive)
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        #expect(!c.channel.isActive)
        #expect(try c.received().isEmpty)
        #expect(c.core.metrics.connectTimeouts.load == 1)
    }

    @Test("[MQTT-3.1.2-3] a 5.0 CONNECT with the reserved flag: CONNACK 0x81 with a reason string, closed, counted")
    func malformedConnect() throws {
        let c = try Connection()
        try c.send(bytes: [0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x05, 0x01, 0x00, 0x3C, 0x00, 0x00, 0x00])
        let packets = try c.received()
        guard case .connack(let ack) = packets.first else {
            Issue.record("expected CONNACK, got \(packets)")
            return
        }
        #expect(ack.reasonCode == .malformedPacket && ack.properties.reasonString == "CONNECT reserved flag set")
        #expect(!c.channel.isActive)
        #expect(c.core.metrics.protocolErrors.load == 1)
    }

    @Test("[MQTT-3.1.0-1] a first packet that is not CONNECT closes the connection silently")
    func firstPacketNotConnect() throws {
        let c = try Connection()
        try c.send(bytes: [0xC0, 0x00])
        #expect(try c.received().isEmpty)
        #expect(!c.channel.isActive)
        #expect(c.core.metrics.protocolErrors.load == 1)
    }

    @Test("[MQTT-3.1.0-2] a second CONNECT: 5.0 DISCONNECT 0x82, closed; 3.1.1 just closed")
    func secondConnect() throws {
        for version in [ProtocolVersion.v5, .v3_1_1] {
            let c = try Connection()
            _ = try c.connect("c", version)
            try c.send(.connect(ConnectPacket(version: version, clientId: "c")), version)
            let packets = try c.received(version)
            if version == .v5 {
                #expect(packets == [.disconnect(DisconnectPacket(reasonCode: .protocolError, properties: Self.reason("second CONNECT")))])
            } else {
                #expect(packets.isEmpty)
            }
            #expect(!c.channel.isActive)
        }
    }

    @Test("a packet split across reads is decoded once whole; two packets in one read are both answered")
    func partialInput() throws {
        let c = try Connection()
        _ = try c.connect()
        try c.send(bytes: [0xC0])
        #expect(try c.received().isEmpty)
        try c.send(bytes: [0x00, 0xC0, 0x00])
        #expect(try c.received() == [.pingresp, .pingresp])
    }

    @Test("a kick reaches the connection as DISCONNECT 0x98 with its reason string, and it closes")
    func kick() throws {
        let c = try Connection()
        _ = try c.connect()
        let kicked = c.core.withState { $0.kick("c", now: .now()) }
        #expect(kicked)
        c.channel.embeddedEventLoop.run()
        #expect(try c.received() == [.disconnect(MQTTConnectionHandler.disconnect(.administrativeAction))])
        #expect(!c.channel.isActive)
    }

    @Test("[MQTT-4.9] receive_maximum: one QoS 2 PUBLISH too many awaiting PUBREL gets DISCONNECT 0x93")
    func receiveMaximumQoS2() throws {
        let c = try Connection { $0.receiveMaximum = 2 }
        _ = try c.connect()
        for id: UInt16 in 1...2 {
            try c.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetId: id)))
        }
        #expect(try c.received().count == 2, "two PUBRECs")
        try c.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetId: 3)))
        guard case .disconnect(let d) = try c.received().first else {
            Issue.record("no DISCONNECT")
            return
        }
        #expect(d.reasonCode == .receiveMaximumExceeded && !c.channel.isActive)
    }

    @Test("[MQTT-3.1.2-25] a message larger than the client's Maximum Packet Size is dropped for it and counted")
    func clientMaximumPacketSize() throws {
        let subscriber = try Connection()
        var props = Properties()
        props.maximumPacketSize = 64
        try subscriber.send(.connect(ConnectPacket(version: .v5, clientId: "small", properties: props)))
        try subscriber.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "t", qos: .atMostOnce)])))
        _ = try subscriber.received()
        let publisher = try Connection(core: subscriber.core)
        _ = try publisher.connect("pub")
        try publisher.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(repeating: 0x61, count: 100), qos: .atMostOnce)))
        try publisher.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "fits"), qos: .atMostOnce)))
        subscriber.channel.embeddedEventLoop.run()
        let got = try subscriber.received().compactMap { if case .publish(let p) = $0 { String(buffer: p.payload) } else { nil } }
        #expect(got == ["fits"])
        #expect(subscriber.core.registry.row(clientId: "small")?.mqueueDropped == 1)
        #expect(subscriber.core.metrics.messagesDropped.load == 1)
    }

    @Test(
        "wills: DISCONNECT 0x04 publishes it, a normal DISCONNECT does not, a protocol error does",
        arguments: [
            (DisconnectPacket(reasonCode: .disconnectWithWillMessage), true),
            (DisconnectPacket(reasonCode: .normalDisconnection), false),
        ]
    )
    func willsOnDisconnect(disconnect: DisconnectPacket, published: Bool) throws {
        let watcher = try Connection()
        _ = try watcher.connect("watcher")
        try watcher.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "wills/#", qos: .atMostOnce)])))
        _ = try watcher.received()
        let client = try Connection(core: watcher.core)
        try client.send(.connect(ConnectPacket(version: .v5, clientId: "w", will: Will(topic: "wills/w", payload: ByteBuffer(string: "gone")))))
        _ = try client.received()
        try client.send(.disconnect(disconnect))
        watcher.channel.embeddedEventLoop.run()
        let wills = try watcher.received().compactMap { if case .publish(let p) = $0 { p.topic } else { nil } }
        #expect(wills == (published ? ["wills/w"] : []))
    }

    @Test("a will goes out when the connection ends on a protocol error")
    func willOnProtocolError() throws {
        let watcher = try Connection()
        _ = try watcher.connect("watcher")
        try watcher.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "wills/#", qos: .atMostOnce)])))
        _ = try watcher.received()
        let client = try Connection(core: watcher.core)
        try client.send(.connect(ConnectPacket(version: .v5, clientId: "bad", will: Will(topic: "wills/bad", payload: ByteBuffer(string: "x")))))
        _ = try client.received()
        try client.send(bytes: [0x00, 0x00])  // reserved packet type 0
        #expect(!client.channel.isActive)
        watcher.channel.embeddedEventLoop.run()
        let wills = try watcher.received().compactMap { if case .publish(let p) = $0 { p.topic } else { nil } }
        #expect(wills == ["wills/bad"])
    }

    @Test("UNSUBSCRIBE: 0x00 for a filter held, 0x11 for one not held (5.0), shared filters too; delivery stops")
    func unsubscribe() throws {
        let c = try Connection()
        _ = try c.connect()
        try c.send(
            .subscribe(
                SubscribePacket(
                    packetId: 1,
                    subscriptions: [
                        Subscription(topicFilter: "a/+", qos: .atMostOnce), Subscription(topicFilter: "$share/g/b", qos: .atMostOnce),
                    ]
                )
            )
        )
        _ = try c.received()
        try c.send(.unsubscribe(UnsubscribePacket(packetId: 2, topicFilters: ["a/+", "$share/g/b", "never"])))
        #expect(try c.received() == [.unsuback(SubAckPacket(packetId: 2, reasonCodes: [.success, .success, .noSubscriptionExisted]))])
        let publisher = try Connection(core: c.core)
        _ = try publisher.connect("pub")
        try publisher.send(.publish(PublishPacket(topic: "a/x", payload: ByteBuffer(string: "late"), qos: .atMostOnce)))
        try publisher.send(.publish(PublishPacket(topic: "b", payload: ByteBuffer(string: "late"), qos: .atMostOnce)))
        c.channel.embeddedEventLoop.run()
        #expect(try c.received().isEmpty, "nothing after UNSUBACK")
        let stats = c.core.withState { $0.stats() }
        #expect(stats.subscriptions == 0 && stats.topics == 0)
    }

    @Test("same event loop: the subscriber's PUBLISH is written when the publisher's read ends, with no task run; another loop needs its task")
    func sameLoopDelivery() throws {
        let loop = EmbeddedEventLoop()
        let subscriber = try Connection(
            core: BrokerCore(configuration: BrokerConfiguration(), security: .open, logger: Logger(label: "test")),
            loop: loop
        )
        _ = try subscriber.connect("sub")
        try subscriber.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "t", qos: .atLeastOnce)])))
        _ = try subscriber.received()
        let sameLoop = try Connection(core: subscriber.core, loop: loop)
        _ = try sameLoop.connect("same")
        try sameLoop.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "one"), qos: .atLeastOnce, packetId: 7)))
        #expect(try sameLoop.received() == [.puback(AckPacket(packetId: 7, reasonCode: .success))])
        let first = try subscriber.received()
        guard case .publish(let one) = first.first, first.count == 1 else {
            Issue.record("expected the PUBLISH without running the loop, got \(first)")
            return
        }
        #expect(one.payload == ByteBuffer(string: "one") && one.qos == .atLeastOnce)

        let otherLoop = try Connection(core: subscriber.core)
        _ = try otherLoop.connect("other")
        try otherLoop.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "two"), qos: .atLeastOnce, packetId: 8)))
        #expect(try subscriber.received().isEmpty, "from another loop the delivery waits for the subscriber loop's task")
        loop.run()
        guard case .publish(let two) = try subscriber.received().first else {
            Issue.record("expected the second PUBLISH once the loop ran")
            return
        }
        #expect(two.payload == ByteBuffer(string: "two"))
    }

    @Test("flow control: a held-back publisher's PUBACKs wait, in order, until the subscriber's own PUBACKs bring its queue to the low-water mark")
    func heldAcknowledgements() throws {
        var configuration = BrokerConfiguration()
        configuration.maxInflight = 2
        configuration.queueHighWater = 5
        configuration.queueLowWater = 2
        let loop = EmbeddedEventLoop()
        let subscriber = try Connection(core: BrokerCore(configuration: configuration, security: .open, logger: Logger(label: "test")), loop: loop)
        _ = try subscriber.connect("sub")
        try subscriber.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "t", qos: .atLeastOnce)])))
        _ = try subscriber.received()
        let publisher = try Connection(core: subscriber.core, loop: loop)
        _ = try publisher.connect("pub")
        // 2 in flight + 5 queued reach the mark; the 8th and 9th are queued over it.
        for id in UInt16(1)...9 {
            try publisher.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "\(id)"), qos: .atLeastOnce, packetId: id)))
        }
        #expect(try publisher.received() == (1...7).map { .puback(AckPacket(packetId: $0, reasonCode: .success)) })
        let row = subscriber.core.registry.row(clientId: "pub")
        #expect(row?.heldBy == 1 && row?.heldAcks == 2)
        #expect(subscriber.core.registry.row(clientId: "sub")?.holdingPublishers == 1)
        var pending = try subscriber.received().compactMap { if case .publish(let p) = $0 { p.packetId } else { nil } }
        var acked = 0
        while acked < 5, !pending.isEmpty {
            #expect(try publisher.received().isEmpty, "still held after \(acked) acknowledgements")
            try subscriber.send(.puback(AckPacket(packetId: pending.removeFirst())))
            acked += 1
            pending += try subscriber.received().compactMap { if case .publish(let p) = $0 { p.packetId } else { nil } }
        }
        #expect(
            try publisher.received() == [
                .puback(AckPacket(packetId: 8, reasonCode: .success)), .puback(AckPacket(packetId: 9, reasonCode: .success)),
            ]
        )
        #expect(subscriber.core.registry.row(clientId: "pub")?.heldAcks == 0)
        try publisher.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "10"), qos: .atLeastOnce, packetId: 10)))
        #expect(try publisher.received() == [.puback(AckPacket(packetId: 10, reasonCode: .success))], "no longer held")
    }

    @Test("validate_utf8_payloads: a PUBLISH marked UTF-8 that is not gets PUBACK/PUBREC 0x99 and is not routed; at QoS 0 DISCONNECT 0x99; counted")
    func payloadFormat() throws {
        let loop = EmbeddedEventLoop()
        let subscriber = try Connection(
            core: BrokerCore(
                configuration: {
                    var c = BrokerConfiguration()
                    c.validateUTF8Payloads = true
                    return c
                }(),
                security: .open,
                logger: Logger(label: "test")
            ),
            loop: loop
        )
        _ = try subscriber.connect("sub")
        try subscriber.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "t", qos: .atLeastOnce)])))
        _ = try subscriber.received()
        let publisher = try Connection(core: subscriber.core, loop: loop)
        _ = try publisher.connect("pub")
        var marked = Properties()
        marked.payloadFormatIndicator = 1
        let invalid = ByteBuffer(bytes: [0x66, 0xFF, 0x6F])
        try publisher.send(.publish(PublishPacket(topic: "t", payload: invalid, qos: .atLeastOnce, packetId: 1, properties: marked)))
        try publisher.send(.publish(PublishPacket(topic: "t", payload: invalid, qos: .exactlyOnce, packetId: 2, properties: marked)))
        try publisher.send(
            .publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "ünïcode"), qos: .atLeastOnce, packetId: 3, properties: marked))
        )
        try publisher.send(.publish(PublishPacket(topic: "t", payload: invalid, qos: .atLeastOnce, packetId: 4)))  // not marked: not checked
        #expect(
            try publisher.received() == [
                .puback(AckPacket(packetId: 1, reasonCode: .payloadFormatInvalid)),
                .pubrec(AckPacket(packetId: 2, reasonCode: .payloadFormatInvalid)),
                .puback(AckPacket(packetId: 3, reasonCode: .success)),
                .puback(AckPacket(packetId: 4, reasonCode: .success)),
            ]
        )
        let delivered = try subscriber.received().compactMap { if case .publish(let p) = $0 { p.payload } else { nil } }
        #expect(delivered == [ByteBuffer(string: "ünïcode"), invalid])
        try publisher.send(.publish(PublishPacket(topic: "t", payload: invalid, qos: .atMostOnce, properties: marked)))
        guard case .disconnect(let d) = try publisher.received().first else {
            Issue.record("expected DISCONNECT")
            return
        }
        #expect(d.reasonCode == .payloadFormatInvalid)
        #expect(subscriber.core.metrics.payloadFormatInvalid.load == 3)
    }

    @Test(
        """
        server topic aliases: a 5.0 subscriber with Topic Alias Maximum 2 gets topic + alias once, then the alias alone; one without gets topics; \
        topic_alias_server off gives none
        """
    )
    func serverTopicAliases() throws {
        for enabled in [true, false] {
            let core = BrokerCore(
                configuration: {
                    var c = BrokerConfiguration()
                    c.topicAliasServer = enabled
                    return c
                }(),
                security: .open,
                logger: Logger(label: "test")
            )
            let aliased = try Connection(core: core)
            var accepts = Properties()
            accepts.topicAliasMaximum = 2
            try aliased.send(.connect(ConnectPacket(version: .v5, clientId: "aliased", properties: accepts)))
            let plain = try Connection(core: core)
            _ = try plain.connect("plain")
            for c in [aliased, plain] {
                try c.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: "a/#", qos: .atMostOnce)])))
                _ = try c.received()
            }
            let publisher = try Connection(core: core)
            _ = try publisher.connect("pub")
            let topics = ["a/long/topic/name", "a/long/topic/name", "a/b", "a/long/topic/name"]
            for topic in topics { try publisher.send(.publish(PublishPacket(topic: topic, payload: ByteBuffer(string: "x"), qos: .atMostOnce))) }
            aliased.channel.embeddedEventLoop.run()
            plain.channel.embeddedEventLoop.run()
            let got = try aliased.received().compactMap { if case .publish(let p) = $0 { (p.topic, p.properties.topicAlias) } else { nil } }
            if enabled {
                #expect(got.map(\.0) == ["a/long/topic/name", "", "a/b", ""])
                #expect(got.map(\.1) == [1, 1, 2, 1])
                #expect(core.metrics.topicAliasBytesSaved.load == 2 * UInt64("a/long/topic/name".utf8.count))
                #expect(core.metrics.topicAliasBytesSpent.load == 4 * 3)
            } else {
                #expect(got.map(\.0) == topics && got.allSatisfy { $0.1 == nil })
            }
            let plainGot = try plain.received().compactMap { if case .publish(let p) = $0 { (p.topic, p.properties.topicAlias) } else { nil } }
            #expect(plainGot.map(\.0) == topics && plainGot.allSatisfy { $0.1 == nil })
        }
    }

    static func reason(_ text: String) -> Properties {
        var props = Properties()
        props.reasonString = text
        return props
    }
}

extension ConnectPacket {
    var encodedSizeForTest: Int { MQTTPacket.connect(self).encodedSize(version: version) }
}
