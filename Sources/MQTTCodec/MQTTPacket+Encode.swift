import NIOCore

extension MQTTPacket {
    /// First byte of the fixed header: type and flags.
    var firstByte: UInt8 {
        switch self {
        case .publish(let p):
            return PacketType.publish.rawValue << 4 | (p.dup ? 0x08 : 0) | p.qos.rawValue << 1 | (p.retain ? 1 : 0)
        default:
            return type.rawValue << 4 | type.requiredFlags
        }
    }

    /// Size of everything after the fixed header.
    public func bodySize(version: ProtocolVersion) -> Int {
        let v5 = version == .v5
        switch self {
        case .connect(let c):
            var size = 2 + c.version.protocolName.utf8.count + 1 + 1 + 2
            if c.version == .v5 { size += c.properties.encodedSize }
            size += 2 + c.clientId.utf8.count
            if let will = c.will {
                if c.version == .v5 { size += will.properties.encodedSize }
                size += 2 + will.topic.utf8.count + 2 + will.payload.readableBytes
            }
            if let u = c.username { size += 2 + u.utf8.count }
            if let p = c.password { size += 2 + p.readableBytes }
            return size
        case .connack(let c):
            return 2 + (v5 ? c.properties.encodedSize : 0)
        case .publish(let p):
            return p.variableHeaderSize(version: version) + p.payload.readableBytes
        case .puback(let a), .pubrec(let a), .pubrel(let a), .pubcomp(let a):
            guard v5, a.reasonCode != .success || !a.properties.isEmpty else { return 2 }
            return a.properties.isEmpty ? 3 : 3 + a.properties.encodedSize
        case .subscribe(let s):
            return 2 + (v5 ? s.properties.encodedSize : 0)
                + s.subscriptions.reduce(0) { $0 + 3 + $1.topicFilter.utf8.count }
        case .suback(let s):
            return 2 + (v5 ? s.properties.encodedSize : 0) + s.reasonCodes.count
        case .unsuback(let s):
            return v5 ? 2 + s.properties.encodedSize + s.reasonCodes.count : 2
        case .unsubscribe(let u):
            return 2 + (v5 ? u.properties.encodedSize : 0) + u.topicFilters.reduce(0) { $0 + 2 + $1.utf8.count }
        case .pingreq, .pingresp:
            return 0
        case .disconnect(let d):
            guard v5, d.reasonCode != .success || !d.properties.isEmpty else { return 0 }
            return d.properties.isEmpty ? 1 : 1 + d.properties.encodedSize
        case .auth(let a):
            guard a.reasonCode != .success || !a.properties.isEmpty else { return 0 }
            return a.properties.isEmpty ? 1 : 1 + a.properties.encodedSize
        }
    }

    /// Whole packet size, fixed header included.
    public func encodedSize(version: ProtocolVersion) -> Int {
        let body = bodySize(version: version)
        return 1 + ByteBuffer.variableByteIntegerSize(body) + body
    }

