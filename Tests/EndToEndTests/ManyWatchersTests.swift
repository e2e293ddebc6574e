import Foundation
import TestSupport
import Testing

/// Many watchers on one broker (`Scripts/many_watchers.py`, which `make watchers` runs at
/// 10,000 clients for the figures in BENCHMARKS.md): the API's idle timeout, its connection
/// cap, slowloris clients and WebSocket upgrades that never finish, with MQTT traffic beside.
@Suite
struct ManyWatchersTests {
    @Test(
        """
        1,000 clients, 20 pollers of the sorted page, 20 slowloris, 10 unfinished WebSocket upgrades and 70 idle API connections past a cap \
        of 100: every poll answered, the slow and idle closed at their timeouts, the cap held and counted, a late client served, no MQTT \
        message lost
        """,
        .enabled(if: Tools.python != nil, "python3 is needed")
    )
    func crowd() async throws {
        let script = Tools.packageRoot.appendingPathComponent("Tests/EndToEndTests/Scripts/many_watchers.py").path
        let r = try await Subprocess.runAsync(
            [
                Tools.python!, script, "--aviary", Tools.aviary, "--port", "\(HarnessPorts.next())", "--api-port", "\(HarnessPorts.next())",
                "--ws-port", "\(HarnessPorts.next())", "--clients", "1000", "--pollers", "20", "--slowloris", "20", "--ws", "10", "--idle", "70",
                "--idle-timeout", "3", "--connect-timeout", "3", "--max-connections", "100", "--seconds", "6",
            ],
            timeout: 150
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        let pollers = try #require(result["pollers"] as? [String: Any])
        #expect(pollers["error_count"] as? Int == 0, "every poll answered: \(line)")
        #expect((pollers["requests"] as? Int ?? 0) >= 20 * 4, "\(line)")
        let counts = try #require(result["counts"] as? [String: Int])
        let slow = result["slowloris_closed_s"] as? [Double] ?? []
        let ws = result["ws_closed_s"] as? [Double] ?? []
        let idle = result["idle_closed_s"] as? [Double] ?? []
        // Closed by the broker, at the timeout (not before; a loaded machine may be late).
        #expect(counts == ["slowloris": 20, "ws": 10, "idle": 70] && slow.count == 20 && ws.count == 10 && idle.count == 70, "\(line)")
        #expect(slow.allSatisfy { $0 >= 2.9 && $0 < 20 }, "slowloris closed at api_idle_timeout 3 s: \(slow)")
        #expect(ws.allSatisfy { $0 >= 2.9 && $0 < 20 }, "unfinished upgrades closed at connect_timeout 3 s: \(ws)")
        #expect(idle.allSatisfy { $0 >= 2.9 && $0 < 40 }, "idle connections closed at api_idle_timeout: \(idle)")
        #expect(idle.contains { $0 >= 5.5 }, "those past the cap were accepted only when room was made, then timed out: \(idle)")
        let atCap = try #require(result["at_cap"] as? [String: Double])
        let after = try #require(result["after"] as? [String: Double])
        // NIO accepts a few sockets per read before the cap is asked again.
        #expect((atCap["aviary_api_connections_peak"] ?? 0) >= 100 && (atCap["aviary_api_connections_peak"] ?? 0) <= 104, "\(line)")
        #expect((after["aviary_api_connections_capped_total"] ?? 0) >= 1, "the cap is counted: \(line)")
        #expect((after["aviary_api_connections"] ?? 99) <= 2, "all closed but the one asking: \(line)")
        let late = try #require(result["late"] as? [String: Any])
        #expect(late["status"] as? Int == 200, "a client arriving at the cap is served once room is made: \(line)")
        for phase in ["quiet", "crowd"] {
            let mqtt = try #require((result[phase] as? [String: Any])?["mqtt"] as? [String: Any])
            #expect(mqtt["lost"] as? Int == 0 && (mqtt["sent"] as? Int ?? 0) > 500, "\(phase): \(mqtt)")
        }
        #expect(result["exit"] as? Int == 0)
    }
}
