import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

/// A slow consumer and connection churn against the real `aviary serve` process, whose memory
/// and file descriptors are read from /proc.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RobustnessTests {
    static func rssKiB(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Under `make sanitize` the broker is built with ASan/TSan, whose shadow memory and
    /// quarantine make RSS meaningless as a measure of what the broker holds.
    static let sanitized = ProcessInfo.processInfo.environment["AVIARY_SANITIZER"] != nil

    static func openFiles(_ pid: pid_t) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    static func stats(_ api: String) async throws -> [String: Any] {
        try await HTTP.request("GET", "\(api)/api/v4/stats").data.first?["stats"] as? [String: Any] ?? [:]
    }

    static func metrics(_ api: String) async throws -> [String: Any] {
        try await HTTP.request("GET", "\(api)/api/v4/metrics").data.first?["metrics"] as? [String: Any] ?? [:]
    }

    /// Publishes `count` QoS 1 messages of 1 KiB through mosquitto_pub and waits until a QoS 1
    /// mosquitto_sub has them all; returns the seconds that took.
    static func stream(port: Int, api: String, count: Int, topic: String) async throws -> Double {
        let sub = try Subprocess(["mosquitto_sub", "-p", "\(port)", "-q", "1", "-t", topic, "-C", "\(count)", "-W", "120", "-i", "fast-\(topic)"])
        try await Self.waitSubscribed(api: api, clientIds: ["fast-\(topic)"])
        let started = Date()
        let payload = String(repeating: "p", count: 1024)
        let pub = try Subprocess(["sh", "-c", "yes \(payload) | head -n \(count) | mosquitto_pub -p \(port) -q 1 -t \(topic) -l"])
        #expect(pub.wait(timeout: 120) == 0)
        #expect(sub.wait(timeout: 120) == 0)
        let elapsed = Date().timeIntervalSince(started)
        #expect(sub.lines.count == count, "the fast subscriber lost nothing")
        return elapsed
    }

    @Test(
        """
        a QoS 0 subscriber that stops reading: memory stays bounded, drops over its high-water mark are counted on its row, other subscribers keep \
        their pace
        """
    )
    func slowConsumer() async throws {
        // A high-water mark of 5,000 queued messages: enough that a busy machine's mosquitto_sub
        // never falls that far behind, small enough that the stuck client's memory is bounded.
        let (server, port) = try AviaryBinary.serve(["--queue-high-water", "5000", "--queue-low-water", "2500"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        let count = 20_000
        _ = try await Self.stream(port: port, api: api, count: 2000, topic: "warmup")
        let alone = try await Self.stream(port: port, api: api, count: count, topic: "s1")
        let rssBefore = Self.rssKiB(server.pid)
        // The slow one: subscribed to everything at QoS 0 with a small receive window, never
        // reads. (At QoS 1 it would hold the publishers back instead: `stuckSubscriber`.)
        let slow = try TestClient(port: port, version: .v5, receiveBuffer: 4096)
        try slow.connect("slow-consumer")
        _ = try slow.subscribe("#", qos: .atMostOnce)
        let withSlow = try await Self.stream(port: port, api: api, count: count, topic: "s2")
        let rssMid = Self.rssKiB(server.pid)
        let withSlowAgain = try await Self.stream(port: port, api: api, count: count, topic: "s3")
        let rssAfter = Self.rssKiB(server.pid)
        let row = try await HTTP.request("GET", "\(api)/api/v4/clients/slow-consumer").data.first ?? [:]
        let dropped = (row["mqueue_dropped"] as? NSNumber)?.intValue ?? 0
        let metrics = try await Self.metrics(api)
        print(
            """
            slow consumer: \(count) × 1 KiB alone \(alone) s, with a stuck subscriber \(withSlow) s / \(withSlowAgain) s; RSS \(rssBefore) → \
            \(rssMid) → \(rssAfter) KiB; dropped \(dropped)
            """
        )
        // 40 MiB of payload went past the stuck client. What the broker holds is bounded by the
        // queues (≤ 5,000 messages for the stuck client, and for the other one when it lags) and
        // the socket buffers: the second 20 MiB stream, with the stuck queue already full, adds
        // next to nothing, and the whole never approaches the 40 MiB streamed.
        if !Self.sanitized {
            #expect(rssAfter - rssMid < 8 * 1024, "the second stream grew RSS by \(rssAfter - rssMid) KiB")
            #expect(rssAfter - rssBefore < 32 * 1024, "RSS grew by \(rssAfter - rssBefore) KiB")
        }
        #expect((row["mqueue_len"] as? NSNumber)?.intValue == 5000)
        #expect(dropped > 30_000, "most of the 40,000 messages were dropped for the stuck client: \(dropped)")
        #expect((metrics["messages.dropped"] as? NSNumber)?.intValue == dropped, "and the broker total says the same")
        #expect(min(withSlow, withSlowAgain) < alone * 3 + 1, "the other subscribers keep their pace")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        withExtendedLifetime(slow) {}
    }

    /// Runs `pairs` mosquitto_sub / mosquitto_pub pairs at once, `count` QoS 1 messages of 1 KiB
    /// each on its own topic; returns the seconds until every subscriber had all of them.
    /// Waits until the broker lists a subscription for each of `clientIds` (instead of a sleep).
    static func waitSubscribed(api: String, clientIds: [String]) async throws {
        for id in clientIds {
            try await eventuallyAsync("\(id) subscribed", timeout: 30) {
                try await HTTP.request("GET", "\(api)/api/v4/subscriptions/\(id)").data.count == 1
            }
        }
    }

    static func pairs(port: Int, api: String, pairs: Int, count: Int, prefix: String) async throws -> Double {
        let subs = try (0..<pairs).map { i in
            try Subprocess([
                "mosquitto_sub", "-p", "\(port)", "-q", "1", "-t", "\(prefix)/\(i)", "-C", "\(count)", "-W", "120", "-i", "\(prefix)-sub-\(i)",
            ])
        }
        try await Self.waitSubscribed(api: api, clientIds: (0..<pairs).map { "\(prefix)-sub-\($0)" })
        let started = Date()
        let payload = String(repeating: "p", count: 1024)
        let pubs = try (0..<pairs).map { i in
            try Subprocess([
                "sh", "-c", "yes \(payload) | head -n \(count) | mosquitto_pub -p \(port) -q 1 -t \(prefix)/\(i) -l -i \(prefix)-pub-\(i)",
            ])
        }
        for pub in pubs { #expect(pub.wait(timeout: 120) == 0) }
        for sub in subs {
            #expect(sub.wait(timeout: 120) == 0)
            #expect(sub.lines.count == count, "a healthy pair lost nothing")
        }
        return Date().timeIntervalSince(started)
    }

    @Test(
        """
        a stuck QoS 1 subscriber holds back only the publisher feeding it (PUBACKs held, nothing dropped); 10 pairs on other topics keep their \
        pace; after max_stall it is disconnected and the publisher finishes
        """
    )
    func stuckSubscriber() async throws {
        let (server, port) = try AviaryBinary.serve(["--max-stall", "4", "--queue-high-water", "200", "--queue-low-water", "100"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        let alone = try await Self.pairs(port: port, api: api, pairs: 10, count: 1000, prefix: "alone")
        let stuck = try TestClient(port: port, version: .v5, receiveBuffer: 4096)
        try stuck.connect("stuck")
        _ = try stuck.subscribe("stuck/#", qos: .atLeastOnce)
        let payload = String(repeating: "s", count: 1024)
        let fed = try Subprocess(["sh", "-c", "yes \(payload) | head -n 3000 | mosquitto_pub -p \(port) -q 1 -t stuck/t -l -i feeder"])
        var row: [String: Any] = [:]
        try await eventuallyAsync("the feeder to be held back", timeout: 30) {
            row = try await HTTP.request("GET", "\(api)/api/v4/clients/feeder").data.first ?? [:]
            return row["held_back"] as? Bool == true
        }
        #expect((row["held_acks"] as? NSNumber)?.intValue ?? 0 > 0)
        let holder = try await HTTP.request("GET", "\(api)/api/v4/clients/stuck").data.first ?? [:]
        #expect((holder["holding_publishers"] as? NSNumber)?.intValue == 1)
        #expect((holder["mqueue_dropped"] as? NSNumber)?.intValue == 0, "QoS 1 for a connected subscriber is never dropped")
        let during = try await Self.pairs(port: port, api: api, pairs: 10, count: 1000, prefix: "during")
        print("stuck subscriber: 10 pairs × 1,000 × 1 KiB alone \(alone) s, next to a stuck subscriber \(during) s")
        #expect(during < alone * 3 + 1, "the other pairs keep their pace")
        // max_stall: disconnected (a clean session: gone), counted; the feeder is let go and finishes.
        #expect(await fed.waitAsync(timeout: 30) == 0, "the feeder finished once the stuck client was gone")
        let metrics = try await Self.metrics(api)
        #expect((metrics["flow.stall_disconnects"] as? NSNumber)?.intValue == 1)
        #expect((metrics["flow.publishers_held"] as? NSNumber)?.intValue ?? 0 >= 1)
        let gone = try await HTTP.request("GET", "\(api)/api/v4/clients/stuck")
        #expect(gone.status == 200 && gone.code == 0 && gone.data.isEmpty, "the stuck client's clean session ended with it")
        #expect(server.lines.contains { $0.contains("disconnecting a client that holds publishers back") })
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
        withExtendedLifetime(stuck) {}
    }

    @Test("10,000 connect/disconnect cycles from 4 processes: the client table, sessions, sockets and descriptors are back where they started")
    func churn() async throws {
        let python = try #require(Tools.python)
        let (server, port) = try AviaryBinary.serve(["--sys-interval", "0"])
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        _ = try await Self.stats(api)  // the API's own connection pool is warm before the baseline
        let fdsBefore = Self.openFiles(server.pid)
        let rssBefore = Self.rssKiB(server.pid)
        let script = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/churn.py").path
        let workers = try (0..<4).map { try Subprocess([python, script, "\(port)", "2500", "w\($0)"]) }
        for w in workers {
            #expect(await w.waitAsync(timeout: 150) == 0, "\(w.output)")
            #expect(w.output.trimmingCharacters(in: .whitespacesAndNewlines) == "2500")
        }
        try await eventuallyAsync("every socket to be closed", timeout: 10) {
            (try await Self.stats(api)["connections.count"] as? NSNumber)?.intValue == 0
        }
        let stats = try await Self.stats(api)
        #expect((stats["sessions.count"] as? NSNumber)?.intValue == 0, "no session left: \(stats)")
        #expect((stats["subscriptions.count"] as? NSNumber)?.intValue == 0)
        let table = try await HTTP.request("GET", "\(api)/api/v4/clients")
        #expect(table.status == 200 && table.code == 0 && table.data.isEmpty, "\(table.status) \(table.message)")
        let metrics = try await Self.metrics(api)
        #expect(((metrics["packets.connect.received"] as? NSNumber)?.intValue ?? 0) == 10_080, "4 × (2,500 + 20 clean reconnects)")
        try eventually("the descriptors to be back", timeout: 5) { Self.openFiles(server.pid) <= fdsBefore }
        let rssAfter = Self.rssKiB(server.pid)
        print("churn: fds \(fdsBefore) → \(Self.openFiles(server.pid)), RSS \(rssBefore) → \(rssAfter) KiB")
        if !Self.sanitized { #expect(rssAfter - rssBefore < 16 * 1024, "RSS grew by \(rssAfter - rssBefore) KiB") }
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 15) == 0)
    }
}
