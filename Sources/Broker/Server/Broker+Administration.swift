import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// What the management API and the tests ask of a running broker: the client table,
/// subscriptions, kicks, messages published as the broker, and figures.
extension Broker {
    /// A snapshot of every session: connected clients and offline persistent ones.
    public func clients() -> [ClientSnapshot] {
        listings().map(ClientSnapshot.init)
    }

    /// One client's snapshot, or nil.
    public func client(id: String) -> ClientSnapshot? {
        core.registry.row(clientId: id).map(ClientSnapshot.init)
    }

    /// The client table as rows of two references each, from the client registry: the
    /// routing lock is not taken; figures are read from their atomics when asked for.
    public func listings() -> [ClientListing] {
        core.registry.rows()
    }

    /// The client registry itself, for queries that need less than the whole table.
    public var registry: ClientRegistry { core.registry }

    /// The subscriptions of every session (or of one client): filter, QoS and 5.0 options.
    public func subscriptions(clientId: String? = nil) -> [(clientId: String, subscription: Subscription)] {
        core.registry.subscriptions(clientId: clientId)
    }

    /// Disconnects a connected client with reason 0x98 (Administrative action); its will is
    /// published and its session discarded. False when no such client is connected.
    @discardableResult
    public func disconnect(clientId: String) -> Bool {
        let now = NIODeadline.now()
        let kicked = core.withState { $0.kick(clientId, now: now) }
        if kicked { logger.info("client disconnected by administrator", metadata: ["client.id": "\(clientId)"]) }
        return kicked
    }

    /// Publishes a message as the broker itself (no publisher client id).
    public func publish(_ message: Message) {
        let now = NIODeadline.now()
        core.withState { _ = $0.publish(message, now: now) }
    }

    /// Gauges now and their maxima since start (maxima of sessions, subscriptions, topics and
    /// retained messages are sampled once a second and at each call).
    public func stats() -> BrokerStats {
        core.withState { $0.stats() }
    }

    /// Most clients accepted at once: `max_connections`, or what the open-file limit allows.
    public var connectionLimit: Int { core.capacity.maxConnections }

    /// Seconds since the broker started.
    public var uptimeSeconds: Int64 {
        (NIODeadline.now() - core.startedAt).nanoseconds / 1_000_000_000
    }

    /// Wall-clock milliseconds when the broker started.
    public var startedAtMs: Int64 { core.startedAtMs }
}
