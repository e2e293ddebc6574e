import MQTTCodec
import NIOCore

/// `$SYS/broker/...` topics, published retained every `sysInterval` seconds as Mosquitto does.
enum SysTopics {
    static func publish(core: BrokerCore, now: NIODeadline) {
        let m = core.metrics
        let uptime = (now - core.startedAt).nanoseconds / 1_000_000_000
        core.withState { state in
            let stats = state.stats()
            let connected = stats.connections
            let values: [(String, String)] = [
                ("version", "\(core.configuration.name) version \(AviaryVersion.current)"),
                ("uptime", "\(uptime) seconds"),
                ("clients/connected", "\(connected)"),
                ("clients/disconnected", "\(stats.sessions - connected)"),
                ("clients/total", "\(stats.sessions)"),
                ("clients/maximum", "\(stats.connectionsMax)"),
                ("messages/received", "\(m.messagesReceived.load)"),
                ("messages/sent", "\(m.messagesSent.load)"),
                ("messages/dropped", "\(m.messagesDropped.load)"),
                ("bytes/received", "\(m.bytesReceived.load)"),
                ("bytes/sent", "\(m.bytesSent.load)"),
                ("packets/received", "\(m.packetsReceived.load)"),
                ("packets/sent", "\(m.packetsSent.load)"),
                ("subscriptions/count", "\(stats.subscriptions)"),
                ("retained messages/count", "\(stats.retained)"),
                ("protocol errors", "\(m.protocolErrors.load)"),
            ]
            for (topic, value) in values {
                let message = Message(
                    topic: "$SYS/broker/" + topic,
                    payload: ByteBuffer(string: value),
                    qos: .atMostOnce,
                    retain: true
                )
                state.publish(message, now: now)
            }
        }
    }
}
