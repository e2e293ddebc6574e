import AviaryLocks
import MQTTCodec
import Synchronization

/// Every client the broker knows (connected, or an offline session): identity, live counters
/// and session gauges, behind a lock of its own. The broker writes to it only when a session
/// starts, resumes or ends (O(1) each, under the routing lock, which it therefore never waits
/// for from readers); the management API reads it without ever taking the routing lock.
/// Rows sit in slots, the same slots as the broker's session store.
public final class ClientRegistry: Sendable {
    private struct Table {
        /// Free slots hold `vacant` (and `present` is false): a dense array of rows lets a scan
        /// borrow each row in place instead of copying it out of an optional.
        var rows: [ClientListing] = []
        /// The same rows as uncounted views, for scans.
        var views: [ClientView] = []
        var present: [Bool] = []
        var byId: [String: Int] = [:]
        var count = 0
    }

    private static let vacant = ClientListing(
        identity: ClientIdentity(
            info: ClientInfo(
                clientId: "",
                username: nil,
                peerAddress: "",
                peerPort: 0,
                protocolVersion: .v3_1_1,
                keepAlive: 0,
                cleanStart: true,
                connectedAtMs: 0
            ),
            counters: ConnectionCounters()
        ),
        gauges: SessionGauges(createdAtMs: 0, maxSubscriptions: 0, maxAwaitingRel: 0, maxMqueue: 0)
    )

    private let table = Locked(Table())

    public init() {}

    /// Sets the row of `slot` (a new session, or a resumed one with a new identity).
    func set(_ row: ClientListing, slot: Int) {
        table.withLock { table in
            if slot >= table.rows.count {
                let more = slot - table.rows.count + 1
                table.rows.append(contentsOf: repeatElement(Self.vacant, count: more))
                table.views.append(contentsOf: repeatElement(Self.vacant.view, count: more))
                table.present.append(contentsOf: repeatElement(false, count: more))
            }
            if table.present[slot] {
                table.byId[table.rows[slot].clientId] = nil
            } else {
                table.count += 1
            }
            table.rows[slot] = row
            table.views[slot] = row.view
            table.present[slot] = true
            table.byId[row.clientId] = slot
        }
    }

    func remove(slot: Int) {
        table.withLock { table in
            guard slot < table.rows.count, table.present[slot] else { return }
            table.byId[table.rows[slot].clientId] = nil
            table.rows[slot] = Self.vacant
            table.views[slot] = Self.vacant.view
            table.present[slot] = false
            table.count -= 1
        }
    }

    /// Clients in the table.
    public var count: Int { table.withLock { $0.count } }

    /// One client by id: a hash lookup.
    public func row(clientId: String) -> ClientListing? {
        table.withLock { table in table.byId[clientId].map { table.rows[$0] } }
    }

    /// Every row, in slot order (a client keeps its place while it stays). The copy takes two
    /// references per client under the registry's lock; counters are read afterwards.
    public func rows() -> [ClientListing] {
        table.withLock { table in
            var rows: [ClientListing] = []
            rows.reserveCapacity(table.count)
            for slot in table.rows.indices where table.present[slot] { rows.append(table.rows[slot]) }
            return rows
        }
    }

    /// Calls `body` with every row and its slot, in slot order, under the registry's lock, as
    /// uncounted `ClientView`s (retaining 100,000 rows' references was three quarters of a
    /// sorted query's time). For queries that look at every client and keep a few: keep slots,
    /// then take the rows with `rows(at:)`. `body` must not keep a view or call the registry.
    public func scan(_ body: (ClientView, Int) -> Void) {
        table.withLock { table in
            for slot in table.views.indices where table.present[slot] { body(table.views[slot], slot) }
        }
    }

    /// The subscriptions of every client (or of one), read from the sessions' gauges: the
    /// subscription listing of the API never takes the routing lock either.
    public func subscriptions(clientId: String? = nil) -> [(clientId: String, subscription: Subscription)] {
        if let clientId {
            return row(clientId: clientId).map { row in row.gauges.subscriptions.map { (row.clientId, $0) } } ?? []
        }
        var result: [(clientId: String, subscription: Subscription)] = []
        scan { view, _ in
            guard view.subscriptionsCount > 0 else { return }
            for subscription in view.gauges.subscriptions { result.append((view.clientId, subscription)) }
        }
        return result
    }

    /// The rows of `slots` (taken from a `scan`), nil for any that left since.
    public func rows(at slots: [Int]) -> [ClientListing?] {
        table.withLock { table in
            slots.map { slot in slot < table.rows.count && table.present[slot] ? table.rows[slot] : nil }
        }
    }

    /// The first `limit` rows after skipping `offset`, in slot order, and the total: no copy of
    /// the rest of the table (the unsorted first page of the API is O(page)).
    public func page(offset: Int, limit: Int) -> (rows: [ClientListing], count: Int) {
        table.withLock { table in
            var rows: [ClientListing] = []
            var skipped = 0
            for slot in table.rows.indices where table.present[slot] {
                if rows.count == limit { break }
                if skipped < offset {
                    skipped += 1
                    continue
                }
                rows.append(table.rows[slot])
            }
            return (rows, table.count)
        }
    }
}
