import MQTTCodec

/// How a connection ended, which decides its will and its session.
enum CloseKind: Sendable {
    /// DISCONNECT 0x00 from the client: no will. [MQTT-3.14.4-3]
    case graceful
    /// DISCONNECT 0x04 (5.0): publish the will.
    case disconnectWithWill
    /// Network error, keepalive timeout, protocol error, or a close without DISCONNECT.
    case ungraceful
    /// Kicked through the management API: will published, session discarded.
    case kicked
    /// Broker shutting down: no will, session kept.
    case shutdown
    /// Another connection took the client id over [MQTT-3.1.4-3].
    case takenOver
}

/// A close the broker decides for a live connection. The broker's state has already let go of
/// the connection when this is sent (will, session end); the connection only says why and closes.
enum BrokerClose: Sendable {
    case sessionTakenOver
    case administrativeAction
    case serverShuttingDown
    /// The client held publishers back for `max_stall` without taking a message.
    case stalled

    var kind: CloseKind {
        switch self {
        case .sessionTakenOver: .takenOver
        case .administrativeAction: .kicked
        case .serverShuttingDown: .shutdown
        case .stalled: .ungraceful
        }
    }

    /// Whether the socket is closed only once what is written has gone out; a stalled client
    /// does not read, so its socket is closed at once.
    var waitsForFlush: Bool { self != .stalled }

    /// The 5.0 DISCONNECT reason code.
    var reasonCode: ReasonCode {
        switch self {
        case .sessionTakenOver: .sessionTakenOver
        case .administrativeAction: .administrativeAction
        case .serverShuttingDown: .serverShuttingDown
        case .stalled: .quotaExceeded
        }
    }

    /// For the log line of the close.
    var description: String {
        switch self {
        case .sessionTakenOver: "session taken over"
        case .administrativeAction: "disconnected by administrator"
        case .serverShuttingDown: "server shutting down"
        case .stalled: "took no message for max_stall while holding publishers back"
        }
    }
}

/// What the broker hands to a connection to write.
enum Outbound: Sendable {
    case publish(PublishPacket)
    case packet(MQTTPacket)
    /// Close the connection; 5.0 clients first get DISCONNECT with its reason.
    case close(BrokerClose)
    /// Flow control: no subscriber holds this connection back any more; the acknowledgements
    /// held back go out and its socket is read again.
    case resume
}

/// Where a session's packets go while its client is connected. The connection's side
/// (`ConnectionLink`) queues them for its event loop; tests record them. Called under the
/// broker's state lock, so it must not block.
protocol DeliverySink: AnyObject, Sendable {
    var version: ProtocolVersion { get }
    /// False while the connection's socket is over its high-water mark: messages wait in the
    /// session's queue instead.
    var isWritable: Bool { get }
    func send(_ item: Outbound)
    /// Flow control, under the broker's lock: a subscriber over its high-water mark holds this
    /// connection's publishing back (its acknowledgements wait); each `hold` is undone by one
    /// `release`, and the last one sends `Outbound.resume`.
    func hold()
    func release()
}
