import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

@testable import Broker

/// Enhanced authentication as a value: each step's action, without a channel, against the
/// tests' own SCRAM client (TestSupport, written from RFC 5802).
struct EnhancedAuthenticationTests {
    static let method = ScramSHA256.method
    static let users = ["dana": ScramSHA256.Credentials(password: "d4na", salt: Array("salt-of-dana".utf8), iterations: 4096)]
    static func credentials(_ user: String) -> ScramSHA256.Credentials? { users[user] }

    static func connect(data: String?) -> ConnectPacket {
        var props = Properties()
        props.authenticationMethod = method
        props.authenticationData = data.map { ByteBuffer(string: $0) }
        return ConnectPacket(version: .v5, clientId: "c", properties: props)
    }

    static func auth(_ code: ReasonCode, _ data: String, method: String = method) -> AuthPacket {
        var props = Properties()
        props.authenticationMethod = method
        props.authenticationData = ByteBuffer(string: data)
        return AuthPacket(reasonCode: code, properties: props)
    }

    /// The server-first in an AUTH 0x18 the action sends.
    static func serverFirst(_ action: EnhancedAuthentication.Action) throws -> String {
        guard case .send(let auth) = action else { throw CancellationError() }
        #expect(auth.reasonCode == .continueAuthentication && auth.properties.authenticationMethod == method)
        return String(buffer: try #require(auth.properties.authenticationData))
    }

    @Test("CONNECT → AUTH 0x18 (server-first) → the proof → accept with the user and server-final the client verifies")
    func connectExchange() throws {
        var auth = EnhancedAuthentication()
        var client = ScramClient(user: "dana", password: "d4na")
        let connect = Self.connect(data: client.clientFirst)
        let first = try Self.serverFirst(auth.start(connect, method: Self.method, credentials: Self.credentials))
        #expect(auth.isConnecting && auth.method == Self.method)
        let action = try auth.continueConnect(Self.auth(.continueAuthentication, try client.clientFinal(serverFirst: first)))
        #expect(action == .accept(connect, user: "dana", serverFinal: "v=" + Data(client.serverSignature).base64EncodedString()))
        #expect(!auth.isConnecting)
    }

    @Test("refusals: no client-first (0x87), a wrong password or an unknown user (0x86), a malformed client-first (0x87)")
    func refusals() throws {
        var empty = EnhancedAuthentication()
        guard case .refuse(.notAuthorized, let message, _) = empty.start(Self.connect(data: nil), method: Self.method, credentials: Self.credentials)
        else {
            Issue.record("no client-first must refuse")
            return
        }
        #expect(message.contains("client-first") && !empty.isConnecting)
        for (user, password) in [("dana", "wrong"), ("ghost", "d4na")] {
            var auth = EnhancedAuthentication()
            var client = ScramClient(user: user, password: password)
            let first = try Self.serverFirst(auth.start(Self.connect(data: client.clientFirst), method: Self.method, credentials: Self.credentials))
            let action = try auth.continueConnect(Self.auth(.continueAuthentication, try client.clientFinal(serverFirst: first)))
            guard case .refuse(.badUserNameOrPassword, "SCRAM-SHA-256 authentication failed", let detail?) = action else {
                Issue.record("\(user)/\(password): \(action)")
                continue
            }
            #expect(!detail.isEmpty)
        }
        var malformed = EnhancedAuthentication()
        guard
            case .refuse(.notAuthorized, _, _) = malformed.start(
                Self.connect(data: "p=tls,,n=dana,r=x"),
                method: Self.method,
                credentials: Self.credentials
            )
        else {
            Issue.record("channel binding must refuse")
            return
        }
    }

    @Test("protocol errors: AUTH with another method or the wrong reason code during CONNECT; AUTH without a method after it")
    func protocolErrors() throws {
        var auth = EnhancedAuthentication()
        let client = ScramClient(user: "dana", password: "d4na")
        _ = auth.start(Self.connect(data: client.clientFirst), method: Self.method, credentials: Self.credentials)
        #expect(throws: MQTTProtocolError.self) { try auth.continueConnect(Self.auth(.continueAuthentication, "x", method: "PLAIN")) }
        #expect(throws: MQTTProtocolError.self) { try auth.continueConnect(Self.auth(.reAuthenticate, "x")) }
        var none = EnhancedAuthentication()
        #expect(throws: MQTTProtocolError.self) {
            try none.reauthenticate(Self.auth(.reAuthenticate, "x"), username: "dana", credentials: Self.credentials)
        }
        #expect(throws: MQTTProtocolError.self) { try none.continueConnect(Self.auth(.continueAuthentication, "x")) }
    }

    @Test("re-authentication: 0x19 → 0x18 → AUTH 0x00 with server-final; another user on the connection is disconnected")
    func reauthentication() throws {
        var auth = EnhancedAuthentication()
        var client = ScramClient(user: "dana", password: "d4na")
        let first = try Self.serverFirst(auth.start(Self.connect(data: client.clientFirst), method: Self.method, credentials: Self.credentials))
        _ = try auth.continueConnect(Self.auth(.continueAuthentication, try client.clientFinal(serverFirst: first)))

        var again = ScramClient(user: "dana", password: "d4na")
        let second = try Self.serverFirst(
            auth.reauthenticate(Self.auth(.reAuthenticate, again.clientFirst), username: "dana", credentials: Self.credentials)
        )
        let done = try auth.reauthenticate(
            Self.auth(.continueAuthentication, try again.clientFinal(serverFirst: second)),
            username: "dana",
            credentials: Self.credentials
        )
        #expect(
            done
                == .reauthenticated(
                    EnhancedAuthentication.authPacket(.success, method: Self.method, data: "v=" + Data(again.serverSignature).base64EncodedString())
                )
        )

        // Dana's connection cannot become another user's, even one with valid credentials.
        var other = ScramClient(user: "dana-2", password: "d4na")
        let third = try Self.serverFirst(
            auth.reauthenticate(Self.auth(.reAuthenticate, other.clientFirst), username: "dana", credentials: { _ in Self.users["dana"] })
        )
        let refused = try auth.reauthenticate(
            Self.auth(.continueAuthentication, try other.clientFinal(serverFirst: third)),
            username: "dana",
            credentials: Self.credentials
        )
        guard case .disconnect(let why) = refused else {
            Issue.record("\(refused)")
            return
        }
        #expect(why.contains("unknown user"))
    }
}
