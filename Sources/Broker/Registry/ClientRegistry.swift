import AviaryLocks
import Synchronization

/// Every client the broker knows (connected, or an offline session): identity, live counters
/// and session gauges, behind a lock of its own. The broker writes to it only when a session
/// starts, resumes or ends (O(1) each, under the routing lock, which it therefore never waits
/// for from readers); the management API reads it without ever taking the routing lock.
/// Rows sit in slots, the same slots as the broker's session store.
public final class ClientRegistry: Sendable {
    private struct Table {
        var rows: [ClientListing?] = []
        var byId: [String: Int] = [:]
        var count = 0
    }

    private let table = Locked(Table())

    public init() {}

    /// Sets the row of `slot` (a new session, or a resumed one with a new identity).
    func set(_ row: ClientListing, slot: Int) {
        table.withLock { table in
            if slot >= table.rows.count { table.rows.append(contentsOf: repeatElement(nil, count: slot - table.rows.count + 1)) }
            if let old = table.rows[slot] {
                table.byId[old.clientId] = nil
            } else {
                table.count += 1
            }
            table.rows[slot] = row
            table.byId[row.clientId] = slot
        }
    }

    func remove(slot: Int) {
        table.withLock { table in
            guard slot < table.rows.count, let old = table.rows[slot] else { return }
            table.rows[slot] = nil
            table.byId[old.clientId] = nil
            table.count -= 1
        }
    }

    /// Clients in the table.
    public var count: Int { table.withLock { $0.count } }

    /// One client by id: a hash lookup.
    public func row(clientId: String) -> ClientListing? {
        table.withLock { table in table.byId[clientId].flatMap { table.rows[$0] } }
    }

    /// Every row, in slot order (a client keeps its place while it stays). The copy takes two
    /// references per client under the registry's lock; counters are read afterwards.
    public func rows() -> [ClientListing] {
        table.withLock { table in
            var rows: [ClientListing] = []
            rows.reserveCapacity(table.count)
            for case let row? in table.rows { rows.append(row) }
            return rows
        }
    }

    /// The first `limit` rows after skipping `offset`, in slot order, and the total: no copy of
    /// the rest of the table (the unsorted first page of the API is O(page)).
    public func page(offset: Int, limit: Int) -> (rows: [ClientListing], count: Int) {
        table.withLock { table in
            var rows: [ClientListing] = []
            var skipped = 0
            for case let row? in table.rows {
                if rows.count == limit { break }
                if skipped < offset {
                    skipped += 1
                    continue
                }
                rows.append(row)
            }
            return (rows, table.count)
        }
    }
}
