import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

/// What an operator deploys and scrapes: /metrics from the real binary, the systemd unit and the
/// sample config in contrib/, the README's settings table, and a serve path free of ncurses.
@Suite(.timeLimit(.minutes(2)))
struct OperationsTests {
    struct Sample {
        var name: String
        var labels: String
        var value: Double
    }

    /// Parses Prometheus text format 0.0.4, checking the conventions as it goes.
    static func parseMetrics(_ text: String) -> (samples: [Sample], help: Set<String>, types: [String: String]) {
        var samples: [Sample] = []
        var help: Set<String> = []
        var types: [String: String] = [:]
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# HELP ") {
                help.insert(String(line.dropFirst(7).prefix { $0 != " " }))
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                let series = String(line[..<space])
                let name = String(series.prefix { $0 != "{" })
                let labels = String(series.dropFirst(name.count))
                samples.append(Sample(name: name, labels: labels, value: Double(line[line.index(after: space)...]) ?? .nan))
            }
        }
        return (samples, help, types)
    }

    @Test("/metrics of aviary serve follows Prometheus conventions and its counters move with traffic")
    func metrics() async throws {
        let (server, port) = try AviaryBinary.serve()
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        func scrape() async throws -> [String: Double] {
            let r = try await HTTP.request("GET", "\(api)/metrics")
            #expect(r.status == 200)
            #expect(r.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            let parsed = Self.parseMetrics(String(decoding: r.body, as: UTF8.self))
            for sample in parsed.samples {
                #expect(sample.name.range(of: "^aviary_[a-z0-9_]+$", options: .regularExpression) != nil, "\(sample.name)")
                #expect(!sample.value.isNaN, "\(sample.name) has a number")
                #expect(parsed.help.contains(sample.name), "\(sample.name) has # HELP")
                let type = parsed.types[sample.name]
                #expect(type == "counter" || type == "gauge", "\(sample.name) has # TYPE")
                #expect((type == "counter") == sample.name.hasSuffix("_total"), "only counters end in _total: \(sample.name)")
                if !sample.labels.isEmpty {
                    #expect(sample.labels.range(of: #"^\{([a-z_]+="[^"]*",?)+\}$"#, options: .regularExpression) != nil, "\(sample.labels)")
                }
            }
            return Dictionary(parsed.samples.map { ($0.name + $0.labels, $0.value) }, uniquingKeysWith: { $1 })
        }
        let before = try await scrape()
        for family in [
            "aviary_connections", "aviary_sessions", "aviary_subscriptions", "aviary_retained_messages", "aviary_bytes_received_total",
            "aviary_bytes_sent_total", "aviary_messages_dropped_total", "aviary_connections_accepted_total",
        ] {
            #expect(before[family] != nil, "\(family) is exported")
        }
        let sub = try TestClient(port: port)
        try sub.connect("metrics-sub")
        _ = try sub.subscribe("m/#", qos: .atLeastOnce)
        let pub = try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-t", "m/retained", "-m", "kept", "-r", "-q", "1"])
        #expect(pub.code == 0)
        _ = try sub.receivePublish()
        let after = try await scrape()
        func delta(_ series: String) -> Double { (after[series] ?? 0) - (before[series] ?? 0) }
        #expect(after["aviary_connections"] == 1)
        #expect(after["aviary_subscriptions"] == 1)
        #expect(delta("aviary_retained_messages") == 1, "$SYS topics are retained too: count the new one")
        #expect(delta("aviary_messages_received_total{qos=\"1\"}") == 1)
        #expect(delta("aviary_messages_sent_total{qos=\"1\"}") == 1)
        #expect(delta("aviary_packets_received_total{type=\"connect\"}") == 2)
        #expect(delta("aviary_packets_received_total{type=\"subscribe\"}") == 1)
        #expect(delta("aviary_connections_accepted_total") == 2)
        #expect(delta("aviary_bytes_received_total") > 0 && delta("aviary_bytes_sent_total") > 0)
        #expect((after["aviary_api_requests_total{method=\"GET\",code=\"200\"}"] ?? 0) >= 1, "API requests are counted")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    static let sampleConfig = Tools.packageRoot.appendingPathComponent("contrib/aviary.conf").path
    static let unit = Tools.packageRoot.appendingPathComponent("contrib/aviary.service").path

    /// What the sample config (the one the systemd unit runs with) sets apart from the defaults:
    /// a service keeps its state.
    static let sampleConfigChoices = ["persistence": "on", "persistence_dir": "/var/lib/aviary"]

    @Test("contrib/aviary.conf loads, sets every setting, and its values are the defaults but for durability, which it turns on")
    func sampleConfigLoads() throws {
        let fromFile = try ServeTests.printConfig(["--config", Self.sampleConfig])
        let defaults = try ServeTests.printConfig([])
        #expect(fromFile.count == defaults.count && defaults.count >= 18)
        for (key, setting) in defaults {
            #expect(setting.source == "default")
            #expect(fromFile[key]?.source.hasPrefix("\(Self.sampleConfig) line ") == true, "\(key) is in the sample config")
            #expect(fromFile[key]?.value == Self.sampleConfigChoices[key] ?? setting.value, "\(key): the sample shows the default")
        }
    }

    /// ExecStart's words, with the installed paths replaced by this checkout's.
    static func execStart() throws -> [String] {
        let text = try String(contentsOfFile: unit, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        return line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
    }

    @Test("contrib/aviary.service: ExecStart is the real command, it runs with the sample config, stops on KillSignal in time")
    func systemdUnit() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        var argv = try Self.execStart()
        #expect(argv.first == "/usr/local/bin/aviary")
        argv[0] = Tools.aviary
        let configIndex = try #require(argv.firstIndex(of: "--config"))
        #expect(argv[configIndex + 1] == "/etc/aviary/aviary.conf")
        argv[configIndex + 1] = Self.sampleConfig
        // Flags beat the file: free loopback ports instead of 1883/8081.
        let state = NSTemporaryDirectory() + "aviary-unit-state-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        #expect(text.contains("StateDirectory=aviary"), "systemd gives the service /var/lib/aviary, the sample's persistence_dir")
        let p = try Subprocess(
            argv + ["--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "0", "--persistence-dir", state],
            environment: ["TERM": ""]
        )
        try eventually("the broker to listen") { p.output.contains("listening for MQTT") }
        try eventually("a JSON log line (the unit asks for --log-format json)") {
            p.lines.contains { $0.hasPrefix("{") && $0.contains("\"message\":\"MQTT listener started\"") }
        }
        #expect(text.contains("KillSignal=SIGTERM"))
        let stopLimit = try #require(text.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Double($0.dropFirst(15)) })
        let started = Date()
        p.signal(SIGTERM)
        #expect(p.wait(timeout: stopLimit) == 0)
        #expect(Date().timeIntervalSince(started) < stopLimit)
    }

    @Test(
        "systemd-analyze verify accepts the unit",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is not installed")
    )
    func systemdVerify() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let dir = NSTemporaryDirectory() + "aviary-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.replacingOccurrences(of: "/usr/local/bin/aviary", with: Tools.aviary).write(
            toFile: dir + "/aviary.service",
            atomically: true,
            encoding: .utf8
        )
        let r = try Subprocess.run(["systemd-analyze", "verify", dir + "/aviary.service"])
        #expect(r.code == 0, "\(r.output)")
        #expect(!r.output.contains("aviary.service:"), "no warnings about the unit: \(r.output)")
    }

    @Test("README documents every setting in one table: flag, variable, file key, default")
    func readmeTable() throws {
        let readme = try String(contentsOf: Tools.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let defaults = try ServeTests.printConfig([])
        for (key, setting) in defaults {
            let flag = "--" + key.replacingOccurrences(of: "_", with: "-")
            let row = "| `\(flag)` | `AVIARY_\(key.uppercased())` | `\(key)` | `\(key == "api_password" ? "public" : setting.value)` |"
            #expect(readme.contains(row), "README row for \(key): \(row)")
        }
    }

    @Test("aviary does not link ncurses; serve runs with no TERM; aviary-dashboard is the one that links it")
    func noNcursesOnServe() throws {
        let aviary = try Subprocess.run(["ldd", Tools.aviary])
        #expect(aviary.code == 0)
        #expect(!aviary.output.contains("ncurses"), "\(aviary.output)")
        let dashboard = URL(fileURLWithPath: Tools.aviary).deletingLastPathComponent().appendingPathComponent("aviary-dashboard").path
        #expect(try Subprocess.run(["ldd", dashboard]).output.contains("libncursesw"))
        let p = try Subprocess([
            "env", "-u", "TERM", Tools.aviary, "serve", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off",
        ])
        try eventually("serve to listen without a terminal") { p.output.contains("listening for MQTT") }
        p.signal(SIGTERM)
        #expect(p.wait(timeout: 15) == 0, "\(p.output)")
    }

    @Test(
        "make install into a DESTDIR: stripped aviary and aviary-dashboard, the unit pointing at them, the sample config; the installed binary serves"
    )
    func makeInstall() async throws {
        let destdir = NSTemporaryDirectory() + "aviary-install-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: destdir) }
        // What this test run built (debug), without building again: `swift test` holds .build.
        let configuration = URL(fileURLWithPath: Tools.aviary).deletingLastPathComponent().lastPathComponent
        let make = [
            "make", "-s", "-C", Tools.packageRoot.path, "install", "SKIP_BUILD=1", "CONFIGURATION=\(configuration)", "PREFIX=/usr",
            "DESTDIR=\(destdir)",
        ]
        let r = try await Subprocess.runAsync(make, timeout: 120)
        #expect(r.code == 0, "\(r.output)")
        let aviary = destdir + "/usr/bin/aviary"
        for binary in [aviary, destdir + "/usr/bin/aviary-dashboard"] {
            #expect(FileManager.default.isExecutableFile(atPath: binary))
            let sections = try await Subprocess.runAsync(["readelf", "-S", "-W", binary]).output
            #expect(!sections.contains(".symtab") && sections.contains(".text"), "\(binary) is stripped")
        }
        let version = try await Subprocess.runAsync([aviary, "--version"])
        let built = try await Subprocess.runAsync([Tools.aviary, "--version"]).output
        #expect(version.code == 0 && version.output == built && !built.isEmpty, "\(version.output)")
        // aviary finds the dashboard installed beside it.
        let watchHelp = try await Subprocess.runAsync([aviary, "watch", "--help"])
        #expect(watchHelp.code == 0 && watchHelp.output.contains("USAGE"), "\(watchHelp.output)")
        // The installed unit names the installed binary and config; a second install keeps the config.
        let unit = try String(contentsOfFile: destdir + "/usr/lib/systemd/system/aviary.service", encoding: .utf8)
        let execStart = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        #expect(execStart == "ExecStart=/usr/bin/aviary serve --config /etc/aviary/aviary.conf --log-format json")
        let config = destdir + "/etc/aviary/aviary.conf"
        try "# edited by the operator\n".write(toFile: config, atomically: false, encoding: .utf8)
        let second = try await Subprocess.runAsync(make, timeout: 120)
        #expect(second.output.contains("kept"), "\(second.output)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == "# edited by the operator\n")
        try FileManager.default.removeItem(atPath: config)
        try FileManager.default.moveItem(atPath: config + ".new", toPath: config)
        // The installed binary serves with the installed config on free loopback ports.
        let state = destdir + "/state"
        let p = try Subprocess([
            aviary, "serve", "--config", config, "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off",
            "--persistence-dir", state,
        ])
        var port: Int?
        try await eventuallyAsync("the installed broker to listen") {
            port = p.lines.first { $0.contains("listening for MQTT on") }.flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
            return port != nil
        }
        let client = try TestClient(port: try #require(port))
        try client.connect("installed")
        #expect(FileManager.default.fileExists(atPath: state), "the sample config turns persistence on")
        p.signal(SIGTERM)
        #expect(await p.waitAsync(timeout: 15) == 0, "\(p.output)")
    }
}
