import Synchronization

#if AVIARY_TSAN
import NIOConcurrencyHelpers

/// The project's lock. Under `make sanitize` (ThreadSanitizer) it is a pthread mutex, which
/// TSan sees: the standard library's `Mutex` is not instrumented on Linux, so TSan reports
/// every access under it as a race (a two-thread program incrementing under `Mutex.withLock`
/// is enough). Same API and semantics as `Synchronization.Mutex`; only that build defines it.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    private let lock = NIOLock()
    private var value: Value

    public init(_ initialValue: consuming sending Value) {
        value = initialValue
    }

    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
#else
/// The project's lock: the standard library's `Mutex` (a pthread mutex in the TSan build, see
/// above). One name for both, defined once; a type of another module cannot shadow `Mutex`
/// itself (the compiler finds the name ambiguous).
public typealias Locked<Value: ~Copyable> = Synchronization.Mutex<Value>
#endif
