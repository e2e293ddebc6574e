import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM.
enum SignalWaiter {
    static func waitForTermination() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "aviary.signals")
            let once = OnceFlag()
            var sources: [any DispatchSourceSignal] = []
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    if once.fire() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            retained.append(contentsOf: sources)
        }
    }

    nonisolated(unsafe) private static var retained: [any DispatchSourceSignal] = []
}

private final class OnceFlag: @unchecked Sendable {
    private var fired = false
    private let lock = DispatchQueue(label: "aviary.once")
    func fire() -> Bool { lock.sync { defer { fired = true }; return !fired } }
}
