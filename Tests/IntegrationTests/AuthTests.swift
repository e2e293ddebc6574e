import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// MQTT authentication and topic ACLs: the password file (mosquitto_passwd's format, written by
/// `aviary passwd`), allow_anonymous, the ACL file, and SIGHUP reloads.
@Suite(.timeLimit(.minutes(2)))
struct AuthTests {
    /// Written by mosquitto_passwd 2.0.11 (`mosquitto_passwd -c -b FILE alice secret1`).
    static let mosquittoLine =
        "alice:$7$101$tPqtYW/haf2wFb0q$wdw0kQmjMNJtT5gRnWthwnKYFoni96o65oWQDnwv6Cq/qifisz1NgvMKo1z2vABcpHf1TUAmHuyp9MgF2LotcQ=="

    static func policy(passwords: String? = nil, acl: String? = nil, allowAnonymous: Bool = true) throws -> SecurityPolicy {
        var settings = SecurityPolicy.Settings()
        settings.allowAnonymous = allowAnonymous
        if let passwords { settings.passwordFile = try temporaryFile(passwords, suffix: ".passwd") }
        if let acl { settings.aclFile = try temporaryFile(acl, suffix: ".acl") }
        return try SecurityPolicy(settings: settings)
    }

    static func passwordsText() -> String {
        var file = PasswordFile()
        file.set(user: "bob", password: "bob-pass")
        return file.text + mosquittoLine + "\n"
    }

