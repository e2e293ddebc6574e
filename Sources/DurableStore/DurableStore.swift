import AviaryLocks
import Dispatch
import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When a batch is written.
public enum StoreSync: Sendable, Hashable {
    /// As soon as there is something to write: acknowledgements wait for one fsync; what
    /// arrives during it goes into the next batch.
    case always
    /// Group commit: a batch collects what arrives for this many milliseconds, then one fsync.
    case interval(milliseconds: Int)
}

/// The broker's durable store: a journal of `StoreOperation`s the broker appends under its own
/// lock (cheap: an array append), and one writer thread that writes them in batches, one
/// transaction and one fsync per batch, off the event loops. Each append belongs to the open
/// batch, whose number (`takeMark()`) the connection keeps with the acknowledgement it
/// holds back until `outcome(of:)` says the batch is on disk.
public final class DurableStore: Sendable {
    /// What became of a batch.
    public enum Outcome: Sendable, Equatable {
        case pending
        case durable
        case failed(String)
    }

    /// Figures for `/metrics`.
    public struct Statistics: Sendable {
        public var batches: UInt64 = 0
        public var operations: UInt64 = 0
        public var failedBatches: UInt64 = 0
        public var lastBatchMicros: UInt64 = 0
        public var maxBatchMicros: UInt64 = 0
        public var totalBatchMicros: UInt64 = 0
        public var bytesOnDisk: Int64 = 0
    }

    private struct Journal: ~Copyable {
        /// The open batch.
        var pending = PendingOperations()
        var openBatch: UInt64 = 1
        /// The batch of the latest append, until `takeMark()` hands it out.
        var mark: UInt64?
        var writerSignalled = false
        var stopping = false
    }

    public let directory: String
    public let sync: StoreSync
    private let journal = Locked(Journal())
    private let nextId: Atomic<Int64>
    private let committed = Atomic<UInt64>(0)
    /// Batches that could not be written, by number (the last few hundred).
    private let failures = Locked([UInt64: String]())
    /// Whether any batch ever failed: until one does, `outcome(of:)` takes no lock.
    private let anyFailure = Atomic<Bool>(false)
    private let statistics = Locked(Statistics())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Whether `start` started the writer thread.
    private let started = Atomic<Bool>(false)
    private let lockDescriptor: Int32
    /// The database, the writer thread's alone once it runs; `open` reads it first.
    private let database: UnsafeTransfer<SQLiteStore>
    /// What `open` loaded, handed out once by `recover()`.
    private let loaded: Locked<RecoveredState?>
    public let notes: [String]
    private let databasePath: String
    /// Free bytes kept on the file system: under them new messages are refused.
    public let minFreeBytes: Int64
    private let refusing = Atomic<Bool>(false)
    private let refusalReason = Locked<String?>(nil)
    private let roomBytes = Atomic<Int64>(.max)

