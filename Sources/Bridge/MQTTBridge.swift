import Broker
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// One bridge: an MQTT client of the upstream and an MQTT client of this broker (its local
/// side, over a socket pair), with messages passed between them on the topics configured.
///
/// Every packet keeps its packet identifier across the bridge: a message the broker sends the
/// bridge under id 7 goes upstream under id 7, and the upstream's PUBACK 7 becomes the
/// bridge's PUBACK 7 to the broker. So a QoS 1/2 message leaves the broker's queue only once
/// the upstream has it (QoS 2 runs its four steps end to end), no table of ids is kept, and
/// the windows of both sides hold back the other (a slow upstream fills the broker-side
/// window, whose queue then holds back local publishers). While the upstream is down the
/// bridge's local session is offline: the broker queues for it as for any client
/// (`max_queued_messages`, counted; kept on disk with persistence on).
public final class MQTTBridge: Sendable {
    public let configuration: BridgeConfiguration
    public let status: BridgeStatus
    let eventLoop: any EventLoop
    private let relay: NIOLoopBoundBox<Relay>

    public init(configuration: BridgeConfiguration, broker: Broker, eventLoop: any EventLoop, logger: Logger) throws {
        self.configuration = configuration
        self.eventLoop = eventLoop
        let status = BridgeStatus(
            name: configuration.name,
            localClientId: configuration.localClientId,
            addresses: configuration.addresses.map(\.description)
        )
        self.status = status
        let tls = try Self.tlsContext(configuration)
        var bridgeLogger = logger
        bridgeLogger[metadataKey: "bridge"] = "\(configuration.name)"
        self.relay = NIOLoopBoundBox.makeBoxSendingValue(
            Relay(configuration: configuration, status: status, broker: broker, eventLoop: eventLoop, tls: tls, logger: bridgeLogger),
            eventLoop: eventLoop
        )
        broker.register(status)
    }

    /// The TLS context of a bridge, nil without TLS; files that cannot be loaded are an error
    /// naming the connection (checked with the rest of the settings, before any port opens).
    public static func tlsContext(_ configuration: BridgeConfiguration) throws(BridgeConfiguration.InvalidValue) -> NIOSSLContext? {
        do {
            return try configuration.tls.map { try NIOSSLContext(configuration: tlsConfiguration($0)) }
        } catch {
            throw BridgeConfiguration.InvalidValue(
                "connection '\(configuration.name)': the TLS files (bridge_cafile, bridge_certfile, bridge_keyfile) cannot be loaded: \(error)"
            )
        }
    }

    static func tlsConfiguration(_ tls: BridgeConfiguration.TLS) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(tls.caFile)
        if let cert = tls.certFile, let key = tls.keyFile {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        configuration.certificateVerification = tls.insecure ? .noHostnameVerification : .fullVerification
        return configuration
    }

    /// Starts connecting (and reconnecting) in the background.
    public func start() {
        let relay = self.relay
        eventLoop.execute { relay.value.start() }
    }

    /// Disconnects from both sides (DISCONNECT, so the sessions stay) and stops reconnecting.
    public func stop() async {
        let relay = self.relay
        let closed = eventLoop.flatSubmit { relay.value.stop() }
        try? await closed.get()
    }
}

/// The bridge's state, confined to its event loop.
private final class Relay {
    private enum Phase: Equatable {
        case idle
        /// At start: the local session is made (with its subscriptions) so that the broker
        /// queues for the upstream from now on, even before the first connection to it.
        case priming
        case connectingUpstream
        case connectingLocal
        case connected
        case backingOff
        case stopped
    }

    /// What the upstream's CONNACK allows.
    private struct UpstreamLimits {
        var receiveMaximum = 65535
        var maximumPacketSize: UInt32?
        var maximumQoS: QoS = .exactlyOnce
        var sessionPresent = false
    }

    let configuration: BridgeConfiguration
    let status: BridgeStatus
    let broker: Broker
    let eventLoop: any EventLoop
    let tls: NIOSSLContext?
    let logger: Logger

