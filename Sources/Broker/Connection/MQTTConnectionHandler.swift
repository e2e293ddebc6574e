import MQTTCodec
import Logging
import NIOCore
import Synchronization

/// One MQTT connection: bytes in → packets → broker; broker outbox → packets → bytes out.
/// Keeps the per-connection counters, the CONNECT/keepalive timers and the 5.0 topic aliases.
/// Confined to its channel's event loop.
final class MQTTConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State { case awaitingConnect, connected, closing }

    private let core: BrokerCore
    private let logger: Logger
    private var state = State.awaitingConnect
    private var decoder: MQTTPacketDecoder
    private var cumulation: ByteBuffer?
    private let counters = ConnectionCounters()
    private var context: ChannelHandlerContext?
    private var session: Session?
    private var link: ConnectionLink?
    private var clientId = ""
    private var username: String?
    /// When an ACL denial was last logged for this connection (at most one line every 10 s).
    private var lastDenialLog: NIODeadline?
    private var peer = ("", 0)
    private var openedAt = NIODeadline.now()

    private var closeKind = CloseKind.ungraceful
    private var closeReason = "connection closed by client without DISCONNECT"
    private var keepAlive: TimeAmount?
    private var lastPacketAt = NIODeadline.now()
    /// This event loop's CONNECT-timeout and keepalive sweep, while the channel is active.
    private var timers: ConnectionTimers?
    private var topicAliases: [UInt16: String] = [:]
    private var pendingRead = false

    // Output batching: small packets are coalesced into `batch`; the last buffer of a flush
    // is held back so that one promise per flush accounts for the bytes written.
    private var batch: ByteBuffer?
    private var held: ByteBuffer?
    private var heldBytes: UInt64 = 0

    init(core: BrokerCore, logger: Logger) {
        self.core = core
        self.logger = logger
        self.decoder = MQTTPacketDecoder(maximumPacketSize: core.configuration.maxPacketSize)
    }

    private var version: ProtocolVersion { decoder.version ?? .v3_1_1 }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        core.metrics.connectionsAccepted.add()
        openedAt = .now()
        if let address = context.channel.remoteAddress {
            peer = (address.ipAddress ?? "?", address.port ?? 0)
        }
        timers = core.timers.timers(on: context.eventLoop)
        timers?.add(self)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timers?.remove(self)
        timers = nil
        state = .closing
        if let link, let session {
            link.detach()
            let byBroker = link.closedByBroker.load(ordering: .relaxed)
            let kind: CloseKind =
                switch byBroker {
                case 2: .kicked
                case 3: .shutdown
                default: closeKind
                }
            if byBroker == 1 { closeReason = "session taken over" }
            if byBroker == 2 { closeReason = "disconnected by administrator" }
            if byBroker == 3 { closeReason = "server shutting down" }
            let now = NIODeadline.now()
            core.withState { $0.connectionClosed(link, session: session, kind: kind, now: now) }
            logger.info(
                "client disconnected",
                metadata: logMetadata([
                    "reason": "\(closeReason)",
                    "duration.s": "\((NIODeadline.now() - openedAt).nanoseconds / 1_000_000_000)",
                    "bytes.in": "\(counters.recvOct.load(ordering: .relaxed))",
                    "bytes.out": "\(counters.sendOct.load(ordering: .relaxed))",
                ])
            )
        }
        session = nil
        link = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeReason = "network error: \(error)"
        closeKind = .ungraceful
        state = .closing
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        link?.setWritable(writable)
        if writable {
            if let session {
                let now = NIODeadline.now()
                core.withState { _ in session.pump(now: now) }
            }
            if pendingRead {
                pendingRead = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Backpressure: a client that does not read what we write is not read from either.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        let n = UInt64(incoming.readableBytes)
        ConnectionCounters.add(counters.recvCnt, 1)
        ConnectionCounters.add(counters.recvOct, n)
        ConnectionCounters.add(counters.events, 1)
        core.metrics.bytesReceived.add(n)
        guard state != .closing else { return }
        lastPacketAt = .now()
        var buffer: ByteBuffer
        if var pending = cumulation {
            cumulation = nil
            pending.writeBuffer(&incoming)
            buffer = pending
        } else {
            buffer = incoming
        }
        while state != .closing {
            do {
                guard let packet = try decoder.decode(buffer: &buffer) else { break }
                ConnectionCounters.add(counters.recvPkt, 1)
                ConnectionCounters.add(counters.events, 1)
                core.metrics.packetsReceived.add()
                core.metrics.packetsReceivedByType[Int(packet.type.rawValue)].add()
                try handle(packet)
            } catch let error as MQTTProtocolError {
                protocolError(error)
            } catch {
                protocolError(.init(.implementationSpecificError, "\(error)"))
            }
        }
        if state != .closing && buffer.readableBytes > 0 {
            if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
            cumulation = buffer
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput()
        context.fireChannelReadComplete()
    }

    // MARK: - Packets

    private func handle(_ packet: MQTTPacket) throws {
        guard state == .connected, let session else {
            guard case .connect(let connect) = packet else {
                throw MQTTProtocolError.protocolViolation("first packet must be CONNECT")  // [MQTT-3.1.0-1]
            }
            try handleConnect(connect)
            return
        }
        let now = NIODeadline.now()
        switch packet {
        case .connect:
            throw MQTTProtocolError.protocolViolation("second CONNECT")  // [MQTT-3.1.0-2]
        case .publish(let publish):
            try handlePublish(publish, session: session, now: now)
        case .puback(let ack):
            core.withState { _ in
                if session.complete(ack.packetId, expecting: .awaitingPuback) { session.pump(now: now) }
            }
        case .pubrec(let ack):
            let known = core.withState { _ in session.received(ack.packetId, reasonCode: ack.reasonCode) }
            if known && ack.reasonCode.isFailure {
                core.withState { _ in session.pump(now: now) }
            } else {
                writePacket(.pubrel(AckPacket(packetId: ack.packetId, reasonCode: known ? .success : .packetIdentifierNotFound)))
            }
        case .pubcomp(let ack):
            core.withState { _ in
                if session.complete(ack.packetId, expecting: .awaitingPubcomp) { session.pump(now: now) }
            }
        case .pubrel(let ack):
            let known = core.withState { _ in session.incomingQoS2.remove(ack.packetId) != nil }
            writePacket(.pubcomp(AckPacket(packetId: ack.packetId, reasonCode: known ? .success : .packetIdentifierNotFound)))
        case .subscribe(let subscribe):
            let version = self.version
            let codes = try core.withState { try $0.subscribe(subscribe, session: session, version: version, now: now) }
            writePacket(.suback(SubAckPacket(packetId: subscribe.packetId, reasonCodes: codes)))
        case .unsubscribe(let unsubscribe):
            let version = self.version
            let codes = core.withState { $0.unsubscribe(unsubscribe, session: session, version: version) }
            writePacket(.unsuback(SubAckPacket(packetId: unsubscribe.packetId, reasonCodes: codes)))
        case .pingreq:
            writePacket(.pingresp)
        case .disconnect(let disconnect):
            if let expiry = disconnect.properties.sessionExpiryInterval {
                let current = core.withState { _ in session.expiryInterval }
                // [MQTT-3.14.2-2] cannot turn a zero expiry into a non-zero one at DISCONNECT.
                if current == 0 && expiry != 0 {
                    throw MQTTProtocolError.protocolViolation("session expiry set at DISCONNECT after CONNECT had 0")
                }
                let capped = cappedExpiry(expiry)
                core.withState { _ in session.expiryInterval = capped }
            }
            closeKind = disconnect.reasonCode == .disconnectWithWillMessage ? .disconnectWithWill : .graceful
            closeReason = "DISCONNECT \(disconnect.reasonCode)"
            state = .closing
            flushOutput()
            context?.close(promise: nil)
        case .auth:
            throw MQTTProtocolError.protocolViolation("AUTH without an authentication method")
        case .connack, .suback, .unsuback, .pingresp:
            throw MQTTProtocolError.protocolViolation("\(packet.type.name) may only be sent by a server")
        }
    }

    private func handleConnect(_ connect: ConnectPacket) throws {
        guard let context else { return }
        let config = core.configuration
        let v5 = connect.version == .v5
        var ackProperties = Properties()

        if v5, let method = connect.properties.authenticationMethod {
            refuse(.badAuthenticationMethod, "authentication method '\(method)' is not supported")
            return
        }
        var clientId = connect.clientId
        if clientId.isEmpty {
            switch connect.version {
            case .v5:
                clientId = Self.assignedClientId()
                ackProperties.assignedClientIdentifier = clientId
            case .v3_1_1 where connect.cleanStart:
                clientId = Self.assignedClientId()
            default:
                // [MQTT-3.1.3-8] (3.1.1 without clean session) and 3.1's 1–23 characters.
                refuse(.clientIdentifierNotValid, "empty client identifier requires clean session")
                return
            }
        }
        if core.shuttingDown.load(ordering: .relaxed) {
            refuse(.serverUnavailable, "server shutting down")
            return
        }
        if let will = connect.will { try checkTopicLimits(will.topic) }
        switch core.security.authenticate(username: connect.username, password: connect.password.map { Array($0.readableBytesView) }) {
        case .allowed:
            break
        case .badCredentials:
            core.security.authFailures.add()
            refuse(.badUserNameOrPassword, "bad user name or password")
            return
        case .notAuthorized:
            core.security.authFailures.add()
            refuse(.notAuthorized, "anonymous clients are not allowed")
            return
        }
        if let will = connect.will, !core.security.canPublish(will.topic, username: connect.username, clientId: clientId) {
            core.security.denials.add()
            refuse(.notAuthorized, "the ACL does not allow publishing the will to '\(will.topic)'")
            return
        }
        var keepAliveSeconds = Int(connect.keepAlive)
        if v5 && (keepAliveSeconds > config.maxKeepAlive || (keepAliveSeconds == 0 && config.maxKeepAlive < 65535)) {
            keepAliveSeconds = config.maxKeepAlive
            ackProperties.serverKeepAlive = UInt16(keepAliveSeconds)
        }
        let requestedExpiry: UInt32 = v5 ? (connect.properties.sessionExpiryInterval ?? 0) : (connect.cleanStart ? 0 : .max)
        let expiry = cappedExpiry(requestedExpiry)
        if v5 && expiry != requestedExpiry { ackProperties.sessionExpiryInterval = expiry }
        let window = min(Int(connect.properties.receiveMaximum ?? 65535), config.maxInflight)

        self.clientId = clientId
        self.username = connect.username
        let link = ConnectionLink(eventLoop: context.eventLoop, version: connect.version, counters: counters) { [unowned self] items in
            self.writeOutbound(items)
        }
        link.setWritable(context.channel.isWritable)
        var info = ClientInfo(
            clientId: clientId,
            username: connect.username,
            peerAddress: peer.0,
            peerPort: peer.1,
            protocolVersion: connect.version,
            keepAlive: UInt16(keepAliveSeconds),
            cleanStart: connect.cleanStart,
            connectedAtMs: WallClock.nowMilliseconds()
        )
        info.willTopic = connect.will?.topic
        info.willPayload = connect.will.map { Array($0.payload.readableBytesView) }
        let request = ConnectRequest(
            packet: connect,
            clientId: clientId,
            link: link,
            info: info,
            expiryInterval: expiry,
            window: window,
            clientMaximumPacketSize: connect.properties.maximumPacketSize.map { Int($0) } ?? .max
        )
        let now = NIODeadline.now()
        let outcome = core.withState { $0.connect(request, now: now) }
        guard let session = outcome.session else {
            refuse(outcome.refusal ?? .serverUnavailable, "connection limit reached", log: core.capacityLog.due())
            return
        }
        self.session = session
        self.link = link
        state = .connected
        if v5 {
            ackProperties.receiveMaximum = UInt16(config.receiveMaximum)
            ackProperties.topicAliasMaximum = UInt16(config.topicAliasMaximum)
            ackProperties.maximumPacketSize = UInt32(config.maxPacketSize)
            ackProperties.retainAvailable = 1
            ackProperties.wildcardSubscriptionAvailable = 1
            ackProperties.subscriptionIdentifiersAvailable = 1
            ackProperties.sharedSubscriptionAvailable = 1
        }
        writePacket(.connack(ConnAckPacket(sessionPresent: outcome.present, reasonCode: .success, properties: ackProperties)))
        if keepAliveSeconds > 0 {
            keepAlive = .milliseconds(Int64(keepAliveSeconds) * 1500)  // [MQTT-3.1.2-24] 1.5 × keepalive
        }
        logger.info(
            "client connected",
            metadata: logMetadata([
                "client.protocol": "\(connect.version.displayName)",
                "client.username": "\(connect.username ?? "")",
                "client.clean_start": "\(connect.cleanStart)",
                "client.keepalive": "\(keepAliveSeconds)",
                "session.present": "\(outcome.present)",
            ])
        )
    }

    private func handlePublish(_ incoming: PublishPacket, session: Session, now: NIODeadline) throws {
        var publish = incoming
        if let alias = publish.properties.topicAlias {
            guard Int(alias) <= core.configuration.topicAliasMaximum else {
                throw MQTTProtocolError(.topicAliasInvalid, "topic alias \(alias) above maximum \(core.configuration.topicAliasMaximum)")
            }
            if publish.topic.isEmpty {
                guard let topic = topicAliases[alias] else {
                    throw MQTTProtocolError.protocolViolation("unknown topic alias \(alias)")
                }
                publish.topic = topic
            } else {
                topicAliases[alias] = publish.topic
            }
        }
        if !publish.properties.subscriptionIdentifiers.isEmpty {
            throw MQTTProtocolError.protocolViolation("subscription identifier in a PUBLISH from a client")  // [MQTT-3.3.4-6]
        }
        try checkTopicLimits(publish.topic)
        ConnectionCounters.add(counters.recvMsg, 1)
        core.metrics.messagesReceived.add()
        core.metrics.messagesReceivedByQoS[Int(publish.qos.rawValue)].add()
        let v5 = version == .v5
        guard core.security.canPublish(publish.topic, username: username, clientId: clientId) else {
            // Dropped; 5.0 hears why in the acknowledgement, 3.x gets a normal one (as in Mosquitto).
            core.security.denials.add()
            let now = NIODeadline.now()
            if lastDenialLog.map({ now - $0 >= .seconds(10) }) ?? true {
                lastDenialLog = now
                logger.warning("publish denied by the ACL", metadata: logMetadata(["topic": "\(publish.topic)", "client.username": "\(username ?? "")"]))
            }
            let code: ReasonCode = v5 ? .notAuthorized : .success
            switch publish.qos {
            case .atMostOnce: break
            case .atLeastOnce: writePacket(.puback(AckPacket(packetId: publish.packetId!, reasonCode: code)))
            case .exactlyOnce:
                if !v5 { core.withState { _ in session.incomingQoS2.insert(publish.packetId!) } }
                writePacket(.pubrec(AckPacket(packetId: publish.packetId!, reasonCode: code)))
            }
            return
        }
        let message = Message(publish: publish, publisherId: clientId, now: now)
        switch publish.qos {
        case .atMostOnce:
            core.withState { _ = $0.publish(message, now: now) }
        case .atLeastOnce:
            let delivered = core.withState { $0.publish(message, now: now) }
            let code: ReasonCode = v5 && delivered == 0 ? .noMatchingSubscribers : .success
            writePacket(.puback(AckPacket(packetId: publish.packetId!, reasonCode: code)))
        case .exactlyOnce:
            let id = publish.packetId!
            let receiveMaximum = core.configuration.receiveMaximum
            let result = try core.withState { state -> Int? in
                if session.incomingQoS2.contains(id) { return nil }  // duplicate: already routed [MQTT-4.3.3-10]
                if session.incomingQoS2.count >= receiveMaximum {
                    throw MQTTProtocolError(.receiveMaximumExceeded, "more than \(receiveMaximum) QoS 2 messages awaiting PUBREL")
                }
                session.incomingQoS2.insert(id)
                return state.publish(message, now: now)
            }
            let code: ReasonCode = v5 && result == 0 ? .noMatchingSubscribers : .success
            writePacket(.pubrec(AckPacket(packetId: id, reasonCode: code)))
        }
    }

    /// A broker-initiated DISCONNECT with a reason string saying why.
    static func disconnect(_ reason: ReasonCode) -> DisconnectPacket {
        var props = Properties()
        props.reasonString =
            switch reason {
            case .sessionTakenOver: "session taken over by another connection with the same client id"
            case .administrativeAction: "disconnected by an administrator"
            case .serverShuttingDown: "server shutting down"
            case .keepAliveTimeout: "no packet within 1.5 times the keepalive"
            default: nil
            }
        return DisconnectPacket(reasonCode: reason, properties: props)
    }

    private func cappedExpiry(_ requested: UInt32) -> UInt32 {
        guard let cap = core.configuration.maxSessionExpiry else { return requested }
        return min(requested, cap)
    }

    /// A topic over `max_topic_length` or `max_topic_levels` is treated as an invalid topic name:
    /// 5.0 DISCONNECT (or CONNACK for a will) 0x90, a plain close for 3.x, counted as a protocol error.
    private func checkTopicLimits(_ topic: String) throws {
        let config = core.configuration
        if let violation = TopicName.limitViolation(topic, maxLength: config.maxTopicLength, maxLevels: config.maxTopicLevels) {
            throw MQTTProtocolError(.topicNameInvalid, violation)
        }
    }

    private static func assignedClientId() -> String {
        "aviary-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    // MARK: - Errors, refusals, timers

    /// This connection's log metadata, built only when a line is logged: a `Logger` carrying
    /// its own metadata dictionary would cost every idle connection ~450 bytes.
    private func logMetadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["connection.peer"] = "\(peer.0):\(peer.1)"
        if !clientId.isEmpty { metadata["client.id"] = "\(clientId)" }
        return metadata
    }

    /// Closes the connection for a protocol violation with the reason its version allows:
    /// CONNACK before the session exists, DISCONNECT (5.0) after, else a plain close.
    private func protocolError(_ error: MQTTProtocolError) {
        guard state != .closing else { return }
        ConnectionCounters.add(counters.protocolErrors, 1)
        core.metrics.protocolErrors.add()
        logger.warning("protocol error, closing connection", metadata: logMetadata(["error": "\(error.message)", "reason": "\(error.reasonCode)"]))
        closeReason = "protocol error: \(error.message)"
        closeKind = .ungraceful
        var props = Properties()
        props.reasonString = error.message
        if state == .awaitingConnect {
            if let version = decoder.version {
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
    private func refuse(_ reason: ReasonCode, _ message: String, log: Bool = true) {
        core.metrics.connectionsRefused.add()
        if log {
            logger.warning("connection refused", metadata: logMetadata(["reason": "\(reason)", "error": "\(message)"]))
        }
        var props = Properties()
        if version == .v5 { props.reasonString = message }
        writePacket(.connack(ConnAckPacket(reasonCode: reason, properties: props)))
        closeReason = "refused: \(message)"
        closeAfterFlush()
    }

    private func closeAfterFlush() {
        state = .closing
        cumulation = nil
        guard let channel = context?.channel else { return }
        if let future = flushOutput() {
            future.whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    /// Whether the CONNECT timeout (before CONNECT) or the keepalive (after) has run out.
    func timerDue(now: NIODeadline, connectTimeout: TimeAmount) -> Bool {
        switch state {
        case .awaitingConnect: now - openedAt >= connectTimeout
        case .connected: keepAlive.map { now - lastPacketAt >= $0 } ?? false
        case .closing: false
        }
    }

    /// Closes the connection whose timer ran out (`ConnectionTimers`).
    func timerFired(now: NIODeadline, connectTimeout: TimeAmount) {
        guard timerDue(now: now, connectTimeout: connectTimeout) else { return }
        if state == .awaitingConnect {
            core.metrics.connectTimeouts.add()
            logger.info("no CONNECT within \(core.configuration.connectTimeout) s, closing", metadata: logMetadata())
            closeReason = "CONNECT timeout"
            state = .closing
            context?.close(promise: nil)
        } else {
            core.metrics.keepAliveTimeouts.add()
            closeReason = "keepalive timeout"
            closeKind = .ungraceful
            if version == .v5 { writePacket(.disconnect(Self.disconnect(.keepAliveTimeout))) }
            closeAfterFlush()
        }
    }

    // MARK: - Output

    /// Writes what the broker queued for this client, then flushes once.
    private func writeOutbound(_ items: [Outbound]) {
        for item in items {
            switch item {
            case .publish(let publish):
                writePublish(publish)
            case .packet(let packet):
                writePacket(packet)
            case .close(let reason):
                guard state != .closing else { continue }
                if version == .v5 { writePacket(.disconnect(Self.disconnect(reason))) }
                closeAfterFlush()
            }
        }
        flushOutput()
    }

    private func writePacket(_ packet: MQTTPacket) {
        guard let context else { return }
        ConnectionCounters.add(counters.sendPkt, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(packet.type.rawValue)].add()
        if batch == nil { batch = context.channel.allocator.buffer(capacity: 1024) }
        packet.write(to: &batch!, version: version)
    }

    private func writePublish(_ publish: PublishPacket) {
        guard let context else { return }
        ConnectionCounters.add(counters.sendPkt, 1)
        ConnectionCounters.add(counters.sendMsg, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(PacketType.publish.rawValue)].add()
        core.metrics.messagesSent.add()
        core.metrics.messagesSentByQoS[Int(publish.qos.rawValue)].add()
        if batch == nil { batch = context.channel.allocator.buffer(capacity: 1024 + publish.payload.readableBytes) }
        if publish.payload.readableBytes <= 2048 {
            MQTTPacket.publish(publish).write(to: &batch!, version: version)
        } else {
            // Large payloads are not copied: the header goes out, then the shared payload buffer.
            publish.writeHeader(to: &batch!, version: version)
            emit(batch!)
            batch = nil
            emit(publish.payload)
        }
    }

    private func emit(_ buffer: ByteBuffer) {
        guard let context else { return }
        if let previous = held { context.write(wrapOutboundOut(previous), promise: nil) }
        held = buffer
        heldBytes += UInt64(buffer.readableBytes)
    }

    /// Writes everything batched and flushes; the bytes are counted as sent when written.
    @discardableResult
    private func flushOutput() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        if let pending = batch, pending.readableBytes > 0 { emit(pending) }
        batch = nil
        guard let last = held else { return nil }
        held = nil
        let bytes = heldBytes
        heldBytes = 0
        let counters = self.counters
        let metrics = core.metrics
        ConnectionCounters.add(counters.sendPend, bytes)
        ConnectionCounters.add(counters.events, 1)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            ConnectionCounters.subtract(counters.sendPend, bytes)
            if case .success = result {
                ConnectionCounters.add(counters.sendOct, bytes)
                ConnectionCounters.add(counters.sendCnt, 1)
                metrics.bytesSent.add(bytes)
            }
        }
        context.writeAndFlush(wrapOutboundOut(last), promise: promise)
        return promise.futureResult
    }
}

@available(*, unavailable)
extension MQTTConnectionHandler: Sendable {}
