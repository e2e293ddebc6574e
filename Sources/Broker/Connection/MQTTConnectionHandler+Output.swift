import MQTTCodec
import NIOCore
import Synchronization

/// Output: what the broker queued for this client and the connection's own packets, batched
/// and flushed once per read or delivery batch; bytes counted as sent when written.
extension MQTTConnectionHandler {
    /// Writes what the broker queued for this client, then flushes once.
    func writeOutbound(_ items: [Outbound]) {
        for item in items {
            switch item {
            case .publish(let publish):
                writePublish(publish)
            case .packet(let packet):
                writePacket(packet)
            case .close(let close):
                guard machine.close(close.kind, reason: close.description) else { continue }
                if version == .v5 { writePacket(.disconnect(Self.disconnect(close.reasonCode))) }
                if close.waitsForFlush {
                    closeAfterFlush()
                } else {
                    flushOutput()
                    context?.close(promise: nil)
                }
            case .resume:
                resumeFlow()
            }
        }
        flushOutput()
    }

    func writePacket(_ packet: MQTTPacket) {
        guard let context else { return }
        ConnectionCounters.add(counters.sendPkt, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(packet.type.rawValue)].add()
        output.append(packet, version: version, allocator: context.channel.allocator)
    }

    private func writePublish(_ outgoing: PublishPacket) {
        guard let context else { return }
        var publish = outgoing
        if outgoingAliases != nil {
            let saved = outgoingAliases!.apply(to: &publish)
            core.metrics.topicAliasBytesSaved.add(UInt64(saved))
            core.metrics.topicAliasBytesSpent.add(UInt64(OutgoingTopicAliases.propertyBytes))
        }
        ConnectionCounters.add(counters.sendPkt, 1)
        ConnectionCounters.add(counters.sendMsg, 1)
        core.metrics.packetsSent.add()
        core.metrics.packetsSentByType[Int(PacketType.publish.rawValue)].add()
        core.metrics.messagesSent.add()
        core.metrics.messagesSentByQoS[Int(publish.qos.rawValue)].add()
        output.append(publish, version: version, allocator: context.channel.allocator) { buffer in
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// Writes everything batched and flushes; the bytes are counted as sent when written.
    @discardableResult
    func flushOutput() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        guard let (last, bytes) = output.finish(emit: { context.write(wrapOutboundOut($0), promise: nil) }) else { return nil }
        let counters = self.counters
        let metrics = core.metrics
        ConnectionCounters.add(counters.sendPend, bytes)
        ConnectionCounters.add(counters.events, 1)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            ConnectionCounters.subtract(counters.sendPend, bytes)
            if case .success = result {
                ConnectionCounters.add(counters.sendOct, bytes)
                ConnectionCounters.add(counters.sendCnt, 1)
                metrics.bytesSent.add(bytes)
            }
        }
        context.writeAndFlush(wrapOutboundOut(last), promise: promise)
        return promise.futureResult
    }
}