    private var phase = Phase.idle
    /// Bumped whenever both connections are dropped: events of older channels are ignored.
    private var generation = 0
    private var upstream: PacketEndpoint?
    private var local: PacketEndpoint?
    private var upstreamChannel: (any Channel)?
    private var localChannel: (any Channel)?
    private var limits = UpstreamLimits()
    /// Upstream packets that arrived before the local side was ready.
    private var pendingFromUpstream: [MQTTPacket] = []
    /// QoS 2 exchanges the bridge answers itself (a message on no configured topic).
    private var unroutedFromLocal: Set<UInt16> = []
    private var unroutedFromUpstream: Set<UInt16> = []
    private var attempts = 0
    private var addressIndex = 0
    private var retry: Scheduled<Void>?
    private var keepAliveTask: RepeatedTask?
    private var lastUpstreamPacket = NIODeadline.now()
    private var nextPacketId: UInt16 = 1
    private var localSubscribeId: UInt16?
    private var stopped: EventLoopPromise<Void>?

    init(configuration: BridgeConfiguration, status: BridgeStatus, broker: Broker, eventLoop: any EventLoop, tls: NIOSSLContext?, logger: Logger) {
        self.configuration = configuration
        self.status = status
        self.broker = broker
        self.eventLoop = eventLoop
        self.tls = tls
        self.logger = logger
    }

    func start() {
        guard phase == .idle else { return }
        phase = .priming
        openLocal()
    }

    func stop() -> EventLoopFuture<Void> {
        if phase == .stopped { return eventLoop.makeSucceededVoidFuture() }
        phase = .stopped
        retry?.cancel()
        keepAliveTask?.cancel()
        status.enter(.stopped)
        generation += 1
        // DISCONNECT 0x00: no will, and each side keeps the bridge's session.
        var closing: [EventLoopFuture<Void>] = []
        for (endpoint, channel) in [(upstream, upstreamChannel), (local, localChannel)] {
            guard let endpoint, let channel else { continue }
            endpoint.send(.disconnect(DisconnectPacket()))
            endpoint.flush()
            endpoint.close("bridge stopped")
            closing.append(channel.closeFuture)
        }
        return EventLoopFuture.andAllComplete(closing, on: eventLoop)
    }

    // MARK: - Connecting

    private func connectUpstream() {
        guard phase != .stopped else { return }
        phase = .connectingUpstream
        let address = configuration.addresses[addressIndex % configuration.addresses.count]
        status.enter(.connecting, address: address.description)
        let generation = self.generation
        let endpoint = makeEndpoint(.upstream, version: configuration.version, generation: generation)
        upstream = endpoint
        let tls = self.tls
        let host = address.host
        let serverName = Self.isIPAddress(host) ? nil : host
        let handler = NIOLoopBound(endpoint, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
        whenOpened(bootstrap.connect(host: host, port: address.port), failing: "cannot connect to \(address)") { channel in
            self.upstreamChannel = channel
            self.lastUpstreamPacket = .now()
            endpoint.send(.connect(self.upstreamConnect()))
            endpoint.flush()
        }
    }

    private func upstreamConnect() -> ConnectPacket {
        var properties = Properties()
        if configuration.version == .v5 {
            properties.sessionExpiryInterval = configuration.cleanSession ? 0 : configuration.sessionExpiry
            // The broker takes this many QoS 2 messages awaiting PUBREL from the bridge.
            properties.receiveMaximum = UInt16(clamping: broker.configuration.receiveMaximum)
        }
        return ConnectPacket(
            version: configuration.version,
            clientId: configuration.remoteClientId,
            cleanStart: configuration.cleanSession,
            keepAlive: configuration.keepAlive,
            username: configuration.username,
            password: configuration.password.map { ByteBuffer(string: $0) },
            properties: properties,
            isBridge: configuration.tryPrivate && configuration.version != .v5
        )
    }

    /// The local side: a 5.0 client of this broker with a session that never expires.
    private func openLocal() {
        let generation = self.generation
        let endpoint = makeEndpoint(.local, version: .v5, generation: generation)
        local = endpoint
        let loop = eventLoop
        let handler = NIOLoopBound(endpoint, eventLoop: loop)
        let opened = broker.openBridgeSocket(status, on: loop)
            .flatMap { socket in
                ClientBootstrap(group: loop)
                    .channelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
                    }
                    .withConnectedSocket(socket)
            }
        whenOpened(opened, failing: "cannot open the local side") { channel in
            self.localChannel = channel
            var properties = Properties()
            properties.sessionExpiryInterval = .max
            // Priming takes no message: one at most goes in flight, to be sent again.
            properties.receiveMaximum = self.phase == .priming ? 1 : UInt16(clamping: min(self.limits.receiveMaximum, 65535))
            properties.maximumPacketSize = self.limits.maximumPacketSize
            endpoint.send(
                .connect(
                    ConnectPacket(version: .v5, clientId: self.configuration.localClientId, cleanStart: false, keepAlive: 0, properties: properties)
                )
            )
            endpoint.flush()
        }
    }

