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
        /// The open batch; nil entries are puts cancelled by a delete in the same batch.
        var operations: [StoreOperation?] = []
        /// Where each message put of the open batch is, to cancel or update it in place.
        var puts: [Int64: Int] = [:]
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

    /// Opens the store in `directory` (created if missing), taking its lock file so that a
    /// second broker cannot use the same directory, and reads what it holds. Errors name the
    /// directory and what is wrong with it.
    public init(directory: String, sync: StoreSync, maxBytes: Int64 = 0) throws {
        self.directory = directory
        self.sync = sync
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
    /// failed) with its number; `failed` with the error of each failed batch. `exclusively`
    /// runs the closure it is given under the lock the appends are made under (the broker's),
    /// so that a batch is cut between two of its critical sections, never inside one: what one
    /// packet changes (a QoS 2 message routed and its packet id recorded) is written together.
    public func start(
        exclusively: @escaping @Sendable (() -> Void) -> Void,
        batchWritten: @escaping @Sendable (UInt64) -> Void,
        failed: @escaping @Sendable (String) -> Void
    ) {
        // Handed to the thread once, as parameters: copying a closure out of a `Mutex` for
        // every batch leaked two 32-byte boxes a batch (heaptrack; RSS grew ~1 MB per 50,000
        // persistent QoS 1 messages and never stopped).
        let callbacks = WriterCallbacks(exclusively: exclusively, batchWritten: batchWritten, failed: failed)
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
            switch operation {
            case .deleteMessage(_, let id):
                if let index = journal.puts.removeValue(forKey: id) {
                    // Put and delete in one batch: neither reaches the disk.
                    journal.operations[index] = nil
                    return (false, journal.openBatch)
                }
            case .updateMessage(_, let id, let packetId, let state):
                if let index = journal.puts[id], case .putMessage(var message)? = journal.operations[index] {
                    message.packetId = packetId
                    message.state = state
                    journal.operations[index] = .putMessage(message)
                    journal.mark = journal.openBatch
                    return (false, journal.openBatch)
                }
            case .putMessage(let message):
                journal.puts[message.id] = journal.operations.count
            default:
                break
            }
            journal.operations.append(operation)
            journal.mark = journal.openBatch
            guard !journal.writerSignalled else { return (false, journal.openBatch) }
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

    // MARK: - The writer thread

    /// What the writer thread calls back.
    private struct WriterCallbacks: Sendable {
        let exclusively: @Sendable (() -> Void) -> Void
        let batchWritten: @Sendable (UInt64) -> Void
        let failed: @Sendable (String) -> Void
    }

    private func writerLoop(_ callbacks: WriterCallbacks) {
        var retry: [StoreOperation] = []
        while true {
            wake.wait()
            if case .interval(let milliseconds) = sync, milliseconds > 0, !journal.withLock({ $0.stopping }) {
                usleep(useconds_t(milliseconds * 1000))
            }
            var cut: (operations: [StoreOperation?], batch: UInt64, stopping: Bool) = ([], 0, false)
            let swap = {
                cut = self.journal.withLock { journal in
                    let taken = journal.operations
                    journal.operations = []
                    journal.puts = [:]
                    journal.writerSignalled = false
                    let batch = journal.openBatch
                    journal.openBatch += 1
                    return (taken, batch, journal.stopping)
                }
            }
            callbacks.exclusively(swap)
            let (operations, batch, stopping) = cut
            let writing = retry + operations.compactMap { $0 }
            if !writing.isEmpty {
                retry = write(writing, batch: batch, failed: callbacks.failed) ? [] : writing
            }
            committed.store(batch, ordering: .releasing)
            callbacks.batchWritten(batch)
            if stopping { break }
        }
        database.value.checkpoint()
        finished.signal()
    }

    /// One transaction; false (and the batch marked failed) when it could not be written.
    private func write(_ operations: [StoreOperation], batch: UInt64, failed: (String) -> Void) -> Bool {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            try database.value.apply(operations, nowMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        } catch {
            let message = "\(error)"
            anyFailure.store(true, ordering: .relaxed)
            failures.withLock { failures in
                failures[batch] = message
                if failures.count > 512, let oldest = failures.keys.min() { failures[oldest] = nil }
            }
            statistics.withLock { $0.failedBatches += 1 }
            failed(message)
            return false
        }
        let micros = (DispatchTime.now().uptimeNanoseconds - start) / 1000
        statistics.withLock { stats in
            stats.batches += 1
            stats.operations += UInt64(operations.count)
            stats.lastBatchMicros = micros
            stats.maxBatchMicros = max(stats.maxBatchMicros, micros)
            stats.totalBatchMicros += micros
        }
        return true
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
