import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

/// The broker against Eclipse Mosquitto's own command-line clients, in all three versions.
@Suite(.timeLimit(.minutes(1)))
struct MosquittoClientTests {
    static let versions: [(String, ProtocolVersion)] = [("mqttv31", .v3_1), ("mqttv311", .v3_1_1), ("mqttv5", .v5)]

    /// Starts `mosquitto_sub` and waits until the broker shows its subscriptions.
    static func subscriber(_ h: BrokerHarness, id: String, version: String, args: [String], subscriptions: Int = 1) throws -> Subprocess {
        let sub = try Subprocess(["mosquitto_sub", "-h", "127.0.0.1", "-p", "\(h.port)", "-V", version, "-i", id] + args)
        try eventually("\(id) subscribed") {
            (h.broker.client(id: id)?.subscriptionsCount ?? 0) >= subscriptions && h.broker.client(id: id)?.connected == true
        }
        return sub
    }

    static func pub(_ h: BrokerHarness, version: String = "mqttv311", _ args: [String]) throws {
        let r = try Subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", "\(h.port)", "-V", version] + args)
        #expect(r.code == 0, "mosquitto_pub failed: \(r.output)")
    }

    @Test("QoS 0, 1 and 2 round trips with mosquitto_pub/sub", arguments: versions, [0, 1, 2])
    func roundTrip(version: (String, ProtocolVersion), qos: Int) async throws {
        let h = try await BrokerHarness.start()
        let id = "sub-\(version.0)-q\(qos)"
        let sub = try Self.subscriber(h, id: id, version: version.0, args: ["-t", "rt/\(id)", "-q", "\(qos)", "-C", "3", "-W", "10"])
        #expect(h.broker.client(id: id)?.info.protocolVersion == version.1)
        for n in 1...3 {
            try Self.pub(h, version: version.0, ["-i", "pub-\(id)", "-t", "rt/\(id)", "-q", "\(qos)", "-m", "message \(n)"])
        }
        #expect(sub.wait(timeout: 10) == 0)
        #expect(sub.lines == ["message 1", "message 2", "message 3"])
        #expect(h.broker.metrics.messagesReceivedByQoS[qos].load == 3)
        await h.stop()
    }

    @Test("retained messages are stored, delivered on subscribe, and cleared by an empty payload")
    func retained() async throws {
        let h = try await BrokerHarness.start()
        try Self.pub(h, ["-t", "status/door", "-m", "open", "-r", "-q", "1"])
        let r1 = try Subprocess.run(["mosquitto_sub", "-p", "\(h.port)", "-t", "status/#", "-v", "-C", "1", "-W", "5"])
        #expect(r1.output == "status/door open\n")
        #expect(h.broker.stats().retained == 1)
        try Self.pub(h, ["-t", "status/door", "-n", "-r"])
        try eventually("retained cleared") { h.broker.stats().retained == 0 }
        await h.stop()
    }

    @Test("a will is published when its client dies, not when it disconnects normally", arguments: versions)
    func will(version: (String, ProtocolVersion)) async throws {
        let h = try await BrokerHarness.start()
        let listener = try Self.subscriber(
            h,
            id: "will-listener-\(version.0)",
            version: "mqttv311",
            args: ["-t", "wills/#", "-v", "-C", "2", "-W", "10"]
        )
        // A normal DISCONNECT: no will.
        try Self.pub(h, version: version.0, ["-i", "polite", "-t", "other", "-m", "x", "--will-topic", "wills/polite", "--will-payload", "bye"])
        // A client killed with SIGKILL: its will goes out.
        let victim = try Subprocess([
            "mosquitto_sub", "-p", "\(h.port)", "-V", version.0, "-i", "victim-\(version.0)", "-t", "nothing",
            "--will-topic", "wills/victim", "--will-payload", "victim died", "--will-qos", "1",
        ])
        try eventually("victim connected") { h.broker.client(id: "victim-\(version.0)")?.subscriptionsCount == 1 }
        victim.signal(SIGKILL)
        victim.wait(timeout: 5)
        try Self.pub(h, ["-t", "wills/end", "-m", "sentinel"])
        #expect(listener.wait(timeout: 10) == 0)
        #expect(listener.lines == ["wills/victim victim died", "wills/end sentinel"])
        await h.stop()
    }

