import DequeModule
import DurableStore
import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// One MQTT connection: bytes in → packets → broker; broker outbox → packets → bytes out.
/// Counts the connection's traffic, dispatches packets to the broker's state, and carries out
/// what its `ConnectionStateMachine` decides. Time comes from the event loop's clock, so tests
/// on an `EmbeddedChannel` move it by hand. Confined to its channel's event loop.
final class MQTTConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: BrokerCore
    private let logger: Logger
    private var machine: ConnectionStateMachine
    private let processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    private let counters = ConnectionCounters()
    private var context: ChannelHandlerContext?
    /// The protocol level of the CONNECT, once one was read.
    private var connectVersion: ProtocolVersion?
    private var version: ProtocolVersion { connectVersion ?? .v3_1_1 }
    /// This connection's session, once CONNECT is accepted, and its side the broker writes to.
    private var key: SessionKey?
    private var link: ConnectionLink?
    private var clientId = ""
    private var username: String?
    /// When an ACL denial was last logged for this connection (at most one line every 10 s).
    private var lastDenialLog: NIODeadline?
    private var peer = ("", 0)
    /// This event loop's CONNECT-timeout and keepalive sweep, while the channel is active.
    private var loop: LoopConnections?
    private var topicAliases: [UInt16: String] = [:]
    /// Enhanced authentication: the CONNECT's method, the exchange in progress, and the
    /// CONNECT waiting for it to end.
    private var authMethod: String?
    private var scram: ScramSHA256.ServerExchange?
    private var pendingConnect: ConnectPacket?
    /// Aliases this broker gives topics it sends to a 5.0 client that accepts them.
    private var outgoingAliases: OutgoingTopicAliases?
    /// A `read` that was held back: the socket is not writable (the client does not read what
    /// we write) or `readsPaused`.
    private var pendingRead = false
    /// Flow control: a subscriber holds this publisher back and it publishes on regardless.
    private var readsPaused = false
    /// Acknowledgements owed to this publisher, waiting until no subscriber holds it back.
    private var heldAcks: [MQTTPacket] = []
    /// The durable store, when persistence is on, and the acknowledgements waiting for it to
    /// write what they acknowledge (each with its batch; 0 = only behind the ones before it).
    private var store: DurableStore?
    private var awaitingStore: Deque<(batch: UInt64, packet: MQTTPacket)> = []
    private var output = OutputBatch()
    /// The local side of one of this broker's bridges: trusted (no password, no ACL), shown in
    /// the client table with the bridge's state.
    private let bridge: BridgeStatus?
    /// A 3.x client that said it is a bridge (protocol level 0x83/0x84): its subscriptions get
    /// No Local and Retain As Published, as a 5.0 bridge asks for them.
    private var isBridgeClient = false

    init(core: BrokerCore, logger: Logger, now: NIODeadline, bridge: BridgeStatus? = nil) {
        self.core = core
        self.logger = logger
        self.bridge = bridge
        self.machine = ConnectionStateMachine(now: now)
        self.processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(maximumPacketSize: core.configuration.maxPacketSize))
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Added to a connection that is already open (after a WebSocket upgrade): it starts now.
        if context.channel.isActive { activate(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context: context)
        context.fireChannelActive()
    }

    private func activate(context: ChannelHandlerContext) {
        guard loop == nil else { return }
        core.metrics.connectionsAccepted.add()
        if let bridge {
            peer = ("bridge:\(bridge.name)", 0)
        } else if let address = context.channel.remoteAddress {
            peer = (address.ipAddress ?? "?", address.port ?? 0)
        }
        loop = core.loops.connections(on: context.eventLoop).value
        loop?.add(self)
        store = core.store
    }

    func channelInactive(context: ChannelHandlerContext) {
        loop?.remove(self)
        loop = nil
        machine.close(.ungraceful, reason: "connection closed by client without DISCONNECT")
        leaveBroker(now: context.eventLoop.now)
        context.fireChannelInactive()
    }

    /// The connection is over for the broker: its session goes on as the close kind says (will,
    /// expiry), and the close is logged. Once, from the socket's close or from the start of a
    /// graceful close, whichever comes first.
    private func leaveBroker(now: NIODeadline) {
        if let link, let key {
            link.detach()
            let kind = machine.closeKind
            core.withState { $0.connectionClosed(key, sink: link, kind: kind, now: now) }
            logger.info(
                "client disconnected",
                metadata: logMetadata([
                    "reason": "\(machine.closeReason)",
                    "duration.s": "\((now - machine.openedAt).nanoseconds / 1_000_000_000)",
                    "bytes.in": "\(counters.recvOct.load(ordering: .relaxed))",
                    "bytes.out": "\(counters.sendOct.load(ordering: .relaxed))",
                ])
            )
        }
        key = nil
        link = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        machine.close(.ungraceful, reason: "network error: \(error)")
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        link?.setWritable(writable)
        if writable {
            if let key, let link {
                let now = context.eventLoop.now
                core.withState { $0.pump(key: key, sink: link, now: now) }
            }
            if pendingRead && !readsPaused {
                pendingRead = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Backpressure: a client that does not read what we write is not read from either, nor
    /// a publisher held back that publishes on regardless (`readsPaused`).
    func read(context: ChannelHandlerContext) {
        // A closing connection reads on, to discard what its client still sends.
        if machine.isClosing || (context.channel.isWritable && !readsPaused) {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        let n = UInt64(incoming.readableBytes)
        ConnectionCounters.add(counters.recvCnt, 1)
        ConnectionCounters.add(counters.recvOct, n)
        ConnectionCounters.add(counters.events, 1)
        core.metrics.bytesReceived.add(n)
        guard !machine.isClosing else { return }
        let now = context.eventLoop.now
        machine.received(now: now)
        do {
            try processor.process(buffer: incoming) { packet in
                guard !machine.isClosing else { return }
                ConnectionCounters.add(counters.recvPkt, 1)
                ConnectionCounters.add(counters.events, 1)
                core.metrics.packetsReceived.add()
                core.metrics.packetsReceivedByType[Int(packet.type.rawValue)].add()
                try handle(packet, now: now)
            }
        } catch let error as MQTTProtocolError {
            protocolError(error)
        } catch {
            protocolError(.init(.implementationSpecificError, "\(error)"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        loop?.drainPending()
        flushOutput()
        context.fireChannelReadComplete()
    }

    // MARK: - Packets

    private func handle(_ packet: MQTTPacket, now: NIODeadline) throws {
        guard machine.state == .connected, let key, let link else {
            switch packet {
            case .auth(let auth) where pendingConnect != nil:
                try continueConnectAuthentication(auth, now: now)
            case .connect where pendingConnect != nil:
                throw MQTTProtocolError.protocolViolation("second CONNECT")  // [MQTT-3.1.0-2]
            case .connect(let connect):
                try handleConnect(connect, now: now)
            default:
                throw MQTTProtocolError.protocolViolation("first packet must be CONNECT")  // [MQTT-3.1.0-1]
            }
            return
        }
        switch packet {
        case .connect:
            throw MQTTProtocolError.protocolViolation("second CONNECT")  // [MQTT-3.1.0-2]
        case .publish(let publish):
            try handlePublish(publish, key: key, link: link, now: now)
        case .puback(let ack):
            core.withState { $0.complete(ack.packetId, expecting: .awaitingPuback, key: key, sink: link, now: now) }
        case .pubrec(let ack):
            let (known, mark) = core.withStateMarked { $0.received(ack.packetId, reasonCode: ack.reasonCode, key: key, sink: link, now: now) }
            if !(known && ack.reasonCode.isFailure) {
                // Durable: once PUBREL is out, the PUBLISH must never be sent again (section 4.3.3),
                // so the step is stored first.
                respond(.pubrel(AckPacket(packetId: ack.packetId, reasonCode: known ? .success : .packetIdentifierNotFound)), after: mark)
            }
        case .pubcomp(let ack):
            core.withState { $0.complete(ack.packetId, expecting: .awaitingPubcomp, key: key, sink: link, now: now) }
        case .pubrel(let ack):
            let (known, mark) = core.withStateMarked { $0.released(ack.packetId, key: key, sink: link) }
            respond(.pubcomp(AckPacket(packetId: ack.packetId, reasonCode: known ? .success : .packetIdentifierNotFound)), after: mark)
        case .subscribe(var subscribe):
            if isBridgeClient {
                for index in subscribe.subscriptions.indices {
                    subscribe.subscriptions[index].noLocal = true
                    subscribe.subscriptions[index].retainAsPublished = true
                }
            }
            let (codes, mark) = try core.withStateMarked { try $0.subscribe(subscribe, key: key, sink: link, now: now) }
            guard let codes else { return }
            respond(.suback(SubAckPacket(packetId: subscribe.packetId, reasonCodes: codes)), after: mark)
        case .unsubscribe(let unsubscribe):
            let (codes, mark) = core.withStateMarked { $0.unsubscribe(unsubscribe, key: key, sink: link) }
            guard let codes else { return }
            respond(.unsuback(SubAckPacket(packetId: unsubscribe.packetId, reasonCodes: codes)), after: mark)
        case .pingreq:
            writePacket(.pingresp)
        case .disconnect(let disconnect):
            if let requested = disconnect.properties.sessionExpiryInterval {
                let expiry = ConnectNegotiation.cappedExpiry(requested, configuration: core.configuration)
                try core.withState { try $0.setExpiry(expiry, key: key, sink: link) }
            }
            let kind: CloseKind = disconnect.reasonCode == .disconnectWithWillMessage ? .disconnectWithWill : .graceful
            machine.close(kind, reason: "DISCONNECT \(disconnect.reasonCode)")
            flushOutput()
            context?.close(promise: nil)
        case .auth(let auth):
            try reauthenticate(auth)
        case .connack, .suback, .unsuback, .pingresp:
            throw MQTTProtocolError.protocolViolation("\(packet.type.name) may only be sent by a server")
        }
    }

    private func handleConnect(_ connect: ConnectPacket, now: NIODeadline, authenticated: (user: String, serverFinal: String)? = nil) throws {
        guard let context else { return }
        connectVersion = connect.version
        isBridgeClient = connect.isBridge
        let verdict = try ConnectNegotiation.negotiate(
            connect,
            configuration: core.configuration,
            security: bridge == nil ? core.security : .open,
            shuttingDown: core.shuttingDown.load(ordering: .relaxed),
            authenticatedUser: authenticated?.user
        )
        var accepted: ConnectNegotiation.Accepted
        switch verdict {
        case .authenticate(let method):
            startConnectAuthentication(connect, method: method)
            return
        case .refuse(let reason, let message, let cause):
            switch cause {
            case .authentication: core.security.authFailures.add()
            case .acl: core.security.denials.add()
            case .protocolRule, .shutdown: break
            }
            refuse(reason, message)
            return
        case .accept(let result):
            accepted = result
        }
        if let authenticated, let method = authMethod {
            accepted.ackProperties.authenticationMethod = method
            accepted.ackProperties.authenticationData = ByteBuffer(string: authenticated.serverFinal)
        }
        clientId = accepted.clientId
        username = accepted.username
        let link = ConnectionLink(eventLoop: context.eventLoop, loop: core.loops.connections(on: context.eventLoop), version: connect.version, counters: counters) { [unowned self] items in
            self.writeOutbound(items)
        }
        link.setWritable(context.channel.isWritable)
        var info = ClientInfo(
            clientId: accepted.clientId,
            username: accepted.username,
            peerAddress: peer.0,
            peerPort: peer.1,
            protocolVersion: connect.version,
            keepAlive: UInt16(accepted.keepAliveSeconds),
            cleanStart: connect.cleanStart,
            connectedAtMs: WallClock.nowMilliseconds()
        )
        info.willTopic = connect.will?.topic
        info.willPayload = connect.will.map { Array($0.payload.readableBytesView) }
        info.bridge = bridge
        let request = ConnectRequest(
            packet: connect,
            clientId: accepted.clientId,
            sink: link,
            identity: ClientIdentity(info: info, counters: counters),
            expiryInterval: accepted.expiryInterval,
            window: accepted.window,
            clientMaximumPacketSize: accepted.clientMaximumPacketSize
        )
        let outcome = core.withState { $0.connect(request, now: now) }
        guard case .accepted(let key, let present) = outcome else {
            if case .refused(let reason) = outcome { refuse(reason, "connection limit reached", log: core.capacityLog.due()) }
            return
        }
        self.key = key
        self.link = link
        if connect.version == .v5 && core.configuration.topicAliasServer {
            outgoingAliases = OutgoingTopicAliases(clientMaximum: connect.properties.topicAliasMaximum)
        }
        machine.connected(keepAliveSeconds: accepted.keepAliveSeconds)
        writePacket(.connack(ConnAckPacket(sessionPresent: present, reasonCode: .success, properties: accepted.ackProperties)))
        logger.info(
            "client connected",
            metadata: logMetadata([
                "client.protocol": "\(connect.version.displayName)",
                "client.username": "\(connect.username ?? "")",
                "client.clean_start": "\(connect.cleanStart)",
                "client.keepalive": "\(accepted.keepAliveSeconds)",
                "session.present": "\(present)",
            ])
        )
    }

    private func handlePublish(_ incoming: PublishPacket, key: SessionKey, link: ConnectionLink, now: NIODeadline) throws {
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
        guard bridge != nil || core.security.canPublish(publish.topic, username: username, clientId: clientId) else {
            // Dropped; 5.0 hears why in the acknowledgement, 3.x gets a normal one (as in Mosquitto).
            core.security.denials.add()
            if lastDenialLog.map({ now - $0 >= .seconds(10) }) ?? true {
                lastDenialLog = now
                logger.warning("publish denied by the ACL", metadata: logMetadata(["topic": "\(publish.topic)", "client.username": "\(username ?? "")"]))
            }
            let code: ReasonCode = v5 ? .notAuthorized : .success
            switch publish.qos {
            case .atMostOnce: break
            case .atLeastOnce: writePacket(.puback(AckPacket(packetId: publish.packetId!, reasonCode: code)))
            case .exactlyOnce:
                var mark: UInt64?
                if !v5 { mark = core.withStateMarked { $0.awaitRelease(publish.packetId!, key: key, sink: link) }.batch }
                respond(.pubrec(AckPacket(packetId: publish.packetId!, reasonCode: code)), after: mark)
            }
            return
        }
        if core.configuration.validateUTF8Payloads && !ConnectNegotiation.isValidPayload(publish.payload, publish.properties) {
            core.metrics.payloadFormatInvalid.add()
            // QoS 1/2: refused in the acknowledgement (5.0: 0x99); QoS 0 has none: DISCONNECT 0x99.
            switch publish.qos {
            case .atMostOnce:
                throw MQTTProtocolError(.payloadFormatInvalid, "payload format indicator says UTF-8, the payload is not")
            case .atLeastOnce:
                respond(.puback(AckPacket(packetId: publish.packetId!, reasonCode: v5 ? .payloadFormatInvalid : .success)), after: nil)
            case .exactlyOnce:
                var mark: UInt64?
                if !v5 { mark = core.withStateMarked { $0.awaitRelease(publish.packetId!, key: key, sink: link) }.batch }
                respond(.pubrec(AckPacket(packetId: publish.packetId!, reasonCode: v5 ? .payloadFormatInvalid : .success)), after: mark)
            }
            return
        }
        let message = Message(publish: publish, publisherId: clientId, now: now)
        switch publish.qos {
        case .atMostOnce:
            core.withState { _ = $0.publish(message, key: key, sink: link, now: now) }
            // Under `throttle`, a held-back QoS 0 publisher is not read until it is let go.
            if link.isHeld && core.configuration.overloadPolicy == .throttle { readsPaused = true }
        case .atLeastOnce:
            let (result, mark) = core.withStateMarked { $0.publish(message, key: key, sink: link, now: now) }
            respond(.puback(AckPacket(packetId: publish.packetId!, reasonCode: v5 ? result.reasonCode : .success)), after: mark)
        case .exactlyOnce:
            let id = publish.packetId!
            let (result, mark) = try core.withStateMarked { try $0.publishExactlyOnce(message, packetId: id, key: key, sink: link, now: now) }
            respond(.pubrec(AckPacket(packetId: id, reasonCode: v5 ? result?.reasonCode ?? .success : .success)), after: mark)
        }
    }

    // MARK: - Durability

    /// An acknowledgement of changes the durable store keeps (`mark`: their batch) goes out
    /// once the batch is on disk; acknowledgements after it wait behind it, so all go out in
    /// order. Without a store, or with nothing to wait for, it goes out now.
    private func respond(_ packet: MQTTPacket, after mark: UInt64?) {
        guard let store, mark != nil || !awaitingStore.isEmpty else {
            send(packet)
            return
        }
        awaitingStore.append((mark ?? 0, packet))
        if awaitingStore.count == 1 { loop?.awaitStore(self) }
        releaseStored(store)
    }

    /// The store wrote a batch (`LoopConnections`): what waited for it goes out.
    func storeWritten() {
        guard let store else { return }
        releaseStored(store)
        flushOutput()
    }

    private func releaseStored(_ store: DurableStore) {
        while let (batch, packet) = awaitingStore.first {
            let outcome: DurableStore.Outcome = batch == 0 ? .durable : store.outcome(of: batch)
            if outcome == .pending { break }
            awaitingStore.removeFirst()
            if case .failed(let error) = outcome {
                refuseUnstored(packet, error: error)
                if machine.isClosing {
                    awaitingStore.removeAll()
                    break
                }
            } else {
                send(packet)
            }
        }
        if awaitingStore.isEmpty { loop?.storeCaughtUp(self) }
    }

    /// What could not be stored is not acknowledged as if it were: 5.0 hears 0x80 with the
    /// reason; 3.x has no failure acknowledgement for PUBLISH, so its connection is closed
    /// unacknowledged (the client sends the message again when it reconnects).
    private func refuseUnstored(_ packet: MQTTPacket, error: String) {
        core.metrics.storeRefusals.add()
        var props = Properties()
        props.reasonString = "the broker could not store this: \(error)"
        switch packet {
        case .puback(var ack), .pubrec(var ack):
            guard version == .v5 else {
                guard machine.close(.ungraceful, reason: "durable store failed: \(error)") else { return }
                closeAfterFlush()
                return
            }
            ack.reasonCode = .unspecifiedError
            ack.properties = props
            if case .puback = packet {
                send(.puback(ack))
            } else {
                if let key, let link { core.withState { _ = $0.released(ack.packetId, key: key, sink: link) } }
                send(.pubrec(ack))
            }
        case .suback(var suback):
            suback.reasonCodes = suback.reasonCodes.map { _ in .unspecifiedError }
            if version == .v5 { suback.properties = props }
            send(.suback(suback))
        case .unsuback(var unsuback) where version == .v5:
            unsuback.reasonCodes = unsuback.reasonCodes.map { _ in .unspecifiedError }
            unsuback.properties = props
            send(.unsuback(unsuback))
        default:
            send(packet)
        }
    }

    /// PUBACK and PUBREC go through flow control; the rest straight out.
    private func send(_ packet: MQTTPacket) {
        switch packet {
        case .puback, .pubrec:
            guard let link else { return }
            acknowledge(packet, link: link)
        default:
            writePacket(packet)
        }
    }

    /// Flow control: while a subscriber holds this connection back, its PUBACKs/PUBRECs wait
    /// (in order), so that a client keeping to its in-flight window stops publishing. One that
    /// sends `receive_maximum` messages without them is not read any more until it is let go.
    private func acknowledge(_ ack: MQTTPacket, link: ConnectionLink) {
        guard link.isHeld || !heldAcks.isEmpty else {
            writePacket(ack)
            return
        }
        heldAcks.append(ack)
        ConnectionCounters.add(counters.heldAcks, 1)
        if heldAcks.count >= core.configuration.receiveMaximum { readsPaused = true }
    }

    /// `Outbound.resume`: no subscriber holds this connection back any more (unless one did
    /// again since): the held acknowledgements go out and the socket is read again.
    private func resumeFlow() {
        guard let context, let link, !link.isHeld else { return }
        for ack in heldAcks { writePacket(ack) }
        ConnectionCounters.subtract(counters.heldAcks, UInt64(heldAcks.count))
        heldAcks.removeAll()
        readsPaused = false
        if pendingRead && context.channel.isWritable {
            pendingRead = false
            context.read()
        }
    }

    // MARK: - Enhanced authentication (SCRAM-SHA-256)

    /// CONNECT named a method the broker offers: its Authentication Data is the client-first
    /// message; the answer is AUTH 0x18 with server-first, and CONNACK waits for the proof.
    private func startConnectAuthentication(_ connect: ConnectPacket, method: String) {
        authMethod = method
        guard let data = connect.properties.authenticationData else {
            core.security.authFailures.add()
            refuse(.notAuthorized, "\(method) needs the client-first message in the CONNECT's Authentication Data")
            return
        }
        do {
            let security = core.security
            let (exchange, serverFirst) = try ScramSHA256.ServerExchange.start(clientFirst: String(buffer: data)) { security.scramCredentials(user: $0) }
            scram = exchange
            pendingConnect = connect
            writePacket(.auth(Self.authPacket(.continueAuthentication, method: method, data: serverFirst)))
        } catch {
            core.security.authFailures.add()
            refuse(.notAuthorized, "\(method): \(error)")
        }
    }

    /// AUTH 0x18 during CONNECT: the client's proof. Right: CONNACK with server-final; wrong:
    /// CONNACK 0x86.
    private func continueConnectAuthentication(_ auth: AuthPacket, now: NIODeadline) throws {
        guard let connect = pendingConnect, let exchange = scram, let method = authMethod else { return }
        try checkAuthPacket(auth, method: method, expecting: .continueAuthentication)
        pendingConnect = nil
        scram = nil
        let serverFinal: String
        do {
            serverFinal = try exchange.finish(clientFinal: String(buffer: auth.properties.authenticationData ?? ByteBuffer()))
        } catch {
            core.security.authFailures.add()
            refuse(.badUserNameOrPassword, "\(method) authentication failed", logDetail: "\(error)")
            return
        }
        try handleConnect(connect, now: now, authenticated: (exchange.username, serverFinal))
    }

    /// AUTH after CONNACK: re-authentication [MQTT-4.12.1] with the CONNECT's method and user.
    /// 0x19 starts it (client-first), 0x18 carries the proof; success is AUTH 0x00 with
    /// server-final, failure DISCONNECT 0x87.
    private func reauthenticate(_ auth: AuthPacket) throws {
        guard let method = authMethod else {
            throw MQTTProtocolError.protocolViolation("AUTH without an authentication method")  // [MQTT-4.12.0-7]
        }
        if let exchange = scram {
            try checkAuthPacket(auth, method: method, expecting: .continueAuthentication)
            scram = nil
            do {
                let serverFinal = try exchange.finish(clientFinal: String(buffer: auth.properties.authenticationData ?? ByteBuffer()))
                writePacket(.auth(Self.authPacket(.success, method: method, data: serverFinal)))
                logger.info("client re-authenticated", metadata: logMetadata(["auth.method": "\(method)"]))
            } catch {
                failReauthentication("\(error)")
            }
            return
        }
        try checkAuthPacket(auth, method: method, expecting: .reAuthenticate)
        let security = core.security
        let expectedUser = username
        do {
            let (exchange, serverFirst) = try ScramSHA256.ServerExchange.start(clientFirst: String(buffer: auth.properties.authenticationData ?? ByteBuffer())) {
                $0 == expectedUser ? security.scramCredentials(user: $0) : nil
            }
            scram = exchange
            writePacket(.auth(Self.authPacket(.continueAuthentication, method: method, data: serverFirst)))
        } catch {
            failReauthentication("\(error)")
        }
    }

    private func failReauthentication(_ why: String) {
        core.security.authFailures.add()
        logger.warning("re-authentication failed, closing", metadata: logMetadata(["error": "\(why)"]))
        guard machine.close(.ungraceful, reason: "re-authentication failed") else { return }
        var props = Properties()
        props.reasonString = "re-authentication failed"
        writePacket(.disconnect(DisconnectPacket(reasonCode: .notAuthorized, properties: props)))
        closeAfterFlush()
    }

    /// [MQTT-4.12.0-5] the method never changes; the reason code must fit the step.
    private func checkAuthPacket(_ auth: AuthPacket, method: String, expecting code: ReasonCode) throws {
        guard auth.properties.authenticationMethod == method else {
            throw MQTTProtocolError.protocolViolation("AUTH with another authentication method than CONNECT's")
        }
        guard auth.reasonCode == code else {
            throw MQTTProtocolError.protocolViolation("AUTH with reason \(auth.reasonCode) where \(code) was expected")
        }
    }

    static func authPacket(_ code: ReasonCode, method: String, data: String) -> AuthPacket {
        var props = Properties()
        props.authenticationMethod = method
        props.authenticationData = ByteBuffer(string: data)
        return AuthPacket(reasonCode: code, properties: props)
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
            case .quotaExceeded: "took no message for max_stall seconds while holding publishers back"
            default: nil
            }
        return DisconnectPacket(reasonCode: reason, properties: props)
    }

    /// A topic over `max_topic_length` or `max_topic_levels` is treated as an invalid topic name:
    /// 5.0 DISCONNECT 0x90, a plain close for 3.x, counted as a protocol error.
    private func checkTopicLimits(_ topic: String) throws {
        let config = core.configuration
        if let violation = TopicName.limitViolation(topic, maxLength: config.maxTopicLength, maxLevels: config.maxTopicLevels) {
            throw MQTTProtocolError(.topicNameInvalid, violation)
        }
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
    private func refuse(_ reason: ReasonCode, _ message: String, log: Bool = true, logDetail: String? = nil) {
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
    private func closeAfterFlush() {
        guard let context else { return }
        let channel = context.channel
        leaveBroker(now: context.eventLoop.now)
        readsPaused = false
        heldAcks.removeAll()
        awaitingStore.removeAll()
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
        if pendingRead {
            pendingRead = false
            context.read()
        }
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

    // MARK: - Output

    /// Writes what the broker queued for this client, then flushes once.
    private func writeOutbound(_ items: [Outbound]) {
        for item in items {
            switch item {
            case .publish(let publish):
                writePublish(publish)
            case .packet(let packet):
                writePacket(packet)
            case .close(let close):
                guard machine.close(close.kind, reason: close.description) else { continue }
                if version == .v5 { writePacket(.disconnect(Self.disconnect(close.reasonCode))) }
                if close.waitsForFlush {
                    closeAfterFlush()
                } else {
                    flushOutput()
                    context?.close(promise: nil)
                }
            case .resume:
                resumeFlow()
            }
        }
        flushOutput()
    }

    private func writePacket(_ packet: MQTTPacket) {
        guard let context else { return }
        ConnectionCounters.add(counters.sendPkt, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(packet.type.rawValue)].add()
        output.append(packet, version: version, allocator: context.channel.allocator)
    }

    private func writePublish(_ outgoing: PublishPacket) {
        guard let context else { return }
        var publish = outgoing
        if outgoingAliases != nil {
            let saved = outgoingAliases!.apply(to: &publish)
            core.metrics.topicAliasBytesSaved.add(UInt64(saved))
            core.metrics.topicAliasBytesSpent.add(UInt64(OutgoingTopicAliases.propertyBytes))
        }
        ConnectionCounters.add(counters.sendPkt, 1)
        ConnectionCounters.add(counters.sendMsg, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(PacketType.publish.rawValue)].add()
        core.metrics.messagesSent.add()
        core.metrics.messagesSentByQoS[Int(publish.qos.rawValue)].add()
        output.append(publish, version: version, allocator: context.channel.allocator) { buffer in
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// Writes everything batched and flushes; the bytes are counted as sent when written.
    @discardableResult
    private func flushOutput() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        guard let (last, bytes) = output.finish(emit: { context.write(wrapOutboundOut($0), promise: nil) }) else { return nil }
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
