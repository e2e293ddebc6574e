import ArgumentParser
import Broker
import TestSupport
import Testing

@testable import aviary

/// Each setting is declared once, in `Setting.all`; the flags argument-parser needs are written
/// out in `SettingsOptions`, so they are checked against that list here (the README table and
/// contrib/aviary.conf are checked against `--print-config` in OperationsTests).
struct SettingsDeclarationTests {
    @Test("every setting has exactly one flag, and every flag is a setting (or --config)")
    func flagsMatchSettings() throws {
        let options = try SettingsOptions.parse([])
        let flagKeys = options.flagValues.map(\.key)
        #expect(Set(flagKeys).count == flagKeys.count, "a flag listed twice")
        #expect(Set(flagKeys) == Set(Setting.all.map(\.key) + ["config"]))
        for setting in Setting.all {
            let given = try SettingsOptions.parse([setting.flag, "v"])
            #expect(given.flagValues.first { $0.key == setting.key }?.value == "v", "\(setting.flag) reaches \(setting.key)")
        }
    }

    @Test("the numeric settings accept exactly the broker's bounds, and their defaults pass validate()")
    func boundsShared() throws {
        let checks: [(String, ClosedRange<Int>)] = [
            ("max_inflight", BrokerConfiguration.Bounds.maxInflight), ("receive_maximum", BrokerConfiguration.Bounds.receiveMaximum),
            ("max_packet_size", BrokerConfiguration.Bounds.maxPacketSize), ("max_keepalive", BrokerConfiguration.Bounds.maxKeepAlive),
            ("max_topic_length", BrokerConfiguration.Bounds.maxTopicLength), ("topic_alias_maximum", BrokerConfiguration.Bounds.topicAliasMaximum),
            ("mqtt_port", BrokerConfiguration.Bounds.port),
        ]
        for (key, range) in checks {
            var configuration = EffectiveConfiguration()
            let setting = Setting.named(key)
            #expect(setting.apply("\(range.lowerBound)", &configuration) && setting.apply("\(range.upperBound)", &configuration), "\(key)")
            #expect(!setting.apply("\(range.lowerBound - 1)", &configuration) && !setting.apply("\(range.upperBound + 1)", &configuration), "\(key)")
        }
        try EffectiveConfiguration().broker.validate()
    }
}
