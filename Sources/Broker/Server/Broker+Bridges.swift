import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A socket pair for a bridge's local side could not be made.
public struct BridgeSocketError: Error, CustomStringConvertible {
    public let description: String
}

/// What a bridge (the `Bridge` target) needs of the broker: its local side is an ordinary MQTT
/// connection to this broker, made over a socket pair instead of TCP, so it follows every rule
/// of a client — sessions, queues, flow control, acknowledgements that wait for the durable
/// store, counters, the client table, kick — except authentication and ACLs (it is the
/// operator's own configuration).
extension Broker {
    /// Opens a connection to this broker for `bridge` on `eventLoop`: the broker's handler
    /// serves one end; the other end is returned for the bridge to speak MQTT on.
    public func openBridgeSocket(_ bridge: BridgeStatus, on eventLoop: any EventLoop) -> EventLoopFuture<NIOBSDSocket.Handle> {
        var fds: [CInt] = [-1, -1]
        #if canImport(Glibc)
        let type = CInt(SOCK_STREAM.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            return eventLoop.makeFailedFuture(BridgeSocketError(description: "socketpair failed: errno \(errno)"))
        }
        let (brokerEnd, bridgeEnd) = (fds[0], fds[1])
        let core = self.core
        let logger = self.logger
        return ClientBootstrap(group: eventLoop)
            .channelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .channelInitializer { channel in
                // Counted while open, like an accepted socket (shutdown waits for it to close).
                core.metrics.socketsOpen.add()
                channel.closeFuture.whenComplete { _ in core.metrics.socketsOpen.subtract() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        MQTTConnectionHandler(core: core, logger: logger, now: channel.eventLoop.now, bridge: bridge)
                    )
                }
            }
            .withConnectedSocket(brokerEnd)
            .map { _ in bridgeEnd }
            .flatMapErrorThrowing { error in
                close(bridgeEnd)  // the broker's end belongs to the failed channel, or is closed here
                if fcntl(brokerEnd, F_GETFD) != -1 { close(brokerEnd) }
                throw error
            }
    }

    /// The upstream of `bridge` started a new session: QoS 2 packet ids it had left awaiting
    /// PUBREL in the bridge's local session are stale, and a new message under one of them
    /// must not be taken for a duplicate.
    public func forgetIncomingQoS2(of bridge: BridgeStatus) {
        core.withState { $0.forgetIncomingQoS2(clientId: bridge.localClientId) }
    }

    /// Makes `bridge` part of `/metrics` and the bridge listing.
    public func register(_ bridge: BridgeStatus) {
        bridgeList.withLock { $0.append(bridge) }
    }

    /// The bridges configured, in configuration order.
    public var bridges: [BridgeStatus] { bridgeList.withLock { $0 } }
}
