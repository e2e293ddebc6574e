/// Rules for topic names (section 4.7): what a PUBLISH or a will may name.
public enum TopicName {
    /// Throws unless `topic` is a valid topic name: non-empty, no `+` or `#` [MQTT-3.3.2-2],
    /// at most 65,535 bytes [MQTT-4.7.3-3]. (UTF-8 and U+0000 are checked by the codec.)
    public static func validate(_ topic: String) throws {
        guard !topic.isEmpty else { throw MQTTProtocolError(.topicNameInvalid, "empty topic name") }  // [MQTT-4.7.3-1]
        for byte in topic.utf8 where byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") {
            throw MQTTProtocolError(.topicNameInvalid, "topic name '\(topic)' contains a wildcard")
        }
    }

    /// Why a topic name or filter is over the broker's limits, or nil if it is within them.
    public static func limitViolation(_ topic: String, maxLength: Int, maxLevels: Int) -> String? {
        let bytes = topic.utf8.count
        if bytes > maxLength { return "topic of \(bytes) bytes is longer than the limit of \(maxLength)" }
        var levels = 1
        for byte in topic.utf8 where byte == UInt8(ascii: "/") {
            levels += 1
            if levels > maxLevels { return "topic has more than \(maxLevels) levels" }
        }
        return nil
    }
}
