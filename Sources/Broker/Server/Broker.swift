import AviaryLocks
import DurableStore
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
import Glibc
#endif

/// An MQTT 3.1 / 3.1.1 / 5.0 broker. `start()` binds the listener; `clients()`, `client(id:)`
/// and `disconnect(clientId:)` are the API the management layer and tests build on.
public final class Broker: Sendable {
    let core: BrokerCore
    let group: any EventLoopGroup
    /// The group made for `event_loops` (shut down with the broker); nil on a shared group.
    private let ownedGroup: MultiThreadedEventLoopGroup?
    let runtime = Locked(Runtime())
    let bridgeList = Locked<[BridgeStatus]>([])

    struct Runtime {
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
        let timer = startTicks()
        runtime.withLock {
            $0.serverChannels = channels
            $0.timer = timer
        }
        if configuration.sysInterval > 0 { SysTopics.publish(self, now: .now()) }
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
}
