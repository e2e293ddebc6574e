#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import Synchronization

import AviaryLocks

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

/// "At most one line every 10 s" for events that come in floods (a connection storm at capacity).
final class LogThrottle: Sendable {
    private let interval: TimeAmount
    private let last = Locked<NIODeadline?>(nil)

    init(interval: TimeAmount = .seconds(10)) {
        self.interval = interval
    }

    /// True at most once per interval.
    func due(now: NIODeadline = .now()) -> Bool {
        last.withLock { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
    }
}

/// On the listening channel, before NIO's accept handler: counts every accepted socket at once
/// (the child initializers run later, on other event loops, so a burst of accepts would not
/// see its own sockets) and closes the ones over `maxSockets` before they reach MQTT; while
/// the closes of refused sockets are still under way (they run on the sockets' own event
/// loops) and would take the last descriptors, it stops accepting for 10 ms at a time. Also
/// counts accept failures (EMFILE and the like; NIO's `AcceptBackoffHandler` before it pauses
/// accepting for 100 ms instead of spinning on them). Logs both at most once every 10 s.
final class AcceptGuard: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = any Channel

    private let core: BrokerCore
    private var pausedRead: Scheduled<Void>?

    init(core: BrokerCore) {
        self.core = core
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = unwrapInboundIn(data)
        let metrics = core.metrics
        metrics.socketsOpen.add()
        accepted.closeFuture.whenComplete { _ in metrics.socketsOpen.subtract() }
        guard metrics.socketsOpen.load <= core.capacity.maxSockets else {
            metrics.socketsRefused.add()
            accepted.close(promise: nil)
            log("at capacity: sockets over the limit are closed as they arrive")
            return
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard pausedRead == nil else { return }
        guard core.metrics.socketsOpen.load >= core.capacity.maxSockets + ConnectionCapacity.refusing else {
            context.read()
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pausedRead = context.eventLoop.scheduleTask(in: .milliseconds(10)) {
            let (guardHandler, context) = bound.value
            guardHandler.pausedRead = nil
            guardHandler.read(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pausedRead?.cancel()
        pausedRead = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.metrics.acceptErrors.add()
        log("cannot accept connections: \(error)")
    }

    private func log(_ message: Logger.Message) {
        guard core.capacityLog.due() else { return }
        let capacity = core.capacity
        core.logger.warning(
            message,
            metadata: [
                "sockets.open": "\(core.metrics.socketsOpen.load)",
                "connections.max": "\(capacity.maxConnections)",
                "open_files.limit": "\(capacity.fileLimit)",
                "sockets.refused": "\(core.metrics.socketsRefused.load)",
                "accept.errors": "\(core.metrics.acceptErrors.load)",
            ]
        )
    }
}
