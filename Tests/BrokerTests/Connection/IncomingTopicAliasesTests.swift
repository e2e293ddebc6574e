import MQTTCodec
import NIOCore
import Testing

@testable import Broker

/// Client → server topic aliases (section 3.3.2.3.4).
struct IncomingTopicAliasesTests {
    static func publish(_ topic: String, alias: UInt16?) -> PublishPacket {
        var props = Properties()
        props.topicAlias = alias
        return PublishPacket(topic: topic, payload: ByteBuffer(), properties: props)
    }

    @Test("a topic with an alias sets it, an empty topic with the alias uses it, a new topic replaces it")
    func setAndUse() throws {
        var aliases = IncomingTopicAliases(maximum: 10)
        var first = Self.publish("a/b", alias: 3)
        try aliases.resolve(&first)
        #expect(first.topic == "a/b")
        var second = Self.publish("", alias: 3)
        try aliases.resolve(&second)
        #expect(second.topic == "a/b")
        var replaced = Self.publish("c", alias: 3)
        try aliases.resolve(&replaced)
        var third = Self.publish("", alias: 3)
        try aliases.resolve(&third)
        #expect(third.topic == "c")
        var plain = Self.publish("x", alias: nil)
        try aliases.resolve(&plain)
        #expect(plain.topic == "x")
    }

    @Test("an alias above our maximum is 0x94; an unknown alias with an empty topic a protocol error")
    func errors() {
        var aliases = IncomingTopicAliases(maximum: 10)
        var high = Self.publish("a", alias: 11)
        #expect { try aliases.resolve(&high) } throws: { ($0 as? MQTTProtocolError)?.reasonCode == .topicAliasInvalid }
        var unknown = Self.publish("", alias: 4)
        #expect { try aliases.resolve(&unknown) } throws: { ($0 as? MQTTProtocolError)?.reasonCode == .protocolError }
    }
}
