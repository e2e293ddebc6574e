import NIOCore

/// Writes JSON straight into a `ByteBuffer`: no intermediate objects, no Foundation, so that
/// listing 100,000 clients costs one pass over the fields.
struct JSONWriter {
    private(set) var buffer: ByteBuffer
    private var first = true
    private var afterKey = false

    init(capacity: Int = 4096) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    private mutating func separator() {
        if afterKey {
            afterKey = false
            return
        }
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
    }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separator()
        buffer.writeInteger(UInt8(ascii: "{"))
        first = true
        body(&self)
        buffer.writeInteger(UInt8(ascii: "}"))
        first = false
    }

    mutating func array(_ body: (inout JSONWriter) -> Void) {
        separator()
        buffer.writeInteger(UInt8(ascii: "["))
        first = true
        body(&self)
        buffer.writeInteger(UInt8(ascii: "]"))
        first = false
    }

    /// Writes `"key":`; the next value belongs to it.
    mutating func key(_ key: String) {
        separator()
        writeQuoted(key)
        buffer.writeInteger(UInt8(ascii: ":"))
        afterKey = true
    }

    mutating func value(_ string: String) {
        separator()
        writeQuoted(string)
    }

    mutating func value(_ number: Int64) {
        separator()
        buffer.writeString(String(number))
    }

    mutating func value(_ number: Int) { value(Int64(number)) }

    mutating func value(_ number: UInt64) {
        separator()
        buffer.writeString(String(number))
    }

    mutating func value(_ flag: Bool) {
        separator()
        buffer.writeString(flag ? "true" : "false")
    }

    mutating func null() {
        separator()
        buffer.writeString("null")
    }

    mutating func field(_ k: String, _ v: String) {
        key(k)
        value(v)
    }

    mutating func field(_ k: String, _ v: Int) {
        key(k)
        value(Int64(v))
    }

    mutating func field(_ k: String, _ v: Int64) {
        key(k)
        value(v)
    }

    mutating func field(_ k: String, _ v: UInt64) {
        key(k)
        value(v)
    }

    mutating func field(_ k: String, _ v: Bool) {
        key(k)
        value(v)
    }

    private mutating func writeQuoted(_ string: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var needsEscape = false
        for byte in string.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            needsEscape = true
            break
        }
        if !needsEscape {
            buffer.writeString(string)
        } else {
            for byte in string.utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeString("\\\\")
                case UInt8(ascii: "\n"): buffer.writeString("\\n")
                case UInt8(ascii: "\r"): buffer.writeString("\\r")
                case UInt8(ascii: "\t"): buffer.writeString("\\t")
                case ..<0x20:
                    buffer.writeString("\\u00")
                    let hex = Array("0123456789abcdef".utf8)
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0x0F)])
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
