import BrokerManagement
import Foundation
import TestSupport
import Testing

/// The OpenAPI document of the management API: served, in sync with its generator, and checked
/// against the live API by schemathesis (every response matches it, no request gets a 5xx).
@Suite(.timeLimit(.minutes(3)))
struct OpenAPITests {
    static var python: String {
        ["python3", "/usr/bin/python3"].first { (try? Subprocess.run([$0, "-m", "schemathesis.cli", "--version"]))?.code == 0 } ?? "python3"
    }

    @Test("/api/v4/openapi.json is api/openapi.json byte for byte, behind auth; its paths and methods are exactly the routes served")
    func served() async throws {
        let h = try await APIHarness.start()
        let r = try await HTTP.request("GET", "\(h.base)/api/v4/openapi.json")
        #expect(r.status == 200 && r.headers["content-type"] == "application/json")
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/openapi.json", auth: nil).status == 401)
        let file = try Data(contentsOf: Tools.packageRoot.appendingPathComponent("api/openapi.json"))
        #expect(Data(r.body) == file, "the served document is the repository's file")
        let document = try JSONSerialization.jsonObject(with: file) as? [String: Any]
        let paths = document?["paths"] as? [String: [String: Any]] ?? [:]
        let documented = Set(
            paths.flatMap { path, operations in
                operations.keys.filter { ["get", "put", "post", "delete", "patch"].contains($0) }.map { "\($0.uppercased()) \(path)" }
            }
        )
        let served = Set(ManagementAPIContract.routes.map { "\($0.method) \($0.path)" })
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(served.count >= 20)
        // The catalogue at /api/v4 lists documented paths.
        for entry in try await HTTP.request("GET", "\(h.base)/api/v4").data {
            let path = (entry["path"] as? String ?? "").replacingOccurrences(of: ":clientid", with: "{clientid}")
                .replacingOccurrences(of: ":username", with: "{username}").replacingOccurrences(of: ":node", with: "{node}")
            let full = "/api/v4" + (path.hasSuffix("/") ? String(path.dropLast()) : path)
            #expect(documented.contains("\(entry["method"] as? String ?? "") \(full)"), "\(full) is documented")
        }
        await h.stop()
    }

    @Test("absurd paging and timestamp values get a 400 or an empty page, never a crash")
    func extremeValues() async throws {
        let h = try await APIHarness.start()
        let c = try TestClient(port: h.mqtt.port)
        try c.connect("extreme")
        _ = try c.subscribe("x")
        for path in ["/api/v4/clients", "/api/v4/subscriptions", "/api/v3/connections"] {
            let r = try await HTTP.request("GET", "\(h.base)\(path)?_page=9223372036854775807&_limit=370")
            #expect(r.status == 200 && r.data.isEmpty, "\(path)")
            #expect(r.meta["hasnext"] as? Bool != true)
        }
        for query in [
            "_gte_created_at=9223372036854775807", "_lte_connected_at=-9223372036854775808", "_gte_mqueue_len=18446744073709551616",
            "_page=9223372036854775808", "proto_name=AAA",
        ] {
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients?\(query)")
            #expect(r.status == 400 && r.code == 108, "\(query)")
        }
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/subscriptions?_match_topic=a%00b").status == 400)
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/clients?_order=desc").ids == ["extreme"], "_order alone orders by client id")
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/brokers").status == 200, "still serving")
        await h.stop()
    }

    @Test("schemathesis against the live API: every response matches the document, no 5xx")
    func schemathesis() async throws {
        let (server, port) = try AviaryBinary.serve()
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        // Something to list: 3.1.1 and 5.0 clients, a user name, a shared subscription.
        let subscribers = try [
            Subprocess(["mosquitto_sub", "-p", "\(port)", "-t", "a/#", "-i", "sub one", "-u", "alice"]),
            Subprocess(["mosquitto_sub", "-p", "\(port)", "-t", "$share/g/b/+", "-i", "v5/sub", "-V", "mqttv5", "-q", "1"]),
        ]
        let apiPort = try AviaryBinary.apiPort(server)
        try await eventuallyAsync("both subscribers in the client table") {
            let r = try await HTTP.request("GET", "http://127.0.0.1:\(apiPort)/api/v4/clients?conn_state=connected")
            return r.status == 200 && Set(r.ids) == ["sub one", "v5/sub"]
        }
        let r = try await Subprocess.runAsync(
            [
                Self.python, "-m", "schemathesis.cli", "run", "\(api)/api/v4/openapi.json", "--url", api, "-a", "admin:public",
                "--checks", "all",
                // A kicked mosquitto_sub (3.x) reconnects, and an unknown id is 200 + [] (as in NanoMQ and EMQX):
                // a GET after a DELETE may rightly succeed.
                "--exclude-checks", "use_after_free",
                "-n", "25", "--seed", "20261121", "--request-timeout", "10", "--no-color",
            ],
            timeout: 150
        )
        #expect(r.code == 0, "\(r.output.suffix(4000))")
        #expect(r.output.contains("passed"))
        #expect(try await HTTP.request("GET", "\(api)/api/v4/brokers").status == 200, "the server survived")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        withExtendedLifetime(subscribers) {}
    }
}
