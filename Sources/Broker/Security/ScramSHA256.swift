import Crypto
import CryptoExtras
import Foundation

/// SCRAM-SHA-256 (RFC 5802, RFC 7677) for MQTT 5 enhanced authentication: the keys stored for
/// a user, and the server's side of one exchange (client-first → server-first, client-final →
/// server-final). No channel binding (`n,,` only). Pure: no I/O, no clock.
public enum ScramSHA256 {
    /// The MQTT Authentication Method name.
    public static let method = "SCRAM-SHA-256"
    /// Iterations `aviary passwd` uses for new SCRAM credentials (RFC 7677's minimum).
    public static let defaultIterations = 4096

    /// What the server keeps for a user: never the password.
    public struct Credentials: Sendable, Hashable {
        public var iterations: Int
        public var salt: [UInt8]
        public var storedKey: [UInt8]
        public var serverKey: [UInt8]

        public init(iterations: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8]) {
            self.iterations = iterations
            self.salt = salt
            self.storedKey = storedKey
            self.serverKey = serverKey
        }

        /// Derives the keys from a password (SaltedPassword = PBKDF2-HMAC-SHA256).
        public init(password: String, salt: [UInt8], iterations: Int) {
            let salted =
                (try? KDF.Insecure.PBKDF2.deriveKey(
                    from: Array(password.utf8),
                    salt: salt,
                    using: .sha256,
                    outputByteCount: 32,
                    unsafeUncheckedRounds: iterations
                )) ?? SymmetricKey(data: [UInt8]())
            let clientKey = ScramSHA256.hmac(salted, "Client Key")
            self.init(
                iterations: iterations,
                salt: salt,
                storedKey: Array(SHA256.hash(data: clientKey)),
                serverKey: ScramSHA256.hmac(salted, "Server Key")
            )
        }
    }

    /// Why an exchange failed (for the log; the client only hears "bad user name or password").
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The server's side of one exchange, between its two messages.
    public struct ServerExchange: Sendable {
        public let username: String
        let clientFirstBare: String
        let serverFirst: String
        let nonce: String
        let credentials: Credentials?

        /// Reads client-first (`n,,n=USER,r=NONCE`) and answers server-first
        /// (`r=NONCE+OURS,s=SALT,i=N`). An unknown user gets made-up salt and iterations, so
        /// the answer does not tell which users exist; the exchange then fails at the end.
        public static func start(
            clientFirst: String,
            lookup: (String) -> Credentials?,
            serverNonce: String = ScramSHA256.makeNonce()
        ) throws(Failure) -> (ServerExchange, serverFirst: String) {
            guard clientFirst.hasPrefix("n,,") || clientFirst.hasPrefix("y,,") else {
                throw Failure(description: "client-first must start with the gs2 header 'n,,' (no channel binding)")
            }
            let bare = String(clientFirst.dropFirst(3))
            let fields = ScramSHA256.fields(bare)
            guard let encodedUser = fields["n"], let clientNonce = fields["r"], !clientNonce.isEmpty else {
                throw Failure(description: "client-first without n= and r=")
            }
            guard fields["m"] == nil else { throw Failure(description: "mandatory extensions are not supported") }
            let username = encodedUser.replacingOccurrences(of: "=2C", with: ",").replacingOccurrences(of: "=3D", with: "=")
            let credentials = lookup(username)
            let salt = credentials?.salt ?? Array(SHA256.hash(data: Array(("aviary-unknown-" + username).utf8)).prefix(16))
            let iterations = credentials?.iterations ?? ScramSHA256.defaultIterations
            let nonce = clientNonce + serverNonce
            let serverFirst = "r=\(nonce),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
            let exchange = ServerExchange(username: username, clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, credentials: credentials)
            return (exchange, serverFirst)
        }

        /// Checks client-final (`c=biws,r=NONCE,p=PROOF`) and answers server-final (`v=SIG`).
        public func finish(clientFinal: String) throws(Failure) -> String {
            let fields = ScramSHA256.fields(clientFinal)
            guard let proofText = fields["p"], let proof = Data(base64Encoded: proofText), proof.count == 32 else {
                throw Failure(description: "client-final without a 32-byte proof")
            }
            guard fields["r"] == nonce else { throw Failure(description: "client-final nonce does not match") }
            guard fields["c"] == "biws" || fields["c"] == "eSws" else { throw Failure(description: "channel binding is not supported") }
            guard let credentials else { throw Failure(description: "unknown user '\(username)' or no SCRAM credentials for it") }
            guard let cut = clientFinal.range(of: ",p=") else { throw Failure(description: "client-final without p=") }
            let authMessage = clientFirstBare + "," + serverFirst + "," + clientFinal[..<cut.lowerBound]
            let clientSignature = ScramSHA256.hmac(SymmetricKey(data: credentials.storedKey), authMessage)
            let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
            guard ConstantTime.equals(Array(SHA256.hash(data: clientKey)), credentials.storedKey) else {
                throw Failure(description: "wrong password for '\(username)'")
            }
            let serverSignature = ScramSHA256.hmac(SymmetricKey(data: credentials.serverKey), authMessage)
            return "v=" + Data(serverSignature).base64EncodedString()
        }
    }

    /// 24 random bytes, base64 (printable, no comma).
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }

    static func hmac(_ key: SymmetricKey, _ text: some StringProtocol) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
    }

    /// `a=x,b=y` attributes (values may contain '=').
    static func fields(_ message: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in message.split(separator: ",") {
            guard part.count >= 2, part[part.index(after: part.startIndex)] == "=" else { continue }
            result[String(part.prefix(1))] = String(part.dropFirst(2))
        }
        return result
    }
}