    /// When a connection of this attempt is open: `opened`; when it fails: the bridge fails. A
    /// connection that opens after the attempt was given up is closed.
    private func whenOpened(_ future: EventLoopFuture<any Channel>, failing what: String, then opened: @escaping (any Channel) -> Void) {
        let generation = self.generation
        future.assumeIsolated().whenComplete { result in
            guard generation == self.generation else {
                if case .success(let channel) = result { channel.close(promise: nil) }
                return
            }
            switch result {
            case .failure(let error): self.fail("\(what): \(Self.describe(error))")
            case .success(let channel): opened(channel)
            }
        }
    }

    /// The local session's subscriptions become the configured ones: out topics (No Local: not
    /// what the bridge itself brought in; Retain As Published; retained messages only for a new
    /// subscription), QoS capped by what the upstream takes.
    private func subscribeLocal() {
        guard let local else { return }
        var wanted: [String: QoS] = [:]
        for topic in configuration.topics where topic.direction.sendsOut {
            wanted[topic.localFilter] = max(wanted[topic.localFilter] ?? .atMostOnce, min(topic.qos, limits.maximumQoS))
        }
        let stale = broker.subscriptions(clientId: configuration.localClientId).map(\.subscription.topicFilter).filter { wanted[$0] == nil }
        if !stale.isEmpty {
            local.send(.unsubscribe(UnsubscribePacket(packetId: takePacketId(), topicFilters: stale)))
        }
        guard !wanted.isEmpty else {
            localReady()
            return
        }
        let subscriptions = wanted.sorted { $0.key < $1.key }.map {
            Subscription(topicFilter: $0.key, qos: $0.value, noLocal: true, retainAsPublished: true, retainHandling: .sendOnNewSubscribe)
        }
        let id = takePacketId()
        localSubscribeId = id
        local.send(.subscribe(SubscribePacket(packetId: id, subscriptions: subscriptions)))
        local.flush()
    }

    private func localReady() {
        guard let local else { return }
        if phase == .priming {
            // Its close is not a failure: the generation moves on first (a close on the event
            // loop reports the channel inactive at once).
            generation += 1
            local.send(.disconnect(DisconnectPacket()))
            local.flush()
            local.close("primed")
            self.local = nil
            localChannel = nil
            connectUpstream()
            return
        }
        // In topics, subscribed upstream (5.0: No Local, so what we send is not sent back;
        // 3.x: the bridge flag of the CONNECT does that on Mosquitto and aviary).
        var wanted: [String: QoS] = [:]
        for topic in configuration.topics where topic.direction.takesIn {
            wanted[topic.remoteFilter] = max(wanted[topic.remoteFilter] ?? .atMostOnce, topic.qos)
        }
        if !wanted.isEmpty, let upstream {
            let subscriptions = wanted.sorted { $0.key < $1.key }.map {
                Subscription(topicFilter: $0.key, qos: $0.value, noLocal: true, retainAsPublished: true, retainHandling: .sendOnNewSubscribe)
            }
            upstream.send(.subscribe(SubscribePacket(packetId: takePacketId(), subscriptions: subscriptions)))
        }
        phase = .connected
        attempts = 0
        status.enter(.connected)
        logger.info(
            "bridge connected",
            metadata: [
                "upstream": "\(status.snapshot.address)",
                "protocol": "\(configuration.version.displayName)",
                "session.present": "\(limits.sessionPresent)",
            ]
        )
        let pending = pendingFromUpstream
        pendingFromUpstream = []
        for packet in pending { fromUpstream(packet) }
        flush()
    }

    private func takePacketId() -> UInt16 {
        defer { nextPacketId = nextPacketId == .max ? 1 : nextPacketId + 1 }
        return nextPacketId
    }

