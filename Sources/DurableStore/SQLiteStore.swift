import Foundation
import GRDB
import GRDBSQLite
import NIOCore

/// The files of the store: one SQLite database in WAL mode (`aviary.db`, `aviary.db-wal`),
/// written only by the store's writer thread. Every batch is one transaction, and with
/// `synchronous = FULL` its commit is on disk (fsync of the WAL) when `apply` returns.
/// Not `Sendable`: the writer thread owns it once it is open.
final class SQLiteStore {
    static let fileName = "aviary.db"
    /// The layouts of the store, oldest first: GRDB's `DatabaseMigrator` runs the ones a store
    /// has not had, each in a transaction, and records them in `grdb_migrations`. A new layout
    /// is a new migration appended here ("v2": `ALTER TABLE`, new tables, rows moved), never an
    /// edit of an old one; the test `DurableStoreTests.previousLayout` keeps a store of each
    /// earlier layout opening. `meta.schema` holds the number of migrations, so that a build
    /// older than the store refuses it (builds before the migrator read only that).
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        // v1, the first layout. IF NOT EXISTS: stores written before migrations were recorded
        // (meta.schema 1, no grdb_migrations) have these tables already and get v1 recorded.
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS sessions(client_id TEXT PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS subscriptions(
                        client_id TEXT NOT NULL, filter TEXT NOT NULL, record BLOB NOT NULL,
                        PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS messages(
                        client_id TEXT NOT NULL, id INTEGER NOT NULL, record BLOB NOT NULL,
                        packet_id INTEGER, state INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (client_id, id)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS retained(topic TEXT PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS incoming_qos2(
                        client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
                        PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
                    """
            )
        }
        // v2: a message's packet id and step are stored at a fixed width (`MessageColumns`), so
        // that marking a message sent overwrites its row in place instead of writing its payload
        // again: draining a queue near a full disk must not need room for a copy of it.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    UPDATE messages SET packet_id = \(MessageColumns.packetIdBase) + coalesce(packet_id, 0),
                        state = \(MessageColumns.stateBase) + state
                    """
            )
        }
        return migrator
    }()
    static var schemaVersion: Int { migrator.migrations.count }

    let path: String
    private let queue: DatabaseQueue
    private let directory: String
    private let maxBytes: Int64
    /// The database file's identity when it was opened, to notice it removed or replaced.
    private let fileIdentity: (device: UInt64, inode: UInt64)?

    /// What opening found worth a log line (a database moved aside as corrupt …).
    private(set) var notes: [String] = []

    /// Opens (or creates) the database in `directory`. A file SQLite cannot read as a database,
    /// or one failing its integrity check, is renamed `aviary.db.corrupt-<time>` and a new
    /// one started, with a note saying so; a torn WAL tail (a crash mid-commit) is cut by
    /// SQLite itself, which ignores frames whose checksums do not match.
    init(directory: String, maxBytes: Int64) throws {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.path = path
        self.directory = directory
        self.maxBytes = maxBytes
        do {
            let opened = try Self.open(path: path, maxBytes: maxBytes)
            let verdict = try opened.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") } ?? "no answer"
            guard verdict == "ok" else { throw StoreError.corrupt(verdict) }
            queue = opened
        } catch {
            guard Self.isCorruption(error) else { throw error }
            let aside = path + ".corrupt-\(Int64(Date().timeIntervalSince1970))"
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            notes.append("the store \(path) could not be read (\(error)); moved aside to \(aside), starting with an empty store")
            queue = try Self.open(path: path, maxBytes: maxBytes)
        }
        fileIdentity = Self.identity(of: path)
    }

    private static func isCorruption(_ error: any Error) -> Bool {
        if case StoreError.corrupt = error { return true }
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    private static func open(path: String, maxBytes: Int64) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.label = "aviary-store"
        configuration.prepareDatabase { db in
            // Durable commits: the WAL is synced at every commit (NORMAL would only sync at
            // checkpoints, and a power cut could lose acknowledged messages).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The WAL is reused from its start after each checkpoint; one that a large batch
            // grew is cut back to this size then, so that it does not keep the space.
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimit)")
            // Debian's SQLite zeroes deleted content (SECURE_DELETE): draining a queue of 64 KiB
            // messages would write each freed page again, into a WAL that a nearly full disk
            // has no room for. FAST zeroes only where it costs no extra I/O.
            try db.execute(sql: "PRAGMA secure_delete = FAST")
            if maxBytes > 0 {
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(16, maxBytes / pageSize))")
            }
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
        }
        // A store written by a newer aviary is refused, whether it says so in `meta` (what
        // builds before the migrator read) or with a migration this build does not know.
        try queue.read { db in
            if try db.tableExists("meta"), let version = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema'"),
                version > schemaVersion
            {
                throw StoreError.unsupportedSchema(version)
            }
            if try migrator.hasBeenSuperseded(db) {
                let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
                throw StoreError.unknownMigrations(unknown)
            }
        }
        try migrator.migrate(queue)
        try queue.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", arguments: [schemaVersion])
        }
        return queue
    }

    /// Everything stored, in the order recovery needs it.
    func load() throws -> RecoveredState {
        try queue.read { db in
            var state = RecoveredState()
            state.lastWriteMs = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_write_ms'")
            let sessions = try Row.fetchCursor(db, sql: "SELECT client_id, record FROM sessions")
            while let row = try sessions.next() {
                state.sessions.append((row[0], Self.buffer(row[1])))
            }
            let subscriptions = try Row.fetchCursor(db, sql: "SELECT client_id, filter, record FROM subscriptions")
            while let row = try subscriptions.next() {
                state.subscriptions.append((row[0], row[1], Self.buffer(row[2])))
            }
            // In primary-key order: each session's messages together, in queue order.
            var maxId: Int64 = 0
            let messages = try Row.fetchCursor(db, sql: "SELECT id, client_id, record, packet_id, state FROM messages")
            while let row = try messages.next() {
                let id: Int64 = row[0]
                maxId = max(maxId, id)
                state.messages.append(
                    RecoveredMessage(
                        id: id,
                        clientId: row[1],
                        record: Self.buffer(row[2]),
                        packetId: MessageColumns.packetId(row[3]),
                        state: MessageColumns.state(row[4])
                    )
                )
            }
            state.nextMessageId = maxId + 1
            let retained = try Row.fetchCursor(db, sql: "SELECT topic, record FROM retained")
            while let row = try retained.next() {
                state.retained.append((row[0], Self.buffer(row[1])))
            }
            let incoming = try Row.fetchCursor(db, sql: "SELECT client_id, packet_id FROM incoming_qos2")
            while let row = try incoming.next() {
                state.incoming.append((row[0], UInt16(truncatingIfNeeded: row[1] as Int64)))
            }
            return state
        }
    }

    private static func buffer(_ data: Data) -> ByteBuffer {
        ByteBuffer(bytes: data)
    }

    private static func data(_ buffer: ByteBuffer) -> Data {
        Data(buffer.readableBytesView)
    }

    /// Writes one batch as one transaction; on return it is on disk.
    func apply(_ operations: [StoreOperation], nowMs: Int64) throws {
        try queue.inDatabase { db in
            try db.inTransaction(.immediate) {
                var messages: MessageStatements?
                for operation in operations {
                    switch operation {
                    case .putMessage, .updateMessage, .deleteMessage:
                        if messages == nil { messages = try MessageStatements(db) }
                        try messages!.apply(operation, db)
                    default:
                        try Self.apply(operation, db)
                    }
                }
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_write_ms', ?)").execute(arguments: [nowMs])
                return .commit
            }
        }
    }

    private static func apply(_ operation: StoreOperation, _ db: Database) throws {
        switch operation {
        case .putSession(let clientId, let record):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO sessions(client_id, record) VALUES (?, ?)").execute(arguments: [
                clientId, data(record),
            ])
        case .deleteSession(let clientId):
            for table in ["sessions", "subscriptions", "messages", "incoming_qos2"] {
                try db.cachedStatement(sql: "DELETE FROM \(table) WHERE client_id = ?").execute(arguments: [clientId])
            }
        case .putSubscription(let clientId, let filter, let record):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO subscriptions(client_id, filter, record) VALUES (?, ?, ?)")
                .execute(arguments: [clientId, filter, data(record)])
        case .deleteSubscription(let clientId, let filter):
            try db.cachedStatement(sql: "DELETE FROM subscriptions WHERE client_id = ? AND filter = ?").execute(arguments: [clientId, filter])
        case .putMessage, .updateMessage, .deleteMessage:
            try MessageStatements(db).apply(operation, db)
        case .putRetained(let topic, let record):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO retained(topic, record) VALUES (?, ?)").execute(arguments: [topic, data(record)])
        case .deleteRetained(let topic):
            try db.cachedStatement(sql: "DELETE FROM retained WHERE topic = ?").execute(arguments: [topic])
        case .putIncoming(let clientId, let packetId):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO incoming_qos2(client_id, packet_id) VALUES (?, ?)").execute(arguments: [
                clientId, Int64(packetId),
            ])
        case .deleteIncoming(let clientId, let packetId):
            try db.cachedStatement(sql: "DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?").execute(arguments: [
                clientId, Int64(packetId),
            ])
        }
    }

    /// Bytes of the database at `path` and its WAL on disk (two `stat` calls, any thread).
    static func sizeOnDisk(path: String) -> Int64 {
        var total: Int64 = 0
        for suffix in ["", "-wal"] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            total += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return total
    }

    /// Bytes the WAL keeps after a checkpoint (`journal_size_limit`).
    static let walSizeLimit = 4 << 20

    /// How much the store can still grow.
    struct Room: CustomStringConvertible {
        /// Free on the file system plus free pages inside the database.
        var fileSystem: Int64
        var reserve: Int64
        /// Left under `persistence_max_bytes` (counting free pages), when it is set.
        var underCap: Int64?
        var cap: Int64

        var bytes: Int64 { min(fileSystem, underCap ?? .max) }
        /// Under the reserve on the file system, or under a tenth of the cap.
        var isShort: Bool { fileSystem < reserve || (underCap.map { $0 < cap / 10 } ?? false) }

        var description: String {
            if let underCap, underCap < cap / 10 {
                return "only \(underCap) bytes left under persistence_max_bytes \(cap) (new messages are refused under a tenth of it)"
            }
            return "only \(fileSystem) bytes free for it on its file system, under the \(reserve) it keeps free (persistence_min_free_bytes)"
        }
    }

    /// The room left: `statvfs` of the directory, and the database's free pages when the file
    /// system is short or a cap is set (two PRAGMAs).
    func room(caring reserve: Int64) -> Room {
        var fs = statvfs()
        let free = statvfs(directory, &fs) == 0 ? Int64(fs.f_bavail) * Int64(fs.f_frsize) : 0
        var room = Room(fileSystem: free, reserve: reserve, underCap: nil, cap: maxBytes)
        guard free < reserve * 2 || maxBytes > 0 else { return room }
        let pages = try? queue.inDatabase { db in
            (
                size: try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096,
                count: try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0,
                free: try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            )
        }
        guard let pages else { return room }
        room.fileSystem += pages.free * pages.size
        if maxBytes > 0 { room.underCap = maxBytes - (pages.count - pages.free) * pages.size }
        return room
    }

    /// Whether the database file is still the one opened (not removed or replaced).
    func isInPlace() -> Bool {
        guard let fileIdentity, let now = Self.identity(of: path) else { return false }
        return now == fileIdentity
    }

    private static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Folds the WAL back into the database (at a clean stop).
    func checkpoint() {
        try? queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}

