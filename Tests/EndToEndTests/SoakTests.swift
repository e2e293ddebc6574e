import Foundation
import TestSupport
import Testing

/// The short version of the long mixed soak (`Scripts/soak.py`; `make soak` runs it for 30
/// minutes on a release build, figures in BENCHMARKS.md).
@Suite
struct SoakTests {
    @Test(
        """
        45 s of everything at once with persistence on — QoS 0/1/2 pairs, fan-in, WebSockets, a bridge to a Mosquitto restarted twice, \
        churn, kicks, the dashboard: nothing acknowledged lost, QoS 2 exactly once, every stream in order, RSS and descriptors flat after \
        warm-up, the store no bigger than its WAL bound
        """,
        .enabled(if: Tools.python != nil, "paho-mqtt is not installed")
    )
    func shortSoak() async throws {
        let script = Tools.packageRoot.appendingPathComponent("Tests/EndToEndTests/Scripts/soak.py").path
        let r = try await Subprocess.runAsync(
            [
                Tools.python!, script, "--aviary", Tools.aviary, "--seconds", "45", "--warmup", "15", "--sample", "2", "--rate", "40",
                "--bridge-restart", "15", "--kick", "6", "--churn", "10", "--dashboard",
            ],
            timeout: 240
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        let streams = try #require(result["streams"] as? [String: [String: Any]])
        #expect(Set(streams.keys) == ["qos0", "qos1", "qos2", "fanin", "ws", "bridge"])
        for (name, stream) in streams {
            #expect((stream["acked"] as? Int ?? 0) >= 1000, "\(name): traffic flowed: \(stream)")
            #expect(stream["missing"] as? Int == 0, "\(name): nothing acknowledged lost: \(stream)")
            #expect(stream["out_of_order"] as? Int == 0, "\(name): in order per publisher: \(stream)")
        }
        #expect(streams["qos2"]?["duplicates"] as? Int == 0, "exactly once")
        #expect((result["kicks"] as? Int ?? 0) >= 5 && (result["kickee_reconnects"] as? Int ?? 0) >= 4, "\(line)")
        #expect((result["bridge_restarts"] as? Int ?? 0) >= 2, "\(line)")
        #expect(result["dashboard_drawn"] as? Bool == true && result["broker_alive"] as? Bool == true, "\(line)")
        let rss = try #require(result["rss_kib"] as? [String: Double])
        let fds = try #require(result["fds"] as? [String: Double])
        #expect((rss["end"] ?? .infinity) <= (rss["warm"] ?? 0) + 16 * 1024, "RSS within 16 MiB of its value after warm-up: \(rss)")
        #expect((fds["end"] ?? .infinity) <= (fds["warm"] ?? 0) + 8, "descriptors within 8 of theirs: \(fds)")
        #expect((result["store_bytes"] as? Int ?? .max) <= 16 << 20, "queues drained: the store holds little more than its WAL: \(line)")
        #expect(result["exit"] as? Int == 0)
    }
}
