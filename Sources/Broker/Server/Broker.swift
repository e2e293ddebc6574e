#if canImport(Glibc)
import Glibc
#endif
import DurableStore
import MQTTCodec
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

import AviaryLocks

/// The durable store cannot be opened (directory unusable or in use, database unreadable).
public struct PersistenceError: Error, CustomStringConvertible {
    public let description: String
}

/// The version reported by `aviary --version`, $SYS and the management API.
public enum AviaryVersion {
    public static let current = "0.1.0"
}

/// An MQTT 3.1 / 3.1.1 / 5.0 broker. `start()` binds the listener; `clients()`, `client(id:)`
/// and `disconnect(clientId:)` are the API the management layer and tests build on.
public final class Broker: Sendable {
    let core: BrokerCore
    private let group: any EventLoopGroup
    /// The group made for `event_loops` (shut down with the broker); nil on a shared group.
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let runtime = Locked(Runtime())
    let bridgeList = Locked<[BridgeStatus]>([])

    private struct Runtime {
        /// The plain MQTT listener's sockets (one per event loop with `listener_per_loop`).
        var serverChannels: [any Channel] = []
        /// TLS and WebSocket listeners' sockets.
        var otherListeners: [any Channel] = []
        var timer: RepeatedTask?
    }

    public var configuration: BrokerConfiguration { core.configuration }
    public var metrics: BrokerMetrics { core.metrics }
    public var logger: Logger { core.logger }

    public var security: SecurityPolicy { core.security }

    /// `security` decides who may connect and what they may publish and subscribe to; the
    /// default lets everyone do everything. Without a `group` the connections run on
    /// `configuration.eventLoops` threads of the broker's own, or on NIO's shared group (one
    /// loop per core) when that is 0.
    public init(
        configuration: BrokerConfiguration,
        security: SecurityPolicy = .open,
        group: (any EventLoopGroup)? = nil,
        logger: Logger
    ) {
        self.core = BrokerCore(configuration: configuration, security: security, logger: logger)
        if let group {
            self.ownedGroup = nil
            self.group = group
        } else if configuration.eventLoops > 0 {
            let owned = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
            self.ownedGroup = owned
            self.group = owned
        } else {
            self.ownedGroup = nil
            self.group = MultiThreadedEventLoopGroup.singleton
        }
    }

    /// The event loops serving the MQTT connections (bridges run on them too).
    public var eventLoopGroup: any EventLoopGroup { group }

    /// How many event loops serve the MQTT connections.
    public var eventLoopCount: Int {
        var count = 0
        for _ in group.makeIterator() { count += 1 }
        return count
    }

