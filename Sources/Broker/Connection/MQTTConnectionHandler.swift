import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// One MQTT connection: bytes in → packets → broker; broker outbox → packets → bytes out.
/// This file holds the channel events and the dispatch of packets; each packet family has a
/// file of its own (`+Connect`, `+Publish`, `+Acknowledge`, `+Close`, `+Output`), and what has
/// rules of its own is a component stored inline that returns what to do: the connection's
/// life (`ConnectionStateMachine`), enhanced authentication (`EnhancedAuthentication`), the
/// acknowledgements waiting for the store or for flow control (`AcknowledgementGate`) and topic
/// aliases (`IncomingTopicAliases`, `OutgoingTopicAliases`). Time comes from the event loop's
/// clock, so tests on an `EmbeddedChannel` move it by hand. Confined to its channel's event
/// loop; the properties are internal only for the extensions in the files beside this one.
final class MQTTConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: BrokerCore
    let logger: Logger
    var machine: ConnectionStateMachine
    private let processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    let counters = ConnectionCounters()
    var context: ChannelHandlerContext?
    /// The protocol level of the CONNECT, once one was read.
    var connectVersion: ProtocolVersion?
    var version: ProtocolVersion { connectVersion ?? .v3_1_1 }
    /// This connection's session, once CONNECT is accepted, and its side the broker writes to.
    var key: SessionKey?
    var link: ConnectionLink?
    var clientId = ""
    var username: String?
    var peer = ("", 0)
    /// This event loop's CONNECT-timeout and keepalive sweep, while the channel is active.
    var loop: LoopConnections?
    /// ACL denials of this connection's PUBLISHes are logged at most every 10 s.
    var denialLog = LogThrottle()
    var authentication = EnhancedAuthentication()
    var gate = AcknowledgementGate()
    var incomingAliases: IncomingTopicAliases
    /// Aliases this broker gives topics it sends to a 5.0 client that accepts them.
    var outgoingAliases: OutgoingTopicAliases?
    var output = OutputBatch()
    /// The local side of one of this broker's bridges: trusted (no password, no ACL), shown in
    /// the client table with the bridge's state.
    let bridge: BridgeStatus?
    /// A 3.x client that said it is a bridge (protocol level 0x83/0x84): its subscriptions get
    /// No Local and Retain As Published, as a 5.0 bridge asks for them.
    var isBridgeClient = false

    init(core: BrokerCore, logger: Logger, now: NIODeadline, bridge: BridgeStatus? = nil) {
        self.core = core
        self.logger = logger
        self.bridge = bridge
        self.machine = ConnectionStateMachine(now: now)
        self.incomingAliases = IncomingTopicAliases(maximum: core.configuration.topicAliasMaximum)
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
        gate.attach(core.store)
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
    func leaveBroker(now: NIODeadline) {
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
            if gate.takePendingRead(writable: true) { context.read() }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Backpressure: a client that does not read what we write is not read from either, nor
    /// a publisher held back that publishes on regardless (`readsPaused`).
    func read(context: ChannelHandlerContext) {
        if gate.mayRead(writable: context.channel.isWritable, closing: machine.isClosing) { context.read() }
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
            case .auth(let auth) where authentication.isConnecting:
                try authenticationStep(authentication.continueConnect(auth), now: now)
            case .connect where authentication.isConnecting:
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
            let credentials = core.security.scramCredentials
            try authenticationStep(authentication.reauthenticate(auth, username: username, credentials: credentials), now: now)
        case .connack, .suback, .unsuback, .pingresp:
            throw MQTTProtocolError.protocolViolation("\(packet.type.name) may only be sent by a server")
        }
    }
}

@available(*, unavailable)
extension MQTTConnectionHandler: Sendable {}
