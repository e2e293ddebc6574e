import MQTTWebSocket
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Answers what is not a WebSocket upgrade to the MQTT path with a plain-text HTTP error that
/// says what the listener expects, then closes. Removed when a connection upgrades.
final class WebSocketOnlyResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let path: String

    init(path: String) {
        self.path = path
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let status: HTTPResponseStatus
        let message: String
        if WebSocketListener.path(of: head.uri) != path {
            status = .notFound
            message = "MQTT over WebSockets is served at \(path)\n"
        } else if !head.headers[canonicalForm: "upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
            status = .upgradeRequired
            message = "\(path) speaks MQTT over WebSockets only: send a WebSocket upgrade (Sec-WebSocket-Protocol: mqtt)\n"
        } else {
            status = .badRequest
            message = "the WebSocket upgrade needs Sec-WebSocket-Protocol mqtt (or mqttv3.1 for MQTT 3.1 clients)\n"
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(message.utf8.count)")
        headers.add(name: "Connection", value: "close")
        if status == .upgradeRequired { headers.add(name: "Upgrade", value: "websocket") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: message)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// How a WebSocket listener's connections are set up: HTTP until the upgrade on `path` with the
/// `mqtt` (or `mqttv3.1`) subprotocol, then frames carrying MQTT to a `MQTTConnectionHandler`.
enum WebSocketListener {
    /// The request target's path, without a query.
    static func path(of uri: String) -> String {
        String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    static func configure(
        _ channel: any Channel,
        path: String,
        maxFrameSize: Int,
        connectTimeout: TimeAmount,
        mqtt: @escaping @Sendable (any Channel) throws -> Void
    ) throws {
        let upgraded = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize,
            shouldUpgrade: { channel, head in
                guard Self.path(of: head.uri) == path else { return channel.eventLoop.makeSucceededFuture(nil) }
                let offered = head.headers[canonicalForm: "sec-websocket-protocol"].map { $0.lowercased() }
                var headers = HTTPHeaders()
                if let chosen = offered.first(where: { $0 == "mqtt" || $0 == "mqttv3.1" }) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: String(chosen))
                } else if !offered.isEmpty {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    upgraded.value = true
                    try channel.pipeline.syncOperations.addHandler(WebSocketMQTTFrames())
                    try mqtt(channel)
                }
            }
        )
        let encoder = HTTPResponseEncoder()
        let responder = WebSocketOnlyResponder(path: path)
        let pipeline = channel.pipeline.syncOperations
        // The upgrade removes every HTTP handler: the encoder it is given, and these.
        let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
        try pipeline.addHandler(encoder)
        try pipeline.addHandler(decoder)
        try pipeline.addHandler(
            HTTPServerUpgradeHandler(
                upgraders: [upgrader],
                httpEncoder: encoder,
                extraHTTPHandlers: [decoder, responder],
                upgradeCompletionHandler: { _ in }
            )
        )
        try pipeline.addHandler(responder)
        // No CONNECT timeout runs before the upgrade: a socket that never upgrades is closed
        // after the same time.
        channel.eventLoop.scheduleTask(in: connectTimeout) {
            if !upgraded.value { channel.close(promise: nil) }
        }
    }
}
