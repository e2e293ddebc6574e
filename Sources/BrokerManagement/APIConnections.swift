import HummingbirdCore
import Logging
import Synchronization

/// The API's open connections, counted for `/metrics`: how many are open, and how often the
/// cap stopped new ones from being accepted.
final class APIConnections: Sendable {
    let open = Atomic<Int>(0)
    /// The most open at once since start.
    let peak = Atomic<Int>(0)
    /// Times the listener stopped accepting because `max` were open.
    let capped = Atomic<Int>(0)
    let max: Int

    init(max: Int) {
        self.max = max
    }
}

/// Hummingbird's hook on its accept loop: at `api_max_connections` open connections it stops
/// accepting; new ones wait in the kernel's backlog (not refused, not read) until one closes.
/// Idle and slow connections are closed after `api_idle_timeout`, so a cap reached by clients
/// that hold connections open empties by itself.
struct APIConnectionCap: AvailableConnectionsDelegate {
    let connections: APIConnections
    let logger: Logger

    mutating func connectionOpened() {
        let now = connections.open.add(1, ordering: .relaxed).newValue
        connections.peak.max(now, ordering: .relaxed)
    }

    mutating func connectionClosed() {
        connections.open.subtract(1, ordering: .relaxed)
    }

    func isAcceptingNewConnections() -> Bool {
        guard connections.open.load(ordering: .relaxed) >= connections.max else { return true }
        if connections.capped.add(1, ordering: .relaxed).oldValue == 0 {
            logger.warning(
                "management API at its connection cap; new connections wait until one closes",
                metadata: ["api.max_connections": "\(connections.max)"]
            )
        }
        return false
    }
}
