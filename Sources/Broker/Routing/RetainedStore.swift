import MQTTCodec
import NIOCore

/// The last retained message of every topic (section 3.3.1.3). Lives inside `BrokerState`.
struct RetainedStore {
    private var messages: [String: Message] = [:]
    /// Topics whose message has a Message Expiry Interval, by deadline.
    private var expiries = DeadlineSchedule<String>()

    var count: Int { messages.count }

    /// Keeps `message` as the topic's retained message; an empty payload clears it. [MQTT-3.3.1-6]
    mutating func retain(_ message: Message) {
        if message.payload.readableBytes == 0 {
            messages[message.topic] = nil
        } else {
            messages[message.topic] = message
            if let at = message.expiresAt { expiries.schedule(message.topic, at: at) }
        }
    }

    /// The retained messages matching `filter` that have not expired; expired ones are removed.
    mutating func matching(_ filter: TopicFilter, now: NIODeadline) -> [Message] {
        var found: [Message] = []
        var expired: [String] = []
        for (topic, message) in messages where filter.matches(topic) {
            if message.isExpired(at: now) {
                expired.append(topic)
            } else {
                found.append(message)
            }
        }
        for topic in expired { messages[topic] = nil }
        return found
    }

    /// Drops the messages that expired by `now` (only those are looked at).
    mutating func removeExpired(now: NIODeadline) {
        for topic in expiries.popDue(now: now) where messages[topic]?.isExpired(at: now) == true {
            messages[topic] = nil
        }
        expiries.compactIfNeeded(liveCount: messages.count) {
            messages.compactMap { topic, message in message.expiresAt.map { (topic, $0) } }
        }
    }
}
