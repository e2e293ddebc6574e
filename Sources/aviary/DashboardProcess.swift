import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glibc ≥ 2.34; not exported by Swift's Glibc module (it is a GNU extension).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// The `aviary-dashboard` binary, installed beside `aviary`. The dashboard is a process of its
/// own so that `aviary` never links ncurses: `aviary serve` runs with no terminal and no
/// libncursesw.
enum DashboardProcess {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "the dashboard binary \(path) is missing: install aviary-dashboard beside aviary" }
    }

    static var path: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aviary-dashboard").path
    }

    /// Replaces this process with the dashboard (`aviary watch`).
    static func exec(arguments: [String]) throws -> Never {
        let binary = path
        guard access(binary, X_OK) == 0 else { throw Missing(path: binary) }
        // The mask of the calling thread survives exec, and this runs on a Swift concurrency
        // thread that blocks most signals: the dashboard must get SIGTERM/SIGHUP/SIGWINCH.
        var empty = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, nil)
        var cargs: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        execv(binary, &cargs)
        let code = errno
        for arg in cargs { free(arg) }
        throw Missing(path: binary + " (\(String(cString: strerror(code))))")
    }

    /// Starts the dashboard on this terminal, in this process group (it reads the keyboard), with
    /// default signal handling and only the standard descriptors: the broker's sockets stay here.
    /// The credentials travel in the environment, not in the process list.
    static func spawn(arguments: [String], user: String, password: String) throws -> pid_t {
        let binary = path
        guard access(binary, X_OK) == 0 else { throw Missing(path: binary) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
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
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var environment = ProcessInfo.processInfo.environment
        environment["AVIARY_WATCH_USER"] = user
        environment["AVIARY_WATCH_PASSWORD"] = password
        var cargs: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        var cenv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for arg in cargs { free(arg) }
            for variable in cenv { free(variable) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, binary, &actions, &attributes, &cargs, &cenv)
        guard rc == 0 else { throw Missing(path: binary + " (\(String(cString: strerror(rc))))") }
        return pid
    }

    /// Waits for the dashboard without blocking a Swift concurrency thread; returns its exit code
    /// (128 + signal if a signal ended it).
    static func wait(for pid: pid_t) async -> Int32 {
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let signal = status & 0x7F
                return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
            }
            if r < 0 && errno != EINTR { return 127 }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
