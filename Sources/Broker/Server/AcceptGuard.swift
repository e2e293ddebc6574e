import AviaryLocks
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// On the listening channel, before NIO's accept handler: counts every accepted socket at once
/// (the child initializers run later, on other event loops, so a burst of accepts would not
/// see its own sockets) and closes the ones over `maxSockets` before they reach MQTT; while
/// the closes of refused sockets are still under way (they run on the sockets' own event
/// loops) and would take the last descriptors, it stops accepting for 10 ms at a time. Also
/// counts accept failures (EMFILE and the like; NIO's `AcceptBackoffHandler` before it pauses
/// accepting for 100 ms instead of spinning on them). Logs both at most once every 10 s.
final class AcceptGuard: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = any Channel

    private let core: BrokerCore
    private var pausedRead: Scheduled<Void>?

    init(core: BrokerCore) {
        self.core = core
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = unwrapInboundIn(data)
        let metrics = core.metrics
        metrics.socketsOpen.add()
        accepted.closeFuture.whenComplete { _ in metrics.socketsOpen.subtract() }
        guard metrics.socketsOpen.load <= core.capacity.maxSockets else {
            metrics.socketsRefused.add()
            accepted.close(promise: nil)
            log("at capacity: sockets over the limit are closed as they arrive")
            return
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard pausedRead == nil else { return }
        guard core.metrics.socketsOpen.load >= core.capacity.maxSockets + ConnectionCapacity.refusing else {
            context.read()
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pausedRead = context.eventLoop.scheduleTask(in: .milliseconds(10)) {
            let (guardHandler, context) = bound.value
            guardHandler.pausedRead = nil
            guardHandler.read(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pausedRead?.cancel()
        pausedRead = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.metrics.acceptErrors.add()
        log("cannot accept connections: \(error)")
    }

    private func log(_ message: Logger.Message) {
        guard core.capacityLog.withLock({ $0.due() }) else { return }
        let capacity = core.capacity
        core.logger.warning(
            message,
            metadata: [
                "sockets.open": "\(core.metrics.socketsOpen.load)",
                "connections.max": "\(capacity.maxConnections)",
                "open_files.limit": "\(capacity.fileLimit)",
                "sockets.refused": "\(core.metrics.socketsRefused.load)",
                "accept.errors": "\(core.metrics.acceptErrors.load)",
            ]
        )
    }
}