/// How a message's packet id and step are kept: at a fixed width, so that an UPDATE of them
/// leaves the record's size alone and SQLite overwrites the row in place, writing only the page
/// that changed (not the payload's overflow pages, as a record of a new size would). A packet id
/// is stored as `packetIdBase` + id (0: not sent), always a 3-byte integer in SQLite's record
/// format; a step as `stateBase` + step, always 1 byte (0 and 1 would take none).
enum MessageColumns {
    static let packetIdBase: Int64 = 1 << 20
    static let stateBase: Int64 = 8

    static func packetIdColumn(_ packetId: UInt16?) -> Int64 { packetIdBase + Int64(packetId ?? 0) }
    static func stateColumn(_ state: UInt8) -> Int64 { stateBase + Int64(state) }

    static func packetId(_ column: Int64) -> UInt16? {
        let id = column - packetIdBase
        return (1...Int64(UInt16.max)).contains(id) ? UInt16(id) : nil
    }

    static func state(_ column: Int64) -> UInt8 { UInt8(truncatingIfNeeded: column - stateBase) }
}

/// The three statements of the hot path (a message queued, sent, done), prepared once per
/// batch and bound through SQLite's C API: no argument arrays, no blob copied into `Data`.
private struct MessageStatements {
    let put: SQLiteStatement
    let update: SQLiteStatement
    let delete: SQLiteStatement

