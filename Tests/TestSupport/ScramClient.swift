import Crypto
import CryptoExtras
import Foundation
import Testing

/// The client's side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), written from the RFC
/// and independent of the broker's code: the tests' client for enhanced authentication.
package struct ScramClient {
    package let user: String
    package let password: String
    package let nonce = Data((0..<18).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    package var clientFirstBare: String { "n=\(user),r=\(nonce)" }
    package var clientFirst: String { "n,," + clientFirstBare }
    package var serverSignature: [UInt8] = []

    /// client-final for a server-first; remembers the server signature to expect.
    package mutating func clientFinal(serverFirst: String) throws -> String {
        var fields: [String: String] = [:]
        for part in serverFirst.split(separator: ",") { fields[String(part.prefix(1))] = String(part.dropFirst(2)) }
        let combined = try #require(fields["r"])
        let salt = try #require(Data(base64Encoded: fields["s"] ?? ""))
        let iterations = try #require(Int(fields["i"] ?? ""))
        #expect(combined.hasPrefix(nonce))
        let salted = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            using: .sha256,
            outputByteCount: 32,
            unsafeUncheckedRounds: iterations
        )
        func hmac(_ key: SymmetricKey, _ text: String) -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)) }
        let clientKey = hmac(salted, "Client Key")
        let storedKey = Array(SHA256.hash(data: clientKey))
        let withoutProof = "c=biws,r=\(combined)"
        let authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof
        let proof = zip(clientKey, hmac(SymmetricKey(data: storedKey), authMessage)).map { $0 ^ $1 }
        serverSignature = hmac(SymmetricKey(data: hmac(salted, "Server Key")), authMessage)
        return withoutProof + ",p=" + Data(proof).base64EncodedString()
    }

    package init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}
