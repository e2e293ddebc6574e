/// Names one session of the store for as long as it exists: a slot of the store's array, so
/// the connection reaches its session without hashing its client id on every packet. `Sendable`
/// and meaningless alone: every use goes through the store with the connection's sink, and a
/// session that has moved on (taken over, kicked, ended) no longer answers to it.
struct SessionKey: Sendable, Hashable {
    let slot: Int
}

/// Every session of the broker by client id, in slots that are reused after a session ends.
/// Lives inside `BrokerState`, under the broker's lock; each change is mirrored into the
/// `ClientRegistry` (same slots), which the management API reads without that lock.
struct SessionStore {
    private var slots: [Session?] = []
    private var free: [Int] = []
    private var index: [String: Int] = [:]
    let registry: ClientRegistry

    init(registry: ClientRegistry) {
        self.registry = registry
    }

    var count: Int { index.count }

    subscript(clientId: String) -> Session? {
        index[clientId].flatMap { slots[$0] }
    }

    /// The session `key` names, if `sink` is still its connection.
    func session(_ key: SessionKey, sink: any DeliverySink) -> Session? {
        guard key.slot < slots.count, let session = slots[key.slot], session.link === sink else { return nil }
        return session
    }

    /// The session in `key`'s slot now, whatever connection it has (for the timer).
    func session(in key: SessionKey) -> Session? {
        key.slot < slots.count ? slots[key.slot] : nil
    }

    /// Adds a session (none may exist for its client id) and returns its key.
    @discardableResult
    mutating func insert(_ session: Session) -> SessionKey {
        precondition(index[session.clientId] == nil, "one session per client id")
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = session
        } else {
            slot = slots.count
            slots.append(session)
        }
        session.key = SessionKey(slot: slot)
        index[session.clientId] = slot
        registry.set(ClientListing(identity: session.identity, gauges: session.gauges), slot: slot)
        return session.key
    }

    /// The session's identity changed (a new connection resumed it).
    func refresh(_ session: Session) {
        guard let slot = index[session.clientId], slots[slot] === session else { return }
        registry.set(ClientListing(identity: session.identity, gauges: session.gauges), slot: slot)
    }

    /// Removes `session` if it is the one stored for its client id.
    mutating func remove(_ session: Session) {
        guard let slot = index[session.clientId], slots[slot] === session else { return }
        index[session.clientId] = nil
        slots[slot] = nil
        free.append(slot)
        registry.remove(slot: slot)
    }

    /// Every session, in slot order.
    func forEachSession(_ body: (Session) throws -> Void) rethrows {
        for case let session? in slots { try body(session) }
    }

    func map<T>(_ transform: (Session) throws -> T) rethrows -> [T] {
        var result: [T] = []
        result.reserveCapacity(count)
        try forEachSession { result.append(try transform($0)) }
        return result
    }
}
