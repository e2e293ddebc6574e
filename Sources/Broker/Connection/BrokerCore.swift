import AviaryLocks
import DurableStore
import Logging
import NIOCore
import Synchronization

/// Shared core reached by every connection handler: the state lock plus what never changes.
final class BrokerCore: Sendable {
    let configuration: BrokerConfiguration
    let metrics: BrokerMetrics
    let logger: Logger
    let startedAt: NIODeadline
    let startedAtMs: Int64
    let state: Locked<BrokerState>
    /// Every client's identity, counters and session gauges, readable without `state`'s lock.
    let registry = ClientRegistry()
    let shuttingDown = Atomic<Bool>(false)
    let security: SecurityPolicy
    let capacity: ConnectionCapacity
    /// Per event loop: CONNECT timeouts and keepalives, and same-loop deliveries.
    let loops: LoopConnectionsRegistry
    /// Refusals at capacity are logged at most every 10 s (they are counted one by one).
    let capacityLog = Locked(LogThrottle())
    /// Store write failures are logged at most every 10 s (they are counted).
    let storeFailureLog = Locked(LogThrottle())
    /// The durable store and what start-up loaded from it, set once at start.
    private let durable = Locked<(store: DurableStore?, recovery: RecoveryReport?)>((nil, nil))

    var store: DurableStore? { durable.withLock { $0.store } }
    var recovery: RecoveryReport? { durable.withLock { $0.recovery } }

    func attach(_ store: DurableStore, recovery: RecoveryReport) {
        durable.withLock { $0 = (store, recovery) }
    }

    init(configuration: BrokerConfiguration, security: SecurityPolicy, logger: Logger) {
        self.configuration = configuration
        self.security = security
        self.capacity = ConnectionCapacity.measure(configured: configuration.maxConnections)
        self.loops = LoopConnectionsRegistry(connectTimeout: .nanoseconds(Int64(configuration.connectTimeout * 1e9)))
        self.metrics = BrokerMetrics()
        self.logger = logger
        self.startedAt = .now()
        self.startedAtMs = WallClock.nowMilliseconds()
        self.state = Locked(
            BrokerState(
                configuration: configuration,
                maxConnections: capacity.maxConnections,
                metrics: metrics,
                security: security,
                registry: registry,
                logger: logger
            )
        )
    }

    /// Runs `body` under the state lock. The state is not `Sendable` and `body` may return
    /// only `Sendable` values, so no session or tree node leaves the lock.
    @inline(__always)
    func withState<R: Sendable>(_ body: (inout sending BrokerState) throws -> R) rethrows -> R {
        try state.withLock { try body(&$0) }
    }

    /// `withState`, and the durable store's batch holding what `body` changed (nil: nothing to
    /// wait for): an acknowledgement of those changes goes out once that batch is on disk.
    @inline(__always)
    func withStateMarked<R: Sendable>(_ body: (inout sending BrokerState) throws -> R) rethrows -> (R, batch: UInt64?) {
        try state.withLock { state in
            let result = try body(&state)
            return (result, state.store?.takeMark())
        }
    }
}
