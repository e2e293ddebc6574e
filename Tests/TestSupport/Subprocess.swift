import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glibc ≥ 2.34; not exported by Swift's Glibc module (it is a GNU extension).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// A child process started with a clean signal mask (Swift Testing's worker threads block
/// SIGTERM and friends, and children would inherit that), output going to a file, in a process
/// group of its own: when the test lets go of it while it runs, the whole group is killed, so a
/// `sh -c "… | mosquitto_pub …"` leaves no mosquitto_pub behind reconnecting to a port that a
/// later test's broker may get.
package final class Subprocess: @unchecked Sendable {
    package let pid: pid_t
    package let argv: [String]
    private let outPath: String
    private var status: Int32?

    package struct SpawnFailed: Error, CustomStringConvertible {
        var argv: [String]
        var code: Int32
        package var description: String { "could not start \(argv.joined(separator: " ")): \(String(cString: strerror(code)))" }
    }

    package init(_ argv: [String], environment: [String: String] = [:]) throws {
        self.argv = argv
        outPath = NSTemporaryDirectory() + "aviary-sub-\(UUID().uuidString).out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Tests run brokers in this process: a child must not keep copies of their sockets
        // (a long-lived mosquitto_sub would hold a kicked client's socket open).
        _ = spawnAddCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        var all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cenv: [UnsafeMutablePointer<CChar>?] = envStrings.map { strdup($0) } + [nil]
        defer {
            for arg in cargs { free(arg) }
            for variable in cenv { free(variable) }
        }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, &cargs, &cenv)
        guard rc == 0 else { throw SpawnFailed(argv: argv, code: rc) }
        self.pid = pid
    }

    deinit {
        if status == nil {
            // Not reaped yet, so the group id is still this child's: the group, not a stranger.
            Glibc.kill(-pid, SIGKILL)
            _ = wait(timeout: 2)
        }
        unlink(outPath)
    }

    /// Everything the process wrote to stdout and stderr so far.
    package var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    package var lines: [String] { output.split(separator: "\n").map(String.init) }

    /// The exit code (128 + signal when killed), or nil if still running after `timeout`.
    @discardableResult
    package func wait(timeout: Double) -> Int32? {
        if let status { return status }
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            var raw: Int32 = 0
            let r = waitpid(pid, &raw, WNOHANG)
            if r == pid {
                let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
                status = code
                return code
            }
            usleep(5_000)
        } while Date() < deadline
        return nil
    }

    /// Like `wait(timeout:)`, but suspends instead of blocking a thread of the (small) Swift
    /// concurrency pool, which in-process async servers such as the management API need.
    package func waitAsync(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let code = wait(timeout: 0) { return code }
            try? await Task.sleep(for: .milliseconds(5))
        } while Date() < deadline
        return wait(timeout: 0)
    }

    package func signal(_ sig: Int32) { Glibc.kill(pid, sig) }

    /// `run` without blocking a concurrency-pool thread while the child runs.
    package static func runAsync(_ argv: [String], timeout: Double = 20) async throws -> (code: Int32, output: String) {
        let p = try Subprocess(argv)
        guard let code = await p.waitAsync(timeout: timeout) else {
            p.signal(SIGKILL)
            p.wait(timeout: 2)
            throw TimedOut(what: argv.joined(separator: " "))
        }
        return (code, p.output)
    }

    /// Runs to completion (killed after `timeout`) and returns exit code and output.
    package static func run(_ argv: [String], timeout: Double = 20, environment: [String: String] = [:]) throws -> (code: Int32, output: String) {
        let p = try Subprocess(argv, environment: environment)
        guard let code = p.wait(timeout: timeout) else {
            p.signal(SIGKILL)
            p.wait(timeout: 2)
            throw TimedOut(what: argv.joined(separator: " "))
        }
        return (code, p.output)
    }
}

/// Locations of the tools the integration tests drive.
package enum Tools {
    /// A Python interpreter that can import paho-mqtt (Debian's python3-paho-mqtt or PyPI's).
    package static let python: String? = {
        var candidates = ["/usr/bin/python3", "python3"]
        if let chosen = ProcessInfo.processInfo.environment["AVIARY_PYTHON"] { candidates.insert(chosen, at: 0) }
        for candidate in candidates {
            if let r = try? Subprocess.run([candidate, "-c", "import paho.mqtt.client"], timeout: 20), r.code == 0 { return candidate }
        }
        return nil
    }()

    /// Directory of this test file's package.
    package static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Recorded data the tests read (`Tests/Fixtures`, see its README for where each came from).
    package static let fixtures: URL = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// The built `aviary` binary next to the test bundle.
    package static let aviary: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("aviary").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/aviary").path
    }()
}
