import Foundation
import TestSupport
import Testing

/// `aviary bench` end to end against `aviary serve`: every scenario completes, counts what it
/// sent and received, and reports loss and refusals honestly.
@Suite(.timeLimit(.minutes(2)))
struct BenchTests {
    static func bench(_ args: [String]) throws -> [String: Any] {
        let r = try Subprocess.run([Tools.aviary, "bench"] + args, timeout: 60)
        #expect(r.code == 0, "\(r.output)")
        let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    static func int(_ json: [String: Any], _ key: String) -> Int { (json[key] as? NSNumber)?.intValue ?? -1 }

    @Test("fanin, fanout and pairs at QoS 0/1/2 deliver everything and say so")
    func throughputScenarios() throws {
        let (server, port) = try AviaryBinary.serve()
        for (scenario, extra, expected) in [
            ("fanin", ["--publishers", "3", "--messages", "400", "--qos", "1"], 1200),
            ("fanout", ["--subscribers", "4", "--messages", "300", "--qos", "2", "--mqtt-version", "5"], 1200),
            ("pairs", ["--publishers", "2", "--messages", "500", "--qos", "0"], 1000),
        ] {
            let r = try Self.bench([scenario, "--port", "\(port)"] + extra)
            #expect(r["scenario"] as? String == scenario)
            #expect(Self.int(r, "expected") == expected && Self.int(r, "received") == expected && Self.int(r, "loss") == 0, "\(r)")
            #expect(((r["msgs_per_s"] as? NSNumber)?.doubleValue ?? 0) > 0)
        }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("over WebSockets (--ws-path): fan-in at QoS 0 and 1 through the broker's ws:// listener; a wrong path is an error that says so")
    func overWebSockets() throws {
        let (server, _) = try AviaryBinary.serve(["--ws-port", "0"])
        var ws: Int?
        try eventually("the WebSocket port to be printed") {
            ws = server.lines.first { $0.contains("on ws://") }.flatMap { $0.split(separator: ":").last }.flatMap {
                Int($0.split(separator: "/").first ?? "")
            }
            return ws != nil
        }
        for qos in ["0", "1"] {
            let r = try Self.bench([
                "fanin", "--port", "\(ws!)", "--ws-path", "/mqtt", "--publishers", "3", "--messages", "300", "--qos", qos, "--mqtt-version", "5",
            ])
            #expect(Self.int(r, "expected") == 900 && Self.int(r, "received") == 900 && Self.int(r, "loss") == 0, "QoS \(qos): \(r)")
        }
        let wrong = try Subprocess.run(
            [Tools.aviary, "bench", "fanin", "--port", "\(ws!)", "--ws-path", "/elsewhere", "--publishers", "1", "--messages", "1"],
            timeout: 30
        )
        #expect(wrong.code != 0 && wrong.output.contains("did not upgrade"), "\(wrong.output)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("latency: a fixed rate for a fixed time, percentiles from payload timestamps")
    func latencyScenario() throws {
        let (server, port) = try AviaryBinary.serve()
        let r = try Self.bench(["latency", "--port", "\(port)", "--rate", "500", "--duration", "1", "--qos", "1"])
        #expect(Self.int(r, "expected") == 500 && Self.int(r, "received") == 500, "\(r)")
        let p50 = (r["p50_us"] as? NSNumber)?.doubleValue ?? -1
        let p99 = (r["p99_us"] as? NSNumber)?.doubleValue ?? -1
        let max = (r["max_us"] as? NSNumber)?.doubleValue ?? -1
        #expect(p50 > 0 && p50 <= p99 && p99 <= max, "\(r)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("conns: connections over the broker's limit are counted as failed, the rest as connected")
    func connsScenario() throws {
        let (server, port) = try AviaryBinary.serve(["--max-connections", "40"])
        let r = try Self.bench(["conns", "--port", "\(port)", "--connections", "60", "--duration", "0.2"])
        #expect(Self.int(r, "connected") == 40 && Self.int(r, "failed") == 20, "\(r)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test(
        """
        past the open-file limit every attempt is answered: as many connect as the limit allows, the rest are refused at once, and the broker never \
        hits EMFILE
        """
    )
    func pastTheFileLimit() async throws {
        let (server, port) = try AviaryBinary.serve(launcher: ["prlimit", "--nofile=160:160"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        func metrics() async throws -> [String: Double] {
            let text = String(decoding: try await HTTP.request("GET", "\(api)/metrics").body, as: UTF8.self)
            return Dictionary(OperationsTests.parseMetrics(text).samples.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        }
        let limit = Int(try await metrics()["aviary_connections_limit"] ?? -1)
        #expect(limit > 60 && limit < 160, "the limit comes from the 160 descriptors, less the broker's own and a reserve")
        let r = try Self.bench(["conns", "--port", "\(port)", "--connections", "400", "--duration", "0.5"])
        #expect(Self.int(r, "connected") == limit && Self.int(r, "failed") == 400 - limit, "\(r)")
        let seconds = (r["seconds"] as? NSNumber)?.doubleValue ?? .infinity
        #expect(seconds < 9, "every attempt was answered; none waited for the client's 10 s no-answer bound: \(r)")
        let after = try await metrics()
        #expect(after["aviary_accept_errors_total"] == 0, "capacity is enforced before accept() can fail with EMFILE")
        let refused = (after["aviary_sockets_refused_total"] ?? 0) + (after["aviary_connections_refused_total"] ?? 0)
        #expect(Int(refused) == 400 - limit, "each refusal is counted: a closed socket or CONNACK 0x97/0x03")
        let sub = try Subprocess(["mosquitto_sub", "-p", "\(port)", "-t", "after/flood", "-C", "1", "-W", "10"])
        try AviaryBinary.waitForSubscriptions(api: api)
        #expect(try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-t", "after/flood", "-m", "still serving"]).code == 0)
        #expect(sub.wait(timeout: 10) == 0 && sub.output == "still serving\n", "the broker serves normally afterwards")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0, "\(server.output)")
    }

    @Test("a bad scenario or value is named")
    func badArguments() throws {
        let r = try Subprocess.run([Tools.aviary, "bench", "storm"])
        #expect(r.code != 0 && r.output.contains("expected fanin, fanout, pairs, latency or conns"))
        let q = try Subprocess.run([Tools.aviary, "bench", "fanin", "--qos", "3"])
        #expect(q.code != 0 && q.output.contains("--qos"))
    }

    @Test("the lean C latency client builds with the toolchain's clang, measures aviary serve at QoS 0 and 1, and its relay floor")
    func leanLatencyClient() throws {
        let build = try Subprocess.run([Tools.packageRoot.appendingPathComponent("scripts/bench/lean/build.sh").path], timeout: 120)
        #expect(build.code == 0, "\(build.output)")
        let lean = build.output.split(separator: "\n").last.map(String.init) ?? ""
        func run(_ args: [String]) throws -> [String: Any] {
            let r = try Subprocess.run([lean] + args, timeout: 30)
            #expect(r.code == 0, "\(r.output)")
            let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        }
        let (server, port) = try AviaryBinary.serve()
        for qos in ["0", "1"] {
            let r = try run(["\(port)", "2000", "1", qos])
            #expect(Self.int(r, "sent") == 2000 && Self.int(r, "received") == 2000 && Self.int(r, "loss") == 0, "\(r)")
            let p50 = (r["p50_us"] as? NSNumber)?.doubleValue ?? -1
            let p99 = (r["p99_us"] as? NSNumber)?.doubleValue ?? -1
            #expect(p50 > 0 && p99 >= p50, "\(r)")
        }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        // The floor: the same client against a stub that only relays.
        let relayPort = 19_000 + Int(getpid() % 500)
        let relay = try Subprocess([lean, "--relay", "\(relayPort)"])
        try eventually("the relay to listen") { relay.lines.contains { $0.contains("relay listening") } }
        let floor = try run(["\(relayPort)", "2000", "1", "1"])
        #expect(Self.int(floor, "received") == 2000 && Self.int(floor, "loss") == 0, "\(floor)")
        #expect(relay.wait(timeout: 15) == 0, "the relay ends when its clients leave")
    }
}
