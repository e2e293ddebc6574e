import Foundation
import TestSupport
import Testing

/// MQTT over TLS and the HTTPS API, with a throwaway CA made by openssl for each run, checked
/// with mosquitto_pub/sub --cafile, paho-mqtt's tls_set and curl --cacert.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TLSTests {
    /// ca.pem, server.pem/server.key (for 127.0.0.1 and localhost), client.pem/client.key.
    static let certificates: String? = {
        let dir = NSTemporaryDirectory() + "aviary-tls-\(UUID().uuidString.prefix(8))"
        let script = """
            set -e
            mkdir -p \(dir) && cd \(dir)
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=aviary test CA' -keyout ca.key -out ca.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj '/CN=device-1' -keyout client.key -out client.csr 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null
            """
        guard let r = try? Subprocess.run(["sh", "-c", script], timeout: 60), r.code == 0 else { return nil }
        return dir
    }()

    static func serveTLS(_ extra: [String] = []) throws -> (server: Subprocess, plain: Int, tls: Int, api: Int, dir: String) {
        let dir = try #require(Self.certificates, "openssl made the certificates")
        let (server, plain) = try AviaryBinary.serve(
            ["--tls-cert", "\(dir)/server.pem", "--tls-key", "\(dir)/server.key", "--mqtt-tls-port", "0"] + extra
        )
        var tls: Int?
        try eventually("the TLS port to be printed") {
            tls = server.lines.first { $0.contains("listening for MQTT over TLS on") }.flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
            return tls != nil
        }
        return (server, plain, tls!, try AviaryBinary.apiPort(server), dir)
    }

    @Test("mosquitto_pub/sub over TLS with --cafile; the plain listener still works; a plain client on the TLS port gets nothing")
    func mosquittoOverTLS() throws {
        let (server, plain, tls, api, dir) = try Self.serveTLS()
        let sub = try Subprocess([
            "mosquitto_sub", "-h", "127.0.0.1", "-p", "\(tls)", "--cafile", "\(dir)/ca.pem", "-t", "tls/#", "-C", "2", "-v", "-W", "20",
        ])
        try AviaryBinary.waitForSubscriptions(api: "http://127.0.0.1:\(api)")
        #expect(
            try Subprocess.run([
                "mosquitto_pub", "-h", "127.0.0.1", "-p", "\(tls)", "--cafile", "\(dir)/ca.pem", "-t", "tls/a", "-m", "encrypted", "-V", "mqttv5",
            ]).code == 0
        )
        #expect(try Subprocess.run(["mosquitto_pub", "-p", "\(plain)", "-t", "tls/b", "-m", "plain"]).code == 0)
        #expect(sub.wait(timeout: 20) == 0)
        #expect(sub.output == "tls/a encrypted\ntls/b plain\n", "one broker behind both listeners")
        let wrongCA = try Subprocess.run([
            "mosquitto_pub", "-h", "127.0.0.1", "-p", "\(tls)", "--cafile", "/etc/ssl/certs/ca-certificates.crt", "-t", "x", "-m", "x",
        ])
        #expect(wrongCA.code != 0, "our certificate does not verify against the system CAs")
        let c = try TestClient(port: tls)
        c.sendRaw([0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61])
        // The TLS layer answers plain MQTT with an alert and closes: nothing decodes as MQTT.
        #expect(throws: (any Error).self, "plain MQTT on the TLS port gets no CONNACK") { try c.receive(timeout: 2) }
        #expect(c.packetsRead == 0)
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("paho-mqtt over TLS (tls_set with our CA)")
    func pahoOverTLS() throws {
        let python = try #require(Tools.python)
        let (server, _, tls, _, dir) = try Self.serveTLS()
        let script = """
            import sys, threading, paho.mqtt.client as mqtt
            port, ca = int(sys.argv[1]), sys.argv[2]
            def make(cid):
                if hasattr(mqtt, "CallbackAPIVersion"):
                    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=cid)
                return mqtt.Client(client_id=cid)
            got = threading.Event()
            subscribed = threading.Event()
            sub = make("paho-tls-sub")
            sub.tls_set(ca_certs=ca)
            sub.on_message = lambda c, u, m: (print("got", m.topic, m.payload.decode()), got.set())
            sub.on_subscribe = lambda *a: subscribed.set()
            sub.connect("127.0.0.1", port)
            sub.subscribe("paho/tls", qos=1)
            sub.loop_start()
            pub = make("paho-tls-pub")
            pub.tls_set(ca_certs=ca)
            pub.connect("127.0.0.1", port)
            pub.loop_start()
            subscribed.wait(10)
            pub.publish("paho/tls", "over tls", qos=1).wait_for_publish()
            ok = got.wait(10)
            print("cipher", sub.socket().cipher()[1])
            sys.exit(0 if ok else 1)
            """
        let r = try Subprocess.run([python, "-c", script, "\(tls)", "\(dir)/ca.pem"], timeout: 30)
        #expect(r.code == 0, "\(r.output)")
        #expect(r.output.contains("got paho/tls over tls"))
        #expect(r.output.contains("cipher TLSv1.2") || r.output.contains("cipher TLSv1.3"), "\(r.output)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("the API over HTTPS: curl --cacert works, plain HTTP does not")
    func httpsAPI() async throws {
        let (server, _, _, api, dir) = try Self.serveTLS(["--api-tls", "true"])
        #expect(server.output.contains("management API on https://"))
        let r = try await HTTP.request("GET", "https://127.0.0.1:\(api)/api/v4/brokers", extra: ["--cacert", "\(dir)/ca.pem"])
        #expect(r.status == 200)
        #expect(r.data.first?["version"] != nil)
        let plain = try await Subprocess.runAsync([
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:public", "http://127.0.0.1:\(api)/api/v4/brokers",
        ])
        #expect(plain.code != 0 && plain.output.hasSuffix("000"), "no HTTP answer over plain HTTP: \(plain.code) \(plain.output)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("tls_verify_clients: a client without a certificate from tls_ca is refused, one with it connects")
    func clientCertificates() throws {
        let dir = try #require(Self.certificates)
        let (server, _, tls, _, _) = try Self.serveTLS(["--tls-ca", "\(dir)/ca.pem", "--tls-verify-clients", "true"])
        let base = ["mosquitto_pub", "-h", "127.0.0.1", "-p", "\(tls)", "--cafile", "\(dir)/ca.pem", "-t", "c", "-m", "x"]
        #expect(try Subprocess.run(base).code != 0, "no client certificate")
        #expect(try Subprocess.run(base + ["--cert", "\(dir)/server.pem", "--key", "\(dir)/server.key"]).code != 0, "a certificate for servers only")
        #expect(try Subprocess.run(base + ["--cert", "\(dir)/client.pem", "--key", "\(dir)/client.key"]).code == 0)
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("TLS settings that do not fit together, or files that do not load, stop the start with the setting named")
    func badTLSSettings() throws {
        let dir = try #require(Self.certificates)
        let cases: [([String], String)] = [
            (["--tls-cert", "\(dir)/server.pem"], "tls_cert (flag --tls-cert) needs tls_key"),
            (["--api-tls", "true"], "api_tls (flag --api-tls) needs tls_cert and tls_key"),
            (["--tls-cert", "\(dir)/server.pem", "--tls-key", "\(dir)/server.pem"], "tls_key (flag --tls-key): cannot load a PEM private key"),
            (["--tls-cert", "\(dir)/server.key", "--tls-key", "\(dir)/server.key"], "tls_cert (flag --tls-cert)"),
            (["--tls-cert", "\(dir)/server.pem", "--tls-key", "\(dir)/server.key", "--tls-verify-clients", "true"], "needs tls_ca"),
        ]
        for (args, message) in cases {
            let r = try Subprocess.run(
                [Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--mqtt-tls-port", "0", "--ws-port", "off", "--wss-port", "off"] + args
            )
            #expect(r.code == 1, "\(args)")
            #expect(r.output.contains(message), "\(args): \(r.output)")
            #expect(!r.output.contains("listening"))
        }
    }
}
