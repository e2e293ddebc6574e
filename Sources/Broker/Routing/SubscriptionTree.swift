import MQTTCodec

/// One subscription held in the tree: who, with which options, and its 5.0 identifier.
struct SubscriptionEntry<Subscriber: AnyObject> {
    let subscriber: Subscriber
    var options: Subscription
    var identifier: UInt32?
}

/// A trie of topic filters, one level per node, with `+` and `#` as ordinary keys and shared
/// subscription groups (`$share/GROUP/…`) kept beside the plain subscribers of a node.
/// Not `Sendable`: it lives in `BrokerState`, under the broker's lock.
final class SubscriptionTree<Subscriber: AnyObject> {
    typealias Entry = SubscriptionEntry<Subscriber>

    /// Members of one `$share/GROUP/FILTER`; delivery goes round robin.
    final class SharedGroup {
        var members: [Entry] = []
        var next = 0

        /// Next member in turn, preferring one for which `isOnline` holds.
        func pick(isOnline: (Subscriber) -> Bool) -> Entry? {
            guard !members.isEmpty else { return nil }
            for step in 0..<members.count {
                let index = (next + step) % members.count
                if isOnline(members[index].subscriber) {
                    next = (index + 1) % members.count
                    return members[index]
                }
            }
            let index = next % members.count
            next = (index + 1) % members.count
            return members[index]
        }
    }

    final class Node {
        var children: [Substring: Node] = [:]
        var entries: [ObjectIdentifier: Entry] = [:]
        var groups: [String: SharedGroup] = [:]
        var isEmpty: Bool { children.isEmpty && entries.isEmpty && groups.isEmpty }
    }

    private let root = Node()
    /// Number of subscriptions (shared memberships included).
    private(set) var count = 0

    /// Adds or replaces a subscription; returns true when it did not exist before.
    @discardableResult
    func insert(_ filter: TopicFilter, _ entry: Entry) -> Bool {
        var node = root
        for level in TopicLevels.split(filter.filter) {
            if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                node = child
            }
        }
        let id = ObjectIdentifier(entry.subscriber)
        if let group = filter.shareGroup {
            let shared = node.groups[group] ?? SharedGroup()
            node.groups[group] = shared
            if let index = shared.members.firstIndex(where: { $0.subscriber === entry.subscriber }) {
                shared.members[index] = entry
                return false
            }
            shared.members.append(entry)
        } else {
            if node.entries.updateValue(entry, forKey: id) != nil { return false }
        }
        count += 1
        return true
    }

    /// Removes a subscription; returns true when it existed.
    @discardableResult
    func remove(_ filter: TopicFilter, subscriber: Subscriber) -> Bool {
        let levels = TopicLevels.split(filter.filter)
        let removed = remove(levels[...], from: root, group: filter.shareGroup, id: ObjectIdentifier(subscriber))
        if removed { count -= 1 }
        return removed
    }

    private func remove(_ levels: ArraySlice<Substring>, from node: Node, group: String?, id: ObjectIdentifier) -> Bool {
        guard let level = levels.first else {
            if let group {
                guard let shared = node.groups[group],
                    let index = shared.members.firstIndex(where: { ObjectIdentifier($0.subscriber) == id })
                else { return false }
                shared.members.remove(at: index)
                if shared.members.isEmpty { node.groups[group] = nil }
                return true
            }
            return node.entries.removeValue(forKey: id) != nil
        }
        guard let child = node.children[level] else { return false }
        let removed = remove(levels.dropFirst(), from: child, group: group, id: id)
        if child.isEmpty { node.children[level] = nil }
        return removed
    }

    /// Calls `visit` for every plain subscription matching `topic` and `visitGroup` for every
    /// shared group that matches (the caller picks one member of each).
    func match(_ topic: String, visit: (Entry) -> Void, visitGroup: (SharedGroup) -> Void) {
        let levels = TopicLevels.split(topic)
        // [MQTT-4.7.2-1] topics starting with '$' are not matched by a leading wildcard
        let dollar = topic.utf8.first == UInt8(ascii: "$")
        match(levels, 0, root, dollar: dollar, visit: visit, visitGroup: visitGroup)
    }

    private func match(
        _ levels: [Substring],
        _ index: Int,
        _ node: Node,
        dollar: Bool,
        visit: (Entry) -> Void,
        visitGroup: (SharedGroup) -> Void
    ) {
        let wildcardsAllowed = !(dollar && index == 0)
        if wildcardsAllowed, let hash = node.children["#"] {
            // "a/#" matches "a" as well as everything below it. [MQTT-4.7.1-2]
            for entry in hash.entries.values { visit(entry) }
            for group in hash.groups.values { visitGroup(group) }
        }
        guard index < levels.count else {
            for entry in node.entries.values { visit(entry) }
            for group in node.groups.values { visitGroup(group) }
            return
        }
        if wildcardsAllowed, let plus = node.children["+"] {
            match(levels, index + 1, plus, dollar: dollar, visit: visit, visitGroup: visitGroup)
        }
        if let child = node.children[levels[index]] {
            match(levels, index + 1, child, dollar: dollar, visit: visit, visitGroup: visitGroup)
        }
    }
}
