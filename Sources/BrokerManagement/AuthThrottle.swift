import AviaryLocks
import Hummingbird
import NIOCore
import Synchronization

/// Slows down an address that keeps failing Basic Auth: after `freeFailures` failures in a row,
/// each further request from it waits `baseDelay × 2^(n − freeFailures − 1)`, up to `maxDelay`,
/// before its credentials are even looked at (so parallel guesses are slowed too). A success
/// resets the address; an address idle for `forgetAfter` is forgotten; at most `capacity`
/// addresses are remembered (the oldest go first).
final class AuthThrottle: Sendable {
    struct Entry {
        var failures: Int
        var last: NIODeadline
    }

    let freeFailures: Int
    let baseDelay: TimeAmount
    let maxDelay: TimeAmount
    let forgetAfter: TimeAmount
    let capacity: Int
    private let entries = Locked<[String: Entry]>([:])

    init(
        freeFailures: Int = 3,
        baseDelay: TimeAmount = .milliseconds(250),
        maxDelay: TimeAmount = .seconds(8),
        forgetAfter: TimeAmount = .minutes(10),
        capacity: Int = 10_000
    ) {
        self.freeFailures = freeFailures
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.forgetAfter = forgetAfter
        self.capacity = capacity
    }

    /// How long a request from `address` must wait now (zero for an address in good standing).
    func delay(for address: String, now: NIODeadline = .now()) -> TimeAmount {
        entries.withLock { entries in
            guard let entry = entries[address] else { return .zero }
            if now - entry.last > forgetAfter {
                entries[address] = nil
                return .zero
            }
            let excess = entry.failures - freeFailures
            guard excess > 0 else { return .zero }
            let factor = Int64(1) << Int64(min(excess - 1, 30))
            return .nanoseconds(min(baseDelay.nanoseconds * factor, maxDelay.nanoseconds))
        }
    }

    /// Records a failure; returns the number of failures in a row from this address.
    @discardableResult
    func failed(_ address: String, now: NIODeadline = .now()) -> Int {
        entries.withLock { entries in
            var entry = entries[address] ?? Entry(failures: 0, last: now)
            if now - entry.last > forgetAfter { entry.failures = 0 }
            entry.failures += 1
            entry.last = now
            entries[address] = entry
            if entries.count > capacity, let oldest = entries.min(by: { $0.value.last < $1.value.last })?.key {
                entries[oldest] = nil
            }
            return entry.failures
        }
    }

    func succeeded(_ address: String) {
        _ = entries.withLock { $0.removeValue(forKey: address) }
    }
}

/// The request context of the management API: Hummingbird's basics plus the peer's address,
/// which the auth throttle keys on.
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
