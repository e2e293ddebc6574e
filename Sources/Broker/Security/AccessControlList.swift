import MQTTCodec
import Foundation

/// Topic access rules in Mosquitto's `acl_file` format:
///
///     # rules before any `user` line apply to anonymous clients
///     topic read public/#
///     user alice
///     topic readwrite alice/#
///     topic write commands/alice
///     # patterns apply to every client; %u is its user name, %c its client id
///     pattern readwrite devices/%c/#
///
/// `topic [read|write|readwrite] FILTER` (no access word = readwrite), `user NAME`,
/// `pattern [read|write|readwrite] FILTER`. With a file, everything not granted is denied.
public struct AccessControlList: Sendable {
    public struct Access: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Access(rawValue: 1)
        public static let write = Access(rawValue: 2)
        public static let readWrite: Access = [.read, .write]
    }

    struct Rule: Sendable {
        var access: Access
        var filter: [Substring]
        /// Levels with %u or %c (patterns only), and whether %u is among them; worked out
        /// once at load so that a check per PUBLISH substitutes only where it must.
        var substitutes: Bool
        var usesUsername: Bool

        init(access: Access, filter: [Substring]) {
            self.access = access
            self.filter = filter
            self.substitutes = filter.contains { $0.utf8.contains(UInt8(ascii: "%")) }
            self.usesUsername = filter.contains { $0.contains("%u") }
        }
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    var anonymous: [Rule] = []
    var users: [String: [Rule]] = [:]
    var patterns: [Rule] = []

    public init(path: String) throws {
        guard let text = readSecurityFile(path) else { throw ParseError(description: unreadableFileMessage(path, what: "ACL file")) }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String = "ACL file") throws {
        var currentUser: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ what: String) -> ParseError { ParseError(description: "\(path) line \(index + 1): \(what)") }
            let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            switch words[0] {
            case "user":
                guard words.count >= 2 else { throw fail("expected 'user NAME'") }
                currentUser = String(line.dropFirst(4).trimmingCharacters(in: .whitespaces))
                if users[currentUser!] == nil { users[currentUser!] = [] }
            case "topic", "pattern":
                var access = Access.readWrite
                var filter: Substring
                switch words.count {
                case 2:
                    filter = words[1]
                case 3:
                    switch words[1] {
                    case "read": access = .read
                    case "write": access = .write
                    case "readwrite": access = .readWrite
                    default: throw fail("expected read, write or readwrite, got '\(words[1])'")
                    }
                    filter = words[2]
                default:
                    throw fail("expected '\(words[0]) [read|write|readwrite] FILTER'")
                }
                filter = Substring(filter.trimmingCharacters(in: .whitespaces))
                guard (try? TopicFilter(String(filter))) != nil else { throw fail("'\(filter)' is not a valid topic filter") }
                let rule = Rule(access: access, filter: TopicLevels.split(String(filter)))
                if words[0] == "pattern" {
                    patterns.append(rule)
                } else if let user = currentUser {
                    users[user, default: []].append(rule)
                } else {
                    anonymous.append(rule)
                }
            default:
                throw fail("expected 'topic', 'pattern' or 'user', got '\(words[0])'")
            }
        }
    }

    /// May this client publish to `topic`?
    public func canPublish(_ topic: String, username: String?, clientId: String) -> Bool {
        let levels = TopicLevels.split(topic)
        return anyRule(for: username, clientId: clientId) { access, filter in access.contains(.write) && Self.matches(levels, filter: filter) }
    }

    /// May this client subscribe to `filter`? Only if one rule grants reading every topic it can match.
    public func canSubscribe(_ filter: String, username: String?, clientId: String) -> Bool {
        let levels = TopicLevels.split(filter)
        return anyRule(for: username, clientId: clientId) { access, rule in access.contains(.read) && Self.covers(rule, levels) }
    }

    /// Whether `test` holds for one of the client's rules: its user's (or the anonymous) rules,
    /// then the patterns with %u and %c filled in. Nothing is copied for plain rules.
    private func anyRule(for username: String?, clientId: String, _ test: (Access, [Substring]) -> Bool) -> Bool {
        let own = username.map { users[$0] ?? [] } ?? anonymous
        for rule in own where test(rule.access, rule.filter) { return true }
        for pattern in patterns {
            // A %u pattern does not apply to a client without a user name (as in Mosquitto).
            if username == nil && pattern.usesUsername { continue }
            guard pattern.substitutes else {
                if test(pattern.access, pattern.filter) { return true }
                continue
            }
            let filter = pattern.filter.map { level -> Substring in
                guard level.utf8.contains(UInt8(ascii: "%")) else { return level }
                return Substring(level.replacingOccurrences(of: "%u", with: username ?? "").replacingOccurrences(of: "%c", with: clientId))
            }
            if test(pattern.access, filter) { return true }
        }
        return false
    }

    /// Topic levels against a filter's levels (section 4.7), `$` topics not matched by a leading wildcard.
    static func matches(_ topic: [Substring], filter: [Substring]) -> Bool {
        if let first = topic.first, first.hasPrefix("$"), let f = filter.first, f == "#" || f == "+" { return false }
        var i = 0
        for level in filter {
            if level == "#" { return true }
            guard i < topic.count else { return false }
            if level != "+" && level != topic[i] { return false }
            i += 1
        }
        return i == topic.count
    }

    /// Whether every topic matched by `filter` is matched by `rule`.
    static func covers(_ rule: [Substring], _ filter: [Substring]) -> Bool {
        // As for topics: a rule starting with a wildcard does not reach `$` topics.
        if let first = filter.first, first.hasPrefix("$"), let r = rule.first, r == "#" || r == "+" { return false }
        var i = 0
        for level in rule {
            if level == "#" { return true }
            guard i < filter.count else { return false }
            let f = filter[i]
            if f == "#" { return false }
            if level != "+" && (f == "+" || level != f) { return false }
            i += 1
        }
        return i == filter.count
    }
}