    /// Binds the MQTT listener and starts the timers; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        try configuration.validate()
        let core = self.core
        if configuration.persistence { try openStore() }
        let channels = try await listen(host: configuration.host, port: configuration.port, tls: nil)
        let port = channels.first?.localAddress?.port ?? configuration.port
        let timerLoop = group.next()
        let sysEvery = configuration.sysInterval
        let sysTicks = Locked(0.0)
        let timer = timerLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let now = NIODeadline.now()
            core.withState { $0.tick(now: now) }
            guard sysEvery > 0 else { return }
            let due = sysTicks.withLock { elapsed -> Bool in
                elapsed += 1
                if elapsed >= sysEvery {
                    elapsed = 0
                    return true
                }
                return false
            }
            if due { SysTopics.publish(self, now: now) }
        }
        runtime.withLock {
            $0.serverChannels = channels
            $0.timer = timer
        }
        if sysEvery > 0 { SysTopics.publish(self, now: .now()) }
        logger.info(
            "MQTT listener started",
            metadata: [
                "listener.host": "\(configuration.host)",
                "listener.port": "\(port)",
                "connections.max": "\(core.capacity.maxConnections)",
                "open_files.limit": "\(core.capacity.fileLimit)",
            ]
        )
        if configuration.maxConnections > core.capacity.maxConnections {
            logger.warning(
                "max_connections is more than the open-file limit allows",
                metadata: [
                    "max_connections": "\(configuration.maxConnections)",
                    "connections.max": "\(core.capacity.maxConnections)",
                    "open_files.limit": "\(core.capacity.fileLimit)",
                ]
            )
        }
        return port
    }

    /// Opens the MQTT-over-TLS listener (8883 by convention) beside the plain one; returns its
    /// port. Clients on it are the same clients: same table, counters (of MQTT bytes) and routing.
    @discardableResult
    public func startTLS(host: String, port: Int, configuration tls: TLSConfiguration) async throws -> Int {
        let context = try NIOSSLContext(configuration: tls)
        let channels = try await listen(host: host, port: port, tls: context)
        runtime.withLock { $0.otherListeners += channels }
        let bound = channels.first?.localAddress?.port ?? port
        logger.info("MQTT TLS listener started", metadata: ["listener.host": "\(host)", "listener.port": "\(bound)"])
        return bound
    }

    /// Opens an MQTT-over-WebSockets listener (`ws://host:port/path`, or `wss://` with `tls`);
    /// returns its port. Its clients are the same clients as on TCP: same table, counters (of
    /// MQTT bytes, not frame bytes), limits, ACLs and kick.
    @discardableResult
    public func startWebSocket(host: String, port: Int, path: String, tls: TLSConfiguration? = nil) async throws -> Int {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let channels = try await listen(host: host, port: port, tls: context, webSocketPath: path)
        runtime.withLock { $0.otherListeners += channels }
        let bound = channels.first?.localAddress?.port ?? port
        logger.info(
            "MQTT over WebSockets listener started",
            metadata: ["listener.host": "\(host)", "listener.port": "\(bound)", "listener.path": "\(path)", "listener.tls": "\(tls != nil)"]
        )
        return bound
    }

    /// Binds a listener: one socket whose clients go to the event loops in turn, or with
    /// `listener_per_loop` (Linux, more than one loop) one socket per loop (SO_REUSEPORT; the
    /// kernel spreads incoming connections over them by address hash), each keeping its
    /// connections on its own loop: accepting a client then costs no hop between threads (one
    /// socket for all takes three per client that lands on another loop than the socket's).
    /// A probe bind without SO_REUSEPORT comes first, so that a port in use, by another broker
    /// too, is refused as with one socket; it also picks the port for port 0.
    private func listen(host: String, port: Int, tls: NIOSSLContext?, webSocketPath: String? = nil) async throws -> [any Channel] {
        #if os(Linux)
        let loops = Array(group.makeIterator())
        if configuration.listenerPerLoop && loops.count > 1 {
            let probe = try await ServerBootstrap(group: loops[0])
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            let bound = probe.localAddress?.port ?? port
            try await probe.close()
            var channels: [any Channel] = []
            do {
                for loop in loops {
                    let bootstrap = bootstrap(tls: tls, webSocketPath: webSocketPath, group: loop)
                        .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                    channels.append(try await bootstrap.bind(host: host, port: bound).get())
                }
            } catch {
                for channel in channels { try? await channel.close() }
                throw error
            }
            return channels
        }
        #endif
        return [try await bootstrap(tls: tls, webSocketPath: webSocketPath, group: group).bind(host: host, port: port).get()]
    }

    private func bootstrap(tls: NIOSSLContext?, webSocketPath: String?, group: any EventLoopGroup) -> ServerBootstrap {
        let core = self.core
        let logger = self.logger
        let configuration = self.configuration
        var bootstrap = ServerBootstrap(group: group)
        if configuration.tcpReceiveBuffer > 0 {
            // Set on the listener, so that accepted sockets have it from their SYN on (the
            // window scale is chosen then).
            bootstrap = bootstrap.serverChannelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(configuration.tcpReceiveBuffer))
        }
        // TCP_NODELAY: ServerBootstrap sets it on the listener, and accepted sockets inherit it
        // (no setsockopt per client; test `acceptedSocketsNoDelay`).
        return bootstrap
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // EMFILE and the like: pause accepting for 100 ms instead of spinning on them.
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptBackoffHandler(shouldForwardIOErrorCaught: true) { _ in .milliseconds(100) }
                    )
                    try channel.pipeline.syncOperations.addHandler(AcceptGuard(core: core))
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(accepted: channel)
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    guard let webSocketPath else {
                        try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(core: core, logger: logger, now: channel.eventLoop.now))
                        return
                    }
                    // A frame carries at most a packet and a bit (or parts of packets).
                    try WebSocketListener.configure(
                        channel,
                        path: webSocketPath,
                        maxFrameSize: configuration.maxPacketSize + 1024,
                        connectTimeout: .nanoseconds(Int64(configuration.connectTimeout * 1e9))
                    ) { upgraded in
                        try upgraded.pipeline.syncOperations.addHandler(MQTTConnectionHandler(core: core, logger: logger, now: upgraded.eventLoop.now))
                    }
                }
            }
    }

    /// An accepted connection's NIO options, set in place (child channel options would be
    /// set one future after another, per client).
    private static func configure(accepted channel: any Channel) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.maxMessagesPerRead, value: 8)
        // NIO keeps each channel's last read buffer for reuse: starting at 256 bytes (a
        // CONNECT fits) instead of 2,048 saves ~1.8 KB per idle client; busy ones grow it.
        try options.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
        try options.setOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
    }

    /// The bound MQTT port, once started.
    public var localPort: Int? {
        runtime.withLock { $0.serverChannels.first?.localAddress?.port }
    }

    /// Stops accepting, sends 5.0 clients DISCONNECT 0x8B, closes every connection and
    /// waits (up to `timeout`) for them to go.
    /// A second call returns at once.
    public func shutdown(timeout: TimeAmount = .seconds(5)) async {
        guard !core.shuttingDown.exchange(true, ordering: .relaxed) else { return }
        let (listeners, timer) = runtime.withLock { rt in
            defer {
                rt.serverChannels = []
                rt.otherListeners = []
                rt.timer = nil
            }
            return (rt.serverChannels + rt.otherListeners, rt.timer)
        }
        timer?.cancel()
        core.loops.cancelAll()
        for listener in listeners { try? await listener.close() }
        let now = NIODeadline.now()
        core.withState { $0.closeAll(now: now) }
        let deadline = NIODeadline.now() + timeout
        while core.metrics.socketsOpen.load > 0 && NIODeadline.now() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let store = core.store {
            // What the last connections changed is written before the directory is let go.
            try? await NIOThreadPool.singleton.runIfActive { store.close() }
            logger.info("durable store closed", metadata: ["persistence.dir": "\(store.directory)"])
        }
        try? await ownedGroup?.shutdownGracefully()
    }

    /// Opens the durable store, rebuilds what it holds and starts its writer.
    private func openStore() throws {
        let core = self.core
        let started = NIODeadline.now()
        let sync: StoreSync = configuration.persistenceSyncMilliseconds == 0 ? .always : .interval(milliseconds: configuration.persistenceSyncMilliseconds)
        let store: DurableStore
        do {
            store = try DurableStore(directory: configuration.persistenceDir, sync: sync, maxBytes: Int64(configuration.persistenceMaxBytes))
        } catch {
            throw PersistenceError(description: "\(error)")
        }
        for note in store.notes { logger.error("durable store: \(note)") }
        var report = core.withState { state in
            state.store = store
            return state.restore(store.recover(), time: .current())
        }
        report.milliseconds = (NIODeadline.now() - started).nanoseconds / 1_000_000
        core.attach(store, recovery: report)
        let loops = core.loops
        let logger = self.logger
        store.start(
            exclusively: { cut in core.withState { _ in cut() } },
            batchWritten: { _ in loops.notifyStoreWritten() },
            failed: { error in
                core.metrics.storeWriteFailures.add()
                guard core.storeFailureLog.due() else { return }
                logger.error(
                    "durable store: a batch could not be written; what it acknowledges is refused until writes succeed again",
                    metadata: ["persistence.dir": "\(store.directory)", "error": "\(error)"]
                )
            }
        )
        logger.info(
            "durable store loaded",
            metadata: [
                "persistence.dir": "\(store.directory)",
                "persistence.sync": "\(configuration.persistenceSyncMilliseconds == 0 ? "always" : "\(configuration.persistenceSyncMilliseconds) ms")",
                "sessions": "\(report.sessions)",
                "subscriptions": "\(report.subscriptions)",
                "messages": "\(report.messages)",
                "retained": "\(report.retained)",
                "skipped": "\(report.skipped)",
                "duration.ms": "\(report.milliseconds)",
            ]
        )
    }

    // MARK: - Client table

    /// A snapshot of every session: connected clients and offline persistent ones.
    public func clients() -> [ClientSnapshot] {
        listings().map(ClientSnapshot.init)
    }

    /// One client's snapshot, or nil.
    public func client(id: String) -> ClientSnapshot? {
        core.registry.row(clientId: id).map(ClientSnapshot.init)
    }

    /// The client table as rows of two references each, from the client registry: the
    /// routing lock is not taken; figures are read from their atomics when asked for.
    public func listings() -> [ClientListing] {
        core.registry.rows()
    }

    /// The client registry itself, for queries that need less than the whole table.
    public var registry: ClientRegistry { core.registry }

    /// The subscriptions of every session (or of one client): filter, QoS and 5.0 options.
    public func subscriptions(clientId: String? = nil) -> [(clientId: String, subscription: Subscription)] {
        core.registry.subscriptions(clientId: clientId)
    }

    /// Disconnects a connected client with reason 0x98 (Administrative action); its will is
    /// published and its session discarded. False when no such client is connected.
    @discardableResult
    public func disconnect(clientId: String) -> Bool {
        let now = NIODeadline.now()
        let kicked = core.withState { $0.kick(clientId, now: now) }
        if kicked { logger.info("client disconnected by administrator", metadata: ["client.id": "\(clientId)"]) }
        return kicked
    }

    /// Publishes a message as the broker itself (no publisher client id).
    public func publish(_ message: Message) {
        let now = NIODeadline.now()
        core.withState { _ = $0.publish(message, now: now) }
    }

    /// Gauges now and their maxima since start (maxima of sessions, subscriptions, topics and
    /// retained messages are sampled once a second and at each call).
    public func stats() -> BrokerStats {
        core.withState { $0.stats() }
    }

    /// Most clients accepted at once: `max_connections`, or what the open-file limit allows.
    public var connectionLimit: Int { core.capacity.maxConnections }

    /// Seconds since the broker started.
    public var uptimeSeconds: Int64 {
        (NIODeadline.now() - core.startedAt).nanoseconds / 1_000_000_000
    }

    /// Wall-clock milliseconds when the broker started.
    public var startedAtMs: Int64 { core.startedAtMs }
}
