import Crypto
import CryptoExtras
import Foundation

/// A password file in mosquitto_passwd's format: `user:$7$ROUNDS$SALT$HASH` per line, where HASH
/// is PBKDF2-HMAC-SHA512 (64 bytes) of the password with SALT, both base64. Files made by
/// `mosquitto_passwd` work here and files made by `aviary passwd` work in Mosquitto 2.
///
/// `aviary passwd` also writes each user's SCRAM-SHA-256 keys (for MQTT 5 enhanced
/// authentication) on a line Mosquitto reads as a comment:
/// `#aviary-scram-sha-256:user:$ITERATIONS$SALT$STOREDKEY$SERVERKEY` (base64).
public struct PasswordFile: Sendable {
    public struct Entry: Sendable, Hashable {
        public var rounds: Int
        public var salt: [UInt8]
        public var hash: [UInt8]
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Rounds `aviary passwd` uses unless told otherwise: ~1 ms per check on one core, so a
    /// connect storm stays cheap (mosquitto_passwd uses 101).
    public static let defaultRounds = 1_000

    public private(set) var users: [String: Entry] = [:]
    /// SCRAM-SHA-256 keys, for the users `aviary passwd` wrote.
    public private(set) var scram: [String: ScramSHA256.Credentials] = [:]
    static let scramPrefix = "#aviary-scram-sha-256:"
    /// The file's users in file order, for rewriting it.
    public private(set) var order: [String] = []

    public init() {}

    public init(path: String) throws {
        guard let text = readSecurityFile(path) else { throw ParseError(description: unreadableFileMessage(path, what: "password file")) }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String = "password file") throws {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            func fail(_ what: String) -> ParseError { ParseError(description: "\(path) line \(index + 1): \(what)") }
            if line.hasPrefix(Self.scramPrefix) {
                let rest = line.dropFirst(Self.scramPrefix.count)
                guard let colon = rest.lastIndex(of: ":") else {
                    throw fail("expected '\(Self.scramPrefix)user:$iterations$salt$storedkey$serverkey'")
                }
                let user = String(rest[..<colon])
                let f = rest[rest.index(after: colon)...].split(separator: "$", omittingEmptySubsequences: false)
                guard f.count == 5, f[0].isEmpty, let iterations = Int(f[1]), iterations >= 1,
                    let salt = Data(base64Encoded: String(f[2])), let stored = Data(base64Encoded: String(f[3])),
                    let server = Data(base64Encoded: String(f[4])), stored.count == 32, server.count == 32
                else { throw fail("user '\(user)': malformed SCRAM-SHA-256 keys") }
                scram[user] = ScramSHA256.Credentials(
                    iterations: iterations,
                    salt: [UInt8](salt),
                    storedKey: [UInt8](stored),
                    serverKey: [UInt8](server)
                )
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.lastIndex(of: ":") else { throw fail("expected 'user:$7$rounds$salt$hash'") }
            let user = String(line[..<colon])
            let fields = line[line.index(after: colon)...].split(separator: "$", omittingEmptySubsequences: false)
            guard !user.isEmpty else { throw fail("empty user name") }
            guard fields.count == 5, fields[0].isEmpty, fields[1] == "7" else {
                throw fail("user '\(user)': expected a PBKDF2-SHA512 hash '$7$rounds$salt$hash' (as mosquitto_passwd writes)")
            }
            guard let rounds = Int(fields[2]), rounds >= 1, let salt = Data(base64Encoded: String(fields[3])),
                let hash = Data(base64Encoded: String(fields[4])), hash.count == 64, !salt.isEmpty
            else { throw fail("user '\(user)': malformed rounds, salt or hash") }
            guard users[user] == nil else { throw fail("user '\(user)' is listed twice") }
            users[user] = Entry(rounds: rounds, salt: [UInt8](salt), hash: [UInt8](hash))
            order.append(user)
        }
    }

    /// Adds or replaces a user with a fresh salt.
    public mutating func set(user: String, password: String, rounds: Int = defaultRounds) {
        var salt = [UInt8](repeating: 0, count: 12)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = UInt8.random(in: 0...255, using: &generator) }
        if users[user] == nil { order.append(user) }
        users[user] = Entry(rounds: rounds, salt: salt, hash: Self.derive(password, salt: salt, rounds: rounds))
        let scramSalt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        scram[user] = ScramSHA256.Credentials(password: password, salt: scramSalt, iterations: ScramSHA256.defaultIterations)
    }

    @discardableResult
    public mutating func remove(user: String) -> Bool {
        guard users.removeValue(forKey: user) != nil else { return false }
        scram[user] = nil
        order.removeAll { $0 == user }
        return true
    }

    /// nil when the user is not in the file; otherwise whether the password is right.
    public func verify(user: String, password: [UInt8]) -> Bool? {
        guard let entry = users[user] else { return nil }
        return ConstantTime.equals(Self.derive(password, salt: entry.salt, rounds: entry.rounds), entry.hash)
    }

    public var text: String {
        order.compactMap { user -> String? in
            guard let entry = users[user] else { return nil }
            var lines = "\(user):$7$\(entry.rounds)$\(Data(entry.salt).base64EncodedString())$\(Data(entry.hash).base64EncodedString())\n"
            if let keys = scram[user] {
                lines +=
                    "\(Self.scramPrefix)\(user):$\(keys.iterations)$\(Data(keys.salt).base64EncodedString())"
                    + "$\(Data(keys.storedKey).base64EncodedString())$\(Data(keys.serverKey).base64EncodedString())\n"
            }
            return lines
        }.joined()
    }

    static func derive(_ password: some DataProtocol, salt: [UInt8], rounds: Int) -> [UInt8] {
        let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: password,
            salt: salt,
            using: .sha512,
            outputByteCount: 64,
            unsafeUncheckedRounds: rounds
        )
        return key.map { $0.withUnsafeBytes { [UInt8]($0) } } ?? []
    }

    static func derive(_ password: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        derive(Array(password.utf8), salt: salt, rounds: rounds)
    }
}

/// Comparison of secrets without an early exit, so timing does not tell how much matched.
public enum ConstantTime {
    public static func equals(_ x: some Collection<UInt8>, _ y: some Collection<UInt8>) -> Bool {
        let x = Array(x)
        let y = Array(y)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

/// The text of a password or ACL file, or nil when it cannot be read as UTF-8.
func readSecurityFile(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}

/// Why a security file could not be read, for the operator.
func unreadableFileMessage(_ path: String, what: String) -> String {
    "cannot read \(what) \(path): \(FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file")"
}
