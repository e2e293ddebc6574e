import AviaryLocks
import Logging
import Synchronization

/// Who may connect and what each client may publish and subscribe to: `allow_anonymous`, the
/// password file and the ACL file. Files are read at start and again on `reload()` (SIGHUP);
/// a reload that fails keeps the rules in force and reports why. Connected clients stay.
public final class SecurityPolicy: Sendable {
    public struct Settings: Sendable, Hashable {
        public var allowAnonymous = true
        public var passwordFile: String?
        public var aclFile: String?
        public init() {}
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// Unknown user or wrong password: CONNACK 0x86 (3.1.1: 4).
        case badCredentials
        /// No user name while anonymous clients are not allowed: CONNACK 0x87 (3.1.1: 5).
        case notAuthorized
    }

    struct Loaded: Sendable {
        var passwords: PasswordFile?
        var acl: AccessControlList?
    }

    /// Anonymous clients allowed, no files: everything is permitted.
    public static let open: SecurityPolicy = {
        do { return try SecurityPolicy(settings: Settings()) } catch { preconditionFailure("no files to read") }
    }()

    public let settings: Settings
    private let loaded: Locked<Loaded>
    public let denials = Counter()
    public let authFailures = Counter()

    /// Reads the files; throws a message naming the file and line.
    public init(settings: Settings) throws {
        self.settings = settings
        loaded = Locked(try Self.load(settings))
    }

    static func load(_ settings: Settings) throws -> Loaded {
        Loaded(
            passwords: try settings.passwordFile.map { try PasswordFile(path: $0) },
            acl: try settings.aclFile.map { try AccessControlList(path: $0) }
        )
    }

    /// Re-reads both files; on an error nothing changes and the error is thrown.
    public func reload() throws {
        let fresh = try Self.load(settings)
        loaded.withLock { $0 = fresh }
    }

    public func authenticate(username: String?, password: [UInt8]?) -> Verdict {
        guard let username else { return settings.allowAnonymous ? .allowed : .notAuthorized }
        guard let passwords = loaded.withLock({ $0.passwords }) else {
            // No password file: a user name is only a label, as in Mosquitto.
            return settings.allowAnonymous ? .allowed : .notAuthorized
        }
        return passwords.verify(user: username, password: password ?? []) == true ? .allowed : .badCredentials
    }

    /// The SCRAM-SHA-256 keys of a user of the password file (written by `aviary passwd`).
    public func scramCredentials(user: String) -> ScramSHA256.Credentials? {
        loaded.withLock { $0.passwords?.scram[user] }
    }

    /// Whether enhanced authentication with SCRAM-SHA-256 is offered: there is a password file.
    public var offersScram: Bool { settings.passwordFile != nil }

    public func canPublish(_ topic: String, username: String?, clientId: String) -> Bool {
        // Without an ACL file no lock is taken: this is on every PUBLISH.
        guard settings.aclFile != nil, let acl = loaded.withLock({ $0.acl }) else { return true }
        return acl.canPublish(topic, username: username, clientId: clientId)
    }

    /// Whether the ACL is consulted at all (an ACL file is configured).
    public var checksTopics: Bool { settings.aclFile != nil }

    /// May a message on `topic` be delivered to this subscriber (only asked with an ACL file)?
    public func canReceive(_ topic: String, username: String?, clientId: String) -> Bool {
        guard settings.aclFile != nil, let acl = loaded.withLock({ $0.acl }) else { return true }
        return acl.canReceive(topic, username: username, clientId: clientId)
    }

    public func canSubscribe(_ filter: String, username: String?, clientId: String) -> Bool {
        guard settings.aclFile != nil, let acl = loaded.withLock({ $0.acl }) else { return true }
        return acl.canSubscribe(filter, username: username, clientId: clientId)
    }
}
