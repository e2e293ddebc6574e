/// One subscription as the APIs list it (`clientid`, `topic`, `qos`).
public struct SubscriptionRow: Sendable, Hashable {
    public var clientId: String
    public var topic: String
    public var qos: Int

    public init(clientId: String, topic: String, qos: Int) {
        self.clientId = clientId
        self.topic = topic
        self.qos = qos
    }
}

/// The subscriptions view's rows: one per topic filter, with the clients behind it, most
/// subscribed first.
public struct SubscriptionGroup: Sendable, Hashable {
    public var topic: String
    /// The highest QoS any of its clients asked for.
    public var qos: Int
    public var clients: [String]

    public static func group(_ rows: [SubscriptionRow]) -> [SubscriptionGroup] {
        var byTopic: [String: SubscriptionGroup] = [:]
        for row in rows {
            var group = byTopic[row.topic] ?? SubscriptionGroup(topic: row.topic, qos: 0, clients: [])
            group.qos = max(group.qos, row.qos)
            group.clients.append(row.clientId)
            byTopic[row.topic] = group
        }
        return byTopic.values.map {
            var g = $0
            g.clients.sort()
            return g
        }.sorted {
            $0.clients.count != $1.clients.count ? $0.clients.count > $1.clients.count : $0.topic < $1.topic
        }
    }
}
