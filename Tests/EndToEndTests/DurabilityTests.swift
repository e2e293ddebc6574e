import Foundation
import MQTTCodec
import TestSupport
import Testing

/// `persistence on` with the real binary: SIGKILL at random moments with real clients
/// (paho-mqtt), the directory's lock, a directory that cannot be used, a corrupt database and
/// a torn write-ahead log.
@Suite(.serialized)
struct DurabilityTests {
    static let script = Tools.packageRoot.appendingPathComponent("Tests/EndToEndTests/Scripts/crash_durability.py").path

    static func directory() -> String {
        NSTemporaryDirectory() + "aviary-store-\(UUID().uuidString.prefix(8))"
    }

    struct CrashRun: Sendable, CustomStringConvertible {
        var qos: Int
        var sync: String
        var seed: Int
        var description: String { "QoS \(qos), persistence_sync \(sync)" }
    }

    @Test(
        """
        SIGKILL 20 times under a QoS 1/2 stream to a persistent subscriber that is offline half the time: every acknowledged message arrives (QoS \
        2: exactly once, publisher a raw client that keeps to section 4.3.3); retained and subscriptions survive
        """,
        .enabled(if: Tools.python != nil, "paho-mqtt is not installed"),
        arguments: [CrashRun(qos: 1, sync: "10", seed: 11), CrashRun(qos: 2, sync: "always", seed: 12)]
    )
    func crashes(run: CrashRun) async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = HarnessPorts.next()
        // Awaited, not waited for: ~25 s of a blocked thread would starve the (two-thread)
        // concurrency pool that the in-process API tests run on.
        let r = try await Subprocess.runAsync(
            [
                Tools.python!, Self.script, "--aviary", Tools.aviary, "--dir", dir, "--port", "\(port)", "--qos", "\(run.qos)",
                "--kills", "20", "--sync", run.sync, "--seed", "\(run.seed)",
            ],
            timeout: 180
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        let acked = (result["acked"] as? Int) ?? 0
        #expect(acked >= 200, "enough traffic across the kills: \(line)")
        #expect(result["unacked_at_end"] as? Int == 0, "the publisher's last messages were acknowledged after the last restart: \(line)")
        #expect(result["missing"] as? Int == 0, "no acknowledged message lost: \(line)")
        if run.qos == 2 { #expect(result["duplicates"] as? Int == 0, "exactly once: \(line)") }
        #expect(result["retained"] as? [String] == ["kept"], "the retained message survived: \(line)")
        #expect(result["kills"] as? Int == 20)
    }

    /// Whether this machine lets the tests mount a small tmpfs (root, and a kernel that allows it).
    static let canMount: Bool = {
        guard geteuid() == 0 else { return false }
        let dir = NSTemporaryDirectory() + "aviary-mount-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard let r = try? Subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]), r.code == 0 else { return false }
        _ = try? Subprocess.run(["umount", dir])
        return true
    }()

    /// Whether the broker can be started as user nobody here (root, setpriv, and a checkout
    /// whose directories nobody may enter).
    static let nobodyCanRunAviary: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return false }
        let r = try? Subprocess.run(["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "test", "-x", Tools.aviary])
        return r?.code == 0
    }()

    struct DiskRun: Sendable, CustomStringConvertible {
        var minFree: Int
        var ballastMB: Int
        var description: String { minFree > 0 ? "with a \(minFree >> 20) MiB reserve" : "without a reserve: SQLite runs into the full disk" }
    }

    @Test(
        """
        a real full disk (16 MB tmpfs): what the store refuses is not routed (5.0 0x80 with the reason, 3.x closed unacknowledged), \
        everything acknowledged is delivered, writing resumes after the queue drains or space is freed; the store's file removed: refused, \
        said, the rest still served
        """,
        .enabled(if: Self.canMount, "mounting a tmpfs needs root"),
        .enabled(if: Tools.python != nil, "python3 is needed"),
        arguments: [DiskRun(minFree: 4 << 20, ballastMB: 0), DiskRun(minFree: 0, ballastMB: 3)]
    )
    func fullDisk(run: DiskRun) async throws {
        let script = Tools.packageRoot.appendingPathComponent("Tests/EndToEndTests/Scripts/full_disk.py").path
        let r = try await Subprocess.runAsync(
            [
                Tools.python!, script, "--aviary", Tools.aviary, "--port", "\(HarnessPorts.next())", "--api-port", "\(HarnessPorts.next())",
                "--min-free", "\(run.minFree)", "--ballast-mb", "\(run.ballastMB)",
            ],
            timeout: 120
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        let phases = try #require(result["phases"] as? [String: Any])
        let fill = try #require(phases["fill"] as? [String: Any])
        let drain = try #require(phases["drain"] as? [String: Any])
        let resume = try #require(phases["resume"] as? [String: Any])
        let removed = try #require(phases["removed"] as? [String: Any])
        let watcher = try #require(result["watcher"] as? [String: Any])
        let log = try #require(result["log"] as? [String: Bool])
        // Filling: many acknowledged, then 5.0 refusals with the reason, 3.x publishers closed.
        #expect((fill["acked"] as? Int ?? 0) >= 100, "\(line)")
        #expect(fill["refused"] as? Int == 6, "\(line)")
        let reasons = fill["reasons"] as? [String] ?? []
        #expect(!reasons.isEmpty && reasons.allSatisfy { $0.hasPrefix("0x80 the broker could not store this: ") }, "\(reasons)")
        if run.minFree > 0 { #expect(reasons.allSatisfy { $0.contains("persistence_min_free_bytes") }, "refused before the disk filled: \(reasons)") }
        #expect(fill["v3_during"] as? [String] == ["closed", "closed"], "3.x QoS 1 and 2 closed unacknowledged: \(line)")
        // The persistent subscriber: every acknowledged message, once, none refused.
        #expect(drain["missing"] as? [String] == [] && drain["refused_delivered"] as? [String] == [], "\(line)")
        #expect(drain["duplicates"] as? Int == 0 && drain["received"] as? Int == drain["expected"] as? Int, "\(line)")
        if run.ballastMB > 0 { #expect(phases["freed_outside"] as? Bool == true, "space freed outside the store is used: \(line)") }
        // Writing resumes without a restart: new messages acknowledged and delivered.
        #expect(resume["refusing_cleared"] as? Bool == true && resume["acked"] as? Int == 4 && resume["v3"] as? String == "ok", "\(line)")
        #expect(resume["delivered"] as? Bool == true, "\(line)")
        // The store's file removed: refused with the reason, the broker serves what needs no store.
        #expect(removed["refusing"] as? Bool == true && removed["acked"] as? Int == 0, "\(line)")
        #expect((removed["reasons"] as? [String] ?? []).last?.contains("was removed or replaced") == true, "\(line)")
        #expect(removed["other_topic"] as? String == "ok" && removed["other_delivered"] as? Bool == true, "\(line)")
        // The online subscriber got everything acknowledged. With the reserve nothing refused
        // reached it; without, at most the copies sent before a write failed (one per failure).
        #expect(watcher["missing"] as? [String] == [], "\(line)")
        let leaked = (watcher["refused_delivered"] as? [String] ?? []).count
        let failures = Int((result["metrics_end"] as? [String: Double])?["aviary_store_write_failures_total"] ?? 0)
        if run.minFree > 0 {
            #expect(leaked == 0 && failures == 0, "the reserve kept SQLite from running out: \(line)")
        } else {
            #expect(failures >= 1 && leaked <= failures, "\(line)")
        }
        #expect(log["refusing"] == true && log["again"] == true && log["removed"] == true, "the operator is told: \(line)")
        #expect(result["exit"] as? Int == 0, "a clean stop even with the store gone: \(line)")
    }

    @Test(
        """
        SIGKILL 3 times while the broker loads a store of 1,000 sessions and 100,000 queued messages whose WAL has a torn frame: the next \
        start recovers every session and message, and a session drains whole (make crash-recovery: 100,000 sessions, 1,000,000 messages)
        """,
        .enabled(if: Tools.python != nil, "python3 is needed")
    )
    func killedWhileLoading() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = Tools.packageRoot.appendingPathComponent("Tests/EndToEndTests/Scripts/crash_recovery.py").path
        let r = try await Subprocess.runAsync(
            [
                Tools.python!, script, "--aviary", Tools.aviary, "--dir", dir, "--port", "\(HarnessPorts.next())", "--api-port",
                "\(HarnessPorts.next())", "--sessions", "1000", "--messages", "100", "--kills", "3", "--seed", "7",
            ],
            timeout: 240
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        #expect((result["fill"] as? [String: Any])?["messages_queued"] as? Int == 100_000, "\(line)")
        let kills = result["kills"] as? [[String: Any]] ?? []
        // Loads vary in length (page cache, a busy machine): most kills must fall inside one.
        #expect(kills.count == 3 && kills.filter { $0["was_serving"] as? Bool == false }.count >= 2, "kills inside the load: \(line)")
        for start in ["first", "last"] {
            let figures = try #require(result[start] as? [String: Int], "\(line)")
            #expect(figures["store.recovered.sessions"] == 1000 && figures["store.recovered.messages"] == 100_000, "\(start): \(line)")
        }
        #expect(result["drained"] as? Int == 100, "\(line)")
        #expect(result["exit"] as? Int == 0)
    }

    @Test(
        """
        memory with persistence on stays flat: 6 rounds of 15,000 persistent QoS 1 messages (scripts/bench/rss_slope.sh); after two \
        warm-up rounds the heap in use grows less than 500 KB per 100,000 messages (a leak of one small array per batch: 1,411 KB)
        """
    )
    func memoryWithPersistence() async throws {
        let script = Tools.packageRoot.appendingPathComponent("scripts/bench/rss_slope.sh").path
        let r = try await Subprocess.runAsync(
            ["/usr/bin/env", "RSS_PORT=\(HarnessPorts.next())", "bash", script, "6", "3", Tools.aviary],
            timeout: 120
        )
        #expect(r.code == 0, "\(r.output)")
        let (line, result) = try printedResult(r.output)
        let slope = try #require(result["heap_slope_bytes_per_100k"] as? Int, "\(line)")
        #expect(slope < 500_000, "heap bytes per 100,000 persistent messages after the warm-up: \(line)")
    }

    @Test(
        """
        the store made read-only under a running broker (run as nobody): it goes on storing, as Linux checks permissions when a file is \
        opened and the store's stay open; the next start is refused naming the directory; made writable again, nothing was lost
        """,
        .enabled(if: Self.nobodyCanRunAviary, "needs root, setpriv, and a build directory that user nobody can reach")
    )
    func readOnlyStore() throws {
        let dir = Self.directory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Subprocess.run(["chown", "nobody", dir])
        let asNobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        let arguments = ["--persistence", "on", "--persistence-dir", dir]
        let (p, port) = try AviaryBinary.serve(arguments, launcher: asNobody)
        let subscribe = ["mosquitto_sub", "-h", "127.0.0.1", "-p", "\(port)", "-i", "keeper", "-c", "-q", "1", "-t", "ro/#"]
        _ = try Subprocess.run(subscribe + ["-W", "1"])
        _ = try Subprocess.run(["chmod", "-R", "a-w", dir])
        let published = try Subprocess.run([
            "mosquitto_pub", "-h", "127.0.0.1", "-p", "\(port)", "-V", "5", "-q", "1", "-t", "ro/x", "-m", "kept", "-d",
        ])
        #expect(published.output.contains("PUBACK (Mid: 1, RC:0)"), "acknowledged as stored: \(published.output)")
        p.signal(SIGTERM)
        #expect(p.wait(timeout: 15) == 0, "a clean stop: \(p.output)")
        let refused = try Subprocess.run(asNobody + [Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0"] + arguments)
        #expect(refused.code == 1 && refused.output.contains("persistence_dir \(dir) cannot be used"), "\(refused.output)")
        #expect(refused.output.contains("Permission denied"), "\(refused.output)")
        _ = try Subprocess.run(["chmod", "-R", "u+w", dir])
        let (again, againPort) = try AviaryBinary.serve(arguments, launcher: asNobody)
        let drained = try Subprocess.run(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", "\(againPort)", "-i", "keeper", "-c", "-q", "1", "-t", "ro/#", "-C", "1", "-W", "10"]
        )
        #expect(drained.output.trimmingCharacters(in: .whitespacesAndNewlines) == "kept", "\(drained.output)")
        again.signal(SIGTERM)
        #expect(again.wait(timeout: 15) == 0)
    }

    @Test("a second broker on the same persistence_dir is refused, naming the directory and its lock file")
    func lockFile() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, _) = try AviaryBinary.serve(["--persistence", "on", "--persistence-dir", dir])
        let r = try Subprocess.run([Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--persistence", "on", "--persistence-dir", dir])
        #expect(r.code == 1, "\(r.output)")
        #expect(r.output.contains("persistence_dir \(dir) is in use by another aviary"), "\(r.output)")
        #expect(r.output.contains("\(dir)/aviary.lock"), "\(r.output)")
        #expect(!r.output.contains("listening"))
        first.signal(SIGTERM)
        #expect(first.wait(timeout: 15) == 0)
        // Let go at exit: the directory can be used again.
        let (again, _) = try AviaryBinary.serve(["--persistence", "on", "--persistence-dir", dir])
        again.signal(SIGTERM)
        #expect(again.wait(timeout: 15) == 0)
    }

    @Test(
        """
        near persistence_max_bytes new messages are refused before they are routed, not acknowledged: 5.0 PUBACK 0x80 with a reason string, \
        logged, shown in /metrics
        """
    )
    func storeFull() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (p, port) = try AviaryBinary.serve([
            "--persistence", "on", "--persistence-dir", dir, "--persistence-max-bytes", "262144", "--persistence-sync", "always",
        ])
        var expiry = Properties()
        expiry.sessionExpiryInterval = 3600
        let subscriber = try TestClient(port: port, version: .v5)
        try subscriber.connect("keeper", cleanStart: false, properties: expiry)
        try subscriber.subscribe("full/#", qos: .atLeastOnce)
        subscriber.disconnect()
        let publisher = try TestClient(port: port, version: .v5)
        try publisher.connect("filler")
        let payload = String(repeating: "x", count: 8192)
        var accepted = 0
        var refusal: AckPacket?
        for id in 1...200 where refusal == nil {
            publisher.publish("full/t", payload, qos: .atLeastOnce, id: UInt16(id))
            let ack = try publisher.receive { if case .puback(let a) = $0 { a } else { nil } }
            if ack.reasonCode == .success { accepted += 1 } else { refusal = ack }
        }
        let refused = try #require(refusal, "the store filled up within 200 messages of 8 KiB")
        #expect(refused.reasonCode == .unspecifiedError)
        #expect(refused.properties.reasonString?.contains("could not store") == true, "\(refused)")
        #expect(accepted >= 5, "messages before the cap were acknowledged: \(accepted)")
        #expect(refused.properties.reasonString?.contains("persistence_max_bytes") == true, "refused before the cap was hit: \(refused)")
        try eventually("the refusal to be logged") { p.output.contains("refusing new messages") }
        // /metrics: the store's size, commits (one fsync each), batch times, failures and refusals.
        let metrics = try Subprocess.run(["curl", "-s", "-u", "admin:public", "http://127.0.0.1:\(try AviaryBinary.apiPort(p))/metrics"]).output
        func value(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect((value("aviary_store_commits_total") ?? 0) >= Double(accepted), "\(metrics)")
        #expect((value("aviary_store_bytes") ?? 0) > 100_000)
        #expect((value("aviary_store_batch_max_microseconds") ?? 0) > 0)
        #expect(value("aviary_store_write_failures_total") == 0, "refused under a tenth of the cap, so SQLite never ran into it")
        #expect(value("aviary_store_refusing") == 1)
        #expect((value("aviary_store_refusals_total") ?? 0) >= 1)
        p.signal(SIGTERM)
        #expect(p.wait(timeout: 15) == 0)
    }

    @Test("a persistence_dir that cannot be created is a clear error at start-up, before any port opens")
    func unusableDirectory() throws {
        let r = try Subprocess.run([
            Tools.aviary, "serve", "--mqtt-port", "0", "--api-port", "0", "--persistence", "on", "--persistence-dir", "/proc/aviary-store",
        ])
        #expect(r.code == 1, "\(r.output)")
        #expect(r.output.contains("persistence_dir /proc/aviary-store cannot be used"), "\(r.output)")
        #expect(!r.output.contains("cannot listen"), "not reported as a listener problem: \(r.output)")
        #expect(!r.output.contains("listening"))
    }

    @Test(
        """
        a database that is not one is moved aside with a log line and the broker starts empty; garbage after the last commit of the WAL (a torn \
        tail) is ignored and what was committed stays
        """
    )
    func corruption() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A torn tail: a retained message committed, the broker killed, garbage appended to the WAL.
        let (p, port) = try AviaryBinary.serve(["--persistence", "on", "--persistence-dir", dir])
        let setter = try TestClient(port: port, version: .v3_1_1)
        try setter.connect("setter")
        setter.publish("kept/topic", "before the crash", qos: .atLeastOnce, id: 1, retain: true)
        _ = try setter.receive { if case .puback = $0 { true } else { nil } }
        p.signal(SIGKILL)
        _ = p.wait(timeout: 10)
        let wal = dir + "/aviary.db-wal"
        let handle = try #require(FileHandle(forWritingAtPath: wal))
        handle.seekToEndOfFile()
        handle.write(Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        handle.closeFile()
        let (restarted, port2) = try AviaryBinary.serve(["--persistence", "on", "--persistence-dir", dir, "--log-level", "info"])
        let reader = try TestClient(port: port2, version: .v3_1_1)
        try reader.connect("reader")
        try reader.subscribe("kept/#", qos: .atLeastOnce)
        #expect(try reader.receivePublish().text == "before the crash")
        try eventually("the load to be logged") { restarted.output.contains("durable store loaded") }
        #expect(restarted.output.contains("retained=1"), "\(restarted.output)")
        restarted.signal(SIGTERM)
        #expect(restarted.wait(timeout: 15) == 0)

        // Not a database at all.
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: dir + "/aviary.db"))
        try? FileManager.default.removeItem(atPath: wal)
        try? FileManager.default.removeItem(atPath: dir + "/aviary.db-shm")
        let (fresh, _) = try AviaryBinary.serve(["--persistence", "on", "--persistence-dir", dir])
        try eventually("the corrupt database to be reported") { fresh.output.contains("moved aside to") }
        #expect(fresh.output.contains("starting with an empty store"), "\(fresh.output)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("aviary.db.corrupt-") }
        #expect(!aside.isEmpty, "the unreadable file is kept for inspection")
        fresh.signal(SIGTERM)
        #expect(fresh.wait(timeout: 15) == 0)
    }
}
