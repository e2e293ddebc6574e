/// Per-client rates from the deltas between two polls.
public struct Rates: Sendable, Hashable {
    public var bytesIn: Double = 0
    public var bytesOut: Double = 0
    public var msgsIn: Double = 0
    public var msgsOut: Double = 0
    public init() {}
}

/// Remembers each client's previous counters. A reconnect (new connected_at) or a counter
/// that went down resets the client's rates to 0: never a negative value or a huge spike.
public struct RateTracker: Sendable {
    struct Sample {
        var at: Double
        var connectedAtMs: Int64?
        var connected: Bool
        var recvOct, sendOct, recvMsg, sendMsg: UInt64?
    }

    private var previous: [String: Sample] = [:]
    public private(set) var rates: [String: Rates] = [:]
    /// Whole-broker message rates from broker counters, for APIs without per-client counters.
    private var brokerPrevious: (at: Double, received: UInt64, sent: UInt64)?
    private var brokerRates: (received: Double, sent: Double)?

    public init() {}

    /// Folds in a poll taken at `time` (seconds, monotonic).
    public mutating func update(_ rows: [ClientRow], at time: Double) {
        var next: [String: Sample] = [:]
        var nextRates: [String: Rates] = [:]
        next.reserveCapacity(rows.count)
        for row in rows {
            let sample = Sample(
                at: time,
                connectedAtMs: row.connectedAtMs,
                connected: row.connected,
                recvOct: row.recvOct,
                sendOct: row.sendOct,
                recvMsg: row.recvMsg,
                sendMsg: row.sendMsg
            )
            next[row.clientId] = sample
            guard let old = previous[row.clientId], row.connected, old.connectedAtMs == sample.connectedAtMs else {
                nextRates[row.clientId] = Rates()
                continue
            }
            let dt = time - old.at
            guard dt > 0 else {
                nextRates[row.clientId] = rates[row.clientId] ?? Rates()
                continue
            }
            func rate(_ a: UInt64?, _ b: UInt64?) -> Double {
                guard let a, let b, b >= a else { return 0 }
                return Double(b - a) / dt
            }
            var r = Rates()
            r.bytesIn = rate(old.recvOct, sample.recvOct)
            r.bytesOut = rate(old.sendOct, sample.sendOct)
            r.msgsIn = rate(old.recvMsg, sample.recvMsg)
            r.msgsOut = rate(old.sendMsg, sample.sendMsg)
            nextRates[row.clientId] = r
        }
        previous = next
        rates = nextRates
    }

    /// Folds in the broker's own message counters (NanoMQ); a counter that went down (a
    /// restart) gives 0.
    public mutating func updateBroker(received: UInt64, sent: UInt64, at time: Double) {
        if let old = brokerPrevious, time > old.at {
            let dt = time - old.at
            brokerRates = (received >= old.received ? Double(received - old.received) / dt : 0, sent >= old.sent ? Double(sent - old.sent) / dt : 0)
        }
        brokerPrevious = (time, received, sent)
    }

    /// Whole-broker rates: the sum over clients, or the broker's own message counters where
    /// the API has them and no per-client ones.
    public var total: Rates {
        var total = rates.values.reduce(into: Rates()) { t, r in
            t.bytesIn += r.bytesIn
            t.bytesOut += r.bytesOut
            t.msgsIn += r.msgsIn
            t.msgsOut += r.msgsOut
        }
        if let brokerRates {
            total.msgsIn = brokerRates.received
            total.msgsOut = brokerRates.sent
        }
        return total
    }
}