    /// Writes the whole packet.
    public func write(to buffer: inout ByteBuffer, version: ProtocolVersion) {
        if case .publish(let p) = self {
            p.writeHeader(to: &buffer, version: version)
            buffer.writeImmutableBuffer(p.payload)
            return
        }
        let v5 = version == .v5
        buffer.writeInteger(firstByte)
        buffer.writeVariableByteInteger(bodySize(version: version))
        switch self {
        case .connect(let c):
            buffer.writeMQTTString(c.version.protocolName)
            buffer.writeInteger(c.version.rawValue | (c.isBridge && c.version != .v5 ? 0x80 : 0))
            var flags: UInt8 = c.cleanStart ? 0x02 : 0
            if let will = c.will {
                flags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0)
            }
            if c.password != nil { flags |= 0x40 }
            if c.username != nil { flags |= 0x80 }
            buffer.writeInteger(flags)
            buffer.writeInteger(c.keepAlive)
            if c.version == .v5 { c.properties.write(to: &buffer) }
            buffer.writeMQTTString(c.clientId)
            if let will = c.will {
                if c.version == .v5 { will.properties.write(to: &buffer) }
                buffer.writeMQTTString(will.topic)
                buffer.writeMQTTBinary(will.payload)
            }
            if let u = c.username { buffer.writeMQTTString(u) }
            if let p = c.password { buffer.writeMQTTBinary(p) }
        case .connack(let c):
            buffer.writeInteger(UInt8(c.sessionPresent ? 1 : 0))
            buffer.writeInteger(v5 ? c.reasonCode.rawValue : c.reasonCode.connackReturnCodeV3)
            if v5 { c.properties.write(to: &buffer) }
        case .publish:
            preconditionFailure("handled above")
        case .puback(let a), .pubrec(let a), .pubrel(let a), .pubcomp(let a):
            buffer.writeInteger(a.packetId)
            if v5, a.reasonCode != .success || !a.properties.isEmpty {
                buffer.writeInteger(a.reasonCode.rawValue)
                if !a.properties.isEmpty { a.properties.write(to: &buffer) }
            }
        case .subscribe(let s):
            buffer.writeInteger(s.packetId)
            if v5 { s.properties.write(to: &buffer) }
            for sub in s.subscriptions {
                buffer.writeMQTTString(sub.topicFilter)
                var options = sub.qos.rawValue
                if v5 {
                    options |= (sub.noLocal ? 0x04 : 0) | (sub.retainAsPublished ? 0x08 : 0) | sub.retainHandling.rawValue << 4
                }
                buffer.writeInteger(options)
            }
        case .suback(let s):
            buffer.writeInteger(s.packetId)
            if v5 { s.properties.write(to: &buffer) }
            for code in s.reasonCodes { buffer.writeInteger(code.rawValue) }
        case .unsuback(let s):
            buffer.writeInteger(s.packetId)
            if v5 {
                s.properties.write(to: &buffer)
                for code in s.reasonCodes { buffer.writeInteger(code.rawValue) }
            }
        case .unsubscribe(let u):
            buffer.writeInteger(u.packetId)
            if v5 { u.properties.write(to: &buffer) }
            for filter in u.topicFilters { buffer.writeMQTTString(filter) }
        case .pingreq, .pingresp:
            break
        case .disconnect(let d):
            if v5, d.reasonCode != .success || !d.properties.isEmpty {
                buffer.writeInteger(d.reasonCode.rawValue)
                if !d.properties.isEmpty { d.properties.write(to: &buffer) }
            }
        case .auth(let a):
            if a.reasonCode != .success || !a.properties.isEmpty {
                buffer.writeInteger(a.reasonCode.rawValue)
                if !a.properties.isEmpty { a.properties.write(to: &buffer) }
            }
        }
    }
}

extension PublishPacket {
    /// Topic, packet id and properties: everything but the payload.
    func variableHeaderSize(version: ProtocolVersion) -> Int {
        2 + topic.utf8.count + (qos == .atMostOnce ? 0 : 2) + (version == .v5 ? properties.encodedSize : 0)
    }

    /// Size of the fixed and variable headers, without the payload.
    public func headerSize(version: ProtocolVersion) -> Int {
        let body = variableHeaderSize(version: version) + payload.readableBytes
        return 1 + ByteBuffer.variableByteIntegerSize(body) + variableHeaderSize(version: version)
    }

    /// Writes the fixed and variable headers only, so that the payload buffer can be written
    /// after it as a separate write shared by every subscriber (no copy per subscriber).
    public func writeHeader(to buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(MQTTPacket.publish(self).firstByte)
        buffer.writeVariableByteInteger(variableHeaderSize(version: version) + payload.readableBytes)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetId ?? 0) }
        if version == .v5 { properties.write(to: &buffer) }
    }
}
