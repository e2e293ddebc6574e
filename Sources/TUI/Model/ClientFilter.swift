/// The `/` filter, as typed: plain text matches the client id, username or address (any case);
/// `re:REGEX` is a regular expression over the same (Swift's Regex syntax); a leading `!`
/// inverts either (`!sensor`, `!re:^dev-\d+$`).
public struct ClientFilter {
    public let text: String
    public let inverted: Bool
    /// The regular expression's source, when the filter is one.
    public let pattern: String?
    /// Why the regular expression does not compile (then the filter lets every row through).
    public let error: String?
    private let needle: String
    /// Compiled once: the subscriptions view matches every topic filter with it on every frame.
    private let regex: Regex<AnyRegexOutput>?

    public init(_ text: String) {
        self.text = text
        var body = Substring(text)
        inverted = body.hasPrefix("!")
        if inverted { body = body.dropFirst() }
        if body.hasPrefix("re:") {
            let source = String(body.dropFirst(3))
            pattern = source
            do {
                regex = try Regex(source)
                error = nil
            } catch {
                regex = nil
                self.error = "invalid regular expression: \(error)"
            }
            needle = ""
        } else {
            pattern = nil
            error = nil
            regex = nil
            needle = body.lowercased()
        }
    }

    public var isEmpty: Bool { text.isEmpty }

    /// What a server-side `_like_clientid` can do for it: plain, not inverted text only.
    public var serverNeedle: String? { pattern == nil && !inverted ? needle : nil }

    /// Whether one text (a topic filter, in the subscriptions view) passes.
    public func matches(_ text: String) -> Bool {
        guard !self.text.isEmpty, error == nil else { return true }
        if let regex { return text.contains(regex) != inverted }
        return text.lowercased().contains(needle) != inverted
    }

    /// The rows it keeps, in order.
    public func apply(_ rows: [ClientRow]) -> [ClientRow] {
        guard !text.isEmpty, error == nil else { return rows }
        if let regex {
            return rows.filter { row in
                let hit = [row.clientId, row.username, row.address ?? ""].contains { $0.contains(regex) }
                return hit != inverted
            }
        }
        guard !needle.isEmpty else { return inverted ? [] : rows }
        return rows.filter { row in
            let hit = row.clientId.lowercased().contains(needle) || row.username.lowercased().contains(needle) || (row.address ?? "").contains(needle)
            return hit != inverted
        }
    }
}
