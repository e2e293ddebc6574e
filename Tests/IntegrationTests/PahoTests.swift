import Broker
import Foundation
import Testing
import TestSupport

/// The broker against Eclipse paho-mqtt (Python), one broker per scenario.
@Suite(.timeLimit(.minutes(1)))
struct PahoTests {
    static let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/paho_scenarios.py").path

    @Test(
        "paho-mqtt scenario",
        arguments: [
            "roundtrip", "v5_properties", "no_local", "retain_options", "subscription_identifier", "topic_alias",
            "message_expiry", "will_delay", "will_cancelled_by_reconnect", "persistent_session", "takeover_v5",
        ]
    )
    func scenario(name: String) async throws {
        let python = try #require(Tools.python, "no Python with paho-mqtt: run the README's test command, which installs it")
        let h = try await BrokerHarness.start()
        let r = try Subprocess.run([python, Self.script, "\(h.port)", name], timeout: 30)
        #expect(r.code == 0, "\(r.output)")
        #expect(r.output.contains("OK \(name)"), "\(r.output)")
        await h.stop()
    }
}
