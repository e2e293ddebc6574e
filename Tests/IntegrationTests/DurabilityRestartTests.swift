import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// `persistence on` across a broker stop and start on the same directory, in process, with a raw
/// client: every kind of state the durable store keeps comes back as it was.
@Suite(.serialized)
struct DurabilityRestartTests {
    static func durable(_ dir: String) -> (inout BrokerConfiguration) -> Void {
        { configuration in
            configuration.persistence = true
            configuration.persistenceDir = dir
        }
    }

    static func sessionProperties(expiry: UInt32) -> Properties {
        var properties = Properties()
        properties.sessionExpiryInterval = expiry
        return properties
    }

    @Test(
        """
        a restart keeps a session's subscription options and identifier, its in-flight message (resent with DUP under its packet id), its queue in \
        order, an incoming QoS 2 id awaiting PUBREL, and retained messages
        """
    )
    func restartKeepsState() async throws {
        let dir = NSTemporaryDirectory() + "aviary-restart-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await BrokerHarness.start(Self.durable(dir))
        let keeper = try TestClient(port: first.port)
        try keeper.connect("keeper", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        var subscribeProperties = Properties()
        subscribeProperties.subscriptionIdentifiers = [42]
        let granted = try keeper.subscribe("k/#", qos: .exactlyOnce, options: { $0.retainAsPublished = true }, properties: subscribeProperties)
        #expect(granted == [.grantedQoS2])
        let publisher = try TestClient(port: first.port)
        try publisher.connect("pub")
        publisher.publish("k/1", "one", qos: .atLeastOnce, id: 1)
        _ = try publisher.receive { if case .puback = $0 { true } else { nil } }
        let inflight = try keeper.receivePublish()  // not acknowledged: in flight when the broker stops
        #expect(inflight.text == "one")
        keeper.disconnect()
        try eventually("keeper offline") { first.broker.client(id: "keeper")?.connected == false }
        publisher.publish("k/2", "two", qos: .exactlyOnce, id: 2)
        _ = try publisher.receive { if case .pubrec = $0 { true } else { nil } }
        publisher.publish("k/3", "three", qos: .atLeastOnce, id: 3, retain: true)
        _ = try publisher.receive { if case .puback = $0 { true } else { nil } }
        let exactlyOnce = try TestClient(port: first.port)
        try exactlyOnce.connect("q2", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        exactlyOnce.publish("other/t", "once", qos: .exactlyOnce, id: 7)
        _ = try exactlyOnce.receive { if case .pubrec = $0 { true } else { nil } }
        await first.stop()

        let second = try await BrokerHarness.start(Self.durable(dir))
        defer { Task { await second.stop() } }
        #expect(second.broker.client(id: "keeper")?.connected == false, "restored sessions are listed, offline")
        #expect(second.broker.client(id: "keeper")?.mqueueLen == 2, "with their queues")
        let back = try TestClient(port: second.port)
        let ack = try back.connect("keeper", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        #expect(ack.sessionPresent)
        let resent = try back.receivePublish()
        #expect(resent.text == "one" && resent.dup && resent.packetId == inflight.packetId, "\(resent)")
        let two = try back.receivePublish()
        let three = try back.receivePublish()
        #expect(two.text == "two" && two.qos == .exactlyOnce)
        #expect(three.text == "three" && three.retain, "Retain As Published survived")
        #expect(two.properties.subscriptionIdentifiers == [42] && three.properties.subscriptionIdentifiers == [42])
        // The incoming QoS 2 id still awaits its PUBREL: repeated, the PUBLISH is not routed again.
        let again = try TestClient(port: second.port)
        try again.connect("q2", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        again.send(.pubrel(AckPacket(packetId: 7)))
        let complete = try again.receive { if case .pubcomp(let a) = $0 { a } else { nil } }
        #expect(complete.reasonCode == .success, "packet id 7 was known: \(complete)")
        let reader = try TestClient(port: second.port)
        try reader.connect("reader")
        try reader.subscribe("k/#", qos: .atLeastOnce)
        let retained = try reader.receivePublish()
        #expect(retained.text == "three" && retained.retain)
    }

    @Test("session expiry and a delayed will count the time the broker was down: expired sessions are gone after the restart, the will goes out once")
    func downtimeCounts() async throws {
        let dir = NSTemporaryDirectory() + "aviary-downtime-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await BrokerHarness.start(Self.durable(dir))
        let listener = try TestClient(port: first.port)
        try listener.connect("listener", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        try listener.subscribe("w/#", qos: .atLeastOnce)
        listener.disconnect()
        let shortLived = try TestClient(port: first.port)
        try shortLived.connect("short-lived", cleanStart: false, properties: Self.sessionProperties(expiry: 1))
        shortLived.disconnect()
        var willProperties = Properties()
        willProperties.willDelayInterval = 3
        let willer = try TestClient(port: first.port)
        try willer.connect(
            "willer",
            cleanStart: false,
            will: Will(topic: "w/gone", payload: ByteBuffer(string: "willer is gone"), qos: .atLeastOnce, properties: willProperties),
            properties: Self.sessionProperties(expiry: 60)
        )
        let dropped = Date()
        willer.drop()
        try eventually("willer offline") { first.broker.client(id: "willer")?.connected == false }
        await first.stop()
        // Down past both the 1 s expiry and the 3 s will delay.
        let wait = 3.5 - Date().timeIntervalSince(dropped)
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }

        let second = try await BrokerHarness.start(Self.durable(dir))
        defer { Task { await second.stop() } }
        try eventually("the expired session to go", timeout: 5) { second.broker.client(id: "short-lived") == nil }
        #expect(second.broker.client(id: "listener") != nil)
        try eventually("the delayed will to be queued for the listener", timeout: 5) { second.broker.client(id: "listener")?.mqueueLen == 1 }
        let back = try TestClient(port: second.port)
        try back.connect("listener", cleanStart: false, properties: Self.sessionProperties(expiry: 3600))
        let will = try back.receivePublish()
        #expect(will.topic == "w/gone" && will.text == "willer is gone")
        #expect(back.isSilent(for: 0.5), "once")
    }
}