    // MARK: - Packets

    private func makeEndpoint(_ side: PacketEndpoint.Side, version: ProtocolVersion, generation: Int) -> PacketEndpoint {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        return PacketEndpoint(
            side: side,
            version: version,
            events: .init(
                packet: { packet in
                    let relay = bound.value
                    guard relay.generation == generation else { return }
                    if side == .upstream { relay.upstreamPacket(packet) } else { try relay.localPacket(packet) }
                },
                readComplete: {
                    guard bound.value.generation == generation else { return }
                    bound.value.flush()
                },
                writabilityChanged: { writable in
                    let relay = bound.value
                    guard relay.generation == generation else { return }
                    // A side that cannot take more stops the other side being read.
                    (side == .upstream ? relay.local : relay.upstream)?.setAutoRead(writable)
                },
                closed: { reason in
                    let relay = bound.value
                    guard relay.generation == generation else { return }
                    relay.fail(reason)
                }
            )
        )
    }

    private func flush() {
        upstream?.flush()
        local?.flush()
    }

    private func upstreamPacket(_ packet: MQTTPacket) {
        lastUpstreamPacket = .now()
        switch phase {
        case .connectingUpstream:
            guard case .connack(let ack) = packet else {
                upstream?.close("the upstream sent \(packet.type.name) before CONNACK")
                return
            }
            guard ack.reasonCode == .success else {
                upstream?.close("the upstream refused the connection: \(ack.reasonCode)")
                return
            }
            limits = UpstreamLimits(
                receiveMaximum: Int(ack.properties.receiveMaximum ?? 65535),
                maximumPacketSize: ack.properties.maximumPacketSize,
                maximumQoS: ack.properties.maximumQoS.flatMap { QoS(rawValue: $0) } ?? .exactlyOnce,
                sessionPresent: ack.sessionPresent
            )
            if !ack.sessionPresent { broker.forgetIncomingQoS2(of: status) }
            startKeepAlive(seconds: Int(ack.properties.serverKeepAlive ?? configuration.keepAlive))
            phase = .connectingLocal
            openLocal()
        case .connectingLocal:
            pendingFromUpstream.append(packet)
        case .connected:
            fromUpstream(packet)
        default:
            break
        }
    }

    private func fromUpstream(_ packet: MQTTPacket) {
        guard let local, let upstream else { return }
        switch packet {
        case .publish(let publish):
            let topic = configuration.topics.lazy.filter(\.direction.takesIn).compactMap({ $0.localTopic(forRemote: publish.topic) }).first
            if pass(publish, as: topic, from: upstream, to: local, unrouted: &unroutedFromUpstream) { status.countIn() }
        case .pubrel(let ack) where unroutedFromUpstream.remove(ack.packetId) != nil:
            upstream.send(.pubcomp(AckPacket(packetId: ack.packetId)))
        case .puback, .pubrec, .pubrel, .pubcomp:
            local.send(packet)
        case .suback(let ack):
            let refused = ack.reasonCodes.filter(\.isFailure)
            if !refused.isEmpty {
                let error = "the upstream refused \(refused.count) of the bridge's subscriptions: \(refused.map { "\($0)" }.joined(separator: ", "))"
                status.update { $0.lastError = error }
                logger.warning("bridge subscription refused upstream", metadata: ["error": "\(error)"])
            }
        case .disconnect(let disconnect):
            upstream.close("the upstream sent DISCONNECT \(disconnect.reasonCode)\(disconnect.properties.reasonString.map { ": \($0)" } ?? "")")
        default:
            break
        }
    }

    /// Passes a PUBLISH to the other side under its mapped topic, with its packet id. One on no
    /// configured topic (a subscription left from an earlier configuration) is answered by the
    /// bridge itself, QoS 2 to the end, and not passed; false then.
    private func pass(
        _ incoming: PublishPacket,
        as topic: String?,
        from source: PacketEndpoint,
        to target: PacketEndpoint,
        unrouted: inout Set<UInt16>
    ) -> Bool {
        guard let topic else {
            switch incoming.qos {
            case .atMostOnce: break
            case .atLeastOnce: source.send(.puback(AckPacket(packetId: incoming.packetId!)))
            case .exactlyOnce:
                unrouted.insert(incoming.packetId!)
                source.send(.pubrec(AckPacket(packetId: incoming.packetId!)))
            }
            return false
        }
        var publish = incoming
        publish.topic = topic
        publish.properties.topicAlias = nil
        publish.properties.subscriptionIdentifiers = []
        target.send(.publish(publish))
        return true
    }

