import MQTTCodec
import NIOCore

/// `$SYS/broker/...` topics, published retained every `sysInterval` seconds as Mosquitto does:
/// the version, and every figure of `Broker.metricCatalogue()` that has a `$SYS` name.
enum SysTopics {
    static func publish(_ broker: Broker, now: NIODeadline) {
        var values = [("version", "\(broker.configuration.name) version \(AviaryVersion.current)")]
        for metric in broker.metricCatalogue() {
            if let topic = metric.sys { values.append((topic, "\(metric.value)\(metric.sysUnit)")) }
        }
        broker.core.withState { state in
            for (topic, value) in values {
                let message = Message(topic: "$SYS/broker/" + topic, payload: ByteBuffer(string: value), qos: .atMostOnce, retain: true)
                state.publish(message, now: now)
            }
        }
    }
}
