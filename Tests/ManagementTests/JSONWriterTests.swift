import Foundation
import NIOCore
import Testing

@testable import BrokerManagement

/// The API's JSON writer: what it writes parses back to what was given.
struct JSONWriterTests {
    static func parse(_ writer: JSONWriter) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(writer.buffer.readableBytesView), options: [.fragmentsAllowed])
    }

    @Test("every control character (U+0000–U+001F), quote and backslash is escaped, and parses back")
    func controlCharacters() throws {
        for scalar in (0..<0x20).map({ Unicode.Scalar(UInt8($0)) }) + ["\"", "\\", "/", "\u{7F}"] {
            let text = "a\(Character(scalar))b"
            var writer = JSONWriter()
            writer.object { $0.field("k\(Character(scalar))", text) }
            let written = String(buffer: writer.buffer)
            #expect(!written.utf8.contains { $0 < 0x20 }, "no raw control byte in \(written.debugDescription)")
            let object = try #require(try Self.parse(writer) as? [String: String])
            #expect(object == ["k\(Character(scalar))": text], "\(written.debugDescription)")
        }
        var writer = JSONWriter()
        writer.value("\u{1}\n\r\t\u{1F}")
        #expect(String(buffer: writer.buffer) == #""\u0001\n\r\t\u001f""#)
    }

    @Test("non-ASCII text is written as UTF-8, unescaped")
    func nonASCII() throws {
        let text = "grüße/温度/🌡️/\u{2028}"
        var writer = JSONWriter()
        writer.array {
            $0.value(text)
            $0.value("")
        }
        #expect(String(buffer: writer.buffer) == "[\"\(text)\",\"\"]")
        #expect(try Self.parse(writer) as? [String] == [text, ""])
    }

    @Test("numbers at their limits, booleans and null; commas between members and elements, nested")
    func numbersAndNesting() throws {
        var writer = JSONWriter()
        writer.object {
            $0.field("min", Int64.min)
            $0.field("max", Int64.max)
            $0.field("umax", UInt64.max)
            $0.field("zero", 0)
            $0.field("yes", true)
            $0.field("no", false)
            $0.key("none")
            $0.null()
            $0.key("list")
            $0.array { list in
                list.value(-1)
                list.object { $0.field("a", "b") }
                list.array { _ in }
            }
            $0.key("empty")
            $0.object { _ in }
        }
        let written = String(buffer: writer.buffer)
        #expect(
            written
                == #"{"min":-9223372036854775808,"max":9223372036854775807,"umax":18446744073709551615,"zero":0,"yes":true,"no":false,"#
                + #""none":null,"list":[-1,{"a":"b"},[]],"empty":{}}"#
        )
        let object = try #require(try Self.parse(writer) as? [String: Any])
        #expect((object["min"] as? NSNumber)?.int64Value == Int64.min && (object["max"] as? NSNumber)?.int64Value == Int64.max)
        #expect((object["umax"] as? NSNumber)?.uint64Value == UInt64.max && object["none"] is NSNull)
    }
}
