import Broker
import Foundation
import TestSupport
import Testing

/// The broker against Eclipse paho-mqtt (Python), one broker per scenario.
@Suite(.timeLimit(.minutes(3)))
struct PahoTests {
    static let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/paho_scenarios.py").path

    /// One scenario at a time, each within the suite's 3 minutes: eleven brokers, APIs and
    /// Python clients started at once beside the other suites made each wait its turn for the
    /// two cores past one minute (the script itself is bounded at 30 s).
    @Test(
        "paho-mqtt scenario",
        .serialized,
        arguments: [
            "roundtrip", "v5_properties", "no_local", "retain_options", "subscription_identifier", "topic_alias",
            "message_expiry", "will_delay", "will_cancelled_by_reconnect", "persistent_session", "takeover_v5",
        ]
    )
    func scenario(name: String) async throws {
        let python = try #require(Tools.python, "no Python with paho-mqtt: run the README's test command, which installs it")
        let h = try await APIHarness.start()
        // Awaited: a blocked thread of the two-thread concurrency pool would stall other suites.
        let r = try await Subprocess.runAsync([python, Self.script, "\(h.mqtt.port)", name, "--api=\(h.base)"], timeout: 30)
        #expect(r.code == 0, "\(r.output)")
        #expect(r.output.contains("OK \(name)"), "\(r.output)")
        await h.stop()
    }

    @Test(
        """
        overload, paho-mqtt: 8 publishers into one slow QoS 1 subscriber with default settings; publishers were held back and every PUBACKed \
        message arrived
        """
    )
    func fanInWithoutLoss() async throws {
        let python = try #require(Tools.python, "no Python with paho-mqtt: run the README's test command, which installs it")
        let h = try await BrokerHarness.start()
        let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/flow_fanin.py").path
        let r = try await Subprocess.runAsync([python, script, "\(h.port)", "8", "500", "0.0005"], timeout: 90)
        #expect(r.code == 0, "\(r.output)")
        let line = r.output.split(separator: "\n").map(String.init).last { $0.hasPrefix("{") } ?? "{}"
        let result = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        #expect((result["acked"] as? NSNumber)?.intValue == 4000 && (result["lost"] as? NSNumber)?.intValue == 0, "\(line)")
        #expect(h.broker.metrics.publishersHeld.load > 0, "the subscriber was slower than the publishers: they were held back")
        #expect(h.broker.metrics.messagesDropped.load == 0)
        await h.stop()
    }

    @Test("0x97, mosquitto_pub (5.0): a QoS 1 message its only (offline, full) subscriber cannot take gets PUBACK 0x97; counted")
    func quotaExceeded() async throws {
        let h = try await BrokerHarness.start { $0.maxQueuedMessages = 1 }
        let sub = try Subprocess.run([
            "mosquitto_sub", "-p", "\(h.port)", "-V", "mqttv5", "-i", "offline", "-c", "-x", "3600", "-q", "1", "-t", "q", "-E",
        ])
        #expect(sub.code == 0)
        func publish(_ text: String) throws -> String {
            let r = try Subprocess.run(["mosquitto_pub", "-p", "\(h.port)", "-V", "mqttv5", "-d", "-q", "1", "-t", "q", "-m", text])
            return r.output.split(separator: "\n").map(String.init).first { $0.contains("received PUBACK") } ?? r.output
        }
        #expect(try publish("kept").hasSuffix("RC:0)"))
        #expect(try publish("refused").hasSuffix("RC:151)"), "0x97 Quota exceeded")
        #expect(h.broker.metrics.quotaExceeded.load == 1)
        #expect(h.broker.client(id: "offline")?.mqueueLen == 1)
        await h.stop()
    }
}
