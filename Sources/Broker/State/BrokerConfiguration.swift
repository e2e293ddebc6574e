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
    /// Flow control (see `OverloadPolicy`): a connected subscriber whose queue reaches
    /// `queueHighWater` messages holds back the publishers feeding it until the queue is down
    /// to `queueLowWater`.
    public var queueHighWater: Int = 500
    public var queueLowWater: Int = 250
    /// Seconds a subscriber may hold publishers back without taking a single message before it
    /// is disconnected (5.0: DISCONNECT 0x97); 0 = never.
    public var maxStall: Double = 30
    /// What QoS 0 messages do to a connected subscriber over its high-water mark.
    public var overloadPolicy: OverloadPolicy = .drop
    /// Seconds a new socket may wait before sending CONNECT.
    public var connectTimeout: Double = 10
    /// Largest keepalive (seconds) granted; larger requests from 5.0 clients get Server Keep Alive.
    public var maxKeepAlive: Int = 65535
    /// 3.1/3.1.1 clients cannot be told a lower keepalive: with a cap set (`maxKeepAlive` below
    /// 65535), one asking for more, or for none (0), is refused (`refuse`, Mosquitto's way:
    /// CONNACK "identifier rejected") or accepted as it asked (`accept`).
    public var keepAliveCapV3: KeepAliveCapPolicy = .refuse
    /// Check the payload of PUBLISHes and wills that say they are UTF-8 (Payload Format
    /// Indicator 1): invalid ones get 0x99.
    public var validateUTF8Payloads = false
    /// Response Information sent in CONNACK to 5.0 clients that request it; `%c` is replaced
    /// by the client id. nil = none is sent.
    public var responseInformation: String? = nil
    /// Give topics aliases in PUBLISHes to 5.0 clients that accept them (Topic Alias Maximum >
    /// 0). Off by default: libmosquitto 2.0.11 and paho-mqtt 1.6.1 announce the maximum but do
    /// not resolve the aliases they receive.
    public var topicAliasServer = false
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
    /// Event loop threads serving the MQTT connections; 0 = one per CPU core (NIO's shared
    /// group). One thread is Mosquitto's model: a message never crosses threads, which is the
    /// lowest latency at light load, at the price of peak throughput.
    public var eventLoops: Int = 0
    /// SO_RCVBUF of every client socket of the MQTT listeners, in bytes (0 = the kernel's
    /// autotuning, up to `tcp_rmem`'s maximum: 6 MiB on Debian). What a client has sent and
    /// the broker has not read yet waits here; under overload the queue in front of the broker
    /// is this size per client, so it bounds both the memory and the delay (BENCHMARKS.md,
    /// QoS 0 at saturation). It also caps one client's window: about this many bytes per
    /// round trip, which a client on a long link sending much data may need raised.
    public var tcpReceiveBuffer: Int = 16384
    /// One listening socket per event loop (SO_REUSEPORT, Linux), each keeping the clients it
    /// accepts: accepting costs no hop between threads, but the kernel spreads clients by
    /// address hash rather than in turn, so a few busy clients may share a loop. Off: one
    /// socket, clients handed to the loops in turn.
    public var listenerPerLoop = false
    /// MQTT over WebSockets (`ws://host:port/path`, subprotocol `mqtt`): the port (0 = a free
    /// one, nil = no listener), the path, and with TLS certificates the `wss://` port (nil = none).
    /// Started by `AviaryApplication` (serve, run), not by `Broker.start()`.
    public var webSocketPort: Int? = 8083
    public var webSocketPath = "/mqtt"
    public var secureWebSocketPort: Int? = 8084
    /// Durability: sessions (with subscriptions, queued and in-flight QoS 1/2 messages,
    /// incoming QoS 2 ids, delayed wills) and retained messages are kept in a store in
    /// `persistenceDir` and survive a restart or a crash.
    public var persistence = false
    public var persistenceDir = "./aviary-data"
    /// 0 (`always`, the default): a batch is written as soon as there is something to write
    /// (what arrives during an fsync is the next batch); else a group commit every this many
    /// milliseconds. Acknowledgements are held until their batch is on disk either way.
    /// `always` measured 2.9x the throughput of 10 ms (clients' in-flight windows bound what a
    /// batch can collect; BENCHMARKS.md).
    public var persistenceSyncMilliseconds = 0
    /// Most bytes the store may take on disk (0 = no cap); past it, what cannot be stored is
    /// refused (5.0: reason 0x80) instead of acknowledged.
    public var persistenceMaxBytes = 0
    /// Bytes kept free on the store's file system (free pages inside the database count):
    /// under them, messages the store would have to keep are refused before they are routed,
    /// so that the disk never fills and writes (deletes as queues drain, the WAL's checkpoint)
    /// can go on.
    public var persistenceMinFreeBytes = 32 << 20
    /// Broker name reported in $SYS and the API.
    public var name: String = "aviary"

    public init() {}

    /// The accepted range of each whole-number setting: `validate()` and the command line's
    /// settings (flags, variables, config file) both check against these.
    public enum Bounds {
        public static let port = 0...65535
        public static let maxConnections = 0...Int(Int32.max)
        public static let maxPacketSize = 64...268_435_460
        public static let maxInflight = 1...65535
        public static let receiveMaximum = 1...65535
        public static let maxQueuedMessages = 0...Int(Int32.max)
        public static let maxSubscriptions = 0...Int(Int32.max)
        public static let maxTopicLength = 1...65535
        public static let maxTopicLevels = 1...65535
        public static let maxKeepAlive = 1...65535
        public static let topicAliasMaximum = 0...65535
        public static let eventLoops = 0...1024
        public static let tcpReceiveBuffer = 0...(64 << 20)
        public static let queueWater = 1...Int(Int32.max)
        public static let persistenceSyncMilliseconds = 0...10_000
    }

    /// Throws a readable message naming the setting when a value is out of range.
    public func validate() throws {
        func check(_ value: Int, _ range: ClosedRange<Int>, _ setting: String) throws {
            if !range.contains(value) {
                throw ConfigurationError(setting: setting, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
        }
        try check(port, Bounds.port, "mqtt-port")
        if host.isEmpty { throw ConfigurationError(setting: "mqtt-host", expected: "an IP address or host name") }
        try check(maxPacketSize, Bounds.maxPacketSize, "max-packet-size")
        try check(maxInflight, Bounds.maxInflight, "max-inflight")
        try check(receiveMaximum, Bounds.receiveMaximum, "receive-maximum")
        try check(maxQueuedMessages, Bounds.maxQueuedMessages, "max-queued-messages")
        try check(maxKeepAlive, Bounds.maxKeepAlive, "max-keepalive")
        try check(topicAliasMaximum, Bounds.topicAliasMaximum, "topic-alias-maximum")
        try check(maxConnections, Bounds.maxConnections, "max-connections")
        try check(eventLoops, Bounds.eventLoops, "event-loops")
        try check(tcpReceiveBuffer, Bounds.tcpReceiveBuffer, "tcp-receive-buffer")
        try check(maxSubscriptions, Bounds.maxSubscriptions, "max-subscriptions")
        try check(maxTopicLength, Bounds.maxTopicLength, "max-topic-length")
        try check(maxTopicLevels, Bounds.maxTopicLevels, "max-topic-levels")
        try check(queueHighWater, Bounds.queueWater, "queue-high-water")
        try check(queueLowWater, Bounds.queueWater, "queue-low-water")
        if queueLowWater >= queueHighWater {
            throw ConfigurationError(setting: "queue-low-water", expected: "a number below queue-high-water (\(queueHighWater))")
        }
        try check(persistenceSyncMilliseconds, Bounds.persistenceSyncMilliseconds, "persistence-sync")
        if persistenceMaxBytes < 0 { throw ConfigurationError(setting: "persistence-max-bytes", expected: "a number of bytes ≥ 0") }
        if persistenceMinFreeBytes < 0 { throw ConfigurationError(setting: "persistence-min-free-bytes", expected: "a number of bytes ≥ 0") }
        if let webSocketPort { try check(webSocketPort, Bounds.port, "ws-port") }
        if let secureWebSocketPort { try check(secureWebSocketPort, Bounds.port, "wss-port") }
        if !webSocketPath.hasPrefix("/") { throw ConfigurationError(setting: "ws-path", expected: "a path starting with /") }
        if persistence && persistenceDir.isEmpty { throw ConfigurationError(setting: "persistence-dir", expected: "a directory") }
        if !(maxStall >= 0) { throw ConfigurationError(setting: "max-stall", expected: "a number of seconds ≥ 0") }
        if !(connectTimeout > 0) { throw ConfigurationError(setting: "connect-timeout", expected: "a number of seconds > 0") }
        if !(sysInterval >= 0) { throw ConfigurationError(setting: "sys-interval", expected: "a number of seconds ≥ 0") }
    }
}

extension FlowLimits {
    init(_ configuration: BrokerConfiguration) {
        self.init(highWater: configuration.queueHighWater, lowWater: configuration.queueLowWater, policy: configuration.overloadPolicy)
    }
}

/// What a 3.1/3.1.1 CONNECT asking for a keepalive over `max_keepalive` (or none) gets.
public enum KeepAliveCapPolicy: String, Sendable, Hashable, CaseIterable {
    /// CONNACK return code 2 (identifier rejected) and a close, as Mosquitto does.
    case refuse
    /// Accepted with the keepalive it asked for.
    case accept
}

/// A configuration value that is not acceptable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var setting: String
    public var expected: String
    public var description: String { "invalid value for \(setting): expected \(expected)" }
}
