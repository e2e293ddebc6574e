import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// How a connection ends: protocol errors, refused CONNECTs, timers, and the graceful close
/// that lets the client read why.
extension MQTTConnectionHandler {
    /// A broker-initiated DISCONNECT with a reason string saying why.
    static func disconnect(_ reason: ReasonCode) -> DisconnectPacket {
        var props = Properties()
        props.reasonString =
            switch reason {
            case .sessionTakenOver: "session taken over by another connection with the same client id"
            case .administrativeAction: "disconnected by an administrator"
            case .serverShuttingDown: "server shutting down"
            case .keepAliveTimeout: "no packet within 1.5 times the keepalive"
            case .quotaExceeded: "took no message for max_stall seconds while holding publishers back"
            default: nil
            }
        return DisconnectPacket(reasonCode: reason, properties: props)
    }

    /// This connection's log metadata, built only when a line is logged: a `Logger` carrying
    /// its own metadata dictionary would cost every idle connection ~450 bytes.
    func logMetadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["connection.peer"] = "\(peer.0):\(peer.1)"
        if !clientId.isEmpty { metadata["client.id"] = "\(clientId)" }
        return metadata
    }

    /// Closes the connection for a protocol violation with the reason its version allows:
    /// CONNACK before the session exists, DISCONNECT (5.0) after, else a plain close.
    func protocolError(_ error: MQTTProtocolError) {
        let connecting = machine.state == .awaitingConnect
        guard machine.close(.ungraceful, reason: "protocol error: \(error.message)") else { return }
        ConnectionCounters.add(counters.protocolErrors, 1)
        core.metrics.protocolErrors.add()
        logger.warning("protocol error, closing connection", metadata: logMetadata(["error": "\(error.message)", "reason": "\(error.reasonCode)"]))
        var props = Properties()
        props.reasonString = error.message
        if connecting {
            if let version = error.connectVersion ?? connectVersion {
                connectVersion = version
                if version == .v5 {
                    writePacket(.connack(ConnAckPacket(reasonCode: error.reasonCode, properties: props)))
                } else if error.reasonCode == .unsupportedProtocolVersion || error.reasonCode == .clientIdentifierNotValid {
                    writePacket(.connack(ConnAckPacket(reasonCode: error.reasonCode)))
                }
            }
        } else if version == .v5 {
            writePacket(.disconnect(DisconnectPacket(reasonCode: error.reasonCode, properties: props)))
        }
        closeAfterFlush()
    }

    /// Answers CONNECT with a failure CONNACK and closes.
    func refuse(_ reason: ReasonCode, _ message: String, log: Bool = true, logDetail: String? = nil) {
        core.metrics.connectionsRefused.add()
        if log {
            logger.warning("connection refused", metadata: logMetadata(["reason": "\(reason)", "error": "\(logDetail ?? message)"]))
        }
        machine.close(.ungraceful, reason: "refused: \(message)")
        var props = Properties()
        if version == .v5 { props.reasonString = message }
        writePacket(.connack(ConnAckPacket(reasonCode: reason, properties: props)))
        closeAfterFlush()
    }

    /// How long a closing connection reads and discards what its client still sends.
    static let lingerLimit = TimeAmount.seconds(2)

    /// Closes gracefully once what is written has gone out, so that the client reads the
    /// DISCONNECT or CONNACK that says why: the write side is shut down (FIN) and what the
    /// client still sends is read and discarded until it closes; `lingerLimit` after the start
    /// the socket is closed in any case (also when the client reads nothing and the flush never
    /// completes).
    /// Closing at once would make the kernel answer the client's next bytes with a reset, and
    /// a client still sending would see a broken pipe instead of the reason. At shutdown the
    /// socket is closed as soon as the reason is written.
    func closeAfterFlush() {
        guard let context else { return }
        let channel = context.channel
        leaveBroker(now: context.eventLoop.now)
        let readPending = gate.close()
        loop?.storeCaughtUp(self)
        // At shutdown nobody waits for a client to finish: close once the reason is out.
        let shuttingDown = core.shuttingDown.load(ordering: .relaxed)
        let linger: @Sendable (Result<Void, any Error>) -> Void = { _ in
            guard !shuttingDown else {
                channel.close(promise: nil)
                return
            }
            let outputClosed = channel.eventLoop.makePromise(of: Void.self)
            channel.close(mode: .output, promise: outputClosed)
            outputClosed.futureResult.whenFailure { _ in channel.close(promise: nil) }
        }
        // The bound holds from now, whether or not the flush ever completes (a client that
        // reads nothing never lets it): the socket is closed after `lingerLimit` at the latest.
        channel.eventLoop.scheduleTask(in: Self.lingerLimit) { channel.close(promise: nil) }
        if let future = flushOutput() {
            future.whenComplete(linger)
        } else {
            linger(.success(()))
        }
        if readPending { context.read() }
    }

    /// Whether the CONNECT timeout (before CONNECT) or the keepalive (after) has run out.
    func timerDue(now: NIODeadline, connectTimeout: TimeAmount) -> Bool {
        machine.timerDue(now: now, connectTimeout: connectTimeout)
    }

    /// Closes the connection whose timer ran out (`LoopConnections`).
    func timerFired(now: NIODeadline, connectTimeout: TimeAmount) {
        switch machine.timerFired(now: now, connectTimeout: connectTimeout) {
        case .none:
            break
        case .closeForConnectTimeout:
            core.metrics.connectTimeouts.add()
            logger.info("no CONNECT within \(core.configuration.connectTimeout) s, closing", metadata: logMetadata())
            context?.close(promise: nil)
        case .closeForKeepAlive:
            core.metrics.keepAliveTimeouts.add()
            if version == .v5 { writePacket(.disconnect(Self.disconnect(.keepAliveTimeout))) }
            closeAfterFlush()
        }
    }
}
