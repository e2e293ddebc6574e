import Broker
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A real broker on 127.0.0.1 and a free port, one per test.
package final class BrokerHarness: Sendable {
    package let broker: Broker
    package let port: Int

    package static func start(
        security: SecurityPolicy = .open,
        _ configure: (inout BrokerConfiguration) -> Void = { _ in }
    ) async throws -> BrokerHarness {
        var logger = Logger(label: "test-broker")
        logger.logLevel = ProcessInfo.processInfo.environment["AVIARY_TEST_LOG"] != nil ? .debug : .critical
        var attempt = 0
        while true {
            var configuration = BrokerConfiguration()
            configuration.host = "127.0.0.1"
            configuration.port = HarnessPorts.next()
            configuration.sysInterval = 0
            configure(&configuration)
            let broker = Broker(configuration: configuration, security: security, logger: logger)
            do {
                let port = try await broker.start()
                return BrokerHarness(broker: broker, port: port)
            } catch  where attempt < 20 {
                attempt += 1  // taken by something else: the next one
            }
        }
    }

    package init(broker: Broker, port: Int) {
        self.broker = broker
        self.port = port
    }

    package func stop() async {
        await broker.shutdown(timeout: .seconds(2))
    }
}

/// MQTT ports for in-process brokers: each harness of this test run gets a port no earlier one
/// had, below the kernel's ephemeral range (32768+), so a client left over from an earlier test
/// (mosquitto_sub/pub reconnect by themselves) can never reach a later test's broker and move its
/// counters (it did: 25 stray anonymous CONNECTs in an auth test). Ports 20000–31999.
package enum HarnessPorts {
    private static let counter = Atomic<Int>(Int(getpid() % 4000) * 3)

    package static func next() -> Int {
        20_000 + counter.wrappingAdd(1, ordering: .relaxed).newValue % 12_000
    }
}

package struct TimedOut: Error, CustomStringConvertible {
    package var what: String
    package var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
package func eventually(_ what: String, timeout: Double = 5, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    if try condition() { return }
    throw TimedOut(what: what)
}

/// `eventually` for conditions that need the Swift concurrency pool to make progress.
package func eventuallyAsync(_ what: String, timeout: Double = 5, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw TimedOut(what: what)
}
