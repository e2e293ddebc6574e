import MQTTCodec
import Testing

@testable import Bridge

/// The `connection` block's values and the topic mapping of Mosquitto's `topic` lines.
struct BridgeConfigurationTests {
    @Test("topic lines: defaults (out, QoS 0, no prefixes), \"\" for an empty word, prefixes that map both ways")
    func topics() throws {
        var bridge = BridgeConfiguration(name: "b")
        try bridge.set("topic", "a/#")
        try bridge.set("topic", "sensors/+/t in 2 site/ hq/site1/")
        try bridge.set("topic", "\"\" both 1 local/exact remote/exact")
        let (plain, mapped, exact) = (bridge.topics[0], bridge.topics[1], bridge.topics[2])
        #expect(plain.direction == .out && plain.qos == .atMostOnce && plain.localFilter == "a/#" && plain.remoteFilter == "a/#")
        #expect(mapped.localFilter == "site/sensors/+/t" && mapped.remoteFilter == "hq/site1/sensors/+/t" && mapped.qos == .exactlyOnce)
        #expect(mapped.localTopic(forRemote: "hq/site1/sensors/7/t") == "site/sensors/7/t")
        #expect(mapped.remoteTopic(forLocal: "site/sensors/7/t") == "hq/site1/sensors/7/t")
        #expect(mapped.localTopic(forRemote: "hq/site2/sensors/7/t") == nil, "another prefix")
        #expect(mapped.remoteTopic(forLocal: "site/sensors/7/u") == nil, "the pattern does not match")
        #expect(exact.localFilter == "local/exact" && exact.remoteTopic(forLocal: "local/exact") == "remote/exact")
        #expect(exact.localTopic(forRemote: "remote/exact") == "local/exact" && exact.remoteTopic(forLocal: "local/exact/more") == nil)
        #expect(plain.remoteTopic(forLocal: "$SYS/x") == nil, "a wildcard never matches $ topics")
    }

    @Test(
        "bad topic lines say what was expected",
        arguments: [
            ("a/# sideways", "direction must be in, out or both"),
            ("a/# out 3", "QoS must be 0, 1 or 2"),
            ("a/#/b", "not a valid topic filter"),
            ("a+ out 0", "not a valid topic filter"),
            ("# out 0 a/# b/", "may not hold wildcards"),
            ("\"\" out 0", "the pattern is empty"),
            ("$share/g/a out 0", "shared subscription"),
            ("a out 0 b c d", "expected 'PATTERN"),
        ]
    )
    func badTopics(line: String, expected: String) {
        var bridge = BridgeConfiguration(name: "b")
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.set("topic", line) }
        do {
            try bridge.set("topic", line)
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("addresses: host, host:port, [IPv6]:port, several separated by spaces or commas; 1883 by default")
    func addresses() throws {
        let parsed = try BridgeConfiguration.parseAddresses("a.example, b.example:8883 [::1]:1884 [fe80::1] 10.0.0.1:1")
        #expect(parsed.map(\.description) == ["a.example:1883", "b.example:8883", "[::1]:1884", "[fe80::1]:1883", "10.0.0.1:1"])
        for bad in ["h:0", "h:65536", "h:x", ":1883", "[::1", "[::1]x"] {
            #expect(throws: BridgeConfiguration.InvalidValue.self, "\(bad)") { try BridgeConfiguration.parseAddresses(bad) }
        }
    }

    @Test("the other keys, and what a block must have")
    func keys() throws {
        var bridge = BridgeConfiguration(name: "b")
        try bridge.set("bridge_protocol_version", "mqttv50")
        try bridge.set("cleansession", "true")
        try bridge.set("session_expiry", "3600")
        try bridge.set("keepalive_interval", "30")
        try bridge.set("restart_timeout", "2 60")
        try bridge.set("try_private", "false")
        #expect(bridge.version == .v5 && bridge.cleanSession && bridge.sessionExpiry == 3600 && bridge.keepAlive == 30)
        #expect(bridge.restartBase == 2 && bridge.restartCap == 60 && !bridge.tryPrivate)
        try bridge.set("restart_timeout", "5")
        #expect(bridge.restartBase == 5 && bridge.restartCap == 5, "one value: a constant delay")
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.set("restart_timeout", "10 5") }
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.set("keepalive_interval", "2") }
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.set("cleansession", "yes") }
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.validate() }  // no address
        try bridge.set("address", "h")
        #expect(throws: BridgeConfiguration.InvalidValue.self) { try bridge.validate() }  // no topic
        try bridge.set("topic", "a")
        try bridge.validate()
        try bridge.set("bridge_certfile", "c.pem")
        #expect(throws: BridgeConfiguration.InvalidValue.self, "a client certificate without a CA file") { try bridge.validate() }
        try bridge.set("bridge_cafile", "ca.pem")
        #expect(throws: BridgeConfiguration.InvalidValue.self, "a certificate without its key") { try bridge.validate() }
        try bridge.set("bridge_keyfile", "c.key")
        try bridge.validate()
    }
}
