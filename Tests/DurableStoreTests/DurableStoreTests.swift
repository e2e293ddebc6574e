import DurableStore
import Foundation
import GRDB
import NIOCore
import TestSupport
import Testing

/// The durable store on its own, in a temporary directory: batches and their outcomes, a put
/// and a delete in one batch that never reach the disk, a damaged database moved aside, a
/// store of another schema refused, and the directory's lock.
@Suite(.timeLimit(.minutes(1)))
struct DurableStoreTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "aviary-store-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func message(_ id: Int64, _ clientId: String = "c", _ text: String = "m") -> StoredMessage {
        StoredMessage(id: id, clientId: clientId, record: ByteBuffer(string: text))
    }

    @Test("appends make a batch; its outcome is pending, then durable; what it wrote is there after a reopen")
    func batches() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DurableStore(directory: dir, sync: .always)
        store.append(.putSession(clientId: "c", record: ByteBuffer(string: "session")))
        store.append(.putSubscription(clientId: "c", filter: "a/#", record: ByteBuffer(string: "sub")))
        let id = store.newMessageId()
        store.append(.putMessage(Self.message(id)))
        store.append(.putRetained(topic: "r", record: ByteBuffer(string: "kept")))
        store.append(.putIncoming(clientId: "c", packetId: 7))
        let mark = try #require(store.takeMark())
        #expect(store.takeMark() == nil, "the mark is handed out once")
        #expect(store.outcome(of: mark) == .pending, "nothing is written before the writer starts")
        startWriter(store)
        try await waitDecided(store, mark)
        #expect(store.outcome(of: mark) == .durable)
        #expect(store.currentStatistics().operations == 5 && store.currentStatistics().batches >= 1)
        store.close()

        let reopened = try DurableStore(directory: dir, sync: .always)
        defer { reopened.close() }
        let state = reopened.recover()
        #expect(state.sessions.map(\.clientId) == ["c"] && state.sessions.first.map { String(buffer: $0.record) } == "session")
        #expect(state.subscriptions.map(\.filter) == ["a/#"])
        #expect(state.messages.map(\.id) == [id] && state.messages.first.map { String(buffer: $0.record) } == "m")
        #expect(state.retained.map(\.topic) == ["r"] && state.incoming.map(\.packetId) == [7])
        #expect(state.nextMessageId > id, "ids keep growing across restarts")
        #expect(reopened.recover().sessions.isEmpty, "recover() hands the state out once")
    }

    @Test("a message put and deleted in one batch never reaches the disk; an update in the batch changes the put")
    func cancelInOneBatch() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DurableStore(directory: dir, sync: .always)
        let (gone, kept) = (store.newMessageId(), store.newMessageId())
        store.append(.putMessage(Self.message(gone)))
        store.append(.putMessage(Self.message(kept)))
        store.append(.deleteMessage(clientId: "c", id: gone))
        store.append(.updateMessage(clientId: "c", id: kept, packetId: 42, state: 2))
        let mark = try #require(store.takeMark())
        startWriter(store)
        try await waitDecided(store, mark)
        #expect(store.currentStatistics().operations == 1, "one put written: the cancelled pair and the folded update are not")
        store.close()
        let reopened = try DurableStore(directory: dir, sync: .always)
        defer { reopened.close() }
        let messages = reopened.recover().messages
        #expect(messages.map(\.id) == [kept] && messages.first?.packetId == 42 && messages.first?.state == 2)
    }

    @Test("a damaged database is moved aside with a note and the store starts empty")
    func corruptMovedAside() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DurableStore(directory: dir, sync: .always)
        for i in 0..<200 { store.append(.putRetained(topic: "t/\(i)", record: ByteBuffer(repeating: UInt8(i % 256), count: 512))) }
        let mark = try #require(store.takeMark())
        startWriter(store)
        try await waitDecided(store, mark)
        store.close()
        // A real database with pages of data: overwrite the second page and beyond (b-tree
        // pages) with garbage, keeping the header SQLite reads first.
        let path = dir + "/aviary.db"
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        #expect(size > 16 * 4096)
        try handle.seek(toOffset: 4096)
        handle.write(Data((0..<(Int(size) - 4096)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }))
        try handle.close()

        let reopened = try DurableStore(directory: dir, sync: .always)
        defer { reopened.close() }
        #expect(reopened.notes.count == 1 && reopened.notes.first?.contains("moved aside to \(path).corrupt-") == true, "\(reopened.notes)")
        #expect(reopened.recover().retained.isEmpty)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.contains { $0.hasPrefix("aviary.db.corrupt-") } && files.contains("aviary.db"), "\(files)")
    }

    @Test(
        """
        a store of the first layout, written before migrations were recorded, opens with everything in it (a sent message's packet id \
        and step too); v1 and v2 are recorded
        """
    )
    func previousLayout() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stores/v1-before-migrations/aviary.db")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: dir + "/aviary.db")
        let before = try DatabaseQueue(path: dir + "/aviary.db")
        #expect(try before.read { try $0.tableExists("grdb_migrations") } == false, "the fixture predates the migrator")
        // A message sent and acknowledged with PUBREC, as v1 kept it (packet id and step as they are).
        try before.write { try $0.execute(sql: "UPDATE messages SET packet_id = 7, state = 1 WHERE id = 2") }
        try before.close()

        let store = try DurableStore(directory: dir, sync: .always)
        let state = store.recover()
        store.close()
        #expect(state.sessions.map(\.clientId) == ["keeper"] && state.subscriptions.map(\.filter) == ["keep/#"])
        #expect(state.messages.count == 4 && state.messages.allSatisfy { $0.clientId == "keeper" } && state.messages.map(\.id) == [1, 2, 3, 4])
        #expect(state.retained.map(\.topic) == ["keep/r"] && state.nextMessageId == 5)
        #expect(state.messages.map(\.packetId) == [nil, 7, nil, nil] && state.messages.map(\.state) == [0, 1, 0, 0], "v2 re-encodes them")
        let after = try DatabaseQueue(path: dir + "/aviary.db")
        defer { try? after.close() }
        #expect(try after.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") } == ["v1", "v2"])
        #expect(try after.read { try Int.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'schema'") } == 2)
    }

    @Test(
        """
        a store written by a newer aviary is refused, naming the versions, and left as it was: a higher meta.schema, or a migration \
        this build does not know
        """,
        arguments: [
            ("UPDATE meta SET value = 99 WHERE key = 'schema'", "store schema 99, this one reads 2"),
            (
                "INSERT INTO grdb_migrations(identifier) VALUES ('v9-from-the-future')",
                "store migrations v9-from-the-future are unknown to this one, which knows v1, v2"
            ),
        ]
    )
    func newerStoreRefused(change: String, said: String) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DurableStore(directory: dir, sync: .always).close()
        let database = try DatabaseQueue(path: dir + "/aviary.db")
        try database.write { try $0.execute(sql: change) }
        try database.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/aviary.db"))
        #expect {
            try DurableStore(directory: dir, sync: .always)
        } throws: { error in
            "\(error)".contains(said) && "\(error)".contains(dir)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/aviary.db")) == before, "the refused store is not changed")
    }

    @Test("a second store on the same directory is refused while the first holds its lock")
    func directoryLocked() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try DurableStore(directory: dir, sync: .always)
        #expect {
            try DurableStore(directory: dir, sync: .always)
        } throws: { "\($0)".contains("is in use by another aviary") }
        first.close()
        try DurableStore(directory: dir, sync: .always).close()
    }
}
