import MQTTCodec
import NIOCore
import Testing

@testable import Broker

/// Server → client topic aliases: assignment, reuse, replacement of the oldest mapping.
struct OutgoingTopicAliasesTests {
    static func send(_ topic: String, _ aliases: inout OutgoingTopicAliases) -> (topic: String, alias: UInt16?, saved: Int) {
        var publish = PublishPacket(topic: topic, payload: ByteBuffer(string: "x"), qos: .atMostOnce)
        let saved = aliases.apply(to: &publish)
        return (publish.topic, publish.properties.topicAlias, saved)
    }

    @Test("no aliases for a client that accepts none; the client's maximum bounds the table, and at most 1,024")
    func capacity() {
        #expect(OutgoingTopicAliases(clientMaximum: nil) == nil)
        #expect(OutgoingTopicAliases(clientMaximum: 0) == nil)
        var big = OutgoingTopicAliases(clientMaximum: 65535)!
        for i in 0..<1024 { #expect(Self.send("t/\(i)", &big).alias == UInt16(i + 1)) }
        #expect(Self.send("t/1024", &big).alias == 1, "the 1,025th topic replaces the oldest mapping")
    }

    @Test(
        "first PUBLISH: topic and alias; then the alias alone (topic bytes saved); when full the oldest mapping is replaced and sends its topic again"
    )
    func assignmentAndReplacement() {
        var aliases = OutgoingTopicAliases(clientMaximum: 2)!
        let long = "plant/line-4/press-17/hydraulics/pressure"
        #expect(Self.send(long, &aliases) == (long, 1, 0))
        #expect(Self.send(long, &aliases) == ("", 1, long.utf8.count))
        #expect(Self.send("b", &aliases) == ("b", 2, 0))
        #expect(Self.send("c", &aliases) == ("c", 1, 0), "full: alias 1 (the oldest) now means c")
        #expect(Self.send(long, &aliases) == (long, 2, 0), "long lost its alias; it takes the next oldest")
        #expect(Self.send("c", &aliases) == ("", 1, 1))
        #expect(Self.send(long, &aliases) == ("", 2, long.utf8.count))
    }
}
