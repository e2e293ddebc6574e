import DurableStore
import Foundation

/// Starts the store's writer thread on its own, without a broker lock around the cut of a batch.
package func startWriter(_ store: DurableStore) {
    store.start(exclusively: { $0() }, batchWritten: { _ in }, failed: { _, _ in [] }, refusalChanged: { _ in })
}

/// Waits until the durable store has decided batch `batch` (written or failed), at most
/// `timeout` seconds.
package func waitDecided(_ store: DurableStore, _ batch: UInt64, timeout: Double = 10) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while store.outcome(of: batch) == .pending {
        guard Date() < deadline else { throw TimedOut(what: "batch \(batch) to be written") }
        try await Task.sleep(for: .milliseconds(1))
    }
}
