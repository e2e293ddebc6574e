import MQTTCodec
import Testing

@testable import Broker

struct TopicMatchingTests {
    static let table: [(String, String, Bool)] = [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("#", "a/b/c", true),
        ("#", "/", true),
        ("+", "a", true),
        ("+", "a/b", false),
        ("+", "", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("sport/+/player1", "sport/tennis/player1", true),
        ("sport/+/player1", "sport/tennis/player2", false),
        ("sport/+", "sport/", true),
        ("sport/+", "sport", false),
        ("a/b", "a/b", true),
        ("a/b", "a/B", false),
        ("a/b", "a/b/c", false),
        ("a/b/c", "a/b", false),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
        ("#", "$SYS/broker/uptime", false),
        ("+/broker/uptime", "$SYS/broker/uptime", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/broker/+", "$SYS/broker/uptime", true),
        ("a/$x", "a/$x", true),
        ("+/$x", "a/$x", true),
        ("ünï/+", "ünï/cödé", true),
    ]

    @Test("[MQTT-4.7] filter matches topic", arguments: table)
    func matches(filter: String, topic: String, expected: Bool) throws {
        #expect(TopicFilter.matches(filter: filter, topic: topic) == expected)
        // The tree must agree with the single-filter matcher.
        let tree = SubscriptionTree<Box>()
        let box = Box()
        tree.insert(try TopicFilter(filter), SubscriptionEntry(subscriber: box, options: Subscription(topicFilter: filter, qos: .atMostOnce)))
        var hits = 0
        tree.match(topic, visit: { _ in hits += 1 }, visitGroup: { _ in })
        #expect(hits == (expected ? 1 : 0))
    }

    @Test("valid filters", arguments: ["#", "+", "+/+", "a/+/b/#", "/", "$share/g/a/#", "$share/group-1/+", "$SYS/#"])
    func validFilters(filter: String) {
        #expect(throws: Never.self) { try TopicFilter(filter) }
    }

    @Test(
        "[MQTT-4.7.1-2] [MQTT-4.7.1-3] invalid filters",
        arguments: ["", "a/#/b", "a#", "a/b#", "a+", "a/+b", "$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/"]
    )
    func invalidFilters(filter: String) {
        #expect(throws: MQTTProtocolError.self) { try TopicFilter(filter) }
    }

    @Test("shared subscription splits group and filter")
    func sharedParts() throws {
        let f = try TopicFilter("$share/workers/jobs/+")
        #expect(f.shareGroup == "workers")
        #expect(f.filter == "jobs/+")
        #expect(f.raw == "$share/workers/jobs/+")
    }

    @Test("shared groups deliver round robin, preferring online members")
    func sharedRoundRobin() throws {
        let tree = SubscriptionTree<Box>()
        let boxes = [Box(), Box(), Box()]
        boxes[2].online = false
        let filter = try TopicFilter("$share/g/t/#")
        for box in boxes {
            tree.insert(filter, SubscriptionEntry(subscriber: box, options: Subscription(topicFilter: filter.raw, qos: .atLeastOnce)))
        }
        var picked: [Int] = []
        for _ in 0..<6 {
            tree.match(
                "t/x",
                visit: { _ in Issue.record("no plain subscription expected") },
                visitGroup: { group in
                    let entry = group.pick(isOnline: { $0.online })!
                    picked.append(boxes.firstIndex { $0 === entry.subscriber }!)
                }
            )
        }
        #expect(picked == [0, 1, 0, 1, 0, 1])
    }

    @Test("removing subscriptions prunes the tree and the count")
    func removal() throws {
        let tree = SubscriptionTree<Box>()
        let a = Box()
        let b = Box()
        let f1 = try TopicFilter("x/y/z")
        let f2 = try TopicFilter("$share/g/x/+/z")
        tree.insert(f1, SubscriptionEntry(subscriber: a, options: Subscription(topicFilter: "x/y/z", qos: .atMostOnce)))
        tree.insert(f2, SubscriptionEntry(subscriber: b, options: Subscription(topicFilter: f2.raw, qos: .atMostOnce)))
        #expect(tree.count == 2)
        #expect(!tree.insert(f1, SubscriptionEntry(subscriber: a, options: Subscription(topicFilter: "x/y/z", qos: .exactlyOnce))))
        #expect(tree.count == 2)
        #expect(tree.remove(f1, subscriber: a))
        #expect(!tree.remove(f1, subscriber: a))
        #expect(tree.remove(f2, subscriber: b))
        #expect(tree.count == 0)
        var hits = 0
        tree.match("x/y/z", visit: { _ in hits += 1 }, visitGroup: { _ in hits += 1 })
        #expect(hits == 0)
    }
}

final class Box {
    var online = true
}
