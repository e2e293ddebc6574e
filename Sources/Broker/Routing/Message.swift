import MQTTCodec
import NIOCore

/// An application message on its way through the broker: what a PUBLISH or a will carries,
/// with the properties that are forwarded to subscribers (section 3.3.2.3).
public struct Message: Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// Forwarded properties only: payload format, content type, response topic, correlation
    /// data, user properties. Expiry is kept as a deadline and re-encoded as what remains.
    public var properties: Properties
    public var expiresAt: NIODeadline?
    /// Client id of the publisher, for No Local; nil for the broker's own messages.
    public var publisherId: String?

    public init(
        topic: String,
        payload: ByteBuffer,
        qos: QoS,
        retain: Bool,
        properties: Properties = .none,
        expiresAt: NIODeadline? = nil,
        publisherId: String? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisherId = publisherId
    }

    /// Builds the message from a received PUBLISH, keeping only forwardable properties.
    init(publish: PublishPacket, publisherId: String?, now: NIODeadline) {
        self.init(
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: Self.forwarded(publish.properties),
            expiresAt: publish.properties.messageExpiryInterval.map { now + .seconds(Int64($0)) },
            publisherId: publisherId
        )
    }

    /// Builds the message a will turns into.
    init(will: Will, publisherId: String, now: NIODeadline) {
        self.init(
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: Self.forwarded(will.properties),
            expiresAt: will.properties.messageExpiryInterval.map { now + .seconds(Int64($0)) },
            publisherId: publisherId
        )
    }

    /// The properties a subscriber receives (section 3.3.2.3): payload format, content type,
    /// response topic, correlation data and user properties; expiry is kept as a deadline.
    private static func forwarded(_ properties: Properties) -> Properties {
        var forwarded = Properties()
        forwarded.payloadFormatIndicator = properties.payloadFormatIndicator
        forwarded.contentType = properties.contentType
        forwarded.responseTopic = properties.responseTopic
        forwarded.correlationData = properties.correlationData
        forwarded.userProperties = properties.userProperties
        return forwarded
    }

    func isExpired(at now: NIODeadline) -> Bool {
        guard let expiresAt else { return false }
        return now >= expiresAt
    }

    /// The PUBLISH sent to one subscriber. [MQTT-3.3.2-6] the expiry sent is what remains.
    func publishPacket(
        qos: QoS,
        retain: Bool,
        packetId: UInt16?,
        subscriptionIdentifiers: [UInt32],
        now: NIODeadline
    ) -> PublishPacket {
        var props = properties
        props.subscriptionIdentifiers = subscriptionIdentifiers
        if let expiresAt {
            let remaining = max(0, (expiresAt - now).nanoseconds) / 1_000_000_000
            props.messageExpiryInterval = UInt32(clamping: max(1, remaining))
        }
        return PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, packetId: packetId, properties: props)
    }
}