    /// Opens the store in `directory` (created if missing), taking its lock file so that a
    /// second broker cannot use the same directory, and reads what it holds. Errors name the
    /// directory and what is wrong with it.
    public init(directory: String, sync: StoreSync, maxBytes: Int64 = 0, minFreeBytes: Int64 = 0) throws {
        self.directory = directory
        self.sync = sync
        self.minFreeBytes = minFreeBytes
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.directory(directory, "cannot create it (\(error.localizedDescription))")
        }
        let lockPath = (directory as NSString).appendingPathComponent("aviary.lock")
        let fd = Glibc.open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError.directory(directory, "cannot create \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno
            Glibc.close(fd)
            if why == EWOULDBLOCK { throw StoreError.locked(directory) }
            throw StoreError.directory(directory, "cannot lock \(lockPath): \(String(cString: strerror(why)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        let store: SQLiteStore
        let state: RecoveredState
        do {
            store = try SQLiteStore(directory: directory, maxBytes: maxBytes)
            state = try store.load()
        } catch {
            Glibc.close(fd)
            throw StoreError.directory(directory, "\(error)")
        }
        lockDescriptor = fd
        database = UnsafeTransfer(store)
        notes = store.notes
        nextId = Atomic(state.nextMessageId)
        loaded = Locked(state)
        databasePath = store.path
    }

    /// What the store held when it was opened (once; later calls get an empty state).
    public func recover() -> RecoveredState {
        loaded.withLock { state in
            let taken = state ?? RecoveredState()
            state = nil
            return taken
        }
    }

    /// Starts the writer thread. `batchWritten` is called on it after every batch (written or
    /// failed) with its number. `failed` gets the error of each failed write and the queued
    /// messages it put, and returns those the broker took back out of their queues (never sent:
    /// refused, they are not routed), which are then not written. `refusalChanged` says when the
    /// store starts refusing new messages (why) and when it takes them again (nil). `exclusively`
    /// runs the closure it is given under the lock the appends are made under (the broker's),
    /// so that a batch is cut between two of its critical sections, never inside one: what one
    /// packet changes (a QoS 2 message routed and its packet id recorded) is written together.
    public func start(
        exclusively: @escaping @Sendable (() -> Void) -> Void,
        batchWritten: @escaping @Sendable (UInt64) -> Void,
        failed: @escaping @Sendable (String, [UnwrittenMessage]) -> [UnwrittenMessage],
        refusalChanged: @escaping @Sendable (String?) -> Void
    ) {
        // Handed to the thread once, as parameters: copying a closure out of a `Mutex` for
        // every batch leaked two 32-byte boxes a batch (heaptrack; RSS grew ~1 MB per 50,000
        // persistent QoS 1 messages and never stopped).
        let callbacks = WriterCallbacks(exclusively: exclusively, batchWritten: batchWritten, failed: failed, refusalChanged: refusalChanged)
        started.store(true, ordering: .releasing)
        let thread = Thread { [self] in self.writerLoop(callbacks) }
        thread.name = "aviary-store"
        thread.start()
    }

    // MARK: - The journal (called under the broker's lock)

    /// A new message id; ids grow, so a session's queue order is their order.
    public func newMessageId() -> Int64 {
        nextId.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Adds a change to the open batch; returns the batch's number.
    @discardableResult
    public func append(_ operation: StoreOperation) -> UInt64 {
        let (signal, batch) = journal.withLock { journal -> (Bool, UInt64) in
            let added = journal.pending.add(operation)
            // A put and its delete in one batch: neither reaches the disk, nothing to wait for.
            if added == .cancelled { return (false, journal.openBatch) }
            journal.mark = journal.openBatch
            guard added == .appended, !journal.writerSignalled else { return (false, journal.openBatch) }
            journal.writerSignalled = true
            return (true, journal.openBatch)
        }
        if signal { wake.signal() }
        return batch
    }

    /// The batch holding the appends since the last call, or nil when there were none: what an
    /// acknowledgement of those changes waits for.
    public func takeMark() -> UInt64? {
        journal.withLock { journal in
            defer { journal.mark = nil }
            return journal.mark
        }
    }

    /// Whether batch `batch` is on disk.
    public func outcome(of batch: UInt64) -> Outcome {
        guard committed.load(ordering: .acquiring) >= batch else { return .pending }
        if anyFailure.load(ordering: .relaxed), let failure = failures.withLock({ $0[batch] }) { return .failed(failure) }
        return .durable
    }

    public var lastWrittenBatch: UInt64 { committed.load(ordering: .acquiring) }

    /// The figures so far; the size on disk is read now (not by the writer, per batch).
    public func currentStatistics() -> Statistics {
        var figures = statistics.withLock { $0 }
        figures.bytesOnDisk = SQLiteStore.sizeOnDisk(path: databasePath)
        return figures
    }

    // MARK: - Refusing new messages

    /// Why the store takes no new messages now (nil: it does). Set by the writer thread when
    /// free space falls under the reserve, a batch fails, or the database file is gone; read
    /// by the broker before it routes a message the store would have to keep. One atomic load
    /// while it accepts.
    public var refusal: String? {
        guard refusing.load(ordering: .relaxed) else { return nil }
        return refusalReason.withLock { $0 }
    }

    /// Bytes the store can still grow into: free on its file system (or under
    /// `persistence_max_bytes`), counting free pages inside the database. As of the last check.
    public var room: Int64 { roomBytes.load(ordering: .relaxed) }

    // MARK: - The writer thread

    /// What the writer thread calls back.
    private struct WriterCallbacks: Sendable {
        let exclusively: @Sendable (() -> Void) -> Void
        let batchWritten: @Sendable (UInt64) -> Void
        let failed: @Sendable (String, [UnwrittenMessage]) -> [UnwrittenMessage]
        let refusalChanged: @Sendable (String?) -> Void
    }

    private func writerLoop(_ callbacks: WriterCallbacks) {
        // What a failed batch held, written again with every batch until it goes through;
        // a later delete cancels a put in it.
        var retry = PendingOperations()
        var lastFailure: String?
        var refusalKind = RefusalKind.none
        checkRefusal(lastFailure: nil, refusalKind: &refusalKind, callbacks)
        while true {
            // Once a second without work: the free space and the files are checked again, and
            // a failed batch retried, so that writing resumes without new traffic.
            guard wake.wait(timeout: .now() + .seconds(1)) == .success else {
                if !retry.isEmpty { lastFailure = write(&retry, batch: nil, callbacks) }
                checkRefusal(lastFailure: lastFailure, refusalKind: &refusalKind, callbacks)
                continue
            }
            if case .interval(let milliseconds) = sync, milliseconds > 0, !journal.withLock({ $0.stopping }) {
                usleep(useconds_t(milliseconds * 1000))
            }
            var cut: (operations: PendingOperations, batch: UInt64, stopping: Bool) = (PendingOperations(), 0, false)
            let swap = {
                cut = self.journal.withLock { journal in
                    journal.writerSignalled = false
                    let batch = journal.openBatch
                    journal.openBatch += 1
                    return (journal.pending.take(), batch, journal.stopping)
                }
            }
            callbacks.exclusively(swap)
            let (operations, batch, stopping) = cut
            for operation in operations.operations {
                if let operation { retry.add(operation) }
            }
            if !retry.isEmpty { lastFailure = write(&retry, batch: batch, callbacks) }
            committed.store(batch, ordering: .releasing)
            callbacks.batchWritten(batch)
            if stopping { break }
            checkRefusal(lastFailure: lastFailure, refusalKind: &refusalKind, callbacks)
        }
        database.value.checkpoint()
        finished.signal()
    }

    /// One transaction of what `pending` holds: emptied when written; otherwise the error
    /// (and `batch` marked failed), the queued messages it put un-routed by the broker where
    /// it still can (those are dropped from `pending`), the rest kept to retry.
    private func write(_ pending: inout PendingOperations, batch: UInt64?, _ callbacks: WriterCallbacks) -> String? {
        let start = DispatchTime.now().uptimeNanoseconds
        let operations = pending.writing
        do {
            try database.value.apply(operations, nowMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        } catch {
            let message = "\(error)"
            if let batch {
                anyFailure.store(true, ordering: .relaxed)
                failures.withLock { failures in
                    failures[batch] = message
                    if failures.count > 512, let oldest = failures.keys.min() { failures[oldest] = nil }
                }
            }
            statistics.withLock { $0.failedBatches += 1 }
            for withdrawn in callbacks.failed(message, pending.messagePuts) {
                pending.add(.deleteMessage(clientId: withdrawn.clientId, id: withdrawn.id))
            }
            return message
        }
        pending = PendingOperations()
        let micros = (DispatchTime.now().uptimeNanoseconds - start) / 1000
        statistics.withLock { stats in
            stats.batches += 1
            stats.operations += UInt64(operations.count)
            stats.lastBatchMicros = micros
            stats.maxBatchMicros = max(stats.maxBatchMicros, micros)
            stats.totalBatchMicros += micros
        }
        return nil
    }

    /// Whether new messages are refused now, and why: the database file removed or replaced
    /// under the broker, the last write failed, or less room than the reserve. While short of
    /// room or failing, the WAL is folded back and truncated, to give its space back.
    /// Why new messages are refused: a change of kind is logged, not every new figure in the
    /// reason's text.
    private enum RefusalKind {
        case none, fileGone, writeFailed, shortOfRoom
    }

    private func checkRefusal(lastFailure: String?, refusalKind: inout RefusalKind, _ callbacks: WriterCallbacks) {
        let db = database.value
        var kind = RefusalKind.none
        var reason: String?
        var room = db.room(caring: minFreeBytes)
        // A WAL that cannot be folded back holds its space: tried again while writes fail or
        // room is short, so that space freed outside the store is used at once.
        if room.isShort || lastFailure != nil {
            db.checkpoint()
            room = db.room(caring: minFreeBytes)
        }
        roomBytes.store(room.bytes, ordering: .relaxed)
        if !db.isInPlace() {
            (kind, reason) = (
                .fileGone, "its database file \(databasePath) was removed or replaced while the broker ran; restart the broker to write again"
            )
        } else if let lastFailure {
            (kind, reason) = (.writeFailed, lastFailure)
        } else if room.isShort {
            (kind, reason) = (.shortOfRoom, room.description)
        }
        refusalReason.withLock { $0 = reason }
        refusing.store(reason != nil, ordering: .relaxed)
        if refusalKind != kind { callbacks.refusalChanged(reason) }
        refusalKind = kind
    }

    /// Writes what is pending, stops the writer thread, folds the WAL into the database and
    /// lets go of the directory's lock. Call once, after the last append.
    public func close() {
        let running = started.load(ordering: .acquiring)
        journal.withLock { $0.stopping = true }
        if running {
            wake.signal()
            finished.wait()
        } else {
            database.value.checkpoint()
        }
        flock(lockDescriptor, LOCK_UN)
        Glibc.close(lockDescriptor)
    }
}

/// Hands a non-`Sendable` value to the one thread that uses it after set-up.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
