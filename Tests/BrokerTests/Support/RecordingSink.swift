import AviaryLocks
import Logging
import MQTTCodec
import NIOCore
import Synchronization

@testable import Broker

/// A connection without a socket: records what the broker's state sends it.
final class RecordingSink: DeliverySink {
    let version: ProtocolVersion
    private let writable: Atomic<Bool>
    private let recorded = Locked<[Outbound]>([])

    init(version: ProtocolVersion = .v5, writable: Bool = true) {
        self.version = version
        self.writable = Atomic(writable)
    }

    var isWritable: Bool { writable.load(ordering: .relaxed) }
    func setWritable(_ value: Bool) { writable.store(value, ordering: .relaxed) }

    func send(_ item: Outbound) {
        recorded.withLock { $0.append(item) }
    }

    /// Subscribers holding this sink back now (flow control), as `ConnectionLink` counts them.
    private let holds = Atomic<Int>(0)
    var heldBy: Int { holds.load(ordering: .relaxed) }

    func hold() {
        holds.add(1, ordering: .relaxed)
    }

    func release() {
        if holds.subtract(1, ordering: .relaxed).newValue == 0 { send(.resume) }
    }

    /// Everything sent so far, then forgets it.
    func take() -> [Outbound] {
        recorded.withLock { items in
            defer { items.removeAll() }
            return items
        }
    }

    /// The PUBLISH packets sent so far (forgetting everything).
    func publishes() -> [PublishPacket] {
        take().compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }
}

/// A broker state and helpers to drive it without connections.
struct StateHarness {
    var state: BrokerState
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)

    init(logger: Logger = Logger(label: "test"), _ configure: (inout BrokerConfiguration) -> Void = { _ in }) {
        var configuration = BrokerConfiguration()
        configure(&configuration)
        state = BrokerState(configuration: configuration, maxConnections: 100_000, metrics: BrokerMetrics(), security: .open, logger: logger)
    }

    static func identity(_ clientId: String, _ version: ProtocolVersion = .v5) -> ClientIdentity {
        let info = ClientInfo(
            clientId: clientId,
            username: nil,
            peerAddress: "127.0.0.1",
            peerPort: 1,
            protocolVersion: version,
            keepAlive: 60,
            cleanStart: true,
            connectedAtMs: 0
        )
        return ClientIdentity(info: info, counters: ConnectionCounters())
    }

    /// CONNECTs `clientId` over `sink`; returns its key and Session Present.
    mutating func connect(
        _ clientId: String,
        sink: RecordingSink,
        cleanStart: Bool = true,
        expiry: UInt32 = 0,
        will: Will? = nil
    ) -> (key: SessionKey, present: Bool) {
        let packet = ConnectPacket(version: sink.version, clientId: clientId, cleanStart: cleanStart, keepAlive: 60, will: will)
        let request = ConnectRequest(
            packet: packet,
            clientId: clientId,
            sink: sink,
            identity: Self.identity(clientId, sink.version),
            expiryInterval: expiry,
            window: 10,
            clientMaximumPacketSize: .max
        )
        guard case .accepted(let key, let present) = state.connect(request, now: now) else { fatalError("refused") }
        return (key, present)
    }

    mutating func subscribe(_ key: SessionKey, _ sink: RecordingSink, _ filter: String, qos: QoS = .atLeastOnce) throws -> [ReasonCode]? {
        try state.subscribe(
            SubscribePacket(packetId: 1, subscriptions: [Subscription(topicFilter: filter, qos: qos)]),
            key: key,
            sink: sink,
            now: now
        )
    }

    /// Publishes without a connection (like a will); returns how many sessions matched.
    @discardableResult
    mutating func publish(
        _ topic: String,
        _ payload: String = "x",
        qos: QoS = .atLeastOnce,
        retain: Bool = false,
        from publisher: String? = nil
    ) -> Int {
        state.publish(Message(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, publisherId: publisher), now: now).matched
    }

    /// Publishes from the connected client `key`/`sink`, which flow control may hold back.
    @discardableResult
    mutating func publish(_ topic: String, _ payload: String = "x", qos: QoS = .atLeastOnce, key: SessionKey, sink: RecordingSink) -> PublishResult {
        state.publish(
            Message(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: false, publisherId: nil),
            key: key,
            sink: sink,
            now: now
        )
    }
}

/// Log lines written through a `Logger`, kept for a test to read ("LEVEL message").
final class LogRecorder: Sendable {
    let lines = Locked<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }
}
