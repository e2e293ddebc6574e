import Foundation
import TestSupport
import Testing

/// Bridges of the real binary to a real Mosquitto (and to another aviary) started on
/// 127.0.0.1 by `Scripts/bridges.py`, with paho-mqtt clients on both sides.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct BridgeTests {
    static let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/bridges.py").path
    static let hasMosquitto = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto")

    static func run(_ scenario: String, certificates: String? = nil) async throws -> [String: Any] {
        let python = try #require(Tools.python, "paho-mqtt is installed")
        let r = try await Subprocess.runAsync([python, script, Tools.aviary, scenario] + (certificates.map { [$0] } ?? []), timeout: 150)
        #expect(r.code == 0, "\(r.output)")
        let line = try #require(r.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(r.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test(
        """
        out, in and both at QoS 0, 1 and 2 over MQTT 3.1.1 and 5.0, with prefixes: every message through, in order, at its QoS; the bridge is a row \
        with is_bridge and its state; /metrics counts it
        """,
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func directions() async throws {
        let r = try await Self.run("directions")
        for version in ["mqttv311", "mqttv50"] {
            for qos in 0...2 {
                for direction in ["out", "in"] {
                    #expect(r["\(version) \(direction) qos\(qos)"] as? Int == 20, "\(version) \(direction) QoS \(qos): \(r)")
                    #expect(r["\(version) \(direction) qos\(qos) in order"] as? Bool == true, "\(version) \(direction) QoS \(qos) in order")
                }
                #expect(r["\(version) out qos\(qos) delivered qos"] as? [Int] == [qos], "the topic line's QoS \(qos) holds end to end")
            }
            #expect(r["\(version) both at upstream"] as? [String] == ["from-edge", "from-up"], "\(version): \(r)")
            #expect(r["\(version) both at edge"] as? [String] == ["from-edge", "from-up"], "\(version): \(r)")
            let row = try #require(r["\(version) row"] as? [String: Any])
            #expect(
                row["client_id"] as? String == "bridge-up" && row["is_bridge"] as? Bool == true && row["bridge_state"] as? String == "connected",
                "\(row)"
            )
            #expect((row["bridge_forwarded_out"] as? Int ?? 0) >= 61 && (row["bridge_forwarded_in"] as? Int ?? 0) >= 61, "\(row)")
            let metrics = try #require(r["\(version) metrics"] as? [String])
            #expect(metrics.contains("aviary_bridge_connected{bridge=\"up\"} 1.0"), "\(metrics)")
            #expect(metrics.contains { $0.hasPrefix("aviary_bridge_forwarded_out_total{bridge=\"up\"} ") }, "\(metrics)")
            #expect(r["\(version) exit"] as? Int == 0, "a clean stop with a bridge running")
        }
    }

    @Test(
        "'both' on one topic: a message from either side arrives once on each, never bounced back (3.1.1 bridge flag, 5.0 No Local)",
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func loopPrevention() async throws {
        let r = try await Self.run("loop")
        for version in ["mqttv311", "mqttv50"] {
            #expect(r["\(version) edge saw"] as? [String] == ["edge", "up"], "\(version): \(r)")
            #expect(r["\(version) upstream saw"] as? [String] == ["edge", "up"], "\(version): \(r)")
        }
    }

    @Test(
        "aviary as the upstream of aviary: its 3.1.1 bridge flag and 5.0 No Local stop loops; retained messages stay retained upstream",
        .enabled(if: Tools.python != nil)
    )
    func aviaryUpstream() async throws {
        let r = try await Self.run("aviary_upstream")
        for (version, level) in [("mqttv311", 4), ("mqttv50", 5)] {
            #expect(r["\(version) edge saw"] as? [String] == ["edge", "up"], "\(version): \(r)")
            #expect(r["\(version) upstream saw"] as? [String] == ["edge", "up"], "\(version): \(r)")
            #expect((r["\(version) upstream row"] as? [String: Any])?["proto_ver"] as? Int == level, "\(r)")
            #expect((r["\(version) retained upstream"] as? [[Any]])?.first?.last as? Int == 1, "retained: \(r)")
        }
    }

    @Test(
        "QoS 1 out while the upstream Mosquitto restarts twice: all 3,000 acknowledged messages reach its subscriber",
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func upstreamRestart() async throws {
        let r = try await Self.run("restart")
        #expect(r["acknowledged"] as? Int == 3000, "\(r)")
        #expect(r["received"] as? Int == 3000, "missing: \(r["missing"] ?? [])")
        #expect((r["connects"] as? Int ?? 0) >= 3 && r["state"] as? String == "connected", "\(r)")
    }

    @Test(
        """
        upstream down at start: the bridge backs off with its error in the API, queues in its session (mqueue_len, /metrics), and delivers all once \
        the upstream is up
        """,
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func queueWhileDown() async throws {
        let r = try await Self.run("queue")
        #expect(r["state_while_down"] as? String == "backing off", "\(r)")
        #expect((r["error_while_down"] as? String ?? "").contains("Connection refused"), "\(r)")
        #expect(r["queued_while_down"] as? Int == 50, "\(r)")
        #expect((r["metrics_while_down"] as? [String] ?? []).contains("aviary_bridge_queued{bridge=\"up\"} 50.0"), "\(r)")
        #expect(r["received"] as? Bool == true, "\(r)")
    }

    @Test(
        "persistence on: messages queued for a down upstream survive SIGKILL of the broker and are delivered after",
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func durableQueue() async throws {
        let r = try await Self.run("durable")
        #expect(r["queued_before_kill"] as? Int == 30 && r["queued_after_restart"] as? Int == 30, "\(r)")
        #expect(r["received"] as? Bool == true, "\(r)")
    }

    @Test(
        "TLS to the upstream with bridge_cafile; a CA that did not sign its certificate keeps the bridge backing off with the verification error",
        .enabled(if: Tools.python != nil && hasMosquitto)
    )
    func tls() async throws {
        let certificates = try #require(TLSTests.certificates, "openssl made the certificates")
        let r = try await Self.run("tls", certificates: certificates)
        #expect(r["received"] as? Bool == true, "\(r)")
        #expect(r["wrong_ca_state"] as? String == "backing off", "\(r)")
        #expect((r["wrong_ca_error"] as? String ?? "").contains("CERTIFICATE_VERIFY_FAILED"), "\(r)")
    }

    @Test("kicking the bridge's row through the API: it reconnects by itself and forwards again", .enabled(if: Tools.python != nil && hasMosquitto))
    func kick() async throws {
        let r = try await Self.run("kick")
        #expect(r["kick_status"] as? Int == 200, "\(r)")
        #expect(r["connects"] as? Int == 2, "\(r)")
        #expect(r["after"] as? [String] == ["after"], "\(r)")
    }
}
