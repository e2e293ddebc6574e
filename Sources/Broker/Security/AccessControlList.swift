import Foundation
import MQTTCodec

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
/// `topic [read|write|readwrite|deny] FILTER` (no access word = readwrite), `user NAME`,
/// `pattern [read|write|readwrite|deny] FILTER`. With a file, everything not granted is
/// denied. As in Mosquitto, `deny` rules are checked before the rules that grant: a topic a
/// deny rule matches is neither published nor delivered, and a subscription entirely inside a
/// deny rule is refused.
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
        /// A `deny` rule: takes away what other rules grant.
        var deny: Bool
        var filter: [Substring]
        /// Levels with %u or %c (patterns only), and whether %u is among them; worked out
        /// once at load so that a check per PUBLISH substitutes only where it must.
        var substitutes: Bool
        var usesUsername: Bool

        init(access: Access, deny: Bool = false, filter: [Substring]) {
            self.access = access
            self.deny = deny
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
                var deny = false
                var filter: Substring
                switch words.count {
                case 2:
                    filter = words[1]
                case 3:
                    switch words[1] {
                    case "read": access = .read
                    case "write": access = .write
                    case "readwrite": access = .readWrite
                    case "deny":
                        access = []
                        deny = true
                    default: throw fail("expected read, write, readwrite or deny, got '\(words[1])'")
                    }
                    filter = words[2]
                default:
                    throw fail("expected '\(words[0]) [read|write|readwrite|deny] FILTER'")
                }
                filter = Substring(filter.trimmingCharacters(in: .whitespaces))
                guard (try? TopicFilter(String(filter))) != nil else { throw fail("'\(filter)' is not a valid topic filter") }
                let rule = Rule(access: access, deny: deny, filter: TopicLevels.split(String(filter)))
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

    /// May this client publish to `topic`? Not if a deny rule matches it; else if a rule grants writing.
    public func canPublish(_ topic: String, username: String?, clientId: String) -> Bool {
        let levels = TopicLevels.split(topic)
        if anyRule(for: username, clientId: clientId, { rule, filter in rule.deny && Self.matches(levels, filter: filter) }) { return false }
        return anyRule(for: username, clientId: clientId) { rule, filter in rule.access.contains(.write) && Self.matches(levels, filter: filter) }
    }

    /// May this client subscribe to `filter`? Not if a deny rule covers every topic it can
    /// match; else only if one rule grants reading all of them.
    public func canSubscribe(_ filter: String, username: String?, clientId: String) -> Bool {
        let levels = TopicLevels.split(filter)
        if anyRule(for: username, clientId: clientId, { rule, ruleFilter in rule.deny && Self.covers(ruleFilter, levels) }) { return false }
        return anyRule(for: username, clientId: clientId) { rule, ruleFilter in rule.access.contains(.read) && Self.covers(ruleFilter, levels) }
    }

    /// May a message on `topic` be delivered to this client (checked at delivery, so a deny rule
    /// inside a granted subscription, or a reload that took reading away, holds)?
    public func canReceive(_ topic: String, username: String?, clientId: String) -> Bool {
        let levels = TopicLevels.split(topic)
        if anyRule(for: username, clientId: clientId, { rule, filter in rule.deny && Self.matches(levels, filter: filter) }) { return false }
        return anyRule(for: username, clientId: clientId) { rule, filter in rule.access.contains(.read) && Self.matches(levels, filter: filter) }
    }

    /// Whether `test` holds for one of the client's rules: its user's (or the anonymous) rules,
    /// then the patterns with %u and %c filled in. Nothing is copied for plain rules.
    private func anyRule(for username: String?, clientId: String, _ test: (Rule, [Substring]) -> Bool) -> Bool {
        let own = username.map { users[$0] ?? [] } ?? anonymous
        for rule in own where test(rule, rule.filter) { return true }
        for pattern in patterns {
            // A %u pattern does not apply to a client without a user name (as in Mosquitto).
            if username == nil && pattern.usesUsername { continue }
            guard pattern.substitutes else {
                if test(pattern, pattern.filter) { return true }
                continue
            }
            let filter = pattern.filter.map { level -> Substring in
                guard level.utf8.contains(UInt8(ascii: "%")) else { return level }
                return Substring(level.replacingOccurrences(of: "%u", with: username ?? "").replacingOccurrences(of: "%c", with: clientId))
            }
            if test(pattern, filter) { return true }
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
