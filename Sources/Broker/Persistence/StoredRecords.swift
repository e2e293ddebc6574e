import DurableStore
import MQTTCodec
import NIOCore

/// Deadlines (`NIODeadline`, monotonic) become wall-clock milliseconds on disk and back, so an
/// expiry counts the time the broker was down.
struct WallTime {
    let now: NIODeadline
    let nowMs: Int64

    static func current() -> WallTime {
        WallTime(now: .now(), nowMs: WallClock.nowMilliseconds())
    }

    func milliseconds(of deadline: NIODeadline) -> Int64 {
        nowMs + (deadline - now).nanoseconds / 1_000_000
    }

    func deadline(of milliseconds: Int64) -> NIODeadline {
        now + .milliseconds(milliseconds - nowMs)
    }
}

/// The binary records the broker keeps in the store: one format version byte, then fixed
/// fields, length-prefixed strings and the MQTT 5.0 wire form of properties.
enum StoredRecord {
    static let version: UInt8 = 1

    /// How a message reaches one session: the QoS and RETAIN it is sent with, and the
    /// subscription identifiers of the subscriptions it matched.
    struct Delivery: Sendable {
        var qos: QoS
        var retain: Bool
        var subscriptionIdentifiers: [UInt32]
    }

    /// A message for one session's queue, as the store gets it: encoded on the store's thread
    /// when its batch is written (never, when it was delivered and acknowledged within it).
    struct QueuedRecord: StoreRecord {
        let message: Message
        let delivery: Delivery

        func encoded() -> ByteBuffer {
            StoredRecord.message(message, delivery: delivery, at: .current())
        }
    }

    struct DecodingError: Error, CustomStringConvertible {
        var what: String
        var description: String { "stored record: \(what)" }
    }

    // MARK: - Messages

