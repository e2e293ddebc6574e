import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The listeners: plain MQTT, MQTT over TLS and over WebSockets, each one socket or one per
/// event loop, and what every accepted connection is set up with.
extension Broker {
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
    func listen(host: String, port: Int, tls: NIOSSLContext?, webSocketPath: String? = nil) async throws -> [any Channel] {
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
        return
            bootstrap
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
                        try upgraded.pipeline.syncOperations.addHandler(
                            MQTTConnectionHandler(core: core, logger: logger, now: upgraded.eventLoop.now)
                        )
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
}
