import Foundation

/// What the header knows about the source besides the rows.
public struct SourceInfo: Sendable {
    public var url: String
    public var flavour: Flavour?
    public var brokerName: String?
    public var version: String?
    public var uptime: String?
    /// Exact uptime when the API gives it (ours does), and when it was read (wall ms).
    public var uptimeSeconds: Int64?
    public var uptimeReadMs: Int64?
    /// Wall-clock ms of the last good poll and how long it took.
    public var lastPollMs: Int64?
    public var latencyMs: Double?
    /// Set while polls fail: the message, since when, and seconds to the next try.
    public var error: String?
    public var errorSinceMs: Int64?
    public var retryIn: Double?
    public var authFailed = false
    /// Total clients on the source (may exceed the rows fetched).
    public var total: Int = 0
    /// Set when only a server-sorted window of a large table is fetched ("top 500 by recv_oct").
    public var window: String?
    /// Whether `d` can disconnect: false for an API that answered that it has no such endpoint.
    public var canKick = true
    /// With several targets: which one this is ("2/3 hq").
    public var target: String?
    /// Whole-broker message counters where the API has no per-client ones (NanoMQ's
    /// `nanomq_messages_received`/`_sent` from /api/v4/prometheus).
    public var brokerMessages: (received: UInt64, sent: UInt64)?

    public init(url: String) { self.url = url }
}

/// Subscriptions and fresh fields for the detail view.
public struct DetailInfo: Sendable {
    /// Every field of the client, fetched for the detail view only.
    public var fields: [(key: String, value: String)]?
    /// Each with its 5.0 options in words ("No Local, Retain As Published"), empty when none.
    public var subscriptions: [(topic: String, qos: Int, options: String)]?
    public var note: String?
    public init(subscriptions: [(topic: String, qos: Int, options: String)]? = nil, note: String? = nil) {
        self.subscriptions = subscriptions
        self.note = note
    }
}
