import MQTTCodec
import NIOCore

/// What a client does with its connection. `MQTTClientHandler` speaks the protocol (CONNECT,
/// SUBSCRIBE, acknowledgements of both directions, in-flight count); a behaviour decides what
/// to publish and when, and what to make of what arrives. Called on the channel's event loop.
protocol MQTTClientBehaviour: AnyObject {
    /// CONNACK succeeded and, if the client subscribes, SUBACK arrived.
    func ready(_ client: MQTTClientConnection)
    /// CONNECT was refused or the broker sent bytes the codec rejects; the channel closes.
    func failed(_ error: any Error)
    /// A PUBLISH arrived (its acknowledgement is already written).
    func received(_ publish: PublishPacket, client: MQTTClientConnection)
    /// Every packet of one read was handled; what was written is flushed after this.
    func readComplete(_ client: MQTTClientConnection)
    /// The socket can take more.
    func writabilityChanged(_ client: MQTTClientConnection)
    /// A user event sent down the pipeline (a start signal, say).
    func event(_ event: Any, client: MQTTClientConnection)
    /// The broker completed one of our QoS 1/2 PUBLISHes (PUBACK / PUBCOMP); `accepted` is
    /// false for a failure reason code (5.0, e.g. 0x97).
    func acknowledged(accepted: Bool, client: MQTTClientConnection)
    func closed()
}

extension MQTTClientBehaviour {
    func received(_ publish: PublishPacket, client: MQTTClientConnection) {}
    func readComplete(_ client: MQTTClientConnection) {}
    func writabilityChanged(_ client: MQTTClientConnection) {}
    func event(_ event: Any, client: MQTTClientConnection) {}
    func acknowledged(accepted: Bool, client: MQTTClientConnection) {}
    func closed() {}
}

/// The CONNACK was not a success.
struct ConnectRefused: Error {
    var reasonCode: ReasonCode
}

/// A behaviour's handle on its connection, valid during the call it is given to.
struct MQTTClientConnection {
    fileprivate unowned let handler: MQTTClientHandler
    let context: ChannelHandlerContext

    var eventLoop: any EventLoop { context.eventLoop }
    var isWritable: Bool { context.channel.isWritable }
    /// Our QoS 1/2 messages not yet acknowledged.
    var inflight: Int { handler.inflight }

    /// Appends a PUBLISH to what the next `flush` writes; QoS 1/2 take a packet id and count in flight.
    func publish(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool = false) {
        var id: UInt16?
        if qos != .atMostOnce { id = handler.takePacketId() }
        handler.append(.publish(PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, packetId: id)), context: context)
    }

    func send(_ packet: MQTTPacket) {
        handler.append(packet, context: context)
    }

    /// Writes and flushes what was appended.
    func flush() {
        handler.flush(context: context)
    }

    func close() {
        context.close(promise: nil)
    }
}

/// One MQTT client connection on SwiftNIO with our codec: the load generator's and the demo
/// traffic's. Packets written during one read go out in one buffer and one flush.
final class MQTTClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connect: ConnectPacket
    private let subscriptions: [Subscription]
    private let behaviour: any MQTTClientBehaviour
    private let processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    private var out: ByteBuffer?
    private var nextId: UInt16 = 1
    fileprivate private(set) var inflight = 0

    init(connect: ConnectPacket, subscriptions: [Subscription] = [], behaviour: any MQTTClientBehaviour) {
        self.connect = connect
        self.subscriptions = subscriptions
        self.behaviour = behaviour
        self.processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(version: connect.version))
    }

    fileprivate func takePacketId() -> UInt16 {
        defer { nextId = nextId == .max ? 1 : nextId + 1 }
        inflight += 1
        return nextId
    }

    fileprivate func append(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        if out == nil { out = context.channel.allocator.buffer(capacity: 16 * 1024) }
        packet.write(to: &out!, version: connect.version)
    }

    fileprivate func flush(context: ChannelHandlerContext) {
        // Taken out before the write: a write past the high-water mark calls
        // channelWritabilityChanged at once, and a behaviour that flushes from there must not
        // find these bytes still pending and write them a second time.
        let pending = out
        out = nil
        if let pending, pending.readableBytes > 0 {
            context.write(wrapOutboundOut(pending), promise: nil)
        }
        context.flush()
    }

    private var client: (ChannelHandlerContext) -> MQTTClientConnection {
        { MQTTClientConnection(handler: self, context: $0) }
    }

    /// Sent down the pipeline of a connection that was already open when this handler was added
    /// (after a WebSocket upgrade): CONNECT goes out then.
    struct Start {}

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        append(.connect(connect), context: context)
        flush(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        behaviour.closed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { packet in
                try handle(packet, context: context)
            }
        } catch {
            behaviour.failed(error)
            context.close(promise: nil)
            return
        }
        behaviour.readComplete(client(context))
        flush(context: context)
    }

    private func handle(_ packet: MQTTPacket, context: ChannelHandlerContext) throws {
        switch packet {
        case .connack(let ack):
            guard ack.reasonCode == .success else { throw ConnectRefused(reasonCode: ack.reasonCode) }
            if subscriptions.isEmpty {
                behaviour.ready(client(context))
            } else {
                append(.subscribe(SubscribePacket(packetId: takeSubscribeId(), subscriptions: subscriptions)), context: context)
            }
        case .suback:
            behaviour.ready(client(context))
        case .publish(let publish):
            if let id = publish.packetId {
                append(publish.qos == .atLeastOnce ? .puback(AckPacket(packetId: id)) : .pubrec(AckPacket(packetId: id)), context: context)
            }
            behaviour.received(publish, client: client(context))
        case .pubrel(let ack):
            append(.pubcomp(AckPacket(packetId: ack.packetId)), context: context)
        case .pubrec(let ack):
            append(.pubrel(AckPacket(packetId: ack.packetId)), context: context)
        case .puback(let ack), .pubcomp(let ack):
            inflight -= 1
            behaviour.acknowledged(accepted: !ack.reasonCode.isFailure, client: client(context))
        default:
            break
        }
    }

    /// SUBSCRIBE uses an id our PUBLISHes do not, so it never counts in flight.
    private func takeSubscribeId() -> UInt16 {
        defer { nextId = nextId == .max ? 1 : nextId + 1 }
        return nextId
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Start {
            start(context: context)
            return
        }
        behaviour.event(event, client: client(context))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        behaviour.writabilityChanged(client(context))
        context.fireChannelWritabilityChanged()
    }
}

@available(*, unavailable)
extension MQTTClientHandler: Sendable {}
