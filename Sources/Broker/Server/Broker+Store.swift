import DurableStore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The durable store cannot be opened (directory unusable or in use, database unreadable).
public struct PersistenceError: Error, CustomStringConvertible {
    public let description: String
}

/// Opening the durable store at start: what it holds is rebuilt, and its writer started.
extension Broker {
    /// Opens the durable store, rebuilds what it holds and starts its writer.
    func openStore() throws {
        let core = self.core
        let started = NIODeadline.now()
        let sync: StoreSync =
            configuration.persistenceSyncMilliseconds == 0 ? .always : .interval(milliseconds: configuration.persistenceSyncMilliseconds)
        let store: DurableStore
        do {
            store = try DurableStore(
                directory: configuration.persistenceDir,
                sync: sync,
                maxBytes: Int64(configuration.persistenceMaxBytes),
                minFreeBytes: Int64(configuration.persistenceMinFreeBytes)
            )
        } catch {
            throw PersistenceError(description: "\(error)")
        }
        for note in store.notes { logger.error("durable store: \(note)") }
        var report = core.withState { state in
            state.store = store
            return state.restore(store.recover(), time: .current())
        }
        report.milliseconds = (NIODeadline.now() - started).nanoseconds / 1_000_000
        core.attach(store, recovery: report)
        let loops = core.loops
        let logger = self.logger
        store.start(
            exclusively: { cut in core.withState { _ in cut() } },
            batchWritten: { _ in loops.notifyStoreWritten() },
            failed: { error, unwritten in
                core.metrics.storeWriteFailures.add()
                let withdrawn = core.withState { $0.withdrawUnwritten(unwritten) }
                if core.storeFailureLog.withLock({ $0.due() }) {
                    logger.error(
                        "durable store: a batch could not be written; what it acknowledges is refused, and retried once a second",
                        metadata: [
                            "persistence.dir": "\(store.directory)", "error": "\(error)", "messages.withdrawn": "\(withdrawn.count)",
                        ]
                    )
                }
                return withdrawn
            },
            refusalChanged: { reason in
                if let reason {
                    logger.error(
                        "durable store: refusing new messages it would have to keep (5.0: 0x80, 3.x: closed unacknowledged) until it has room again",
                        metadata: ["persistence.dir": "\(store.directory)", "reason": "\(reason)"]
                    )
                } else {
                    logger.notice("durable store: taking new messages again", metadata: ["persistence.dir": "\(store.directory)"])
                }
            }
        )
        logger.info(
            "durable store loaded",
            metadata: [
                "persistence.dir": "\(store.directory)",
                "persistence.sync":
                    "\(configuration.persistenceSyncMilliseconds == 0 ? "always" : "\(configuration.persistenceSyncMilliseconds) ms")",
                "sessions": "\(report.sessions)",
                "subscriptions": "\(report.subscriptions)",
                "messages": "\(report.messages)",
                "retained": "\(report.retained)",
                "skipped": "\(report.skipped)",
                "duration.ms": "\(report.milliseconds)",
            ]
        )
    }
}
