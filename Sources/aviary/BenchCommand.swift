import ArgumentParser
import Broker
import MQTTClient
import MQTTCodec

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test an MQTT broker (any broker) and print one JSON line of figures.",
        discussion: """
            Scenarios: fanin (P publishers → 1 wildcard subscriber), fanout (1 publisher → N subscribers), pairs (P publisher/subscriber pairs), \
            latency (1 publisher at a fixed rate → 1 subscriber; p50/p99/p999/max from timestamps in the payloads), conns (C idle connections: \
            connect rate and successes, held open for --duration seconds). Every run is bounded by --messages/--duration and --timeout; loss = \
            expected − received. scripts/bench.sh runs them against aviary and Mosquitto side by side.

            Examples:
              aviary bench fanin --port 1883 --qos 1 --publishers 8 --messages 20000
              aviary bench fanout --subscribers 16 --messages 10000 --size 256
              aviary bench latency --rate 10000 --duration 10 --qos 1 --mqtt-version 5
              aviary bench conns --connections 10000 --duration 5
            """
    )

    @Argument(help: "fanin, fanout, pairs, latency or conns.") var scenario: String
    @Option(name: .customLong("host"), help: "Broker address.") var host = "127.0.0.1"
    @Option(name: .customLong("port"), help: "Broker port.") var port = 1883
    @Option(name: .customLong("ws-path"), help: "Speak MQTT over WebSockets to ws://HOST:PORT/PATH (subprotocol mqtt) instead of plain TCP.")
    var wsPath: String?
    @Option(
        name: .customLong("subscribe-port"),
        help: "Port the subscribers connect to, if not --port (across a bridge: publishers on the edge broker, subscribers on its upstream)."
    ) var subscribePort: Int?
    @Option(name: .customLong("qos"), help: "QoS of publishes and subscriptions: 0, 1 or 2.") var qos = 0
    @Option(name: .customLong("size"), help: "Payload bytes (at least 8).") var size = 64
    @Option(name: .customLong("mqtt-version"), help: "3.1.1 or 5.") var mqttVersion = "3.1.1"
    @Option(name: .customLong("publishers"), help: "Publishers (fanin) or pairs (pairs).") var publishers = 8
    @Option(name: .customLong("subscribers"), help: "Subscribers (fanout).") var subscribers = 8
    @Option(name: .customLong("messages"), help: "Messages per publisher (fanin, fanout, pairs).") var messages = 10_000
    @Option(name: .customLong("rate"), help: "Messages per second (latency).") var rate = 10_000
    @Option(name: .customLong("duration"), help: "Seconds of sending (latency) or of holding connections (conns).") var duration = 10.0
    @Option(name: .customLong("connections"), help: "Connections to open (conns).") var connections = 1_000
    @Option(
        name: .customLong("concurrency"),
        help: "Connection attempts in progress at once (conns); keep it under the broker's listen backlog (Mosquitto's is 100)."
    ) var concurrency = 64
    @Option(name: .customLong("inflight"), help: "Unacknowledged QoS 1/2 messages per publisher.") var inflight = 64
    @Option(name: .customLong("timeout"), help: "Upper bound of the whole run in seconds.") var timeout = 120.0
    @Flag(
        name: .customLong("persistent-sessions"),
        help: "Clients keep their sessions (3.1.1 clean session 0, 5.0 expiry 3600 s): with durability on, what is queued for subscribers is stored."
    ) var persistentSessions = false
    @Option(
        name: .customLong("send-buffer"),
        help:
            """
            SO_SNDBUF of each client socket in bytes, so that a publisher's messages wait in the broker, not in the generator's kernel buffer (0 = \
            the kernel's autotuning; default 16384 at QoS 0, 65536 at QoS 1/2, where the in-flight window bounds what waits).
            """
    ) var sendBuffer: Int?
    @Option(
        name: .customLong("write-buffer"),
        help:
            """
            Bytes a client may have waiting in the generator before it stops producing (send times are stamped when a message is produced, so this \
            queue would count as the broker's latency; default 8192 at QoS 0, 262144 at QoS 1/2).
            """
    ) var writeBuffer: Int?

    func validate() throws {
        guard BenchOptions.Scenario(rawValue: scenario) != nil else {
            throw ValidationError("SCENARIO: expected fanin, fanout, pairs, latency or conns, got '\(scenario)'")
        }
        guard (0...2).contains(qos) else { throw ValidationError("--qos: expected 0, 1 or 2") }
        guard ["3.1.1", "5", "5.0"].contains(mqttVersion) else { throw ValidationError("--mqtt-version: expected 3.1.1 or 5") }
        guard size >= 8, size <= 16 * 1024 * 1024 else { throw ValidationError("--size: expected 8 to 16777216 bytes") }
        guard publishers >= 1, subscribers >= 1, messages >= 1, rate >= 1, connections >= 1, concurrency >= 1, inflight >= 1 else {
            throw ValidationError("--publishers, --subscribers, --messages, --rate, --connections, --concurrency and --inflight: expected ≥ 1")
        }
        guard (sendBuffer ?? 0) >= 0 else { throw ValidationError("--send-buffer: expected bytes ≥ 0") }
        guard (writeBuffer ?? 2) >= 2 else { throw ValidationError("--write-buffer: expected bytes ≥ 2") }
        guard duration > 0, timeout > 0 else { throw ValidationError("--duration and --timeout: expected seconds > 0") }
    }

    func run() async throws {
        var o = BenchOptions(scenario: BenchOptions.Scenario(rawValue: scenario)!)
        o.host = host
        o.port = port
        o.subscriberPort = subscribePort
        o.webSocketPath = wsPath
        o.qos = QoS(rawValue: UInt8(qos))!
        o.payloadSize = size
        o.version = mqttVersion == "3.1.1" ? .v3_1_1 : .v5
        o.publishers = publishers
        o.subscribers = subscribers
        o.messages = messages
        o.rate = rate
        o.duration = duration
        o.connections = connections
        o.concurrency = concurrency
        o.inflight = inflight
        o.timeout = timeout
        o.sendBuffer = sendBuffer
        o.writeBuffer = writeBuffer
        o.persistentSessions = persistentSessions
        o.prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"
        let result = try await LoadGenerator.run(o)
        print(result.json)
    }
}
