import AviaryLocks
import Synchronization

/// What the client table, the API and `/metrics` show of one bridge: its name, where it goes,
/// its state (with the last error) and its counters. The bridge writes it; readers take it
/// without any broker lock. The bridge's local session carries it in its `ClientInfo`, so the
/// bridge is a row of the client table (`is_bridge`).
public final class BridgeStatus: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// Opening the connection to the upstream (TCP, TLS, CONNECT).
        case connecting
        case connected
        /// Waiting before the next attempt after a failure (`lastError` says which).
        case backingOff = "backing off"
        case stopped
    }

    public struct Snapshot: Sendable, Hashable {
        public var state: State = .connecting
        /// The upstream address tried or in use (`host:port`).
        public var address: String
        public var lastError: String?
        /// Wall-clock milliseconds when `state` began.
        public var sinceMs: Int64
        /// Connections made to the upstream (CONNACK success) since start.
        public var connects: UInt64 = 0
        /// Failed attempts and lost connections since start.
        public var failures: UInt64 = 0
    }

    public let name: String
    /// The client id of the bridge's session in this broker.
    public let localClientId: String
    public let addresses: [String]
    private let current: Locked<Snapshot>
    private let sentUpstream = Atomic<UInt64>(0)
    private let receivedUpstream = Atomic<UInt64>(0)

    /// Messages forwarded to the upstream and received from it.
    public var forwardedOut: UInt64 { sentUpstream.load(ordering: .relaxed) }
    public var forwardedIn: UInt64 { receivedUpstream.load(ordering: .relaxed) }
    public func countOut() { sentUpstream.add(1, ordering: .relaxed) }
    public func countIn() { receivedUpstream.add(1, ordering: .relaxed) }

    public init(name: String, localClientId: String, addresses: [String]) {
        self.name = name
        self.localClientId = localClientId
        self.addresses = addresses
        self.current = Locked(Snapshot(address: addresses.first ?? "", sinceMs: WallClock.nowMilliseconds()))
    }

    public var snapshot: Snapshot { current.withLock { $0 } }

    public func update(_ body: (inout Snapshot) -> Void) {
        current.withLock { body(&$0) }
    }

    /// A new state from now on.
    public func enter(_ state: State, address: String? = nil, error: String? = nil) {
        let now = WallClock.nowMilliseconds()
        current.withLock { snapshot in
            if snapshot.state != state { snapshot.sinceMs = now }
            snapshot.state = state
            if let address { snapshot.address = address }
            if let error {
                snapshot.lastError = error
                snapshot.failures += 1
            }
            if state == .connected { snapshot.connects += 1 }
        }
    }

    public static func == (lhs: BridgeStatus, rhs: BridgeStatus) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
