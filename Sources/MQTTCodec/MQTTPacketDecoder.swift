import NIOCore

/// Decodes MQTT control packets from bytes. A pure value: no channel, no context, so the fuzz
/// target and the tests call it directly. `decode(buffer:)` returns `nil` when more bytes are
/// needed and throws `MQTTProtocolError` on malformed input.
///
/// The decoder learns the protocol level from the CONNECT it decodes; before that only CONNECT
/// is accepted. [MQTT-3.1.0-1]
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = MQTTPacket

    /// The protocol level in use; set from the first CONNECT (or by the caller for a client).
    public var version: ProtocolVersion?
    /// Largest whole packet (fixed header included) accepted; checked before buffering the body.
    public var maximumPacketSize: Int

    public init(version: ProtocolVersion? = nil, maximumPacketSize: Int = 268_435_460) {
        self.version = version
        self.maximumPacketSize = maximumPacketSize
    }

    /// The fixed header: first byte, remaining length and the header's own length.
    public struct FixedHeader: Sendable, Hashable {
        public var typeAndFlags: UInt8
        public var remainingLength: Int
        public var headerLength: Int
        public var totalLength: Int { headerLength + remainingLength }
    }

    /// Peeks at the fixed header without consuming anything; `nil` if it is not complete yet.
    /// A remaining length longer than four bytes is malformed even before the fifth byte arrives.
    public static func peekFixedHeader(_ buffer: ByteBuffer) throws -> FixedHeader? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        var value = 0
        var shift = 0
        for i in 1...4 {
            guard let byte = buffer.getInteger(at: start + i, as: UInt8.self) else { return nil }
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return FixedHeader(typeAndFlags: first, remainingLength: value, headerLength: 1 + i)
            }
            shift += 7
        }
        throw MQTTProtocolError.malformed("remaining length longer than 4 bytes")
    }

    /// Decodes one packet from the front of `buffer`, consuming it; `nil` when incomplete.
    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        guard let header = try Self.peekFixedHeader(buffer) else { return nil }
        let rawType = header.typeAndFlags >> 4
        let flags = header.typeAndFlags & 0x0F
        guard let type = PacketType(rawValue: rawType) else {
            throw MQTTProtocolError.malformed("reserved packet type 0")
        }
        // Everything checkable from the header is checked before waiting for the body.
        if type == .auth && version != nil && version != .v5 {
            throw MQTTProtocolError.malformed("AUTH packet before MQTT 5.0")
        }
        if type != .publish && flags != type.requiredFlags {
            // [MQTT-2.1.3-1] reserved flag bits
            throw MQTTProtocolError.malformed("invalid fixed header flags 0x\(String(flags, radix: 16)) for \(type.name)")
        }
        if type == .publish {
            if flags & 0b0110 == 0b0110 { throw MQTTProtocolError.malformed("PUBLISH with QoS 3") }  // [MQTT-3.3.1-4]
            if flags & 0b1000 != 0 && flags & 0b0110 == 0 {
                throw MQTTProtocolError.malformed("PUBLISH with DUP set at QoS 0")  // [MQTT-3.3.1-2]
            }
        }
        if header.totalLength > maximumPacketSize {
            throw MQTTProtocolError(.packetTooLarge, "packet of \(header.totalLength) bytes exceeds maximum packet size \(maximumPacketSize)")
        }
        if version == nil && type != .connect {
            throw MQTTProtocolError.protocolViolation("first packet must be CONNECT, got \(type.name)")
        }
        guard buffer.readableBytes >= header.totalLength else { return nil }
        buffer.moveReaderIndex(forwardBy: header.headerLength)
        var body = buffer.readSlice(length: header.remainingLength)!
        let packet: MQTTPacket
        do {
            packet = try decodeBody(type: type, flags: flags, body: &body)
        } catch var error as MQTTProtocolError where type == .connect {
            error.connectVersion = version
            throw error
        }
        if body.readableBytes != 0 {
            throw MQTTProtocolError.malformed("\(body.readableBytes) unexpected bytes at the end of \(type.name)")
        }
        return packet
    }

    /// Read bytes are discarded only past 64 KiB: decoded payloads are slices of the read buffer
    /// (routed without a copy), so discarding means a copy-on-write of the whole storage, and
    /// NIO's default (past 2 KiB) would pay it on almost every read of a busy publisher.
    public func shouldReclaimBytes(buffer: ByteBuffer) -> Bool {
        buffer.readableBytes > 0 && buffer.readerIndex > 65536
    }

    /// At the end of the stream, a partial packet is simply dropped with the connection.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try decode(buffer: &buffer)
    }

    private mutating func decodeBody(type: PacketType, flags: UInt8, body: inout ByteBuffer) throws -> MQTTPacket {
        if type == .connect { return .connect(try decodeConnect(&body)) }
        let version = self.version ?? .v3_1_1
        let v5 = version == .v5
        switch type {
        case .connect:
            preconditionFailure("handled above")
        case .connack:
            guard let ackFlags = body.readInteger(as: UInt8.self), let code = body.readInteger(as: UInt8.self) else {
                throw MQTTProtocolError.malformed("truncated CONNACK")
            }
            guard ackFlags & 0xFE == 0 else { throw MQTTProtocolError.malformed("reserved CONNACK flags set") }
            let props = v5 ? try Properties.read(from: &body, context: .connack) : .none
            let reason: ReasonCode = v5 ? ReasonCode(code) : Self.reasonFromV3ReturnCode(code)
            return .connack(ConnAckPacket(sessionPresent: ackFlags & 1 == 1, reasonCode: reason, properties: props))
        case .publish:
            return .publish(try decodePublish(flags: flags, body: &body, version: version))
        case .puback, .pubrec, .pubrel, .pubcomp:
            let ack = try decodeAck(type: type, body: &body, v5: v5)
            switch type {
            case .puback: return .puback(ack)
            case .pubrec: return .pubrec(ack)
            case .pubrel: return .pubrel(ack)
            default: return .pubcomp(ack)
            }
        case .subscribe:
            let packetId = try Self.readPacketId(&body, in: "SUBSCRIBE")
            let props = v5 ? try Properties.read(from: &body, context: .subscribe) : .none
            var subscriptions: [Subscription] = []
            while body.readableBytes > 0 {
                let filter = try body.readMQTTString(what: "topic filter")
                guard let options = body.readInteger(as: UInt8.self) else {
                    throw MQTTProtocolError.malformed("SUBSCRIBE filter without options byte")
                }
                subscriptions.append(try Self.subscription(filter: filter, options: options, v5: v5))
            }
            // [MQTT-3.8.3-3] at least one topic filter
            guard !subscriptions.isEmpty else { throw MQTTProtocolError.protocolViolation("SUBSCRIBE with no topic filter") }
            return .subscribe(SubscribePacket(packetId: packetId, subscriptions: subscriptions, properties: props))
        case .suback, .unsuback:
            let packetId = try Self.readPacketId(&body, in: type.name)
            let props = v5 ? try Properties.read(from: &body, context: type == .suback ? .suback : .unsuback) : .none
            var codes: [ReasonCode] = []
            while let code = body.readInteger(as: UInt8.self) { codes.append(ReasonCode(code)) }
            let packet = SubAckPacket(packetId: packetId, reasonCodes: codes, properties: props)
            return type == .suback ? .suback(packet) : .unsuback(packet)
        case .unsubscribe:
            let packetId = try Self.readPacketId(&body, in: "UNSUBSCRIBE")
            let props = v5 ? try Properties.read(from: &body, context: .unsubscribe) : .none
            var filters: [String] = []
            while body.readableBytes > 0 { filters.append(try body.readMQTTString(what: "topic filter")) }
            // [MQTT-3.10.3-2] at least one topic filter
            guard !filters.isEmpty else { throw MQTTProtocolError.protocolViolation("UNSUBSCRIBE with no topic filter") }
            return .unsubscribe(UnsubscribePacket(packetId: packetId, topicFilters: filters, properties: props))
        case .pingreq:
            return .pingreq
        case .pingresp:
            return .pingresp
        case .disconnect:
            guard v5, body.readableBytes > 0 else { return .disconnect(DisconnectPacket()) }
            let code = ReasonCode(body.readInteger(as: UInt8.self)!)
            let props = body.readableBytes > 0 ? try Properties.read(from: &body, context: .disconnect) : .none
            return .disconnect(DisconnectPacket(reasonCode: code, properties: props))
        case .auth:
            guard body.readableBytes > 0 else { return .auth(AuthPacket()) }
            let code = ReasonCode(body.readInteger(as: UInt8.self)!)
            guard [0x00, 0x18, 0x19].contains(code.rawValue) else {
                throw MQTTProtocolError.malformed("invalid AUTH reason code \(code)")
            }
            let props = body.readableBytes > 0 ? try Properties.read(from: &body, context: .auth) : .none
            return .auth(AuthPacket(reasonCode: code, properties: props))
        }
    }

    private mutating func decodeConnect(_ body: inout ByteBuffer) throws -> ConnectPacket {
        let name = try body.readMQTTString(what: "protocol name")
        guard let level = body.readInteger(as: UInt8.self) else { throw MQTTProtocolError.malformed("truncated CONNECT") }
        let parsed: ProtocolVersion
        // 3.1/3.1.1 bridges set the level's top bit (0x83, 0x84), as Mosquitto's do.
        let isBridge = level & 0x80 != 0 && level & 0x7F != 5
        switch (name, level & (isBridge ? 0x7F : 0xFF)) {
        case ("MQIsdp", 3): parsed = .v3_1
        case ("MQTT", 4): parsed = .v3_1_1
        case ("MQTT", 5): parsed = .v5
        default:
            // [MQTT-3.1.2-2] unsupported level: CONNACK 0x01 (3.1.1 format) / 0x84, then close.
            if version == nil { version = level == 5 ? .v5 : .v3_1_1 }
            throw MQTTProtocolError(.unsupportedProtocolVersion, "unsupported protocol \(name) level \(level)")
        }
        let firstConnect = version == nil
        if firstConnect { version = parsed }
        let v5 = parsed == .v5
        guard let flags = body.readInteger(as: UInt8.self), let keepAlive = body.readInteger(as: UInt16.self) else {
            throw MQTTProtocolError.malformed("truncated CONNECT")
        }
        // [MQTT-3.1.2-3] reserved flag must be zero
        guard flags & 0x01 == 0 else { throw MQTTProtocolError.malformed("CONNECT reserved flag set") }
        let willFlag = flags & 0x04 != 0
        let willQoSRaw = (flags >> 3) & 0x03
        let willRetain = flags & 0x20 != 0
        let passwordFlag = flags & 0x40 != 0
        let usernameFlag = flags & 0x80 != 0
        if willQoSRaw == 3 { throw MQTTProtocolError.malformed("will QoS 3") }  // [MQTT-3.1.2-14]
        if !willFlag && (willQoSRaw != 0 || willRetain) {
            throw MQTTProtocolError.malformed("will QoS or retain set without will flag")  // [MQTT-3.1.2-11/13/15]
        }
        if !v5 && passwordFlag && !usernameFlag {
            throw MQTTProtocolError.malformed("password flag without username flag")  // [MQTT-3.1.2-22]
        }
        let props = v5 ? try Properties.read(from: &body, context: .connect) : .none
        let clientId = try body.readMQTTString(what: "client identifier")
        var will: Will?
        if willFlag {
            let willProps = v5 ? try Properties.read(from: &body, context: .will) : .none
            let topic = try body.readMQTTString(what: "will topic")
            try TopicName.validate(topic)
            let payload = try body.readMQTTBinary(what: "will payload")
            will = Will(topic: topic, payload: payload, qos: QoS(rawValue: willQoSRaw)!, retain: willRetain, properties: willProps)
        }
        let username = usernameFlag ? try body.readMQTTString(what: "user name") : nil
        let password = passwordFlag ? try body.readMQTTBinary(what: "password") : nil
        return ConnectPacket(
            version: parsed,
            clientId: clientId,
            cleanStart: flags & 0x02 != 0,
            keepAlive: keepAlive,
            username: username,
            password: password,
            will: will,
            properties: props,
            isBridge: isBridge
        )
    }

    private func decodePublish(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws -> PublishPacket {
        let qos = QoS(rawValue: (flags >> 1) & 0x03)!
        let topic = try body.readMQTTString(what: "topic name")
        var packetId: UInt16?
        if qos != .atMostOnce { packetId = try Self.readPacketId(&body, in: "PUBLISH") }
        let props = version == .v5 ? try Properties.read(from: &body, context: .publish) : .none
        if topic.isEmpty {
            // [MQTT-4.7.3-1]; 5.0 allows a zero-length topic only together with a Topic Alias.
            if version != .v5 || props.topicAlias == nil {
                throw MQTTProtocolError(version == .v5 ? .protocolError : .topicNameInvalid, "empty topic name")
            }
        } else {
            try TopicName.validate(topic)
        }
        let payload = body.readSlice(length: body.readableBytes)!
        return PublishPacket(
            topic: topic,
            payload: payload,
            qos: qos,
            retain: flags & 0x01 != 0,
            dup: flags & 0x08 != 0,
            packetId: packetId,
            properties: props
        )
    }

    private func decodeAck(type: PacketType, body: inout ByteBuffer, v5: Bool) throws -> AckPacket {
        let packetId = try Self.readPacketId(&body, in: type.name)
        guard v5 else { return AckPacket(packetId: packetId) }
        guard let code = body.readInteger(as: UInt8.self) else { return AckPacket(packetId: packetId) }
        let valid: Set<UInt8> =
            (type == .puback || type == .pubrec) ? [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99] : [0x00, 0x92]
        guard valid.contains(code) else {
            throw MQTTProtocolError.malformed("invalid \(type.name) reason code 0x\(String(code, radix: 16))")
        }
        let props = body.readableBytes > 0 ? try Properties.read(from: &body, context: .ack) : .none
        return AckPacket(packetId: packetId, reasonCode: ReasonCode(code), properties: props)
    }

    static func readPacketId(_ body: inout ByteBuffer, in packet: String) throws -> UInt16 {
        guard let id = body.readInteger(as: UInt16.self) else { throw MQTTProtocolError.malformed("truncated \(packet)") }
        // [MQTT-2.2.1-3] non-zero packet identifier
        guard id != 0 else { throw MQTTProtocolError.malformed("packet identifier 0 in \(packet)") }
        return id
    }

    static func subscription(filter: String, options: UInt8, v5: Bool) throws -> Subscription {
        let qosRaw = options & 0x03
        guard qosRaw != 3 else { throw MQTTProtocolError.malformed("subscription QoS 3") }  // [MQTT-3-8.3-4]
        guard v5 else {
            guard options & 0xFC == 0 else { throw MQTTProtocolError.malformed("reserved subscription option bits set") }
            return Subscription(topicFilter: filter, qos: QoS(rawValue: qosRaw)!)
        }
        guard options & 0xC0 == 0 else { throw MQTTProtocolError.malformed("reserved subscription option bits set") }  // [MQTT-3.8.3-5]
        guard let handling = RetainHandling(rawValue: (options >> 4) & 0x03) else {
            throw MQTTProtocolError.protocolViolation("retain handling 3")
        }
        return Subscription(
            topicFilter: filter,
            qos: QoS(rawValue: qosRaw)!,
            noLocal: options & 0x04 != 0,
            retainAsPublished: options & 0x08 != 0,
            retainHandling: handling
        )
    }

    static func reasonFromV3ReturnCode(_ code: UInt8) -> ReasonCode {
        switch code {
        case 0: .success
        case 1: .unsupportedProtocolVersion
        case 2: .clientIdentifierNotValid
        case 3: .serverUnavailable
        case 4: .badUserNameOrPassword
        case 5: .notAuthorized
        default: ReasonCode(code)
        }
    }
}