    /// Both sides are up (the local one perhaps still subscribing).
    private var forwarding: Bool { phase == .connected || phase == .connectingLocal }

    private func localPacket(_ packet: MQTTPacket) throws {
        guard let local else { return }
        switch packet {
        case .connack(let ack):
            guard ack.reasonCode == .success else {
                local.close("the broker refused the bridge's local connection: \(ack.reasonCode)")
                return
            }
            subscribeLocal()
        case .suback(let ack) where ack.packetId == localSubscribeId:
            localSubscribeId = nil
            let refused = ack.reasonCodes.filter(\.isFailure)
            if !refused.isEmpty {
                logger.warning("bridge subscription refused by this broker", metadata: ["codes": "\(refused)"])
            }
            localReady()
        case .publish(let publish):
            // Priming: it stays in flight and is sent again at the next connection.
            guard forwarding, let upstream else { return }
            let topic = configuration.topics.lazy.filter(\.direction.sendsOut).compactMap({ $0.remoteTopic(forLocal: publish.topic) }).first
            if pass(publish, as: topic, from: local, to: upstream, unrouted: &unroutedFromLocal) { status.countOut() }
        case .pubrel(let ack) where unroutedFromLocal.remove(ack.packetId) != nil:
            local.send(.pubcomp(AckPacket(packetId: ack.packetId)))
        case .puback, .pubrec, .pubrel, .pubcomp:
            guard forwarding else { return }
            upstream?.send(packet)
        case .disconnect(let disconnect):
            local.close("this broker closed the bridge's local connection: \(disconnect.reasonCode)")
        default:
            break
        }
    }

    // MARK: - Keepalive and failure

    private func startKeepAlive(seconds: Int) {
        keepAliveTask?.cancel()
        guard seconds > 0 else { return }
        let interval = TimeAmount.milliseconds(Int64(seconds) * 500)
        let limit = TimeAmount.milliseconds(Int64(seconds) * 1500)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let generation = self.generation
        keepAliveTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let relay = bound.value
            guard relay.generation == generation else {
                task.cancel()
                return
            }
            if NIODeadline.now() - relay.lastUpstreamPacket > limit {
                relay.upstream?.close("no answer from the upstream within 1.5 × keepalive (\(seconds) s)")
                return
            }
            relay.upstream?.send(.pingreq)
            relay.upstream?.flush()
        }
    }

    /// Either side failed: both are dropped (each keeps the bridge's session) and the bridge
    /// tries again after a backoff — doubling from `restart_timeout`'s base to its cap, with
    /// jitter — on the next address.
    private func fail(_ reason: String) {
        guard phase != .stopped, phase != .backingOff else { return }
        let wasConnected = phase == .connected
        generation += 1
        keepAliveTask?.cancel()
        keepAliveTask = nil
        upstream?.close(reason)
        local?.close(reason)
        upstream = nil
        local = nil
        upstreamChannel = nil
        localChannel = nil
        pendingFromUpstream = []
        unroutedFromLocal = []
        unroutedFromUpstream = []
        localSubscribeId = nil
        phase = .backingOff
        let backoff = min(configuration.restartCap, configuration.restartBase * Double(1 << min(attempts, 20)))
        let delay = backoff * Double.random(in: 0.5...1.0)
        attempts += 1
        addressIndex += 1
        status.enter(.backingOff, error: reason)
        logger.warning(
            wasConnected ? "bridge connection lost" : "bridge connection failed",
            metadata: ["error": "\(reason)", "retry.s": "\((delay * 10).rounded() / 10)"]
        )
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        retry = eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) {
            bound.value.connectUpstream()
        }
    }

    /// A connection error as an operator reads it ("Connection refused", not NIO's wrapping).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "cannot resolve the host name" }
            return "no address to connect to"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case ChannelError.connectTimeout(let timeout):
            return "no answer within \(timeout.nanoseconds / 1_000_000_000) s"
        default:
            return "\(error)"
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
