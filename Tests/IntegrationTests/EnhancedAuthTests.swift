import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

/// MQTT 5 enhanced authentication with SCRAM-SHA-256 over TCP, with a SCRAM client written
/// in TestSupport from RFC 5802 (independent of the broker's code): CONNECT → AUTH → CONNACK,
/// re-authentication, wrong passwords, unknown methods; users written by `aviary passwd`'s code.
@Suite(.timeLimit(.minutes(1)))
struct EnhancedAuthTests {
    /// A port nobody listens on now (bound to 0 and released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func properties(method: String = "SCRAM-SHA-256", data: String) -> Properties {
        var props = Properties()
        props.authenticationMethod = method
        props.authenticationData = ByteBuffer(string: data)
        return props
    }

    static func start() async throws -> BrokerHarness {
        var file = PasswordFile()
        file.set(user: "dana", password: "d4na-secret", rounds: 10)
        var settings = SecurityPolicy.Settings()
        settings.passwordFile = try temporaryFile(file.text, suffix: ".passwd")
        settings.allowAnonymous = false
        return try await BrokerHarness.start(security: try SecurityPolicy(settings: settings))
    }

    /// CONNECT with client-first, AUTH with the proof; returns the CONNACK.
    static func connect(_ c: TestClient, _ scram: inout ScramClient, id: String) throws -> ConnAckPacket {
        c.send(.connect(ConnectPacket(version: .v5, clientId: id, properties: properties(data: scram.clientFirst))))
        let challenge = try c.receive { if case .auth(let a) = $0 { a } else { nil } }
        #expect(challenge.reasonCode == .continueAuthentication && challenge.properties.authenticationMethod == "SCRAM-SHA-256")
        let final = try scram.clientFinal(serverFirst: String(buffer: try #require(challenge.properties.authenticationData)))
        c.send(.auth(AuthPacket(reasonCode: .continueAuthentication, properties: properties(data: final))))
        return try c.receive { if case .connack(let a) = $0 { a } else { nil } }
    }

    @Test(
        """
        SCRAM-SHA-256: CONNECT → AUTH 0x18 → AUTH → CONNACK with the server's signature; the client is listed as its user; re-authentication → AUTH \
        0x00
        """
    )
    func success() async throws {
        let h = try await Self.start()
        let c = try TestClient(port: h.port, version: .v5)
        var scram = ScramClient(user: "dana", password: "d4na-secret")
        let ack = try Self.connect(c, &scram, id: "scram-1")
        #expect(ack.reasonCode == .success)
        #expect(ack.properties.authenticationMethod == "SCRAM-SHA-256")
        #expect(
            ack.properties.authenticationData.map { String(buffer: $0) } == "v=" + Data(scram.serverSignature).base64EncodedString(),
            "the server proved it knows the keys"
        )
        #expect(h.broker.client(id: "scram-1")?.info.username == "dana")
        // Re-authentication on the live connection.
        var again = ScramClient(user: "dana", password: "d4na-secret")
        c.send(.auth(AuthPacket(reasonCode: .reAuthenticate, properties: Self.properties(data: again.clientFirst))))
        let challenge = try c.receive { if case .auth(let a) = $0 { a } else { nil } }
        #expect(challenge.reasonCode == .continueAuthentication)
        let final = try again.clientFinal(serverFirst: String(buffer: try #require(challenge.properties.authenticationData)))
        c.send(.auth(AuthPacket(reasonCode: .continueAuthentication, properties: Self.properties(data: final))))
        let done = try c.receive { if case .auth(let a) = $0 { a } else { nil } }
        #expect(done.reasonCode == .success)
        #expect(done.properties.authenticationData.map { String(buffer: $0) } == "v=" + Data(again.serverSignature).base64EncodedString())
        c.publish("still/here", "x", qos: .atLeastOnce, id: 3)
        let puback = try c.receive { if case .puback(let a) = $0 { a.reasonCode } else { nil } }
        #expect(puback == .noMatchingSubscribers, "the connection goes on")
        await h.stop()
    }

    @Test(
        """
        a wrong password gets CONNACK 0x86 (counted); an unknown user the same; an unknown method 0x8C naming the one offered; a failed \
        re-authentication DISCONNECT 0x87
        """
    )
    func failures() async throws {
        let h = try await Self.start()
        for (user, password) in [("dana", "wrong"), ("ghost", "d4na-secret")] {
            let c = try TestClient(port: h.port, version: .v5)
            var scram = ScramClient(user: user, password: password)
            let ack = try Self.connect(c, &scram, id: "scram-\(user)")
            #expect(ack.reasonCode == .badUserNameOrPassword)
            #expect(c.waitClosed())
        }
        #expect(h.broker.security.authFailures.load == 2)
        let other = try TestClient(port: h.port, version: .v5)
        other.send(.connect(ConnectPacket(version: .v5, clientId: "m", properties: Self.properties(method: "KERBEROS", data: "x"))))
        let refused = try other.receive { if case .connack(let a) = $0 { a } else { nil } }
        #expect(refused.reasonCode == .badAuthenticationMethod)
        #expect(refused.properties.reasonString?.contains("SCRAM-SHA-256") == true)
        // Re-authenticating with a wrong password ends the connection.
        let c = try TestClient(port: h.port, version: .v5)
        var scram = ScramClient(user: "dana", password: "d4na-secret")
        #expect(try Self.connect(c, &scram, id: "scram-re").reasonCode == .success)
        var bad = ScramClient(user: "dana", password: "nope")
        c.send(.auth(AuthPacket(reasonCode: .reAuthenticate, properties: Self.properties(data: bad.clientFirst))))
        let challenge = try c.receive { if case .auth(let a) = $0 { a } else { nil } }
        let final = try bad.clientFinal(serverFirst: String(buffer: try #require(challenge.properties.authenticationData)))
        c.send(.auth(AuthPacket(reasonCode: .continueAuthentication, properties: Self.properties(data: final))))
        let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
        #expect(d.reasonCode == .notAuthorized)
        await h.stop()
    }

    @Test("Mosquitto reads aviary passwd's file (the SCRAM line is a comment to it): mosquitto_pub authenticates against a real Mosquitto with it")
    func mosquittoCompatible() throws {
        var file = PasswordFile()
        file.set(user: "erin", password: "erin-pw", rounds: 101)
        let passwords = try temporaryFile(file.text, suffix: ".passwd")
        defer { unlink(passwords) }
        let port = Self.freePort()
        let conf = try temporaryFile("listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(passwords)\n", suffix: ".conf")
        defer { unlink(conf) }
        let binary = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto"
        let mosquitto = try Subprocess([binary, "-c", conf])
        defer { mosquitto.signal(SIGTERM) }
        try eventually("mosquitto listening") { (try? TestClient(port: port)) != nil }
        #expect(try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-u", "erin", "-P", "erin-pw", "-t", "t", "-m", "x"]).code == 0)
        #expect(try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-u", "erin", "-P", "wrong", "-t", "t", "-m", "x"]).code != 0)
    }
}
