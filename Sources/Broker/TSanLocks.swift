#if AVIARY_TSAN
import NIOConcurrencyHelpers

/// Under `make sanitize` (ThreadSanitizer) the locks are pthread mutexes, which TSan sees:
/// the standard library's `Mutex` is not instrumented on Linux, so TSan reports every access
/// under it as a race (a two-thread program incrementing under `Mutex.withLock` is enough).
/// Same API, same semantics; only this build uses it.
typealias Mutex<Value> = NIOLockedValueBox<Value>

extension NIOLockedValueBox {
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try withLockedValue(body)
    }
}
#endif