    static func message(_ message: Message, delivery: Delivery? = nil, at time: WallTime) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(48 + message.topic.utf8.count + message.payload.readableBytes)
        buffer.writeInteger(version)
        buffer.writeInteger(message.qos.rawValue | (message.retain ? 0x80 : 0))
        buffer.writeInteger(delivery.map { $0.qos.rawValue | ($0.retain ? 0x80 : 0) } ?? 0xFF)
        buffer.writeInteger(message.expiresAt.map { time.milliseconds(of: $0) } ?? 0)
        writeString(message.publisherId, to: &buffer)
        writeString(message.topic, to: &buffer)
        message.properties.writeWireForm(to: &buffer)
        let identifiers = delivery?.subscriptionIdentifiers ?? []
        buffer.writeInteger(UInt16(identifiers.count))
        for identifier in identifiers { buffer.writeInteger(identifier) }
        buffer.writeInteger(UInt32(message.payload.readableBytes))
        buffer.writeImmutableBuffer(message.payload)
        return buffer
    }

    static func message(from record: ByteBuffer, at time: WallTime) throws -> (Message, Delivery?) {
        var buffer = record
        guard let format: UInt8 = buffer.readInteger(), format == version,
            let flags: UInt8 = buffer.readInteger(), let qos = QoS(rawValue: flags & 0x03),
            let deliveryFlags: UInt8 = buffer.readInteger(),
            let expiresAtMs: Int64 = buffer.readInteger()
        else { throw DecodingError(what: "message header") }
        let publisherId = try readString(from: &buffer)
        guard let topic = try readString(from: &buffer) else { throw DecodingError(what: "message topic") }
        let properties = try Properties.readWireForm(from: &buffer, context: .publish)
        guard let count: UInt16 = buffer.readInteger() else { throw DecodingError(what: "subscription identifiers") }
        var identifiers: [UInt32] = []
        for _ in 0..<count {
            guard let identifier: UInt32 = buffer.readInteger() else { throw DecodingError(what: "subscription identifier") }
            identifiers.append(identifier)
        }
        guard let length: UInt32 = buffer.readInteger(), let payload = buffer.readSlice(length: Int(length)) else {
            throw DecodingError(what: "message payload")
        }
        let message = Message(
            topic: topic,
            payload: payload,
            qos: qos,
            retain: flags & 0x80 != 0,
            properties: properties,
            expiresAt: expiresAtMs == 0 ? nil : time.deadline(of: expiresAtMs),
            publisherId: publisherId
        )
        var delivery: Delivery?
        if deliveryFlags != 0xFF, let deliveryQoS = QoS(rawValue: deliveryFlags & 0x03) {
            delivery = Delivery(qos: deliveryQoS, retain: deliveryFlags & 0x80 != 0, subscriptionIdentifiers: identifiers)
        }
        return (message, delivery)
    }

    // MARK: - Sessions

    /// What a session needs to come back offline after a restart, as the listing showed it.
    struct SessionFields {
        var info: ClientInfo
        var expiryInterval: UInt32
        var createdAtMs: Int64
        /// nil while connected: recovery takes the time of the last write.
        var disconnectedAtMs: Int64?
        var pendingWill: (message: Message, atMs: Int64)?
    }

    static func session(_ fields: SessionFields, at time: WallTime) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        buffer.writeInteger(fields.expiryInterval)
        buffer.writeInteger(fields.createdAtMs)
        buffer.writeInteger(fields.disconnectedAtMs ?? 0)
        let info = fields.info
        writeString(info.username, to: &buffer)
        writeString(info.peerAddress, to: &buffer)
        buffer.writeInteger(Int32(truncatingIfNeeded: info.peerPort))
        buffer.writeInteger(info.protocolVersion.rawValue)
        buffer.writeInteger(info.keepAlive)
        buffer.writeInteger(UInt8(info.cleanStart ? 1 : 0))
        buffer.writeInteger(info.connectedAtMs)
        if let will = fields.pendingWill {
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(will.atMs)
            var record = message(will.message, at: time)
            buffer.writeInteger(UInt32(record.readableBytes))
            buffer.writeBuffer(&record)
        } else {
            buffer.writeInteger(UInt8(0))
        }
        return buffer
    }

    static func session(clientId: String, from record: ByteBuffer, at time: WallTime) throws -> SessionFields {
        var buffer = record
        guard let format: UInt8 = buffer.readInteger(), format == version,
            let expiry: UInt32 = buffer.readInteger(),
            let createdAtMs: Int64 = buffer.readInteger(),
            let disconnectedAtMs: Int64 = buffer.readInteger()
        else { throw DecodingError(what: "session header") }
        let username = try readString(from: &buffer)
        let peerAddress = try readString(from: &buffer) ?? ""
        guard let peerPort: Int32 = buffer.readInteger(),
            let level: UInt8 = buffer.readInteger(), let protocolVersion = ProtocolVersion(rawValue: level),
            let keepAlive: UInt16 = buffer.readInteger(),
            let cleanStart: UInt8 = buffer.readInteger(),
            let connectedAtMs: Int64 = buffer.readInteger(),
            let hasWill: UInt8 = buffer.readInteger()
        else { throw DecodingError(what: "session fields") }
        var pendingWill: (Message, Int64)?
        if hasWill == 1 {
            guard let atMs: Int64 = buffer.readInteger(), let length: UInt32 = buffer.readInteger(),
                let slice = buffer.readSlice(length: Int(length))
            else { throw DecodingError(what: "session will") }
            pendingWill = (try message(from: slice, at: time).0, atMs)
        }
        let info = ClientInfo(
            clientId: clientId,
            username: username,
            peerAddress: peerAddress,
            peerPort: Int(peerPort),
            protocolVersion: protocolVersion,
            keepAlive: keepAlive,
            cleanStart: cleanStart == 1,
            connectedAtMs: connectedAtMs
        )
        return SessionFields(
            info: info,
            expiryInterval: expiry,
            createdAtMs: createdAtMs,
            disconnectedAtMs: disconnectedAtMs == 0 ? nil : disconnectedAtMs,
            pendingWill: pendingWill
        )
    }

    // MARK: - Subscriptions

    static func subscription(_ options: Subscription, identifier: UInt32?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        let flags =
            options.qos.rawValue | (options.noLocal ? 0x04 : 0) | (options.retainAsPublished ? 0x08 : 0) | (options.retainHandling.rawValue << 4)
        buffer.writeInteger(flags)
        buffer.writeInteger(identifier ?? 0)
        return buffer
    }

    static func subscription(filter: String, from record: ByteBuffer) throws -> (Subscription, identifier: UInt32?) {
        var buffer = record
        guard let format: UInt8 = buffer.readInteger(), format == version, let flags: UInt8 = buffer.readInteger(),
            let identifier: UInt32 = buffer.readInteger(), let qos = QoS(rawValue: flags & 0x03),
            let handling = RetainHandling(rawValue: (flags >> 4) & 0x03)
        else { throw DecodingError(what: "subscription") }
        let options = Subscription(
            topicFilter: filter,
            qos: qos,
            noLocal: flags & 0x04 != 0,
            retainAsPublished: flags & 0x08 != 0,
            retainHandling: handling
        )
        return (options, identifier == 0 ? nil : identifier)
    }

    // MARK: - Strings

    private static func writeString(_ string: String?, to buffer: inout ByteBuffer) {
        guard let string else {
            buffer.writeInteger(UInt32.max)
            return
        }
        buffer.writeInteger(UInt32(string.utf8.count))
        buffer.writeString(string)
    }

    private static func readString(from buffer: inout ByteBuffer) throws -> String? {
        guard let length: UInt32 = buffer.readInteger() else { throw DecodingError(what: "string length") }
        if length == UInt32.max { return nil }
        guard let string = buffer.readString(length: Int(length)) else { throw DecodingError(what: "string") }
        return string
    }
}
