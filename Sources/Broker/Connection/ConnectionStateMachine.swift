import NIOCore

/// The life of one connection, without sockets: CONNECT first, the CONNECT timeout, keepalive
/// ×1.5, and how it closed (the first reason wins). The handler feeds it events with the time
/// from its event loop's clock (`EventLoop.now`, which an `EmbeddedEventLoop` moves by hand)
/// and carries out what it returns.
struct ConnectionStateMachine {
    enum State: Equatable {
        case awaitingConnect
        case connected
        case closing
    }

    /// What a timer sweep asks the handler to do.
    enum TimerAction: Equatable {
        case none
        /// No CONNECT in time: close without a word (no protocol level is known yet).
        case closeForConnectTimeout
        /// Nothing received within 1.5 × keepalive [MQTT-3.1.2-24]: 5.0 gets DISCONNECT 0x8D.
        case closeForKeepAlive
    }

    private(set) var state = State.awaitingConnect
    let openedAt: NIODeadline
    private(set) var lastPacketAt: NIODeadline
    /// 1.5 × the negotiated keepalive; nil for keepalive 0.
    private(set) var keepAliveTimeout: TimeAmount?
    /// How the connection ended, for its will and session; set by the first close.
    private(set) var closeKind = CloseKind.ungraceful
    /// Why, for the log.
    private(set) var closeReason = "connection closed by client without DISCONNECT"

    init(now: NIODeadline) {
        openedAt = now
        lastPacketAt = now
    }

    var isClosing: Bool { state == .closing }

    /// Bytes arrived: the keepalive starts again.
    mutating func received(now: NIODeadline) {
        lastPacketAt = now
    }

    /// CONNECT accepted with this keepalive (seconds; 0 = none).
    mutating func connected(keepAliveSeconds: Int) {
        guard state == .awaitingConnect else { return }
        state = .connected
        keepAliveTimeout = keepAliveSeconds > 0 ? .milliseconds(Int64(keepAliveSeconds) * 1500) : nil
    }

    /// Begins closing for `reason`. Returns false if it was already closing (the first reason stays).
    @discardableResult
    mutating func close(_ kind: CloseKind, reason: String) -> Bool {
        guard state != .closing else { return false }
        state = .closing
        closeKind = kind
        closeReason = reason
        return true
    }

    /// Whether a timer has run out at `now`.
    func timerDue(now: NIODeadline, connectTimeout: TimeAmount) -> Bool {
        switch state {
        case .awaitingConnect: now - openedAt >= connectTimeout
        case .connected: keepAliveTimeout.map { now - lastPacketAt >= $0 } ?? false
        case .closing: false
        }
    }

    /// A timer sweep at `now`: closes the connection whose timer ran out.
    mutating func timerFired(now: NIODeadline, connectTimeout: TimeAmount) -> TimerAction {
        guard timerDue(now: now, connectTimeout: connectTimeout) else { return .none }
        if state == .awaitingConnect {
            close(.ungraceful, reason: "CONNECT timeout")
            return .closeForConnectTimeout
        }
        close(.ungraceful, reason: "keepalive timeout")
        return .closeForKeepAlive
    }
}
