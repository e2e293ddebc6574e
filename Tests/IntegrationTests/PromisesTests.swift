import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// What the README promises and no other test exercised over TCP (issue 20): session expiry on
/// a running broker, Server Keep Alive on the wire, every `$SYS` topic, the subscription
/// listing's filters and paging.
@Suite(.timeLimit(.minutes(2)))
struct PromisesTests {
    @Test(
        """
        session expiry on a running broker: kept while it lasts, gone after it; lowered at DISCONNECT; capped by max_session_expiry; a 3.1.1 \
        persistent session stays
        """
    )
    func sessionExpiry() async throws {
        let h = try await BrokerHarness.start { $0.maxSessionExpiry = 2 }
        func offline(_ id: String, version: ProtocolVersion = .v5, expiry: UInt32?, atDisconnect: UInt32? = nil) throws -> ConnAckPacket {
            let c = try TestClient(port: h.port, version: version)
            var props = Properties()
            props.sessionExpiryInterval = expiry
            let ack = try c.connect(id, cleanStart: version == .v5, properties: version == .v5 ? props : .none)
            _ = try c.subscribe("keep/\(id)", qos: .atLeastOnce)
            var disconnect = Properties()
            disconnect.sessionExpiryInterval = atDisconnect
            c.send(.disconnect(DisconnectPacket(reasonCode: .normalDisconnection, properties: disconnect)))
            try eventually("\(id) offline") { h.broker.client(id: id)?.connected == false }
            return ack
        }
        let started = Date()
        let capped = try offline("asks-an-hour", expiry: 3600)
        #expect(capped.properties.sessionExpiryInterval == 2, "the CONNACK says the cap")
        _ = try offline("lowered", expiry: 2, atDisconnect: 1)
        _ = try offline("old-style", version: .v3_1_1, expiry: nil)
        // Within the interval the sessions are listed, offline, with their subscriptions.
        #expect(h.broker.client(id: "asks-an-hour") != nil && h.broker.subscriptions(clientId: "asks-an-hour").count == 1)
        try eventually("the lowered session to end", timeout: 10) { h.broker.client(id: "lowered") == nil }
        try eventually("the capped session to end", timeout: 10) { h.broker.client(id: "asks-an-hour") == nil }
        #expect(Date().timeIntervalSince(started) >= 1.9, "not before its 2 s")
        #expect(h.broker.subscriptions(clientId: "asks-an-hour").isEmpty)
        // 3.1.1 without clean session: "never expires", but max_session_expiry caps that too.
        try eventually("the 3.1.1 session, capped at 2 s, to end", timeout: 10) { h.broker.client(id: "old-style") == nil }
        await h.stop()

        let uncapped = try await BrokerHarness.start()
        let c = try TestClient(port: uncapped.port, version: .v3_1_1)
        _ = try c.connect("forever", cleanStart: false)
        c.disconnect()
        try eventually("offline") { uncapped.broker.client(id: "forever")?.connected == false }
        try await Task.sleep(for: .seconds(3))  // the behaviour is about time: it must still be there
        #expect(uncapped.broker.client(id: "forever")?.expiryInterval == UInt32.max)
        await uncapped.stop()
    }

    @Test("max_keepalive on the wire: a 5.0 client asking for more gets Server Keep Alive in its CONNACK and is held to it")
    func serverKeepAlive() async throws {
        let h = try await BrokerHarness.start { $0.maxKeepAlive = 2 }
        let c = try TestClient(port: h.port, version: .v5)
        let ack = try c.connect("ka", keepAlive: 600)
        #expect(ack.properties.serverKeepAlive == 2)
        #expect(h.broker.client(id: "ka")?.info.keepAlive == 2)
        // Silent past 1.5 × 2 s: DISCONNECT 0x8D (within a generous bound; not before 3 s).
        let started = Date()
        let d = try c.receive(timeout: 10) { if case .disconnect(let d) = $0 { d } else { nil } }
        #expect(d.reasonCode == .keepAliveTimeout)
        #expect(Date().timeIntervalSince(started) >= 2.9)
        await h.stop()
    }

    @Test("every $SYS topic the metric catalogue names is published (retained), and nothing else under $SYS/broker")
    func everySysTopic() async throws {
        let h = try await BrokerHarness.start { $0.sysInterval = 1 }
        let expected = Set(["$SYS/broker/version"] + h.broker.metricCatalogue().compactMap { $0.sys.map { "$SYS/broker/" + $0 } })
        try eventually("the first publication", timeout: 10) { h.broker.stats().retained >= expected.count }
        // One topic per line (some have spaces: "$SYS/broker/retained messages/count").
        let sub = try Subprocess.run(["mosquitto_sub", "-p", "\(h.port)", "-t", "$SYS/#", "-F", "%t", "--retained-only", "-W", "3"])
        let topics = Set(sub.output.split(separator: "\n").map(String.init))
        #expect(topics == expected, "missing \(expected.subtracting(topics).sorted()), extra \(topics.subtracting(expected).sorted())")
        #expect(expected.count >= 15)
        await h.stop()
    }

    @Test("/api/v4/subscriptions filters: clientid, topic, qos, share, _match_topic, and paging with meta")
    func subscriptionFilters() async throws {
        let h = try await APIHarness.start()
        var clients: [TestClient] = []
        for (id, filters) in [("a", ["s/1", "s/+", "$share/g/s/2"]), ("b", ["s/#", "other"]), ("c", ["$share/g/s/2", "$share/h/x"])] {
            let c = try TestClient(port: h.mqtt.port, version: .v5)
            _ = try c.connect(id)
            for (i, f) in filters.enumerated() { _ = try c.subscribe(f, qos: QoS(rawValue: UInt8(i % 3))!, id: UInt16(i + 1)) }
            clients.append(c)
        }
        func rows(_ query: String) async throws -> [String] {
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/subscriptions?\(query)")
            #expect(r.status == 200, "\(query): \(r.status)")
            return r.data.map { "\($0["clientid"] as? String ?? "?") \($0["topic"] as? String ?? "?")" }
        }
        #expect(try await rows("clientid=a") == ["a $share/g/s/2", "a s/+", "a s/1"])
        #expect(try await rows("topic=$share/g/s/2") == ["a $share/g/s/2", "c $share/g/s/2"])
        #expect(try await rows("qos=1") == ["a s/+", "b other", "c $share/h/x"])
        #expect(try await rows("share=g") == ["a $share/g/s/2", "c $share/g/s/2"])
        #expect(try await rows("_match_topic=s/2") == ["a $share/g/s/2", "a s/+", "b s/#", "c $share/g/s/2"])
        #expect(try await rows("_match_topic=s/1&clientid=a") == ["a s/+", "a s/1"])
        let all = try await rows("_limit=100")
        #expect(all.count == 7)
        let page2 = try await HTTP.request("GET", "\(h.base)/api/v4/subscriptions?_limit=3&_page=2")
        #expect(page2.data.map { "\($0["clientid"] as? String ?? "") \($0["topic"] as? String ?? "")" } == Array(all[3..<6]))
        let meta = page2.json["meta"] as? [String: Any]
        #expect((meta?["count"] as? NSNumber)?.intValue == 7 && (meta?["page"] as? NSNumber)?.intValue == 2 && meta?["hasnext"] as? Bool == true)
        let bad = try await HTTP.request("GET", "\(h.base)/api/v4/subscriptions?qos=3")
        #expect(bad.status == 400 && bad.code != nil)
        withExtendedLifetime(clients) {}
        await h.stop()
    }
}