    @Test(
        "bad credentials get 0x86 (3.1.1: 4), anonymous clients 0x87 (3.1.1: 5) when not allowed; mosquitto_passwd's hashes verify",
        arguments: [ProtocolVersion.v5, .v3_1_1]
    )
    func passwordAuthentication(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start(security: try Self.policy(passwords: Self.passwordsText(), allowAnonymous: false))
        var clients: [TestClient] = []
        func attempt(_ user: String?, _ password: String?) throws -> (ReasonCode, Int) {
            let c = try TestClient(port: h.port, version: version)
            clients.append(c)
            let ack = try c.connect("auth-\(user ?? "anon")", username: user, password: password)
            return (ack.reasonCode, c.bytesRead)
        }
        #expect(try attempt("bob", "bob-pass").0 == .success)
        #expect(try attempt("alice", "secret1").0 == .success, "a line written by mosquitto_passwd")
        let wrong = try attempt("bob", "nope")
        #expect(wrong.0 == .badUserNameOrPassword)
        #expect(try attempt("mallory", "bob-pass").0 == .badUserNameOrPassword)
        #expect(try attempt("bob", nil).0 == .badUserNameOrPassword)
        #expect(try attempt(nil, nil).0 == .notAuthorized)
        if version == .v3_1_1 { #expect(wrong.1 == 4, "3.1.1 CONNACK 20 02 00 04") }
        #expect(h.broker.security.authFailures.load == 4)
        #expect(h.broker.metrics.connectionsRefused.load == 4)
        #expect(h.broker.clients().map(\.info.clientId).sorted() == ["auth-alice", "auth-bob"])
        await h.stop()
    }

    @Test("allow_anonymous stays true by default: clients without credentials connect")
    func anonymousByDefault() async throws {
        let h = try await BrokerHarness.start(security: try Self.policy(passwords: Self.passwordsText()))
        let c = try TestClient(port: h.port)
        #expect(try c.connect("guest").reasonCode == .success)
        let bad = try TestClient(port: h.port)
        #expect(try bad.connect("liar", username: "bob", password: "x").reasonCode == .badUserNameOrPassword, "a wrong password is still refused")
        await h.stop()
    }

    static let acl = """
        # anonymous clients
        topic read public/#
        user bob
        topic readwrite bob/#
        topic write commands/bob
        topic read $SYS/broker/uptime
        # everyone
        pattern readwrite devices/%c/#
        pattern read inbox/%u/#
        """

    @Test(
        "ACL: a denied PUBLISH is dropped (5.0: PUBACK/PUBREC 0x87), a denied SUBSCRIBE gets 0x87 (3.1.1: 0x80); %u and %c; counted",
        arguments: [ProtocolVersion.v5, .v3_1_1]
    )
    func accessControl(version: ProtocolVersion) async throws {
        let h = try await BrokerHarness.start(security: try Self.policy(passwords: Self.passwordsText(), acl: Self.acl))
        let watcher = try TestClient(port: h.port)
        try watcher.connect("dev-watch", username: "bob", password: "bob-pass")
        #expect(try watcher.subscribe("bob/#", qos: .atLeastOnce) == [.grantedQoS1])
        let denied: ReasonCode = version == .v5 ? .notAuthorized : .unspecifiedError
        #expect(try watcher.subscribe("#", id: 2) == [.notAuthorized], "not every topic is readable by bob (the watcher speaks 5.0)")

        let bob = try TestClient(port: h.port, version: version)
        try bob.connect("bob-1", username: "bob", password: "bob-pass")
        #expect(try bob.subscribe("bob/+/x") == [.grantedQoS0], "covered by bob/#")
        #expect(try bob.subscribe("commands/bob", id: 2) == [denied], "write-only")
        #expect(try bob.subscribe("inbox/bob/#", id: 3) == [.grantedQoS0], "pattern with %u")
        #expect(try bob.subscribe("inbox/alice/#", id: 4) == [denied])
        #expect(try bob.subscribe("devices/bob-1/#", id: 5) == [.grantedQoS0], "pattern with %c")
        #expect(try bob.subscribe("devices/+/#", id: 6) == [denied], "another client's devices")

        bob.publish("bob/ok", "allowed", qos: .atLeastOnce, id: 10)
        let ack = try bob.receive { if case .puback(let a) = $0 { a } else { nil } }
        #expect(ack.reasonCode == .success, "the watcher subscribes to bob/#: a 5.0 publisher hears 0x00, not 0x10")
        #expect(try watcher.receivePublish().text == "allowed")

        bob.publish("elsewhere/x", "denied", qos: .atLeastOnce, id: 11)
        let deniedAck = try bob.receive { if case .puback(let a) = $0 { a } else { nil } }
        #expect(deniedAck.reasonCode == (version == .v5 ? .notAuthorized : .success))
        bob.publish("public/news", "denied too", qos: .exactlyOnce, id: 12)
        let rec = try bob.receive { if case .pubrec(let a) = $0 { a } else { nil } }
        #expect(rec.reasonCode == (version == .v5 ? .notAuthorized : .success))

        let anonymous = try TestClient(port: h.port, version: version)
        try anonymous.connect("anon-reader")
        #expect(try anonymous.subscribe("public/#") == [.grantedQoS0])
        #expect(try anonymous.subscribe("bob/#", id: 2) == [denied])
        anonymous.publish("public/x", "anonymous may only read")

        #expect(watcher.isSilent(for: 1.0), "nothing denied was routed")
        #expect(anonymous.isSilent(for: 1.0))
        #expect(h.broker.security.denials.load == 8, "every denial is counted: 5 subscriptions, 3 publishes")
        await h.stop()
    }

    /// Written for Mosquitto: `deny` inside a granted subtree, for a user and in a pattern.
    static let mosquittoDenyACL = """
        topic read sensors/#
        topic deny sensors/secret/#
        user bob
        topic readwrite plant/#
        topic deny plant/valves/+/override
        user alice
        topic readwrite plant/#
        pattern deny devices/%c/config
        pattern readwrite devices/%c/#
        """

    @Test(
        """
        Mosquitto's `deny`: checked before grants, at PUBLISH, at SUBSCRIBE (0x87 / 3.1.1 0x80) and at delivery (nothing inside a granted wildcard \
        leaks); mosquitto_sub and mosquitto_pub
        """
    )
    func mosquittoDeny() async throws {
        let h = try await BrokerHarness.start(security: try Self.policy(passwords: Self.passwordsText(), acl: Self.mosquittoDenyACL))
        // A subscription entirely inside a deny rule is refused at SUBSCRIBE time.
        let v5 = try TestClient(port: h.port, version: .v5)
        _ = try v5.connect("deny-v5")
        #expect(try v5.subscribe("sensors/secret/#") == [.notAuthorized])
        #expect(try v5.subscribe("sensors/secret/x", id: 2) == [.notAuthorized])
        #expect(try v5.subscribe("sensors/#", id: 3) == [.grantedQoS0], "granted: the deny rule covers only part of it")
        let v3 = try TestClient(port: h.port, version: .v3_1_1)
        _ = try v3.connect("deny-v3", username: "bob", password: "bob-pass")
        #expect(try v3.subscribe("plant/valves/7/override") == [ReasonCode(0x80)])
        // At delivery: mosquitto_sub on the granted wildcard never sees the denied topics.
        let sub = try Subprocess([
            "mosquitto_sub", "-p", "\(h.port)", "-u", "bob", "-P", "bob-pass", "-t", "plant/#", "-v", "-C", "2", "-W", "10", "-i", "bob-sub",
        ])
        try eventually("bob's subscription") { h.broker.subscriptions(clientId: "bob-sub").count == 1 }
        // The denied topic is refused to its publisher too (5.0 PUBACK 0x87).
        let pub = try Subprocess.run([
            "mosquitto_pub", "-p", "\(h.port)", "-V", "mqttv5", "-d", "-u", "bob", "-P", "bob-pass", "-q", "1", "-t", "plant/valves/7/override", "-m",
            "open",
        ])
        #expect(pub.output.contains("RC:135"), "\(pub.output)")
        // Published by alice, whom the ACL lets write there, it is still not delivered to bob.
        for (topic, text) in [("plant/valves/7/override", "open"), ("plant/valves/7/state", "closed"), ("plant/pumps/1", "on")] {
            #expect(
                try Subprocess.run(["mosquitto_pub", "-p", "\(h.port)", "-u", "alice", "-P", "secret1", "-q", "1", "-t", topic, "-m", text]).code == 0
            )
        }
        #expect(sub.wait(timeout: 10) == 0)
        #expect(sub.output == "plant/valves/7/state closed\nplant/pumps/1 on\n")
        // Patterns: devices/<own id>/# granted except devices/<own id>/config.
        let device = try TestClient(port: h.port, version: .v5)
        _ = try device.connect("dev1")
        #expect(try device.subscribe("devices/dev1/#") == [.grantedQoS0])
        #expect(try device.subscribe("devices/dev1/config", id: 2) == [.notAuthorized])
        device.publish("devices/dev1/config", "x", qos: .atLeastOnce, id: 5)
        let denied = try device.receive { if case .puback(let a) = $0 { a.reasonCode } else { nil } }
        #expect(denied == .notAuthorized)
        device.publish("devices/dev1/state", "ok", qos: .atLeastOnce, id: 6)
        #expect(try device.receivePublish().topic == "devices/dev1/state")
        // Retained messages under a deny rule are not sent on a granted wildcard either.
        let keeper = try TestClient(port: h.port, version: .v5)
        _ = try keeper.connect("keeper", username: "bob", password: "bob-pass")
        keeper.publish("plant/valves/9/override", "no", qos: .atLeastOnce, id: 1, retain: true)
        keeper.publish("plant/note", "yes", qos: .atLeastOnce, id: 2, retain: true)
        _ = try keeper.receive { if case .puback(let a) = $0, a.packetId == 2 { a } else { nil } }
        let late = try TestClient(port: h.port, version: .v5)
        _ = try late.connect("late", username: "bob", password: "bob-pass")
        _ = try late.subscribe("plant/#")
        #expect(try late.receivePublish().topic == "plant/note")
        #expect(late.isSilent(for: 1.0))
        #expect(h.broker.security.denials.load >= 6)
        await h.stop()
    }

