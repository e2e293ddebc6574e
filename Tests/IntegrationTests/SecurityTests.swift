import Broker
import Foundation
import TestSupport
import Testing

/// The management API is closed by default: loopback unless the operator sets a password,
/// failed logins slowed down per address, and no secret in any log line.
@Suite(.timeLimit(.minutes(2)))
struct SecurityTests {
    @Test(
        "a non-loopback API with the default password is refused before any port opens, whatever the source",
        arguments: [
            (["--api-host", "0.0.0.0"], [:], "flag --api-host"),
            ([], ["AVIARY_API_HOST": "0.0.0.0"], "environment variable AVIARY_API_HOST"),
            (["--api-host", "::", "--api-user", "ops"], [:], "flag --api-host"),
        ] as [([String], [String: String], String)]
    )
    func defaultCredentialsRefused(args: [String], environment: [String: String], source: String) throws {
        let r = try Subprocess.run(
            [Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off"] + args,
            environment: environment
        )
        #expect(r.code == 1)
        #expect(r.output.contains("refusing to serve the management API"), "\(r.output)")
        #expect(r.output.contains(source))
        #expect(r.output.contains("--api-password") && r.output.contains("AVIARY_API_PASSWORD"), "it says how to set one")
        #expect(!r.output.contains("listening"))
    }

    @Test("with a password of its own the API may listen on every address; loopback needs none")
    func ownPasswordAccepted() async throws {
        let (server, _) = try AviaryBinary.serve(["--api-host", "0.0.0.0"], environment: ["AVIARY_API_PASSWORD": "Zq8-own-secret"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        #expect(try await HTTP.request("GET", "\(api)/api/v4/brokers", auth: "admin:Zq8-own-secret").status == 200)
        #expect(try await HTTP.request("GET", "\(api)/api/v4/brokers").status == 401)
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("repeated failures from one address are slowed down; a success resets it; 401 carries WWW-Authenticate")
    func failureSlowdown() async throws {
        let h = try await APIHarness.start()
        var took: [Double] = []
        for _ in 1...6 {
            let started = Date()
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients", auth: "admin:guess")
            took.append(Date().timeIntervalSince(started))
            #expect(r.status == 401)
            #expect(r.headers["www-authenticate"] == "Basic realm=\"aviary\"")
            #expect(r.code == 103)
        }
        // Lower bounds only, and one "some of the first ones were quick": a loaded machine makes
        // requests slower, never faster. Requests 2–4 follow fewer than 4 failures and are not
        // delayed (were they, all would take ≥ 0.25 s); the 5th waits 0.25 s, the 6th 0.5 s.
        #expect(took[4] >= 0.24 && took[5] >= 0.49, "then each waits longer: \(took)")
        // That the first failures wait nothing, the doubling, the cap and the reset are checked
        // in simulated time (AuthThrottleTests); wall-clock upper bounds flake on a loaded machine.
        let started = Date()
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/clients").status == 200)
        #expect(Date().timeIntervalSince(started) >= 0.99, "a request from a throttled address waits before its credentials are checked")
        for _ in 1...2 { #expect(try await HTTP.request("GET", "\(h.base)/api/v4/clients", auth: "admin:guess").status == 401) }
        #expect(try await HTTP.request("GET", "\(h.base)/api/v4/clients", auth: "admin:guess").status == 401)
        await h.stop()
    }

    @Test("no secret appears in any log line, even at trace level")
    func noSecretsInLogs() async throws {
        let apiSecret = "Api-Secret-4711"
        let (server, port) = try AviaryBinary.serve(["--log-level", "trace", "--api-password", apiSecret])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        #expect(try await HTTP.request("GET", "\(api)/api/v4/clients", auth: "admin:Wrong-Guess-0815").status == 401)
        #expect(try await HTTP.request("GET", "\(api)/api/v4/clients", auth: "admin:\(apiSecret)").status == 200)
        let pub = try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-u", "sensor", "-P", "Mqtt-Secret-1234", "-t", "s", "-m", "x"])
        #expect(pub.code == 0)
        try eventually("the MQTT client's disconnect to be logged") { server.output.contains("client disconnected") }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        let log = server.output
        #expect(log.contains("client connected") && log.contains("sensor"), "the log is there, with the user name")
        for secret in [apiSecret, "Wrong-Guess-0815", "Mqtt-Secret-1234", Data("admin:\(apiSecret)".utf8).base64EncodedString()] {
            #expect(!log.contains(secret), "\(secret) leaked into the log")
        }
    }
}
