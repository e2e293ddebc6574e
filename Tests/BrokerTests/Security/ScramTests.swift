import Foundation
import Testing

@testable import Broker

/// SCRAM-SHA-256 against RFC 7677's example exchange, and the password file's SCRAM lines.
struct ScramTests {
    static let rfcCredentials = ScramSHA256.Credentials(
        password: "pencil",
        salt: [UInt8](Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!),
        iterations: 4096
    )

    @Test("RFC 7677's exchange: server-first and server-final byte for byte, the proof accepted")
    func rfc7677() throws {
        let (exchange, serverFirst) = try ScramSHA256.ServerExchange.start(
            clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            lookup: { $0 == "user" ? Self.rfcCredentials : nil },
            serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        )
        #expect(serverFirst == "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        #expect(exchange.username == "user")
        let serverFinal = try exchange.finish(
            clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        #expect(serverFinal == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    }

    @Test("a wrong proof, a changed nonce, channel binding and an unknown user all fail; the unknown user still gets a plausible server-first")
    func failures() throws {
        let lookup: (String) -> ScramSHA256.Credentials? = { $0 == "user" ? Self.rfcCredentials : nil }
        let (exchange, _) = try ScramSHA256.ServerExchange.start(clientFirst: "n,,n=user,r=abc", lookup: lookup, serverNonce: "xyz")
        #expect(throws: ScramSHA256.Failure.self) {
            try exchange.finish(clientFinal: "c=biws,r=abcxyz,p=" + Data(repeating: 1, count: 32).base64EncodedString())
        }
        #expect(throws: ScramSHA256.Failure.self) {
            try exchange.finish(clientFinal: "c=biws,r=abcXXX,p=" + Data(repeating: 1, count: 32).base64EncodedString())
        }
        #expect(throws: ScramSHA256.Failure.self) { try ScramSHA256.ServerExchange.start(clientFirst: "p=tls-unique,,n=user,r=abc", lookup: lookup) }
        let (ghost, ghostFirst) = try ScramSHA256.ServerExchange.start(clientFirst: "n,,n=ghost,r=abc", lookup: lookup, serverNonce: "xyz")
        #expect(ghostFirst.hasPrefix("r=abcxyz,s=") && ghostFirst.hasSuffix(",i=4096"))
        #expect(throws: ScramSHA256.Failure.self) {
            try ghost.finish(clientFinal: "c=biws,r=abcxyz,p=" + Data(repeating: 1, count: 32).base64EncodedString())
        }
    }

    @Test("aviary passwd's file: a SCRAM line per user that Mosquitto reads as a comment; it round-trips and goes with the user")
    func passwordFileLines() throws {
        var file = PasswordFile()
        file.set(user: "carol", password: "c-pass", rounds: 10)
        let lines = file.text.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("carol:$7$10$") && lines[1].hasPrefix("#aviary-scram-sha-256:carol:$4096$"))
        let read = try PasswordFile(text: file.text)
        #expect(read.scram["carol"] == file.scram["carol"])
        #expect(read.scram["carol"] == ScramSHA256.Credentials(password: "c-pass", salt: read.scram["carol"]!.salt, iterations: 4096))
        var removed = read
        removed.remove(user: "carol")
        #expect(removed.text.isEmpty)
        #expect(throws: PasswordFile.ParseError.self) { try PasswordFile(text: "#aviary-scram-sha-256:carol:$4096$AA==$AA==$AA==\n") }
    }
}
