import Synchronization

/// Live traffic counters of one connection. Written by the connection's event loop (`heldBy`
/// under the broker's lock), read at any moment from any thread without pausing it.
public final class ConnectionCounters: Sendable {
    /// Bytes read from / written to the socket.
    public let recvOct = Atomic<UInt64>(0)
    public let sendOct = Atomic<UInt64>(0)
    /// Control packets of any type.
    public let recvPkt = Atomic<UInt64>(0)
    public let sendPkt = Atomic<UInt64>(0)
    /// PUBLISH packets.
    public let recvMsg = Atomic<UInt64>(0)
    public let sendMsg = Atomic<UInt64>(0)
    /// Socket reads, and completed write batches (one flush each).
    public let recvCnt = Atomic<UInt64>(0)
    public let sendCnt = Atomic<UInt64>(0)
    /// Bytes handed to the socket but not yet written.
    public let sendPend = Atomic<UInt64>(0)
    /// Packets waiting in the connection's outbox (not yet handed to the socket).
    public let outboxLen = Atomic<UInt64>(0)
    /// Subscribers holding this connection's publishing back now (flow control), and the
    /// acknowledgements (PUBACK/PUBREC) it is owed but not yet sent because of that.
    public let heldBy = Atomic<UInt64>(0)
    public let heldAcks = Atomic<UInt64>(0)
    /// Protocol errors that closed this connection (0 or 1).
    public let protocolErrors = Atomic<UInt64>(0)
    /// Events processed: reads, packets and write batches (the `reductions` analogue).
    public let events = Atomic<UInt64>(0)

    public init() {}

    @inline(__always)
    static func add(_ counter: borrowing Atomic<UInt64>, _ value: UInt64) {
        counter.wrappingAdd(value, ordering: .relaxed)
    }

    @inline(__always)
    static func subtract(_ counter: borrowing Atomic<UInt64>, _ value: UInt64) {
        counter.wrappingSubtract(value, ordering: .relaxed)
    }
}
