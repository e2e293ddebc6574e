import NIOCore

/// What the broker hands the store to keep: encoded by the writer thread, off the broker's
/// lock, and only if its batch still holds it (a message delivered and acknowledged within one
/// batch is never encoded at all).
public protocol StoreRecord: Sendable {
    func encoded() -> ByteBuffer
}

extension ByteBuffer: StoreRecord {
    public func encoded() -> ByteBuffer { self }
}

/// One change to what survives a restart. The broker's records are opaque to the store, which
/// only keys them.
public enum StoreOperation: Sendable {
    /// A session and everything the listing shows of it, as one blob, under its client id.
    case putSession(clientId: String, record: ByteBuffer)
    /// The session and its subscriptions, messages and incoming QoS 2 ids.
    case deleteSession(clientId: String)
    case putSubscription(clientId: String, filter: String, record: ByteBuffer)
    case deleteSubscription(clientId: String, filter: String)
    /// A QoS 1/2 message in a session's queue (or in flight), by its store id.
    case putMessage(StoredMessage)
    /// A message sent (packet id) or a step further in its QoS 2 exchange.
    case updateMessage(clientId: String, id: Int64, packetId: UInt16, state: UInt8)
    case deleteMessage(clientId: String, id: Int64)
    case putRetained(topic: String, record: ByteBuffer)
    case deleteRetained(topic: String)
    /// An incoming QoS 2 packet id that got PUBREC and waits for PUBREL.
    case putIncoming(clientId: String, packetId: UInt16)
    case deleteIncoming(clientId: String, packetId: UInt16)
}

/// A message in one session's queue. `id` orders a session's messages (ascending = queue order).
public struct StoredMessage: Sendable {
    public var id: Int64
    public var clientId: String
    /// The message (topic, payload, properties, delivery QoS …) as the broker encodes it.
    public var record: any StoreRecord
    /// Set once the message was sent: its packet id and the step of its QoS 1/2 exchange.
    public var packetId: UInt16?
    public var state: UInt8

    public init(id: Int64, clientId: String, record: any StoreRecord, packetId: UInt16? = nil, state: UInt8 = 0) {
        self.id = id
        self.clientId = clientId
        self.record = record
        self.packetId = packetId
        self.state = state
    }
}

/// A stored message as read back at start-up.
public struct RecoveredMessage: Sendable {
    public var id: Int64
    public var clientId: String
    public var record: ByteBuffer
    public var packetId: UInt16?
    public var state: UInt8
}

/// Everything the store held at start-up.
public struct RecoveredState: Sendable {
    public var sessions: [(clientId: String, record: ByteBuffer)] = []
    public var subscriptions: [(clientId: String, filter: String, record: ByteBuffer)] = []
    /// Each session's messages together, ascending by id (its queue order).
    public var messages: [RecoveredMessage] = []
    public var retained: [(topic: String, record: ByteBuffer)] = []
    public var incoming: [(clientId: String, packetId: UInt16)] = []
    /// Wall-clock milliseconds of the last batch written before the stop (or crash): sessions
    /// that were connected then count as disconnected from that moment.
    public var lastWriteMs: Int64?
    /// The next free message id.
    public var nextMessageId: Int64 = 1

    public init() {}
}

/// Operations waiting to be written, in order. A message put and its delete in the same batch
/// cancel (neither reaches the disk); an update of a message put in it changes the put.
struct PendingOperations {
    /// nil entries are puts cancelled by a delete.
    private(set) var operations: [StoreOperation?] = []
    /// Where each message put is, to cancel or update it in place.
    private var puts: [Int64: Int] = [:]

    var isEmpty: Bool { operations.isEmpty }

    enum Added {
        /// A new operation to write.
        case appended
        /// It changed a put already there.
        case merged
        /// A delete that cancelled a put: neither is written.
        case cancelled
    }

    @discardableResult
    mutating func add(_ operation: StoreOperation) -> Added {
        switch operation {
        case .deleteMessage(_, let id):
            if let index = puts.removeValue(forKey: id) {
                operations[index] = nil
                return .cancelled
            }
        case .updateMessage(_, let id, let packetId, let state):
            if let index = puts[id], case .putMessage(var message)? = operations[index] {
                message.packetId = packetId
                message.state = state
                operations[index] = .putMessage(message)
                return .merged
            }
        case .putMessage(let message):
            puts[message.id] = operations.count
        default:
            break
        }
        operations.append(operation)
        return .appended
    }

    /// What is to be written, in order.
    var writing: [StoreOperation] { operations.compactMap { $0 } }

    /// The messages it puts, by session.
    var messagePuts: [UnwrittenMessage] {
        operations.compactMap { if case .putMessage(let m)? = $0 { UnwrittenMessage(clientId: m.clientId, id: m.id) } else { nil } }
    }

    /// Empties it, returning what it held.
    mutating func take() -> PendingOperations {
        defer { self = PendingOperations() }
        return self
    }
}

/// A queued message whose put could not be written.
public struct UnwrittenMessage: Sendable, Hashable {
    public var clientId: String
    public var id: Int64
}
