import MQTTWebSocket
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// A client connection that speaks MQTT over WebSockets: an HTTP upgrade to `path` with the
/// `mqtt` subprotocol, then masked binary frames carrying the MQTT bytes.
enum WebSocketClientPipeline {
    struct NotUpgraded: Error, CustomStringConvertible {
        var description: String { "the server did not upgrade the connection to a WebSocket" }
    }

    /// Sets up the upgrade; `mqtt` adds the MQTT handler once it is done (the channel is active
    /// by then, so the handler sends CONNECT when it is added).
    static func configure(
        _ channel: any Channel,
        host: String,
        path: String,
        ready: EventLoopPromise<Void>,
        mqtt: @escaping @Sendable (any Channel) throws -> Void
    ) throws {
        let upgrader = NIOTypedWebSocketClientUpgrader<Bool>(
            maxFrameSize: 16 * 1024 * 1024 + 1024,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketMQTTFrames(masking: true))
                    try mqtt(channel)
                    return true
                }
            }
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Sec-WebSocket-Protocol", value: "mqtt")
        headers.add(name: "Content-Length", value: "0")
        let configuration = NIOTypedHTTPClientUpgradeConfiguration<Bool>(
            upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers),
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { false } }
        )
        let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
            configuration: .init(upgradeConfiguration: configuration)
        )
        upgraded.whenComplete { result in
            switch result {
            case .success(true):
                // The upgrade handler is gone only now: CONNECT written earlier would not go out.
                channel.pipeline.fireUserInboundEventTriggered(MQTTClientHandler.Start())
            case .success(false): ready.fail(NotUpgraded())
            case .failure(let error): ready.fail(error)
            }
        }
    }
}
