import DurableStore
import MQTTCodec
import NIOCore

/// What a connection asks of its session, packet by packet. Each method finds the session by
/// its key and the connection's sink, so a connection the broker has let go of (taken over,
/// kicked, shut down) changes nothing; the results are `Sendable` values for the connection.
extension BrokerState {
    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the outgoing message is done; the queue moves on.
    mutating func complete(_ packetId: UInt16, expecting state: InflightMessage.State, key: SessionKey, sink: any DeliverySink, now: NIODeadline) {
        guard let session = sessions.session(key, sink: sink) else { return }
        if session.complete(packetId, expecting: state) { session.pump(now: now) }
    }

    /// PUBREC for an outgoing QoS 2 message. Returns whether the packet id was known; a failed
    /// PUBREC (5.0) ends the exchange and the queue moves on.
    mutating func received(_ packetId: UInt16, reasonCode: ReasonCode, key: SessionKey, sink: any DeliverySink, now: NIODeadline) -> Bool {
        guard let session = sessions.session(key, sink: sink) else { return false }
        let known = session.received(packetId, reasonCode: reasonCode)
        if known && reasonCode.isFailure { session.pump(now: now) }
        return known
    }

    /// An incoming QoS 0 or 1 message from the connection of `key`.
    mutating func publish(_ message: Message, key: SessionKey, sink: any DeliverySink, now: NIODeadline) -> PublishResult {
        guard sessions.session(key, sink: sink) != nil else { return PublishResult() }
        return publish(message, now: now, from: sink)
    }

    /// PUBREL for an incoming QoS 2 message: whether the packet id was awaiting it.
    mutating func released(_ packetId: UInt16, key: SessionKey, sink: any DeliverySink) -> Bool {
        guard let session = sessions.session(key, sink: sink), session.incomingQoS2.remove(packetId) != nil else { return false }
        if session.stored { store?.append(.deleteIncoming(clientId: session.clientId, packetId: packetId)) }
        return true
    }

    /// Forgets every incoming QoS 2 packet id `clientId`'s session awaits PUBREL for (a bridge
    /// whose upstream lost its session: those ids will be used for new messages).
    mutating func forgetIncomingQoS2(clientId: String) {
        guard let session = sessions[clientId], !session.incomingQoS2.isEmpty else { return }
        if session.stored {
            for packetId in session.incomingQoS2 { store?.append(.deleteIncoming(clientId: session.clientId, packetId: packetId)) }
        }
        session.incomingQoS2.removeAll()
    }

    /// The socket can take more: queued messages move to it.
    mutating func pump(key: SessionKey, sink: any DeliverySink, now: NIODeadline) {
        sessions.session(key, sink: sink)?.pump(now: now)
    }

    /// Routes an incoming QoS 2 message once per packet id [MQTT-4.3.3-10]: nil for a duplicate
    /// still awaiting PUBREL, else where it went. Throws 0x93 past Receive Maximum. A 5.0
    /// message that no session took (0x97) does not wait for PUBREL: a failed PUBREC ends the
    /// exchange.
    mutating func publishExactlyOnce(
        _ message: Message,
        packetId: UInt16,
        key: SessionKey,
        sink: any DeliverySink,
        now: NIODeadline
    ) throws -> PublishResult? {
        guard let session = sessions.session(key, sink: sink) else { return nil }
        if session.incomingQoS2.contains(packetId) { return nil }
        let receiveMaximum = configuration.receiveMaximum
        if session.incomingQoS2.count >= receiveMaximum {
            throw MQTTProtocolError(.receiveMaximumExceeded, "more than \(receiveMaximum) QoS 2 messages awaiting PUBREL")
        }
        session.incomingQoS2.insert(packetId)
        let result = publish(message, now: now, from: sink)
        if result.storeRefusal != nil || (sink.version == .v5 && result.reasonCode.isFailure) {
            session.incomingQoS2.remove(packetId)
        } else if session.stored {
            store?.append(.putIncoming(clientId: session.clientId, packetId: packetId))
        }
        return result
    }

    /// A QoS 2 message that is not routed (ACL denial on 3.x) still waits for its PUBREL.
    mutating func awaitRelease(_ packetId: UInt16, key: SessionKey, sink: any DeliverySink) {
        guard let session = sessions.session(key, sink: sink) else { return }
        session.incomingQoS2.insert(packetId)
        if session.stored { store?.append(.putIncoming(clientId: session.clientId, packetId: packetId)) }
    }

    /// DISCONNECT with a Session Expiry Interval. [MQTT-3.14.2-2] a session that CONNECT gave
    /// 0 cannot get a non-zero expiry now.
    mutating func setExpiry(_ expiry: UInt32, key: SessionKey, sink: any DeliverySink) throws {
        guard let session = sessions.session(key, sink: sink) else { return }
        if session.expiryInterval == 0 && expiry != 0 {
            throw MQTTProtocolError.protocolViolation("session expiry set at DISCONNECT after CONNECT had 0")
        }
        session.expiryInterval = expiry
        storeSession(session)
    }
}
