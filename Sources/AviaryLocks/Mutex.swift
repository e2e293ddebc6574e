import Synchronization

#if AVIARY_TSAN
import NIOConcurrencyHelpers

/// Under `make sanitize` (ThreadSanitizer) every lock of the project is a pthread mutex, which
/// TSan sees: the standard library's `Mutex` is not instrumented on Linux, so TSan reports every
/// access under it as a race (a two-thread program incrementing under `Mutex.withLock` is
/// enough). Same API and semantics as `Synchronization.Mutex`; only that build defines it.
///
/// Every module imports this one beside `Synchronization`; a declaration in a module shadows
/// the same name in the modules it imports, so `Mutex` means this class in the TSan build and
/// the standard library's everywhere else, with no `#if` at the call sites.
public final class Mutex<Value: ~Copyable>: @unchecked Sendable {
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
#endif
