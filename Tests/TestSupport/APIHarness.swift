import AviaryLocks
import Broker
import BrokerManagement
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A broker plus its management API, both on free ports.
package final class APIHarness: Sendable {
    package let mqtt: BrokerHarness
    package let apiPort: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    package var broker: Broker { mqtt.broker }
    package var base: String { "http://127.0.0.1:\(apiPort)" }

    /// The application as `aviary serve` assembles it (`AviaryApplication.build`), on free ports.
    package static func start(_ configure: (inout BrokerConfiguration) -> Void = { _ in }) async throws -> APIHarness {
        var configuration = BrokerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = HarnessPorts.next()  // never one an earlier test's broker had
        configuration.sysInterval = 0
        configuration.webSocketPort = nil  // a test that wants one asks for port 0
        configuration.secureWebSocketPort = nil
        configure(&configuration)
        var api = ManagementConfiguration()
        api.port = 0
        var logger = Logger(label: "test-api")
        logger.logLevel = ProcessInfo.processInfo.environment["AVIARY_TEST_LOG"] != nil ? .debug : .critical
        let port = Locked<Int?>(nil)
        let application = try await AviaryApplication.build(broker: configuration, api: api, logger: logger) { ports in
            port.withLock { $0 = ports.api }
        }
        let group = ServiceGroup(configuration: .init(services: application.services.map { .init(service: $0) }, logger: logger))
        let task = Task(executorPreference: TestExecutor.shared) { try await group.run() }
        try await eventuallyAsync("the API to listen") { port.withLock { $0 } != nil }
        let mqtt = BrokerHarness(broker: application.broker, port: application.mqttPort)
        return APIHarness(mqtt: mqtt, apiPort: port.withLock { $0 }!, group: group, task: task)
    }

    private init(mqtt: BrokerHarness, apiPort: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.mqtt = mqtt
        self.apiPort = apiPort
        self.group = group
        self.task = task
    }

    /// Stops the broker (2 s at most for clients to go), then the API — gracefully: cancelling
    /// the serving task while a just-accepted connection is still buffered traps in NIO
    /// ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481; seen once on
    /// CI with a dashboard polling during the stop). Cancelled only if that takes over 10 s.
    package func stop() async {
        await mqtt.stop()
        await group.triggerGracefulShutdown()
        let task = self.task
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            task.cancel()
        }
        _ = await task.result
        watchdog.cancel()
    }
}

/// One HTTP exchange made with curl.
package struct HTTPResult {
    package var status: Int
    package var headers: [String: String]
    package var body: [UInt8]
    package var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
    package var data: [[String: Any]] { json["data"] as? [[String: Any]] ?? [] }
    package var ids: [String] { data.compactMap { ($0["client_id"] ?? $0["clientid"]) as? String } }
    package var code: Int? { (json["code"] as? NSNumber)?.intValue }
    package var message: String { json["message"] as? String ?? "" }
    package var meta: [String: Any] { json["meta"] as? [String: Any] ?? [:] }
}

package enum HTTP {
    /// `path` is sent as written (already percent-encoded where needed).
    package static func request(
        _ method: String = "GET",
        _ url: String,
        auth: String? = "admin:public",
        extra: [String] = []
    ) async throws -> HTTPResult {
        let dir = NSTemporaryDirectory() + "aviary-http-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var argv = ["curl", "-s", "-S", "-g", "-o", "\(dir)/body", "-D", "\(dir)/headers", "-w", "%{http_code}", "-X", method]
        if let auth { argv += ["-u", auth] }
        argv += extra + [url]
        let r = try await Subprocess.runAsync(argv, timeout: 20)
        guard r.code == 0, let status = Int(r.output.suffix(3)) else { throw TimedOut(what: "curl \(url): \(r.output)") }
        var headers: [String: String] = [:]
        let headerText = (try? String(contentsOfFile: "\(dir)/headers", encoding: .utf8)) ?? ""
        for line in headerText.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = (FileManager.default.contents(atPath: "\(dir)/body")).map { [UInt8]($0) } ?? []
        return HTTPResult(status: status, headers: headers, body: body)
    }
}