    @Test("a persistent session keeps subscriptions and queues QoS 1 messages while offline", arguments: versions)
    func persistentSession(version: (String, ProtocolVersion)) async throws {
        let h = try await BrokerHarness.start()
        let id = "persist-\(version.0)"
        let expiry = version.1 == .v5 ? ["-x", "300"] : []
        let first = try Self.subscriber(h, id: id, version: version.0, args: ["-c", "-q", "1", "-t", "jobs/\(id)", "-C", "1", "-W", "10"] + expiry)
        try Self.pub(h, ["-t", "jobs/\(id)", "-q", "1", "-m", "while online"])
        #expect(first.wait(timeout: 10) == 0)
        try eventually("\(id) offline") { h.broker.client(id: id)?.connected == false }
        for n in 1...3 { try Self.pub(h, ["-t", "jobs/\(id)", "-q", "1", "-m", "queued \(n)"]) }
        let offline = try #require(h.broker.client(id: id))
        #expect(offline.mqueueLen == 3)
        #expect(offline.subscriptionsCount == 1)
        #expect(offline.info.disconnectedAtMs != nil)
        let second = try Subprocess(
            ["mosquitto_sub", "-p", "\(h.port)", "-V", version.0, "-i", id, "-c", "-q", "1", "-t", "jobs/\(id)", "-C", "3", "-W", "10"] + expiry
        )
        #expect(second.wait(timeout: 10) == 0)
        #expect(second.lines == ["queued 1", "queued 2", "queued 3"])
        await h.stop()
    }

    /// 5.0 only: mosquitto_sub exits on DISCONNECT 0x8E but reconnects after the plain close
    /// that 3.x allows, so two 3.x instances would take each other over forever (as they do
    /// against Mosquitto). 3.x takeover is covered by ProtocolTests with a raw client.
    @Test("a second mosquitto_sub with the same id takes the session over (5.0)")
    func takeover() async throws {
        let h = try await BrokerHarness.start()
        let version = ("mqttv5", ProtocolVersion.v5)
        let id = "twin-\(version.0)"
        let first = try Self.subscriber(h, id: id, version: version.0, args: ["-t", "a"])
        let firstPort = try #require(h.broker.client(id: id)).info.peerPort
        let second = try Subprocess(["mosquitto_sub", "-p", "\(h.port)", "-V", version.0, "-i", id, "-t", "b"])
        try eventually("second connected") { h.broker.client(id: id).map { $0.connected && $0.info.peerPort != firstPort } ?? false }
        #expect(first.wait(timeout: 5) != nil, "the first client was not disconnected")
        #expect(second.wait(timeout: 0.3) == nil, "the second client must stay connected")
        #expect(h.broker.stats().connections == 1)
        second.signal(SIGKILL)
        await h.stop()
    }

    @Test("shared subscriptions deliver each message to one member, round robin")
    func sharedSubscription() async throws {
        let h = try await BrokerHarness.start()
        let a = try Self.subscriber(h, id: "worker-a", version: "mqttv5", args: ["-t", "$share/workers/jobs", "-q", "1", "-C", "5", "-W", "10"])
        let b = try Self.subscriber(h, id: "worker-b", version: "mqttv5", args: ["-t", "$share/workers/jobs", "-q", "1", "-C", "5", "-W", "10"])
        for n in 1...10 { try Self.pub(h, version: "mqttv5", ["-t", "jobs", "-q", "1", "-m", "job \(n)"]) }
        #expect(a.wait(timeout: 10) == 0)
        #expect(b.wait(timeout: 10) == 0)
        #expect(Set(a.lines + b.lines).count == 10)
        #expect(a.lines.count == 5 && b.lines.count == 5)
        // Round robin, not merely five each: both online, so the members take turns and one
        // gets the odd jobs, the other the even ones.
        let parity = { (lines: [String]) in Set(lines.compactMap { Int($0.split(separator: " ").last ?? "") }.map { $0 % 2 }) }
        #expect(parity(a.lines).count == 1 && parity(b.lines).count == 1 && parity(a.lines) != parity(b.lines), "\(a.lines) \(b.lines)")
        await h.stop()
    }

    @Test("$SYS topics are published and not matched by a leading #")
    func sysTopics() async throws {
        let h = try await BrokerHarness.start { $0.sysInterval = 1 }
        let r = try Subprocess.run([
            "mosquitto_sub", "-p", "\(h.port)", "-t", "$SYS/broker/clients/connected", "-t", "$SYS/broker/version", "-v", "-C", "2", "-W", "5",
        ])
        #expect(r.code == 0)
        #expect(r.output.contains("$SYS/broker/version aviary version \(AviaryVersion.current)"))
        #expect(r.output.contains("$SYS/broker/clients/connected "))
        let all = try Subprocess.run(["mosquitto_sub", "-p", "\(h.port)", "-t", "#", "-v", "-W", "2"])
        #expect(all.code == 27, "mosquitto_sub timed out (exit 27) having received nothing: \(all.output)")
        #expect(!all.output.contains("$SYS"))
        await h.stop()
    }
}