    @Test(
        """
        the real binary: a will the ACL forbids refuses the CONNECT (0x87); bad passwords and ACL denials move /metrics; ACL denials are logged at \
        most once per connection every 10 s
        """
    )
    func denialsInMetricsAndLog() async throws {
        let passwords = try temporaryFile(Self.passwordsText(), suffix: ".passwd")
        let acl = try temporaryFile("user bob\ntopic readwrite bob/#\n", suffix: ".acl")
        defer {
            unlink(passwords)
            unlink(acl)
        }
        let (server, port) = try AviaryBinary.serve(["--password-file", passwords, "--acl-file", acl, "--log-level", "info"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        func metric(_ name: String) async throws -> Double {
            let text = String(decoding: try await HTTP.request("GET", "\(api)/metrics").body, as: UTF8.self)
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
        }
        #expect(try await metric("aviary_auth_failures_total") == 0)
        #expect(try await metric("aviary_acl_denials_total") == 0)
        // A will to a topic bob may not publish to: CONNACK 0x87, counted as an ACL denial.
        let willer = try TestClient(port: port, version: .v5)
        let refused = try willer.connect(
            "willer",
            username: "bob",
            password: "bob-pass",
            will: Will(topic: "elsewhere/x", payload: ByteBuffer(string: "w"))
        )
        #expect(refused.reasonCode == .notAuthorized)
        // A wrong password: counted as an authentication failure.
        let wrong = try TestClient(port: port, version: .v5)
        #expect(try wrong.connect("wrong", username: "bob", password: "nope").reasonCode == .badUserNameOrPassword)
        // Five denied publishes on one connection: five denials, one log line.
        let bob = try TestClient(port: port, version: .v5)
        #expect(try bob.connect("bob-1", username: "bob", password: "bob-pass").reasonCode == .success)
        for id in UInt16(1)...5 {
            bob.publish("elsewhere/y", "no", qos: .atLeastOnce, id: id)
            let code = try bob.receive { if case .puback(let a) = $0 { a.reasonCode } else { nil } }
            #expect(code == .notAuthorized)
        }
        #expect(try await metric("aviary_auth_failures_total") == 1)
        #expect(try await metric("aviary_acl_denials_total") == 6, "the will and five publishes")
        let lines = server.lines.filter { $0.contains("publish denied by the ACL") }
        #expect(lines.count == 1, "\(lines)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }

    @Test("an AVIARY_* variable that is not a setting gets a warning naming it; a real one does not")
    func unknownVariableWarning() throws {
        let r = try Subprocess.run([Tools.aviary, "serve", "--print-config"], environment: ["AVIARY_MQTT_PROT": "1884", "AVIARY_MQTT_PORT": "1885"])
        #expect(r.code == 0)
        #expect(r.output.contains("warning: AVIARY_MQTT_PROT is not a setting and is ignored"), "\(r.output)")
        #expect(!r.output.contains("AVIARY_MQTT_PORT is not a setting"))
        let line = r.output.split(separator: "\n").first { $0.hasPrefix("mqtt_port ") }
        #expect(line?.contains("= 1885") == true && line?.contains("environment variable AVIARY_MQTT_PORT") == true, "\(r.output)")
    }

    @Test("aviary passwd creates (mode 600), changes and deletes users; its hashes verify")
    func passwdCommand() throws {
        let file = NSTemporaryDirectory() + "aviary-passwd-\(UUID().uuidString.prefix(8))"
        defer { unlink(file) }
        func passwd(_ args: [String], input: String) throws -> (code: Int32, output: String) {
            try Subprocess.run(["sh", "-c", "printf '%s\\n' \"$0\" | \"$@\"", input, Tools.aviary, "passwd"] + args)
        }
        #expect(try passwd([file, "carol"], input: "first-pass").code == 0)
        #expect(try passwd([file, "dave"], input: "dave-pass").code == 0)
        var attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        var parsed = try PasswordFile(path: file)
        #expect(parsed.order == ["carol", "dave"])
        #expect(parsed.verify(user: "carol", password: Array("first-pass".utf8)) == true)
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("carol:$7$1000$"))
        #expect(try passwd([file, "carol", "--rounds", "2000"], input: "second-pass").code == 0)
        parsed = try PasswordFile(path: file)
        #expect(parsed.verify(user: "carol", password: Array("first-pass".utf8)) == false)
        #expect(parsed.verify(user: "carol", password: Array("second-pass".utf8)) == true)
        #expect(parsed.users["carol"]?.rounds == 2000)
        #expect(try passwd(["--delete", file, "dave"], input: "").code == 0)
        #expect(try PasswordFile(path: file).order == ["carol"])
        let missing = try passwd(["--delete", file, "nobody"], input: "")
        #expect(missing.code != 0 && missing.output.contains("no user 'nobody'"))
        #expect(try passwd([file, "bad:name"], input: "x").code != 0)
        attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("a bad password or ACL file stops the start with its setting, source, file and line")
    func badSecurityFiles() throws {
        let passwords = try temporaryFile("ok:$7$101$c2FsdA==$\(String(repeating: "A", count: 86))==\nbroken line\n", suffix: ".passwd")
        defer { unlink(passwords) }
        let p = try Subprocess.run([Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off", "--password-file", passwords])
        #expect(p.code == 1)
        #expect(p.output.contains("password_file (flag --password-file)") && p.output.contains("\(passwords) line 2"), "\(p.output)")
        let acl = try temporaryFile("user bob\ntopic readwrite bob/#\ntopic rw x\n", suffix: ".acl")
        defer { unlink(acl) }
        let a = try Subprocess.run(
            [Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off"],
            environment: ["AVIARY_ACL_FILE": acl]
        )
        #expect(a.code == 1)
        #expect(a.output.contains("acl_file (environment variable AVIARY_ACL_FILE)") && a.output.contains("\(acl) line 3"), "\(a.output)")
        #expect(a.output.contains("expected read, write, readwrite or deny, got 'rw'"))
    }

    @Test("SIGHUP reloads the password and ACL files without dropping connections; a broken file keeps the old rules")
    func reloadOnSIGHUP() throws {
        let passwords = try temporaryFile(Self.passwordsText(), suffix: ".passwd")
        let acl = try temporaryFile("user bob\ntopic readwrite bob/#\n", suffix: ".acl")
        defer {
            unlink(passwords)
            unlink(acl)
        }
        let (server, port) = try AviaryBinary.serve(
            ["--password-file", passwords, "--acl-file", acl, "--allow-anonymous", "false", "--log-level", "info"]
        )
        let bob = try TestClient(port: port)
        try bob.connect("bob-stays", username: "bob", password: "bob-pass")
        #expect(try bob.subscribe("shared/#") == [.notAuthorized])
        // New rules: carol appears, bob's password changes, bob may read shared/#.
        var file = try PasswordFile(path: passwords)
        file.set(user: "carol", password: "carol-pass")
        file.set(user: "bob", password: "new-bob-pass")
        try file.text.write(toFile: passwords, atomically: true, encoding: .utf8)
        try "user bob\ntopic readwrite bob/#\ntopic read shared/#\nuser carol\ntopic write shared/#\n".write(
            toFile: acl,
            atomically: true,
            encoding: .utf8
        )
        server.signal(SIGHUP)
        try eventually("the reload to be logged") { server.output.contains("password and ACL files reloaded") }
        bob.send(.pingreq)
        #expect(try bob.receive { if case .pingresp = $0 { true } else { nil } }, "the connected client stayed")
        #expect(try bob.subscribe("shared/#", id: 2) == [.grantedQoS0], "new ACL rules apply to connected clients")
        let carol = try TestClient(port: port)
        #expect(try carol.connect("carol-1", username: "carol", password: "carol-pass").reasonCode == .success)
        carol.publish("shared/news", "hello bob")
        #expect(try bob.receivePublish().text == "hello bob")
        #expect(try TestClient(port: port).connect("old", username: "bob", password: "bob-pass").reasonCode == .badUserNameOrPassword)
        // A broken file: reported, old rules stay.
        try "carol\n".write(toFile: passwords, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        try eventually("the failed reload to be logged") { server.output.contains("reload failed") }
        #expect(try TestClient(port: port).connect("carol-2", username: "carol", password: "carol-pass").reasonCode == .success)
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }
}
