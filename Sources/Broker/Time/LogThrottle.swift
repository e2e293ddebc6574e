import NIOCore

/// "At most one line every 10 s", for what comes in floods: refusals at capacity, store write
/// failures, a client's ACL denials, a slow consumer's drops. A value: it lives where its events
/// are counted (a connection, a session, or behind a lock when threads share it), and costs no
/// more than the time it remembers.
struct LogThrottle: Sendable {
    static let interval = TimeAmount.seconds(10)
    private var last: NIODeadline?

    init() {}

    /// True at most once per `interval`; `now` from the caller's clock (an event loop's in
    /// tests with simulated time).
    mutating func due(now: NIODeadline = .now()) -> Bool {
        if let last, now - last < Self.interval { return false }
        last = now
        return true
    }
}
