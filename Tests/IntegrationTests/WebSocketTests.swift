import Foundation
import TestSupport
import Testing

/// MQTT over WebSockets on the real binary: paho-mqtt's websockets transport (3.1.1 and 5.0,
/// every QoS, ws:// and wss://), a hand-written client that splits packets across frames,
/// text and oversized frames, bad upgrade requests, counters and kick.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct WebSocketTests {
    static let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/websockets.py").path

    /// `aviary serve` with ws:// (and wss:// when `tls`) on free ports: (server, ws, wss, api).
    static func serve(tls: Bool = false) throws -> (Subprocess, Int, Int?, Int) {
        var extra = ["--ws-port", "0"]
        if tls {
            let dir = try #require(TLSTests.certificates, "openssl made the certificates")
            extra += ["--tls-cert", "\(dir)/server.pem", "--tls-key", "\(dir)/server.key", "--mqtt-tls-port", "0", "--wss-port", "0"]
        }
        let (server, _) = try AviaryBinary.serve(extra)
        func port(_ scheme: String) -> Int? {
            server.lines.first { $0.contains("on \(scheme)://") }.flatMap { $0.split(separator: ":").last }.flatMap {
                Int($0.split(separator: "/").first ?? "")
            }
        }
        try eventually("the WebSocket ports to be printed") { port("ws") != nil && (!tls || port("wss") != nil) }
        return (server, port("ws")!, port("wss"), try AviaryBinary.apiPort(server))
    }

    static func run(_ args: [String]) throws -> [String: Any] {
        let python = try #require(Tools.python, "paho-mqtt is installed")
        let r = try Subprocess.run([python, script] + args, timeout: 90)
        #expect(r.code == 0, "\(r.output)")
        let line = try #require(r.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(r.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static func curl(_ args: [String]) throws -> String {
        try Subprocess.run(["curl", "-s"] + args).output
    }

    @Test("paho-mqtt over ws:// and wss://: MQTT 3.1.1 and 5.0 at QoS 0, 1 and 2, every message through", .enabled(if: Tools.python != nil))
    func paho() throws {
        let (server, ws, wss, _) = try Self.serve(tls: true)
        for (port, ca) in [(ws, nil), (wss!, "\(TLSTests.certificates!)/ca.pem")] as [(Int, String?)] {
            let result = try Self.run(["paho", "\(port)", "/mqtt"] + (ca.map { [$0] } ?? []))
            for version in ["3.1.1", "5.0"] {
                for qos in 0...2 {
                    #expect(result["\(version) qos\(qos)"] as? Int == 20, "\(ca == nil ? "ws" : "wss") \(version) QoS \(qos): \(result)")
                }
            }
        }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test(
        """
        a packet split across three frames and two packets in one frame; the client's counters are its MQTT bytes, not frame bytes; DISCONNECT ends \
        with the closing handshake
        """,
        .enabled(if: Tools.python != nil)
    )
    func framing() throws {
        let (server, ws, _, api) = try Self.serve()
        let result = try Self.run(["raw", "\(ws)", "/mqtt"])
        #expect(
            result["connack"] as? Int == 1 && result["suback"] as? Int == 1 && result["puback"] as? Int == 1 && result["publish"] as? Int == 1,
            "\(result)"
        )
        #expect(result["close_opcode"] as? Int == 8 && result["close_code"] as? Int == 1000, "\(result)")
        let row = try Self.curl(["-u", "admin:public", "http://127.0.0.1:\(api)/api/v4/clients/ws-raw"])
        let client = try #require((try JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any])?["data"] as? [[String: Any]]).first
        #expect(client?["recv_oct"] as? Int == result["mqtt_bytes_sent"] as? Int, "\(row) \(result)")
        #expect(client?["send_oct"] as? Int == result["mqtt_bytes_received"] as? Int, "\(row) \(result)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("a text frame gets close 1003, an oversized frame close 1009; each closes only its own connection", .enabled(if: Tools.python != nil))
    func badFrames() throws {
        let (server, ws, _, _) = try Self.serve()
        let text = try Self.run(["text", "\(ws)", "/mqtt"])
        #expect(text["close_code"] as? Int == 1003 && text["closed"] as? Bool == true, "\(text)")
        let big = try Self.run(["oversized", "\(ws)", "/mqtt"])
        #expect(big["close_code"] as? Int == 1009 && big["closed"] as? Bool == true, "\(big)")
        let after = try Self.run(["raw", "\(ws)", "/mqtt"])
        #expect(after["connack"] as? Int == 1, "the listener goes on: \(after)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("a bad upgrade request gets a clear HTTP error: 404 naming the path, 426 without an upgrade, 400 for another subprotocol")
    func badUpgrades() throws {
        let (server, ws, _, _) = try Self.serve()
        let base = "http://127.0.0.1:\(ws)"
        let wrongPath = try Self.curl(["-w", "\n%{http_code}", "\(base)/other"])
        #expect(wrongPath.hasSuffix("404") && wrongPath.contains("served at /mqtt"), "\(wrongPath)")
        let plain = try Self.curl(["-w", "\n%{http_code}", "\(base)/mqtt"])
        #expect(plain.hasSuffix("426") && plain.contains("MQTT over WebSockets only"), "\(plain)")
        let otherProtocol = try Self.curl([
            "-w", "\n%{http_code}", "-H", "Upgrade: websocket", "-H", "Connection: Upgrade", "-H", "Sec-WebSocket-Version: 13",
            "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Protocol: chat", "\(base)/mqtt",
        ])
        #expect(otherProtocol.hasSuffix("400") && otherProtocol.contains("Sec-WebSocket-Protocol mqtt"), "\(otherProtocol)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("a WebSocket client is in the client table like any other and is kicked with DISCONNECT 0x98", .enabled(if: Tools.python != nil))
    func kick() throws {
        let (server, ws, _, api) = try Self.serve()
        let client = try Subprocess([Tools.python!, Self.script, "kick", "\(ws)", "/mqtt"])
        try eventually("the WebSocket client to connect", timeout: 10) { client.output.contains("CONNECTED") }
        let row = try Self.curl(["-u", "admin:public", "http://127.0.0.1:\(api)/api/v4/clients/ws-kick"])
        #expect(row.contains("\"connected\":true") && row.contains("\"proto_ver\":5"), "\(row)")
        _ = try Self.curl(["-u", "admin:public", "-X", "DELETE", "http://127.0.0.1:\(api)/api/v4/clients/ws-kick"])
        #expect(client.wait(timeout: 15) == 0, "\(client.output)")
        #expect(client.output.contains("\"disconnect_reason\": 152"), "0x98: \(client.output)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }
}
