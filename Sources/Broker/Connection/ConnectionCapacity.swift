import AviaryLocks
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many clients this process can hold. Every connection is a file descriptor, so the
/// open-file limit decides: the broker raises its soft limit to the hard one, keeps a few
/// descriptors for itself (the API and its clients, config reloads) and refuses the rest
/// cleanly instead of running into EMFILE.
struct ConnectionCapacity: Sendable {
    /// The open-file limit in force (after raising the soft limit to the hard one).
    let fileLimit: Int
    /// CONNECTs beyond this many live connections get CONNACK 0x97 (5.0) / 0x03 (3.1.1):
    /// `max_connections` when set, never more than the descriptors allow.
    let maxConnections: Int
    /// Sockets beyond this many are closed as soon as they are accepted (a flood past the
    /// connection limit must not take the broker's last descriptors).
    let maxSockets: Int

    /// Descriptors kept free beyond the ones open at start: connections stop at
    /// `fileLimit - open - 48`, accepted sockets at `fileLimit - open - 32`; sockets being
    /// refused may take `refusing` more, then accepting pauses until some are closed.
    static let socketReserve = 32
    static let connectionReserve = 48
    static let refusing = 8

    init(configured: Int, fileLimit: Int, openDescriptors: Int) {
        self.fileLimit = fileLimit
        let sockets = max(1, fileLimit - openDescriptors - Self.socketReserve)
        let connections = max(1, fileLimit - openDescriptors - Self.connectionReserve)
        self.maxSockets = sockets
        self.maxConnections = configured > 0 ? min(configured, connections) : connections
    }

    /// Raises this process's soft open-file limit to its hard limit, measures the capacity left
    /// for clients and makes room for them in the descriptor table.
    static func measure(configured: Int) -> ConnectionCapacity {
        let capacity = ConnectionCapacity(configured: configured, fileLimit: raiseFileLimit(), openDescriptors: openDescriptors())
        reserveDescriptorTable(upTo: min(capacity.maxSockets + socketReserve, tableReserveLimit))
        return capacity
    }

    /// The descriptor table is grown up front to at most this many slots (a pointer each: 512 KiB
    /// of kernel memory); past it, it grows as clients come.
    static let tableReserveLimit = 1 << 16

    /// Grows this process's descriptor table now, to hold descriptors up to `count`. Left to
    /// itself the kernel doubles it as descriptors open, and in a process with threads each
    /// growth waits for an RCU grace period inside the `accept4` that needed it: 7–15 ms each on
    /// the bench VM, six of them on the way to 10,000 clients, with the listener's event loop
    /// blocked (single-threaded Mosquitto never pays it). The table never shrinks, so growing
    /// it once, by asking for a descriptor at the top and closing it, saves them all.
    static func reserveDescriptorTable(upTo count: Int) {
        guard count > 256 else { return }
        let probe = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else { return }
        // F_DUPFD takes the lowest free descriptor at or above the number: never one in use.
        let top = fcntl(probe, F_DUPFD_CLOEXEC, Int32(count - 1))
        if top >= 0 { close(top) }
        close(probe)
    }

    /// The soft RLIMIT_NOFILE after raising it to the hard limit (as far as the kernel allows).
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// Descriptors open in this process now (entries of /proc/self/fd; 0 where there is none).
    static func openDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = entry.pointee.d_name.0
            if name != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return max(0, count - 1)  // the directory stream's own descriptor
    }
}
