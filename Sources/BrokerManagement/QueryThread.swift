import AviaryLocks
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One thread, at a lower scheduling priority (nice 10), that answers the management API's
/// requests. A query over 100,000 clients takes a few milliseconds of CPU; on a small machine
/// that is CPU taken from the event loops routing messages, and it showed in their p99.9. At
/// nice 10 the kernel gives the event loops the CPU first whenever both want it; an API request
/// waits a little longer instead.
final class QueryThread: Sendable {
    static let shared = QueryThread(nice: 10)

    /// Jobs as objects: a closure copied out of a `Mutex` leaked a 32-byte box per copy (the
    /// durable store's writer did that per batch; heaptrack showed it).
    private final class Job: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let jobs = Locked<[Job]>([])
    private let ready = DispatchSemaphore(value: 0)

    init(nice: Int32) {
        let thread = Thread { [self] in
            Self.lowerPriority(ofThisThreadTo: nice)
            // Named from inside: Foundation on Linux does not pass `thread.name` to the kernel,
            // and `top -H` / /proc should show what the thread is (15 characters at most).
            Thread.current.name = "aviary-query"
            while true {
                self.ready.wait()
                let job = self.jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                job?.body()
            }
        }
        thread.start()
    }

    /// On Linux the nice value is per thread, and `who = 0` names the calling thread.
    static func lowerPriority(ofThisThreadTo nice: Int32) {
        #if canImport(Glibc)
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        #endif
    }

    /// Runs `body` on the query thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let job = Job { continuation.resume(returning: body()) }
            jobs.withLock { $0.append(job) }
            ready.signal()
        }
    }
}

/// The management API's own event loop: one thread, at nice 10 like the query thread, where its
/// HTTP connections are read and written — never on the event loops that route MQTT messages
/// (Hummingbird's default is NIO's shared group, which the broker uses for its connections).
enum ManagementEventLoop {
    static let group: MultiThreadedEventLoopGroup = {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        group.next().execute {
            QueryThread.lowerPriority(ofThisThreadTo: 10)
            Thread.current.name = "aviary-api-http"
        }
        return group
    }()
}
