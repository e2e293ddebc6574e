import NIOCore
import NIOWebSocket

/// MQTT over WebSockets (MQTT 5.0 section 6, 3.1.1 section 6): binary frames carry MQTT bytes,
/// split or joined anywhere; the MQTT handler behind this one sees the byte stream it sees on
/// TCP (so the broker's counters count MQTT bytes, not frame bytes). The broker's listener and
/// the load generator's WebSocket clients use it.
public final class WebSocketMQTTFrames: ChannelDuplexHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = WebSocketFrame

    private var closeSent = false
    /// A client masks every frame it sends (RFC 6455 section 5.3); a server never does.
    private let masking: Bool

    public init(masking: Bool = false) {
        self.masking = masking
    }

    private var maskKey: WebSocketMaskingKey? { masking ? .random() : nil }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            let bytes = frame.unmaskedData
            if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
        case .text:
            // [MQTT-6.0.0-1] MQTT travels in binary frames only: the connection is closed.
            sendClose(context, code: .unacceptableData, reason: "MQTT is carried in binary frames")
            context.close(promise: nil)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey, data: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            sendClose(context, code: .normalClosure, reason: nil)  // the closing handshake's answer
            context.close(promise: nil)
        default:
            sendClose(context, code: .protocolError, reason: "unknown opcode")
            context.close(promise: nil)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: maskKey, data: bytes)), promise: promise)
    }

    /// The MQTT side closes (or shuts its output): the WebSocket closing handshake goes first.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode != .input { sendClose(context, code: .normalClosure, reason: nil) }
        context.close(mode: mode, promise: promise)
    }

    private func sendClose(_ context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String?) {
        guard !closeSent, context.channel.isActive else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(reason) }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: data)), promise: nil)
    }
}
