import MQTTCodec

/// Server → client topic aliases of one 5.0 connection (section 3.3.2.3.4): the first PUBLISH
/// on a topic carries the topic and an alias; later ones carry the alias and an empty topic.
/// The table holds up to the client's Topic Alias Maximum (at most `limit`) topics; when it is
/// full, aliases are reused in the order they were given (the oldest mapping is replaced, and
/// its next PUBLISH carries its topic again). Confined to the connection's event loop.
struct OutgoingTopicAliases {
    /// Most aliases kept per connection, whatever the client allows (memory per connection).
    static let limit = 1024
    /// Bytes a Topic Alias property costs in a PUBLISH (identifier and two bytes).
    static let propertyBytes = 3

    private let capacity: Int
    private var aliasByTopic: [String: UInt16] = [:]
    private var topicByAlias: [String] = []
    private var nextToReplace = 0

    /// Nil when the client accepts no aliases.
    init?(clientMaximum: UInt16?) {
        guard let clientMaximum, clientMaximum > 0 else { return nil }
        capacity = min(Int(clientMaximum), Self.limit)
    }

    /// `publish` with its topic replaced by an alias where one is known, or given one; returns
    /// the topic bytes left out (the alias property costs `propertyBytes` either way).
    mutating func apply(to publish: inout PublishPacket) -> Int {
        let topic = publish.topic
        if let alias = aliasByTopic[topic] {
            publish.properties.topicAlias = alias
            publish.topic = ""
            return topic.utf8.count
        }
        let alias: UInt16
        if topicByAlias.count < capacity {
            topicByAlias.append(topic)
            alias = UInt16(topicByAlias.count)
        } else {
            aliasByTopic[topicByAlias[nextToReplace]] = nil
            topicByAlias[nextToReplace] = topic
            alias = UInt16(nextToReplace + 1)
            nextToReplace = (nextToReplace + 1) % capacity
        }
        aliasByTopic[topic] = alias
        publish.properties.topicAlias = alias
        return 0
    }
}
