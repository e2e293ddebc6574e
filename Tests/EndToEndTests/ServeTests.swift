import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// `aviary serve` as operators run it: settings from flags, AVIARY_* variables and a config file,
/// errors that name their source, JSON logs, shutdown on signals, /metrics, and contrib/.
@Suite(.timeLimit(.minutes(2)))
struct ServeTests {
    /// `--print-config` as key → (value, source).
    static func printConfig(_ args: [String], environment: [String: String] = [:]) throws -> [String: (value: String, source: String)] {
        let r = try Subprocess.run([Tools.aviary, "serve"] + args + ["--print-config"], environment: environment)
        #expect(r.code == 0, "\(r.output)")
        var settings: [String: (String, String)] = [:]
        for line in r.output.split(separator: "\n") where !line.hasPrefix("#") && line.contains(" = ") {
            let assignment = line.components(separatedBy: "  # ")
            let parts = assignment[0].components(separatedBy: " = ")
            guard parts.count == 2, assignment.count == 2 else { continue }
            settings[parts[0].trimmingCharacters(in: .whitespaces)] = (parts[1].trimmingCharacters(in: .whitespaces), assignment[1])
        }
        return settings
    }

    @Test("precedence: flag > AVIARY_* variable > config file > default, shown by --print-config")
    func precedenceShown() throws {
        let file = try temporaryFile("mqtt_port = 2001\nsys_interval = 3\nmax_connections = 5\napi_password = from-file\n")
        defer { unlink(file) }
        let settings = try Self.printConfig(
            ["--config", file, "--max-connections", "1"],
            environment: ["AVIARY_MAX_CONNECTIONS": "2", "AVIARY_SYS_INTERVAL": "4", "AVIARY_API_PASSWORD": "from-env"]
        )
        #expect(settings["max_connections"]?.value == "1" && settings["max_connections"]?.source == "flag --max-connections")
        #expect(settings["sys_interval"]?.value == "4" && settings["sys_interval"]?.source == "environment variable AVIARY_SYS_INTERVAL")
        #expect(settings["mqtt_port"]?.value == "2001" && settings["mqtt_port"]?.source == "\(file) line 1")
        #expect(settings["log_level"]?.value == "info" && settings["log_level"]?.source == "default")
        #expect(settings["api_password"]?.value == "********", "secrets are never printed")
        #expect(settings["api_password"]?.source == "environment variable AVIARY_API_PASSWORD")
    }

