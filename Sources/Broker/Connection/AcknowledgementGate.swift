import DequeModule
import DurableStore
import MQTTCodec

/// When the acknowledgements one connection owes its client may go out, and whether its
/// socket is read:
/// - an acknowledgement of changes the durable store keeps waits until their batch is on disk,
///   and those after it wait behind it, so that all go out in order;
/// - PUBACK and PUBREC wait while a subscriber holds this publisher back (flow control), so
///   that a client keeping to its in-flight window stops publishing; one that sends
///   `receive_maximum` messages without them, or a QoS 0 publisher held under `throttle`, is
///   not read any more until it is let go.
/// It knows no channel: the handler carries out what it returns. Confined to the connection's
/// event loop.
struct AcknowledgementGate {
    /// An acknowledgement whose batch the store has decided.
    enum Stored {
        /// On disk: send it (through flow control).
        case written(MQTTPacket)
        /// The store failed: what it acknowledges must not be acknowledged as done.
        case failed(MQTTPacket, error: String)
    }

    /// The durable store, when persistence is on.
    private var store: DurableStore?
    /// Acknowledgements waiting for their batch (0 = only behind the ones before it).
    private var awaitingStore: Deque<(batch: UInt64, packet: MQTTPacket)> = []
    /// PUBACK/PUBREC held while a subscriber holds this publisher back, in order.
    private var held: [MQTTPacket] = []
    /// A subscriber holds this publisher back and it publishes on regardless: not read.
    private(set) var readsPaused = false
    /// A `read` that was held back: the socket was not writable or reads were paused.
    private var readPending = false

    mutating func attach(_ store: DurableStore?) {
        self.store = store
    }

    var heldCount: Int { held.count }
    var isWaitingForStore: Bool { !awaitingStore.isEmpty }

    // MARK: The durable store

    /// Queues `packet` behind the store when it acknowledges changes in batch `mark`, or when
    /// others wait already. False: nothing to wait for, it may go out now.
    mutating func waitForStore(_ packet: MQTTPacket, after mark: UInt64?) -> Bool {
        guard store != nil, mark != nil || !awaitingStore.isEmpty else { return false }
        awaitingStore.append((mark ?? 0, packet))
        return true
    }

    /// The next waiting acknowledgement whose batch is decided, in order; nil while the first
    /// one's batch is still being written (or none waits).
    mutating func nextStored() -> Stored? {
        guard let store, let (batch, packet) = awaitingStore.first else { return nil }
        let outcome: DurableStore.Outcome = batch == 0 ? .durable : store.outcome(of: batch)
        switch outcome {
        case .pending: return nil
        case .durable:
            awaitingStore.removeFirst()
            return .written(packet)
        case .failed(let error):
            awaitingStore.removeFirst()
            return .failed(packet, error: error)
        }
    }

    // MARK: Flow control

    /// `ack` (PUBACK or PUBREC) waits if the publisher is held back (`isHeld`) or others wait
    /// already; reads pause once `receiveMaximum` wait. False: it may go out now.
    mutating func hold(_ ack: MQTTPacket, isHeld: Bool, receiveMaximum: Int) -> Bool {
        guard isHeld || !held.isEmpty else { return false }
        held.append(ack)
        if held.count >= receiveMaximum { readsPaused = true }
        return true
    }

    /// A held-back QoS 0 publisher under `throttle`: not read until it is let go.
    mutating func pauseReads() {
        readsPaused = true
    }

    /// The publisher is let go: the held acknowledgements, in order, to send now.
    mutating func resume() -> [MQTTPacket] {
        readsPaused = false
        defer { held.removeAll() }
        return held
    }

    // MARK: Reads

    /// NIO asks for a read: whether to read now (a closing connection reads on, to discard
    /// what its client still sends); otherwise it is remembered for `takePendingRead`.
    mutating func mayRead(writable: Bool, closing: Bool) -> Bool {
        if closing || (writable && !readsPaused) { return true }
        readPending = true
        return false
    }

    /// Whether a read held back may be done now.
    mutating func takePendingRead(writable: Bool) -> Bool {
        guard readPending, writable, !readsPaused else { return false }
        readPending = false
        return true
    }

    // MARK: Closing

    /// The connection closes: nothing waits any more, and a read held back is done (to
    /// discard what the client still sends). Returns whether one was held back.
    mutating func close() -> Bool {
        awaitingStore.removeAll()
        held.removeAll()
        readsPaused = false
        defer { readPending = false }
        return readPending
    }

    /// What waits for the store is dropped (the connection closed while releasing it).
    mutating func dropStored() {
        awaitingStore.removeAll()
    }
}
