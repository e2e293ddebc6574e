import MQTTCodec
import Synchronization

/// Broker-wide totals, kept the same way as the per-connection counters.
public final class BrokerMetrics: Sendable {
    public let bytesReceived = Counter()
    public let bytesSent = Counter()
    public let packetsReceived = Counter()
    public let packetsSent = Counter()
    /// Indexed by `PacketType.rawValue` (1…15).
    public let packetsReceivedByType: [Counter] = (0...15).map { _ in Counter() }
    public let packetsSentByType: [Counter] = (0...15).map { _ in Counter() }
    public let messagesReceived = Counter()
    public let messagesSent = Counter()
    /// Indexed by QoS (0…2).
    public let messagesReceivedByQoS: [Counter] = (0...2).map { _ in Counter() }
    public let messagesSentByQoS: [Counter] = (0...2).map { _ in Counter() }
    /// Messages dropped: queue overflow, too large for the client, expired.
    public let messagesDropped = Counter()
    /// Messages published to a topic nobody subscribes to.
    public let messagesNoSubscribers = Counter()
    /// Flow control: times a publisher was held back by a subscriber at its high-water mark;
    /// subscribers disconnected for holding publishers back `max_stall` without progress;
    /// QoS 1/2 messages that reached no queue (every matching session full; 5.0 got 0x97).
    public let publishersHeld = Counter()
    public let stallDisconnects = Counter()
    public let quotaExceeded = Counter()
    /// PUBLISHes whose payload said UTF-8 and was not (`validate_utf8_payloads`): 0x99.
    public let payloadFormatInvalid = Counter()
    /// Server topic aliases: topic bytes left out of PUBLISHes, and bytes their Topic Alias
    /// properties cost (saved on the wire = the difference).
    public let topicAliasBytesSaved = Counter()
    public let topicAliasBytesSpent = Counter()
    public let protocolErrors = Counter()
    public let connectionsAccepted = Counter()
    public let connectionsRefused = Counter()
    /// Subscriptions refused: over the per-client limit, or a filter over the topic limits.
    public let subscriptionsRefused = Counter()
    /// Sockets currently open (with or without a completed CONNECT).
    public let socketsOpen = Counter()
    /// Sockets closed as soon as they were accepted: the broker was at its connection capacity.
    public let socketsRefused = Counter()
    /// Failed accepts (EMFILE, ENFILE, ENOBUFS, ...).
    public let acceptErrors = Counter()
    public let connectTimeouts = Counter()
    public let keepAliveTimeouts = Counter()
    /// Durable store: batches that could not be written, and the acknowledgements refused
    /// for them (5.0: 0x80; 3.x: the connection closed without the acknowledgement).
    public let storeWriteFailures = Counter()
    public let storeRefusals = Counter()

    public init() {}
}
