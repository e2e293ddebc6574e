import MQTTCodec

/// Every setting of the broker, with its default. Validated once by `validate()`.
public struct BrokerConfiguration: Sendable, Hashable {
    /// MQTT listener address and port; port 0 picks a free port.
    public var host: String = "0.0.0.0"
    public var port: Int = 1883
    /// Largest packet accepted from a client, fixed header included (bytes).
    public var maxPacketSize: Int = 1_048_576
    /// Outgoing QoS 1/2 messages in flight per client (capped further by its Receive Maximum).
    public var maxInflight: Int = 100
    /// Incoming QoS 2 messages awaiting PUBREL per client (our Receive Maximum in CONNACK).
    public var receiveMaximum: Int = 100
    /// Messages queued per client while it is offline or over its window; 0 queues nothing.
    public var maxQueuedMessages: Int = 1000
    /// Seconds a new socket may wait before sending CONNECT.
    public var connectTimeout: Double = 10
    /// Largest keepalive (seconds) granted; larger requests from 5.0 clients get Server Keep Alive.
    public var maxKeepAlive: Int = 65535
    /// Cap on the Session Expiry Interval (seconds); nil = no cap. 3.1.1 persistent sessions use it too.
    public var maxSessionExpiry: UInt32? = nil
    /// Topic aliases accepted from each 5.0 client.
    public var topicAliasMaximum: Int = 100
    /// Most connections at once; further CONNECTs get "server unavailable". 0 = no limit.
    public var maxConnections: Int = 0
    /// Subscriptions one client may hold; further filters get SUBACK 0x97 (3.1.1: 0x80). 0 = no limit.
    public var maxSubscriptions: Int = 1000
    /// Longest topic name or filter accepted, in bytes (MQTT allows 65,535).
    public var maxTopicLength: Int = 4096
    /// Most levels (`/`-separated parts) in a topic name or filter.
    public var maxTopicLevels: Int = 128
    /// Seconds between $SYS publications; 0 turns them off.
    public var sysInterval: Double = 10
    /// Broker name reported in $SYS and the API.
    public var name: String = "aviary"

    public init() {}

    /// Throws a readable message naming the setting when a value is out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ setting: String, _ expected: String) throws {
            if !ok { throw ConfigurationError(setting: setting, expected: expected) }
        }
        try check((0...65535).contains(port), "mqtt-port", "a port number from 0 to 65535")
        try check(!host.isEmpty, "mqtt-host", "an IP address or host name")
        try check(maxPacketSize >= 64 && maxPacketSize <= 268_435_460, "max-packet-size", "a size from 64 to 268435460 bytes")
        try check((1...65535).contains(maxInflight), "max-inflight", "a number from 1 to 65535")
        try check((1...65535).contains(receiveMaximum), "receive-maximum", "a number from 1 to 65535")
        try check(maxQueuedMessages >= 0, "max-queued-messages", "a number ≥ 0")
        try check(connectTimeout > 0, "connect-timeout", "a number of seconds > 0")
        try check((1...65535).contains(maxKeepAlive), "max-keepalive", "a number of seconds from 1 to 65535")
        try check((0...65535).contains(topicAliasMaximum), "topic-alias-maximum", "a number from 0 to 65535")
        try check(maxConnections >= 0, "max-connections", "a number ≥ 0")
        try check(sysInterval >= 0, "sys-interval", "a number of seconds ≥ 0")
        try check(maxSubscriptions >= 0, "max-subscriptions", "a number ≥ 0")
        try check((1...65535).contains(maxTopicLength), "max-topic-length", "a number of bytes from 1 to 65535")
        try check((1...65535).contains(maxTopicLevels), "max-topic-levels", "a number from 1 to 65535")
    }
}

/// A configuration value that is not acceptable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var setting: String
    public var expected: String
    public var description: String { "invalid value for \(setting): expected \(expected)" }
}
