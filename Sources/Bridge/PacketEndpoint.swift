import MQTTCodec
import NIOCore

/// One side of a bridge: a client connection whose packets the bridge handles itself (it
/// acknowledges nothing on its own; an acknowledgement is passed on from the other side).
/// Packets written during a read go out in one buffer, flushed when the bridge says.
final class PacketEndpoint: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side: String { case upstream, local }

    struct Events {
        var packet: (MQTTPacket) throws -> Void
        var readComplete: () -> Void
        var writabilityChanged: (Bool) -> Void
        var closed: (String) -> Void
    }

    let side: Side
    let version: ProtocolVersion
    private let processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    private let events: Events
    private var context: ChannelHandlerContext?
    private var out: ByteBuffer?
    private var closeReason: String?

    init(side: Side, version: ProtocolVersion, events: Events) {
        self.side = side
        self.version = version
        self.events = events
        self.processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(version: version))
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        if out == nil { out = context.channel.allocator.buffer(capacity: 16 * 1024) }
        packet.write(to: &out!, version: version)
    }

    func flush() {
        guard let context, let pending = out else { return }
        out = nil
        context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
    }

    /// Closes the connection; `reason` is what the bridge reports as the cause.
    func close(_ reason: String) {
        if closeReason == nil { closeReason = reason }
        context?.close(promise: nil)
    }

    func setAutoRead(_ on: Bool) {
        guard let context else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { packet in
                try events.packet(packet)
            }
        } catch {
            close("\(side == .upstream ? "the upstream" : "the local broker") sent what the bridge cannot take: \(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        events.readComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        events.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil { closeReason = "\(side == .upstream ? "upstream" : "local") connection error: \(error)" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.closed(closeReason ?? (side == .upstream ? "the upstream closed the connection" : "the local broker closed the connection"))
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension PacketEndpoint: Sendable {}
