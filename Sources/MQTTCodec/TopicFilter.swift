/// A validated topic filter as subscribed (section 4.7), with `$share/GROUP/` split off.
public struct TopicFilter: Hashable, Sendable {
    /// The filter exactly as the client sent it, e.g. `$share/g1/sensors/+`.
    public let raw: String
    /// The filter that topics are matched against, e.g. `sensors/+`.
    public let filter: String
    /// The share name of a shared subscription (section 4.8.2), or nil.
    public let shareGroup: String?

    /// Parses and validates a filter; throws `MQTTProtocolError` with reason 0x8F otherwise.
    public init(_ raw: String) throws {
        self.raw = raw
        if raw.hasPrefix("$share/") {
            let rest = raw.dropFirst("$share/".count)
            guard let slash = rest.firstIndex(of: "/") else {
                throw MQTTProtocolError(.topicFilterInvalid, "shared subscription '\(raw)' has no topic filter")
            }
            let group = rest[..<slash]
            // [MQTT-4.8.2-1] [MQTT-4.8.2-2] share name: at least one character, no '/', '+' or '#'
            guard !group.isEmpty, !group.contains("+"), !group.contains("#") else {
                throw MQTTProtocolError(.topicFilterInvalid, "invalid share name in '\(raw)'")
            }
            shareGroup = String(group)
            filter = String(rest[rest.index(after: slash)...])
        } else {
            shareGroup = nil
            filter = raw
        }
        try Self.validate(filter)
    }

    /// Checks the wildcard rules: `#` alone and last [MQTT-4.7.1-2], `+` alone in its level [MQTT-4.7.1-3].
    public static func validate(_ filter: String) throws {
        guard !filter.isEmpty else { throw MQTTProtocolError(.topicFilterInvalid, "empty topic filter") }
        let levels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains(UInt8(ascii: "#")) {
                guard level.count == 1, index == levels.count - 1 else {
                    throw MQTTProtocolError(.topicFilterInvalid, "'#' must be the last level on its own in '\(filter)'")
                }
            }
            if level.contains(UInt8(ascii: "+")) && level.count != 1 {
                throw MQTTProtocolError(.topicFilterInvalid, "'+' must occupy a whole level in '\(filter)'")
            }
        }
    }

    /// True when `topic` matches this filter. Topics beginning with `$` are not matched by a
    /// filter beginning with a wildcard. [MQTT-4.7.2-1]
    public func matches(_ topic: String) -> Bool {
        Self.matches(filter: filter, topic: topic)
    }

    public static func matches(filter: String, topic: String) -> Bool {
        let f = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let t = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if topic.utf8.first == UInt8(ascii: "$"), let first = f.first,
            first.elementsEqual("+".utf8) || first.elementsEqual("#".utf8)
        {
            return false
        }
        var i = 0
        while i < f.count {
            if f[i].elementsEqual("#".utf8) { return true }
            guard i < t.count else { return false }
            if !f[i].elementsEqual("+".utf8) && !f[i].elementsEqual(t[i]) { return false }
            i += 1
        }
        return i == t.count
    }
}

/// Topic levels, split at the byte '/' (section 4.7: levels are separated by U+002F; a split by
/// `Character` walks grapheme clusters, ~6% of a fan-in profile).
package enum TopicLevels {
    package static func split(_ string: String) -> [Substring] {
        string.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
    }
}