    @Test("--print-config shows each bridge's block with every setting (defaults too), its line, and no password")
    func bridgesPrinted() throws {
        let file = try temporaryFile(
            """
            mqtt_port = 2001
            # the edge's bridges
            connection = hq
            address = hq-1.example.net:1883, [::1]:8883 hq-3.example.net
            bridge_protocol_version = mqttv50
            remote_username = edge
            remote_password = s3cret
            topic = sensors/# out 1 "" site1/
            topic = "" in 2 cmd/site1 hq/cmd/site1

            connection = backup
            address = 10.0.0.9
            topic = # both 0

            """
        )
        defer { unlink(file) }
        let r = try Subprocess.run([Tools.aviary, "serve", "--config", file, "--print-config"])
        #expect(r.code == 0, "\(r.output)")
        let blocks = r.output.components(separatedBy: "\n\n").dropFirst().map { $0.split(separator: "\n").map(String.init) }
        #expect(blocks.count == 2, "\(r.output)")
        let hq = try #require(blocks.first)
        #expect(hq.first?.hasPrefix("connection = hq") == true && hq.first?.hasSuffix("# \(file) line 3") == true, "\(hq)")
        #expect(hq.contains("address = hq-1.example.net:1883 [::1]:8883 hq-3.example.net:1883"), "\(hq)")
        #expect(
            hq.contains("bridge_protocol_version = mqttv50") && hq.contains("cleansession = false") && hq.contains("restart_timeout = 1 30"),
            "\(hq)"
        )
        #expect(hq.contains("remote_password = ********") && !r.output.contains("s3cret"), "the password is not printed")
        #expect(hq.contains("topic = sensors/# out 1 \"\" site1/") && hq.contains("topic = \"\" in 2 cmd/site1 hq/cmd/site1"), "\(hq)")
        let backup = try #require(blocks.last)
        #expect(
            backup.contains("address = 10.0.0.9:1883") && backup.contains("topic = # both 0 \"\" \"\"")
                && backup.contains("bridge_protocol_version = mqttv311"),
            "\(backup)"
        )
    }

    @Test("precedence in a running broker: credentials and the connection limit come from the right source")
    func precedenceLive() async throws {
        let file = try temporaryFile(
            "# a config file\nmqtt_host = 127.0.0.1\nmqtt_port = 0\napi_port = 0\napi_user = fileuser\napi_password = filepass\nmax_connections = 5\n"
        )
        defer { unlink(file) }
        let (server, port) = try AviaryBinary.serve(
            ["--config", file, "--max-connections", "1"],
            environment: ["AVIARY_API_PASSWORD": "envpass", "AVIARY_MAX_CONNECTIONS": "2"],
            defaults: false
        )
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        #expect(try await HTTP.request("GET", "\(api)/api/v4/clients", auth: "fileuser:envpass").status == 200)
        #expect(try await HTTP.request("GET", "\(api)/api/v4/clients", auth: "fileuser:filepass").status == 401)
        let first = try TestClient(port: port)
        #expect(try first.connect("first").reasonCode == .success)
        let second = try TestClient(port: port)
        let refused = try second.connect("second")
        #expect(refused.reasonCode == .quotaExceeded, "the flag's limit of 1 wins over 2 and 5: \(refused)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    struct BadInput: Sendable, CustomStringConvertible {
        var args: [String] = []
        var environment: [String: String] = [:]
        var file: String? = nil
        var expected: [String]
        var hidden: String? = nil
        var description: String { expected.joined(separator: " / ") }
    }

    @Test(
        "a bad value names the setting, its source and what was expected; exit 1 (64 for an unknown flag) before opening a port",
        arguments: [
            BadInput(args: ["--mqtt-port", "70000"], expected: ["mqtt_port", "flag --mqtt-port", "a port number from 0 to 65535"]),
            BadInput(args: ["--mqtt-port", "abc"], expected: ["'abc'", "flag --mqtt-port"]),
            BadInput(args: ["--max-packet-size", "10"], expected: ["max_packet_size", "flag --max-packet-size", "64 to 268435460"]),
            BadInput(
                args: ["--tcp-receive-buffer", "100000000"],
                expected: ["tcp_receive_buffer", "flag --tcp-receive-buffer", "0 to 67108864 bytes"]
            ),
            BadInput(args: ["--log-level", "loud"], expected: ["log_level", "flag --log-level", "trace, debug"]),
            BadInput(args: ["--no-such-flag"], expected: ["no-such-flag"]),
            BadInput(
                environment: ["AVIARY_MAX_INFLIGHT": "0"],
                expected: ["max_inflight", "environment variable AVIARY_MAX_INFLIGHT", "1 to 65535"]
            ),
            BadInput(environment: ["AVIARY_LOG_FORMAT": "xml"], expected: ["log_format", "AVIARY_LOG_FORMAT", "text or json"]),
            BadInput(environment: ["AVIARY_API_PASSWORD": "s3cr\u{7}et"], expected: ["api_password", "AVIARY_API_PASSWORD"], hidden: "s3cr"),
            BadInput(file: "mqtt_host = 127.0.0.1\nconnect_timeout = soon\n", expected: ["connect_timeout", "line 2", "seconds > 0", "'soon'"]),
            BadInput(file: "\nmax_conections = 3\n", expected: ["line 2", "unknown setting 'max_conections'", "did you mean 'max_connections'"]),
            BadInput(file: "log_level info\n", expected: ["line 1", "expected 'key = value'"]),
            BadInput(file: "log_level = info\nlog_level = debug\n", expected: ["line 2", "already set on line 1"]),
            BadInput(args: ["--config", "/nonexistent/aviary.conf"], expected: ["cannot read config file /nonexistent/aviary.conf"]),
            // Bridges: each bad line is named with what was expected.
            BadInput(
                file: "connection = up\naddress = 127.0.0.1:99999\ntopic = a/# out 1\n",
                expected: ["line 2", "address", "port from 1 to 65535"]
            ),
            BadInput(
                file: "connection = up\naddress = h:1883\ntopic = a/# sideways 1\n",
                expected: ["line 3", "topic", "direction must be in, out or both, got 'sideways'"]
            ),
            BadInput(file: "connection = up\naddress = h:1883\ntopic = a/#/b out 1\n", expected: ["line 3", "'a/#/b' is not a valid topic filter"]),
            BadInput(file: "connection = up\naddress = h:1883\ntopic = a/+x out 1\n", expected: ["line 3", "'a/+x' is not a valid topic filter"]),
            BadInput(
                file: "connection = up\naddress = h:1883\ntopic = # out 1 a/+/ b/\n",
                expected: ["line 3", "local prefix 'a/+/' may not hold wildcards"]
            ),
            BadInput(file: "connection = up\naddress = h:1883\ntopic = a/# out 3\n", expected: ["line 3", "QoS must be 0, 1 or 2"]),
            BadInput(file: "connection = up\naddres = h:1883\n", expected: ["line 2", "unknown bridge setting 'addres'", "did you mean 'address'"]),
            BadInput(
                file: "connection = up\naddress = h:1883\ntopic = a/#\nmqtt_port = 1\n",
                expected: ["line 4", "'mqtt_port' is a broker setting", "before the first 'connection' line"]
            ),
            BadInput(file: "address = h:1883\n", expected: ["line 1", "'address' is a bridge setting", "connection = NAME"]),
            BadInput(file: "connection = up\ntopic = a/#\n", expected: ["line 1", "connection 'up' has no 'address' line"]),
            BadInput(file: "connection = up\naddress = h\n", expected: ["line 1", "connection 'up' has no 'topic' line"]),
            BadInput(
                file: "connection = up\naddress = h\ntopic = a\nbridge_protocol_version = mqttv4\n",
                expected: ["line 4", "mqttv31, mqttv311 or mqttv50"]
            ),
            BadInput(
                file: "connection = a\naddress = h\ntopic = a\nconnection = a\n",
                expected: ["line 4", "connection 'a' is already defined on line 1"]
            ),
            BadInput(
                file: "connection = a\naddress = h\ntopic = a\nlocal_clientid = x\nconnection = b\naddress = h\ntopic = b\nlocal_clientid = x\n",
                expected: ["line 5", "connection 'b' has the local_clientid 'x' of connection 'a'"]
            ),
            BadInput(
                file: "connection = up\naddress = h\ntopic = a\nbridge_cafile = /nonexistent/ca.pem\n",
                expected: ["connection 'up'", "bridge_cafile", "cannot be loaded"]
            ),
        ]
    )
    func badValues(input: BadInput) throws {
        var args = input.args
        var path: String?
        if let text = input.file {
            path = try temporaryFile(text)
            args += ["--config", path!]
        }
        defer { if let path { unlink(path) } }
        // Ports that are surely free: if the process got as far as listening, it would say so.
        let r = try Subprocess.run([Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0"] + args, environment: input.environment)
        // A bad value of a setting exits 1; a flag argument-parser does not know is a usage error (64).
        let usage = input.args.contains("--no-such-flag")
        #expect(r.code == (usage ? 64 : 1), "exit code \(r.code)")
        for fragment in input.expected { #expect(r.output.contains(fragment), "\(r.output)") }
        if let path { #expect(r.output.contains(path), "the file is named") }
        if let hidden = input.hidden { #expect(!r.output.contains(hidden), "a secret value is not echoed") }
        #expect(!r.output.contains("listening"))
    }

    @Test("--log-format json: one JSON object per line for connect and disconnect, with the fields operators need")
    func jsonLogs() throws {
        let (server, port) = try AviaryBinary.serve(["--log-format", "json", "--log-level", "info"])
        let pub = try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-i", "json-logger", "-V", "mqttv5", "-t", "j", "-m", "12345"])
        #expect(pub.code == 0)
        var objects: [[String: Any]] = []
        try eventually("the disconnect to be logged") {
            objects = server.lines.filter { $0.hasPrefix("{") }.compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            return objects.contains { $0["message"] as? String == "client disconnected" }
        }
        #expect(server.lines.filter { $0.hasPrefix("{") }.count == objects.count, "every log line is valid JSON")
        let connected = try #require(objects.first { $0["message"] as? String == "client connected" })
        #expect(connected["client.id"] as? String == "json-logger")
        #expect((connected["connection.peer"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(connected["client.protocol"] as? String == "5.0")
        #expect(connected["client.clean_start"] as? String == "true")
        #expect(connected["client.keepalive"] as? String == "60")
        #expect(connected["level"] as? String == "info")
        #expect((connected["time"] as? String)?.hasSuffix("Z") == true)
        let disconnected = try #require(objects.first { $0["message"] as? String == "client disconnected" })
        #expect(disconnected["client.id"] as? String == "json-logger")
        #expect((disconnected["reason"] as? String)?.contains("DISCONNECT") == true)
        #expect(disconnected["duration.s"] != nil)
        // Exact: mosquitto_pub's CONNECT (it announces Receive Maximum 20), PUBLISH and
        // DISCONNECT as our codec writes them — the bytes captured from mosquitto_pub 2.0.11 are
        // the same —, and the CONNACK this broker answers a 5.0 client with.
        func size(_ packet: MQTTPacket) -> Int { packet.encodedSize(version: .v5) }
        var receiveMaximum = Properties()
        receiveMaximum.receiveMaximum = 20
        let bytesIn =
            size(.connect(ConnectPacket(version: .v5, clientId: "json-logger", keepAlive: 60, properties: receiveMaximum)))
            + size(.publish(PublishPacket(topic: "j", payload: ByteBuffer(string: "12345"), qos: .atMostOnce)))
            + size(.disconnect(DisconnectPacket()))
        #expect(Int(disconnected["bytes.in"] as? String ?? "") == bytesIn, "CONNECT + PUBLISH + DISCONNECT: \(disconnected)")
        var ack = Properties()
        ack.receiveMaximum = 100
        ack.topicAliasMaximum = 100
        ack.maximumPacketSize = 1_048_576
        ack.retainAvailable = 1
        ack.wildcardSubscriptionAvailable = 1
        ack.subscriptionIdentifiersAvailable = 1
        ack.sharedSubscriptionAvailable = 1
        #expect(
            Int(disconnected["bytes.out"] as? String ?? "")
                == size(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: ack))),
            "the CONNACK"
        )
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("drops are logged as a warning naming the client, at most once per 10 s per client")
    func dropWarning() throws {
        let (server, port) = try AviaryBinary.serve(["--log-format", "json", "--max-queued-messages", "2"])
        let offline = try TestClient(port: port, version: .v3_1_1)
        try offline.connect("offline-q", cleanStart: false)
        _ = try offline.subscribe("q", qos: .atLeastOnce)
        offline.disconnect()
        #expect(offline.waitClosed())
        let lines = (1...6).map { "m\($0)" }.joined(separator: "\n")
        let pub = try Subprocess.run(["sh", "-c", "printf '\(lines)\\n' | mosquitto_pub -p \(port) -t q -q 1 -l"])
        #expect(pub.code == 0)
        func dropWarnings() -> [[String: Any]] {
            server.lines.filter { $0.hasPrefix("{") }.compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.filter { ($0["message"] as? String)?.hasPrefix("messages dropped") == true }
        }
        try eventually("the drop warning") { !dropWarnings().isEmpty }
        // A later marker in the log (a warning too: a protocol error from another client): once
        // it is there, every drop before it has been logged, or not.
        let marker = try TestClient(port: port)
        marker.sendRaw([0xC0, 0x00])  // PINGREQ before CONNECT
        try eventually("the marker's log line") { server.lines.contains { $0.contains("protocol error") } }
        let warnings = dropWarnings()
        #expect(warnings.count == 1, "4 drops, one warning")
        #expect(warnings.first?["level"] as? String == "warning")
        #expect(warnings.first?["client.id"] as? String == "offline-q")
        #expect(warnings.first?["queue.max"] as? String == "2")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("SIGTERM with clients connected: 5.0 clients get 0x8B, every socket closes, exit 0 in time")
    func sigtermWithClients() throws {
        let (server, port) = try AviaryBinary.serve(["--log-level", "info"])
        let v5 = try (0..<3).map { i in
            let c = try TestClient(port: port, version: .v5)
            try c.connect("v5-\(i)")
            return c
        }
        let v311 = try TestClient(port: port, version: .v3_1_1)
        try v311.connect("v311")
        let started = Date()
        server.signal(SIGTERM)
        for c in v5 {
            let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .serverShuttingDown)
            #expect(c.waitClosed())
        }
        #expect(v311.waitClosed(), "3.1.1 has no DISCONNECT from the server: the socket is closed")
        #expect(server.wait(timeout: 12) == 0)
        #expect(Date().timeIntervalSince(started) < 5, "no clients to wait for: quick")
        #expect(server.output.contains("aviary stopped"))
    }

    /// A 5.0 subscriber with a tiny receive window that stops reading while a publisher floods it:
    /// the broker's DISCONNECT cannot be flushed, so a graceful shutdown waits (bounded).
    static func stuckSubscriber(port: Int, apiPort: Int) throws -> (TestClient, Subprocess) {
        let stuck = try TestClient(port: port, version: .v5, receiveBuffer: 4096)
        try stuck.connect("stuck")
        _ = try stuck.subscribe("flood")
        let flood = try Subprocess([
            "sh", "-c", "head -c 16000000 /dev/zero | tr '\\0' a | fold -w 32768 | mosquitto_pub -p \(port) -t flood -l -q 0",
        ])
        // Until the broker holds bytes it cannot write to the stuck client (instead of a sleep).
        try eventually("the stuck client's socket to be full", timeout: 15) {
            let row = try Subprocess.run(["curl", "-s", "-u", "admin:public", "http://127.0.0.1:\(apiPort)/api/v4/clients/stuck"]).output
            let json = try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any]
            let client = (json?["data"] as? [[String: Any]])?.first
            return ((client?["send_pend"] as? NSNumber)?.intValue ?? 0) > 0
        }
        return (stuck, flood)
    }

    @Test("a subscriber that never reads holds shutdown only up to its bound; exit 0")
    func boundedShutdown() throws {
        let (server, port) = try AviaryBinary.serve()
        let (stuck, flood) = try Self.stuckSubscriber(port: port, apiPort: try AviaryBinary.apiPort(server))
        let started = Date()
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        let elapsed = Date().timeIntervalSince(started)
        // Whether its DISCONNECT can still be written depends on how far the kernel's send buffer
        // has grown (autotuning), so there is no honest lower bound; the upper one is the close
        // bound (MQTTConnectionHandler.lingerLimit, 2 s) well inside the shutdown's own 10 s.
        #expect(elapsed < 11, "bounded: \(elapsed) s")
        withExtendedLifetime((stuck, flood)) {}
    }

    @Test("a second SIGTERM during a slow shutdown exits at once")
    func secondSignal() throws {
        let (server, port) = try AviaryBinary.serve()
        // A socket that never sends CONNECT has no session to close: the graceful shutdown waits
        // for it (up to its bound), whatever the kernel's buffers do — a deterministic slow shutdown.
        let silent = try TestClient(port: port)
        try eventually("the silent socket to be counted") {
            (try? Subprocess.run(["curl", "-s", "-u", "admin:public", "http://127.0.0.1:\(try AviaryBinary.apiPort(server))/metrics"]).output
                .contains("aviary_sockets_open 1")) == true
        }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 1) == nil, "the first signal starts a shutdown that waits for the open socket")
        let started = Date()
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 3) == 128 + SIGTERM)
        #expect(Date().timeIntervalSince(started) < 2)
        withExtendedLifetime(silent) {}
    }
}
