import MQTTCodec

/// Client → server topic aliases of one 5.0 connection (section 3.3.2.3.4): a PUBLISH with a
/// topic and an alias sets the alias; one with an alias and an empty topic uses it. Aliases go
/// up to our Topic Alias Maximum (`topic_alias_maximum`, told in CONNACK). Confined to the
/// connection's event loop; no table is allocated until a client uses an alias.
struct IncomingTopicAliases {
    private let maximum: Int
    private var topics: [UInt16: String] = [:]

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Sets or resolves `publish`'s alias, leaving its topic filled in.
    mutating func resolve(_ publish: inout PublishPacket) throws(MQTTProtocolError) {
        guard let alias = publish.properties.topicAlias else { return }
        guard Int(alias) <= maximum else {
            throw MQTTProtocolError(.topicAliasInvalid, "topic alias \(alias) above maximum \(maximum)")
        }
        if publish.topic.isEmpty {
            guard let topic = topics[alias] else { throw MQTTProtocolError.protocolViolation("unknown topic alias \(alias)") }
            publish.topic = topic
        } else {
            topics[alias] = publish.topic
        }
    }
}
