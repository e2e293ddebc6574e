import HeapModule
import NIOCore

/// Deadlines by time, so that the once-a-second timer pops what is due instead of scanning
/// every session (100,000 offline sessions made that scan, under the routing lock, the p99 of
/// every message). Entries are never removed early: a deadline that moved or went away is
/// skipped when popped (the caller checks the item's current deadline), and the heap is rebuilt
/// from the live deadlines once stale entries outnumber them, so its size stays bounded.
struct DeadlineSchedule<Item: Hashable> {
    private struct Entry: Comparable {
        let at: NIODeadline
        let item: Item
        static func < (a: Entry, b: Entry) -> Bool { a.at < b.at }
        static func == (a: Entry, b: Entry) -> Bool { a.at == b.at }
    }

    private var heap = Heap<Entry>()

    var count: Int { heap.count }

    mutating func schedule(_ item: Item, at deadline: NIODeadline) {
        heap.insert(Entry(at: deadline, item: item))
    }

    /// Removes and returns every item whose deadline is at or before `now` (each once, even
    /// if it was scheduled several times).
    mutating func popDue(now: NIODeadline) -> [Item] {
        var due: [Item] = []
        var seen = Set<Item>()
        while let first = heap.min, first.at <= now {
            _ = heap.removeMin()
            if seen.insert(first.item).inserted { due.append(first.item) }
        }
        return due
    }

    /// Rebuilds from the deadlines that still hold when stale entries have piled up (more
    /// than twice the live ones, and more than 1,024): amortised O(1) per schedule.
    mutating func compactIfNeeded(liveCount: Int, live: () -> [(Item, NIODeadline)]) {
        guard heap.count > 1024, heap.count > 2 * liveCount else { return }
        heap = Heap(live().map { Entry(at: $0.1, item: $0.0) })
    }
}
