/// What happens to a QoS 0 message for a connected subscriber whose queue is at its high-water
/// mark. (QoS 1 and 2 messages are always queued and their publishers held back.)
public enum OverloadPolicy: String, Sendable, Hashable, CaseIterable {
    /// The message is dropped for that subscriber and counted (`messages.dropped`); QoS 0
    /// publishers are never slowed. MQTT's "at most once", as Mosquitto does it.
    case drop
    /// The message is queued and its publisher is held back like a QoS 1 one: its socket is
    /// not read until the subscriber is down to its low-water mark. Nothing is lost.
    case throttle
}

/// The flow-control settings a session applies to its queue (from `BrokerConfiguration`).
struct FlowLimits {
    /// Messages queued while connected at which publishers are held back.
    var highWater: Int
    /// Messages queued at which they are let go.
    var lowWater: Int
    var policy: OverloadPolicy
}
