import NIOCore

extension ByteBuffer {
    /// The largest value a Variable Byte Integer can hold (section 1.5.5).
    public static let maxVariableByteInteger = 268_435_455

    /// Bytes needed to encode `value` as a Variable Byte Integer (minimum length). [MQTT-1.5.5-1]
    @inlinable
    public static func variableByteIntegerSize(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    @inlinable
    public mutating func writeVariableByteInteger(_ value: Int) {
        precondition(value >= 0 && value <= ByteBuffer.maxVariableByteInteger)
        var v = value
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while v > 0
    }

    /// Reads a Variable Byte Integer; more than four bytes is malformed.
    mutating func readVariableByteInteger() throws -> Int {
        var value = 0
        var shift = 0
        for _ in 0..<4 {
            guard let byte = readInteger(as: UInt8.self) else {
                throw MQTTProtocolError.malformed("truncated variable byte integer")
            }
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw MQTTProtocolError.malformed("variable byte integer longer than 4 bytes")
    }

    /// Writes a UTF-8 Encoded String (two-byte length, then bytes).
    @inlinable
    public mutating func writeMQTTString(_ string: String) {
        let length = string.utf8.count
        writeInteger(UInt16(truncatingIfNeeded: length))
        writeString(string)
    }

    /// Writes Binary Data (two-byte length, then bytes).
    public mutating func writeMQTTBinary(_ data: ByteBuffer) {
        writeInteger(UInt16(truncatingIfNeeded: data.readableBytes))
        writeImmutableBuffer(data)
    }

    /// Reads a UTF-8 Encoded String and enforces section 1.5.4: well-formed UTF-8 (no
    /// surrogates, no overlong forms) [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2].
    mutating func readMQTTString(what: @autoclosure () -> String) throws -> String {
        guard let length = readInteger(as: UInt16.self) else {
            throw MQTTProtocolError.malformed("truncated \(what())")
        }
        guard let slice = readSlice(length: Int(length)) else {
            throw MQTTProtocolError.malformed("\(what()) longer than the packet")
        }
        return try slice.mqttValidatedString(what: what())
    }

    /// Validates the readable bytes as an MQTT UTF-8 string.
    func mqttValidatedString(what: @autoclosure () -> String) throws -> String {
        let string: String? = withUnsafeReadableBytes { raw in
            if raw.contains(0) { return nil }
            return String(validating: raw, as: UTF8.self)
        }
        guard let string else { throw MQTTProtocolError.malformed("\(what()) is not valid UTF-8 or contains U+0000") }
        return string
    }

    /// Reads Binary Data (two-byte length, then bytes) without copying.
    mutating func readMQTTBinary(what: @autoclosure () -> String) throws -> ByteBuffer {
        guard let length = readInteger(as: UInt16.self) else {
            throw MQTTProtocolError.malformed("truncated \(what())")
        }
        guard let slice = readSlice(length: Int(length)) else {
            throw MQTTProtocolError.malformed("\(what()) longer than the packet")
        }
        return slice
    }
}
