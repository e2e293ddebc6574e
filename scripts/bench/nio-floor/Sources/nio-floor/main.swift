// Usage: nio-floor PORT [handler]
// Accepts TCP connections on 127.0.0.1:PORT with aviary's child-channel options; with
// "handler", each channel gets one inbound handler that drops what it reads.
import NIOCore
import NIOPosix

final class Discard: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: nio-floor PORT [handler]")
    exit(2)
}
let withHandler = arguments.count > 2 && arguments[2] == "handler"
let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
    .childChannelInitializer { channel in
        withHandler ? channel.pipeline.addHandler(Discard()) : channel.eventLoop.makeSucceededVoidFuture()
    }
    .bind(host: "127.0.0.1", port: port).wait()
print("listening on \(port)")
try channel.closeFuture.wait()