    init(_ db: Database) throws {
        put = try db.cachedStatement(sql: "INSERT OR REPLACE INTO messages(client_id, id, record, packet_id, state) VALUES (?, ?, ?, ?, ?)")
            .sqliteStatement
        update = try db.cachedStatement(sql: "UPDATE messages SET packet_id = ?, state = ? WHERE client_id = ? AND id = ?").sqliteStatement
        delete = try db.cachedStatement(sql: "DELETE FROM messages WHERE client_id = ? AND id = ?").sqliteStatement
    }

    /// SQLite copies what is bound with this destructor (SQLITE_TRANSIENT, a C macro).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func apply(_ operation: StoreOperation, _ db: Database) throws {
        switch operation {
        case .putMessage(let message):
            bind(message.clientId, 1, put)
            sqlite3_bind_int64(put, 2, message.id)
            let record = message.record.encoded()
            _ = record.withUnsafeReadableBytes { bytes in
                sqlite3_bind_blob(put, 3, bytes.baseAddress, Int32(bytes.count), Self.transient)
            }
            sqlite3_bind_int64(put, 4, MessageColumns.packetIdColumn(message.packetId))
            sqlite3_bind_int64(put, 5, MessageColumns.stateColumn(message.state))
            try run(put, db)
        case .updateMessage(let clientId, let id, let packetId, let state):
            sqlite3_bind_int64(update, 1, MessageColumns.packetIdColumn(packetId))
            sqlite3_bind_int64(update, 2, MessageColumns.stateColumn(state))
            bind(clientId, 3, update)
            sqlite3_bind_int64(update, 4, id)
            try run(update, db)
        case .deleteMessage(let clientId, let id):
            bind(clientId, 1, delete)
            sqlite3_bind_int64(delete, 2, id)
            try run(delete, db)
        default:
            preconditionFailure("not a message operation")
        }
    }

    private func bind(_ text: String, _ index: Int32, _ statement: SQLiteStatement) {
        _ = text.withCString { sqlite3_bind_text(statement, index, $0, -1, Self.transient) }
    }

    private func run(_ statement: SQLiteStatement, _ db: Database) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}

/// Why the store cannot be used.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case corrupt(String)
    case unsupportedSchema(Int)
    case unknownMigrations([String])
    case directory(String, String)
    case locked(String)
    case closed

    public var description: String {
        switch self {
        case .corrupt(let detail): "integrity check failed: \(detail)"
        case .unsupportedSchema(let version):
            "written by another aviary version (store schema \(version), this one reads \(SQLiteStore.schemaVersion))"
        case .unknownMigrations(let identifiers):
            """
            written by a newer aviary version (store migrations \(identifiers.joined(separator: ", ")) are unknown to this one, \
            which knows \(SQLiteStore.migrator.migrations.joined(separator: ", ")))
            """
        case .directory(let directory, let why): "persistence_dir \(directory) cannot be used: \(why)"
        case .locked(let directory):
            """
            persistence_dir \(directory) is in use by another aviary (its lock file \(directory)/aviary.lock is held); stop that broker or choose \
            another directory
            """
        case .closed: "the store is closed"
        }
    }
}
