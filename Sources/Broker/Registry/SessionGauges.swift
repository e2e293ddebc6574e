import AviaryLocks
import MQTTCodec
import Synchronization

/// The figures of one session that the client table shows besides traffic: written by the
/// session (under the routing lock, relaxed atomic stores) and read by the management API
/// without that lock, so that listing 100,000 clients never stops routing.
public final class SessionGauges: Sendable {
    /// Wall-clock milliseconds when the session was created.
    public let createdAtMs: Int64
    /// Limits of the configuration, for `max_*` fields.
    public let maxSubscriptions: Int
    public let maxAwaitingRel: Int
    public let maxMqueue: Int

    @usableFromInline let connectedFlag = Atomic<Bool>(false)
    /// 0 while connected or never disconnected.
    @usableFromInline let disconnectedAt = Atomic<Int64>(0)
    @usableFromInline let expiry = Atomic<UInt32>(0)
    @usableFromInline let subscriptionCount = Atomic<Int>(0)
    @usableFromInline let inflightCount = Atomic<Int>(0)
    @usableFromInline let window = Atomic<Int>(0)
    @usableFromInline let awaitingRelCount = Atomic<Int>(0)
    @usableFromInline let queueLength = Atomic<Int>(0)
    @usableFromInline let dropped = Atomic<UInt64>(0)
    @usableFromInline let held = Atomic<UInt64>(0)
    @usableFromInline let holdingCount = Atomic<Int>(0)
    /// The session's subscriptions (filter and options), replaced whole on every change.
    let subscriptionList = Locked<[Subscription]>([])

    public init(createdAtMs: Int64, maxSubscriptions: Int, maxAwaitingRel: Int, maxMqueue: Int) {
        self.createdAtMs = createdAtMs
        self.maxSubscriptions = maxSubscriptions
        self.maxAwaitingRel = maxAwaitingRel
        self.maxMqueue = maxMqueue
    }

    // Inlinable, with their atomics: a query in another module reads these for every row, and a
    // call would retain the gauges around each read.
    @inlinable public var connected: Bool { connectedFlag.load(ordering: .relaxed) }
    @inlinable public var disconnectedAtMs: Int64? {
        let at = disconnectedAt.load(ordering: .relaxed)
        return at == 0 ? nil : at
    }
    @inlinable public var expiryInterval: UInt32 { expiry.load(ordering: .relaxed) }
    @inlinable public var subscriptionsCount: Int { subscriptionCount.load(ordering: .relaxed) }
    @inlinable public var inflight: Int { inflightCount.load(ordering: .relaxed) }
    @inlinable public var maxInflight: Int { window.load(ordering: .relaxed) }
    @inlinable public var awaitingRel: Int { awaitingRelCount.load(ordering: .relaxed) }
    @inlinable public var mqueueLen: Int { queueLength.load(ordering: .relaxed) }
    @inlinable public var mqueueDropped: UInt64 { dropped.load(ordering: .relaxed) }
    @inlinable public var heldBytes: UInt64 { held.load(ordering: .relaxed) }
    /// Publishers this session holds back now: it is over its queue's high-water mark.
    @inlinable public var holdingPublishers: Int { holdingCount.load(ordering: .relaxed) }
    public var subscriptions: [Subscription] { subscriptionList.withLock { $0 } }
}
