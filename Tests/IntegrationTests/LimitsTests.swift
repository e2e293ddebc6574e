import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// The configurable limits not covered elsewhere (max connections, packet size, CONNECT timeout
/// and the queue are in ProtocolTests): in-flight window, subscriptions per client, topic length
/// and levels. Each is enforced with the reaction the specification has for it, and counted.
@Suite(.timeLimit(.minutes(1)))
struct LimitsTests {
    @Test("max in-flight: a client with a large Receive Maximum still gets at most max_inflight unacknowledged messages")
    func maxInflight() async throws {
        let h = try await BrokerHarness.start { $0.maxInflight = 2 }
        let sub = try TestClient(port: h.port)
        try sub.connect("window")
        _ = try sub.subscribe("w", qos: .atLeastOnce)
        let pub = try TestClient(port: h.port)
        try pub.connect("window-pub")
        for n in 1...5 { pub.publish("w", "m\(n)", qos: .atLeastOnce, id: UInt16(n)) }
        let first = try sub.receivePublish()
        let second = try sub.receivePublish()
        #expect([first.text, second.text] == ["m1", "m2"])
        #expect(sub.isSilent(for: 1.0), "the window is full")
        #expect(h.broker.client(id: "window")?.inflight == 2)
        #expect(h.broker.client(id: "window")?.mqueueLen == 3)
        sub.send(.puback(AckPacket(packetId: first.packetId!)))
        #expect(try sub.receivePublish().text == "m3", "an acknowledgement opens the window by one")
        #expect(sub.isSilent(for: 1.0))
        await h.stop()
    }

    @Test(
        "max subscriptions: further filters get 0x97 (3.1.1: 0x80), replacing one is allowed, refusals are counted",
        arguments: [ProtocolVersion.v5, .v3_1_1]
    )
    func maxSubscriptions(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start { $0.maxSubscriptions = 3 }
        let c = try TestClient(port: h.port, version: version)
        try c.connect("many-subs")
        c.send(
            .subscribe(
                SubscribePacket(packetId: 1, subscriptions: ["a", "b", "c", "d"].map { Subscription(topicFilter: $0, qos: .atLeastOnce) })
            )
        )
        let ack = try c.receive { if case .suback(let a) = $0 { a } else { nil } }
        let refused: ReasonCode = version == .v5 ? .quotaExceeded : .unspecifiedError
        #expect(ack.reasonCodes == [.grantedQoS1, .grantedQoS1, .grantedQoS1, refused])
        #expect(try c.subscribe("b", qos: .exactlyOnce, id: 2) == [.grantedQoS2], "replacing an existing subscription is not a new one")
        #expect(h.broker.metrics.subscriptionsRefused.load == 1)
        #expect(h.broker.client(id: "many-subs")?.subscriptionsCount == 3)
        #expect(h.broker.client(id: "many-subs")?.maxSubscriptions == 3)
        c.publish("a", "still connected")
        #expect(try c.receivePublish().text == "still connected")
        await h.stop()
    }

    @Test("topic limits: a filter over them gets SUBACK 0x8F and the connection stays", arguments: [ProtocolVersion.v5, .v3_1_1])
    func filterLimits(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start {
            $0.maxTopicLength = 32
            $0.maxTopicLevels = 4
        }
        let c = try TestClient(port: h.port, version: version)
        try c.connect("filters")
        let invalid: ReasonCode = version == .v5 ? .topicFilterInvalid : .unspecifiedError
        #expect(try c.subscribe(String(repeating: "x", count: 33)) == [invalid])
        #expect(try c.subscribe("a/b/c/d/e", id: 2) == [invalid])
        #expect(try c.subscribe("a/b/c/#", id: 3) == [.grantedQoS0], "four levels are within the limit")
        #expect(try c.subscribe(String(repeating: "y", count: 32), id: 4) == [.grantedQoS0], "32 bytes are within the limit")
        #expect(h.broker.metrics.subscriptionsRefused.load == 2)
        #expect(h.broker.metrics.protocolErrors.load == 0)
        await h.stop()
    }

    @Test(
        "topic limits: a PUBLISH over them closes the connection (5.0: DISCONNECT 0x90), a will over them is refused (CONNACK 0x90)",
        arguments: [ProtocolVersion.v5, .v3_1_1]
    )
    func publishLimits(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start {
            $0.maxTopicLength = 32
            $0.maxTopicLevels = 4
        }
        let bystander = try TestClient(port: h.port)
        try bystander.connect("bystander")
        _ = try bystander.subscribe("#")
        for topic in [String(repeating: "x", count: 33), "a/b/c/d/e"] {
            let c = try TestClient(port: h.port, version: version)
            try c.connect("deep")
            c.publish(topic, "never routed")
            if version == .v5 {
                let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
                #expect(d.reasonCode == .topicNameInvalid)
                #expect(d.properties.reasonString?.contains(topic.count > 32 ? "longer than the limit of 32" : "more than 4 levels") == true)
            }
            #expect(c.waitClosed())
        }
        #expect(h.broker.metrics.protocolErrors.load == 2)
        let willful = try TestClient(port: h.port, version: version)
        willful.send(
            .connect(ConnectPacket(version: version, clientId: "deep-will", will: Will(topic: "a/b/c/d/e", payload: ByteBuffer(string: "x"))))
        )
        if version == .v5 {
            let ack = try willful.receive { if case .connack(let a) = $0 { a } else { nil } }
            #expect(ack.reasonCode == .topicNameInvalid)
        }
        #expect(willful.waitClosed())
        #expect(h.broker.client(id: "deep-will") == nil)
        #expect(bystander.isSilent(for: 1.0), "nothing over the limits was routed")
        await h.stop()
    }
}
