import AviaryLocks
import Dispatch
import MQTTCodec
import NIOCore
import NIOPosix
import Synchronization

/// What `aviary bench` runs: an MQTT load generator on SwiftNIO, in the spirit of emqtt-bench,
/// against any broker. Every run is bounded in messages and time and reports loss honestly.
public struct BenchOptions: Sendable {
    public enum Scenario: String, CaseIterable, Sendable {
        /// P publishers → 1 subscriber on a wildcard.
        case fanin
        /// 1 publisher → N subscribers.
        case fanout
        /// P independent publisher → subscriber pairs.
        case pairs
        /// 1 publisher at a fixed rate → 1 subscriber; send timestamps in the payloads.
        case latency
        /// C idle connections: connect rate and successes.
        case conns
    }

    public var scenario: Scenario
    public var host = "127.0.0.1"
    public var port = 1883
    /// Where subscribers connect, when not to `port`: across a bridge, publishers use the edge
    /// broker and subscribers its upstream.
    public var subscriberPort: Int?
    /// MQTT over WebSockets (`ws://host:port/PATH`, subprotocol `mqtt`) instead of plain TCP.
    public var webSocketPath: String?
    public var qos: QoS = .atMostOnce
    public var payloadSize = 64
    public var version: ProtocolVersion = .v3_1_1
    /// Publishers (fanin) or pairs (pairs).
    public var publishers = 8
    /// Subscribers (fanout).
    public var subscribers = 8
    /// Messages per publisher (fanin, fanout, pairs).
    public var messages = 10_000
    /// Messages per second (latency).
    public var rate = 10_000
    /// Seconds of sending (latency) or of holding the connections open (conns).
    public var duration = 10.0
    /// Idle connections to open (conns).
    public var connections = 1_000
    /// Connection attempts in progress at once (conns): each finished one starts the next.
    /// Kept under the broker's listen backlog (Mosquitto's is 100), or the kernel drops SYNs
    /// and the figure measures SYN retries instead of the broker.
    public var concurrency = 64
    /// Unacknowledged QoS 1/2 messages per publisher.
    public var inflight = 64
    /// SO_SNDBUF of every client socket, in bytes; 0 leaves it to the kernel; nil = by QoS
    /// (`defaultBuffers`).
    public var sendBuffer: Int?
    /// Bytes a client may have waiting in its channel before it stops producing (NIO's write
    /// high-water mark); nil = by QoS (`defaultBuffers`).
    public var writeBuffer: Int?

    /// A message's send time is stamped when it is made, so what waits in the generator's own
    /// buffers would count as the broker's latency. At QoS 0 nothing but these buffers bounds
    /// what a publisher has outstanding: they are small (8 KiB channel, 16 KiB socket). At QoS
    /// 1/2 the in-flight window bounds it (64 × a message), so the buffers never fill and are
    /// large enough not to slow the generator (256 KiB, 64 KiB).
    public var buffers: (write: Int, send: Int) {
        let defaults = qos == .atMostOnce ? (write: 8192, send: 16384) : (write: 262_144, send: 65536)
        return (writeBuffer ?? defaults.write, sendBuffer ?? defaults.send)
    }
    /// Clients ask for sessions that outlive their connection (3.1.1: clean session 0; 5.0:
    /// Session Expiry Interval 3600), so a broker with durability stores what is queued for them.
    public var persistentSessions = false
    /// Upper bound of the whole run, in seconds.
    public var timeout = 120.0
    /// Prefix of client ids and topics, so that runs do not meet.
    public var prefix = "bench"

    public init(scenario: Scenario) { self.scenario = scenario }
}

/// One run's figures, printed as one JSON line.
public struct BenchResult: Sendable {
    public var options: BenchOptions
    public var sent = 0
    /// QoS 1/2 messages the broker acknowledged with success (PUBACK / PUBCOMP).
    public var acked = 0
    public var expected = 0
    public var received = 0
    public var seconds = 0.0
    public var connected = 0
    public var failed = 0
    /// Latency percentiles in microseconds (latency scenario).
    public var latency: (p50: Double, p99: Double, p999: Double, max: Double)?

    public var loss: Int { expected - received }
    /// Deliveries owed for the messages the broker acknowledged that never arrived: a
    /// message acknowledged and then dropped.
    public var ackedThenLost: Int {
        let copies = options.scenario == .fanout ? options.subscribers : 1
        return max(0, acked * copies - received)
    }
    public var throughput: Double { seconds > 0 ? Double(received) / seconds : 0 }

    public var json: String {
        var fields: [(String, String)] = [
            ("scenario", "\"\(options.scenario.rawValue)\""), ("broker", "\"\(options.host):\(options.port)\""),
            ("qos", "\(options.qos.rawValue)"), ("size", "\(options.payloadSize)"), ("version", "\"\(options.version.displayName)\""),
        ]
        switch options.scenario {
        case .conns:
            fields += [
                ("connections", "\(options.connections)"), ("connected", "\(connected)"), ("failed", "\(failed)"),
                ("seconds", format(seconds)), ("connects_per_s", format(seconds > 0 ? Double(connected) / seconds : 0)),
            ]
        default:
            fields += [
                ("publishers", "\(options.scenario == .fanout || options.scenario == .latency ? 1 : options.publishers)"),
                ("subscribers", "\(options.scenario == .fanout ? options.subscribers : options.scenario == .pairs ? options.publishers : 1)"),
                ("sent", "\(sent)"), ("expected", "\(expected)"), ("received", "\(received)"), ("loss", "\(loss)"),
                ("seconds", format(seconds)), ("msgs_per_s", format(throughput)),
            ]
            if options.qos != .atMostOnce { fields += [("acked", "\(acked)"), ("acked_then_lost", "\(ackedThenLost)")] }
            if options.scenario == .latency { fields += [("rate", "\(options.rate)")] }
            if let l = latency {
                fields += [("p50_us", format(l.p50)), ("p99_us", format(l.p99)), ("p999_us", format(l.p999)), ("max_us", format(l.max))]
            }
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    private func format(_ x: Double) -> String { "\((x * 10).rounded() / 10)" }
}

public enum LoadGenerator {
    /// Runs one scenario to completion (or to `timeout`) and closes every connection.
    public static func run(_ o: BenchOptions, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> BenchResult {
        let counters = BenchCounters()
        var result = BenchResult(options: o)
        var channels: [any Channel] = []
        defer { for channel in channels { channel.close(promise: nil) } }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(o.timeout * 1e9)

        if o.scenario == .conns {
            let started = DispatchTime.now().uptimeNanoseconds
            channels = await withTaskGroup(of: (any Channel)?.self) { tasks in
                var next = 0
                func start() {
                    let i = next
                    next += 1
                    tasks.addTask { try? await connect(o, id: "\(o.prefix)-c\(i)", role: .idle, counters: counters, loop: group.next()) }
                }
                while next < min(o.concurrency, o.connections) { start() }
                var opened: [any Channel] = []
                for await channel in tasks {
                    if let channel { opened.append(channel) }
                    if next < o.connections, DispatchTime.now().uptimeNanoseconds < deadline { start() }
                }
                return opened
            }
            result.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            result.connected = channels.count
            result.failed = o.connections - channels.count
            try? await Task.sleep(for: .seconds(o.duration))
            return result
        }

        // Subscribers first, then publishers; nothing is sent before everyone is ready.
        var publishers: [(topic: String, count: Int)] = []
        var subscriptions: [String] = []
        switch o.scenario {
        case .fanin:
            subscriptions = ["\(o.prefix)/fanin/#"]
            publishers = (0..<o.publishers).map { ("\(o.prefix)/fanin/\($0)", o.messages) }
            result.expected = o.publishers * o.messages
        case .fanout:
            subscriptions = Array(repeating: "\(o.prefix)/fanout", count: o.subscribers)
            publishers = [("\(o.prefix)/fanout", o.messages)]
            result.expected = o.subscribers * o.messages
        case .pairs:
            subscriptions = (0..<o.publishers).map { "\(o.prefix)/pair/\($0)" }
            publishers = (0..<o.publishers).map { ("\(o.prefix)/pair/\($0)", o.messages) }
            result.expected = o.publishers * o.messages
        case .latency:
            subscriptions = ["\(o.prefix)/latency"]
            let count = Int(Double(o.rate) * o.duration)
            publishers = [("\(o.prefix)/latency", count)]
            result.expected = count
        case .conns:
            preconditionFailure("handled above")
        }
        // At QoS 0, subscribers take the first loops and publishers the others while there are
        // others, so that a subscriber's reads do not wait behind publishers' writes on its
        // thread (that wait would count as the broker's latency at saturation). At QoS 1/2 the
        // windows bound that wait, and sharing the threads drives the broker harder (fan-in
        // QoS 1: ~10 % more with the publishers spread over every thread).
        let loops = Array(group.makeIterator())
        let apart = o.qos == .atMostOnce && loops.count > subscriptions.count
        let publisherLoops = apart ? Array(loops[subscriptions.count...]) : loops
        for (i, filter) in subscriptions.enumerated() {
            channels.append(
                try await connect(o, id: "\(o.prefix)-s\(i)", role: .subscriber(filter), counters: counters, loop: loops[i % loops.count])
            )
        }
        var publisherChannels: [any Channel] = []
        for (i, p) in publishers.enumerated() {
            let role = BenchClient.Role.publisher(topic: p.topic, count: p.count, rate: o.scenario == .latency ? o.rate : nil)
            publisherChannels.append(
                try await connect(
                    o,
                    id: "\(o.prefix)-p\(i)",
                    role: role,
                    counters: counters,
                    loop: publisherLoops[(apart ? i : subscriptions.count + i) % publisherLoops.count]
                )
            )
        }
        channels += publisherChannels
        let started = DispatchTime.now().uptimeNanoseconds
        counters.started.store(started, ordering: .relaxed)
        for channel in publisherChannels { channel.pipeline.fireUserInboundEventTriggered(BenchClient.Go()) }
        // Done when everything arrived, or 3 s after the last message arrived once sending is over.
        while DispatchTime.now().uptimeNanoseconds < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let received = counters.received.load(ordering: .relaxed)
            if received >= result.expected { break }
            let allSent = counters.sent.load(ordering: .relaxed) >= publishers.reduce(0) { $0 + $1.count }
            let last = max(counters.lastReceive.load(ordering: .relaxed), counters.lastSend.load(ordering: .relaxed))
            if allSent && DispatchTime.now().uptimeNanoseconds - last > 3_000_000_000 { break }
        }
        result.sent = counters.sent.load(ordering: .relaxed)
        result.acked = counters.acked.load(ordering: .relaxed)
        result.received = counters.received.load(ordering: .relaxed)
        let end = max(counters.lastReceive.load(ordering: .relaxed), started)
        result.seconds = Double(end - started) / 1e9
        do {
            var samples = counters.latencies.withLock { $0 }
            samples.sort()
            if !samples.isEmpty {
                func at(_ q: Double) -> Double { Double(samples[min(samples.count - 1, Int(Double(samples.count) * q))]) / 1000 }
                result.latency = (at(0.5), at(0.99), at(0.999), Double(samples.last!) / 1000)
            }
        }
        return result
    }

    private static func connect(
        _ o: BenchOptions,
        id: String,
        role: BenchClient.Role,
        counters: BenchCounters,
        loop: any EventLoop
    ) async throws -> any Channel {
        let ready = loop.makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: o.buffers.write / 2, high: o.buffers.write))
        if o.buffers.send > 0 {
            // A publisher's kernel send buffer would otherwise grow to tcp_wmem's maximum (4 MiB
            // here): at saturation its messages would wait there, in the load generator, and the
            // latency measured would be the generator's queue, not the broker's.
            bootstrap = bootstrap.channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(o.buffers.send))
        }
        let channel =
            try await bootstrap
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var subscriptions: [Subscription] = []
                    if case .subscriber(let filter) = role { subscriptions = [Subscription(topicFilter: filter, qos: o.qos)] }
                    var connect = ConnectPacket(version: o.version, clientId: id, cleanStart: !o.persistentSessions, keepAlive: 300)
                    if o.persistentSessions && o.version == .v5 { connect.properties.sessionExpiryInterval = 3600 }
                    let mqtt: @Sendable (any Channel) throws -> Void = { [connect, subscriptions] channel in
                        let behaviour = BenchClient(options: o, role: role, counters: counters, ready: ready)
                        try channel.pipeline.syncOperations.addHandler(
                            MQTTClientHandler(connect: connect, subscriptions: subscriptions, behaviour: behaviour)
                        )
                    }
                    if let path = o.webSocketPath {
                        try WebSocketClientPipeline.configure(channel, host: o.host, path: path, ready: ready, mqtt: mqtt)
                    } else {
                        try mqtt(channel)
                    }
                }
            }
            .connect(host: o.host, port: role.isSubscriber ? o.subscriberPort ?? o.port : o.port).get()
        channel.closeFuture.whenComplete { _ in ready.fail(ChannelError.ioOnClosedChannel) }
        // A broker that accepts the socket but never answers (a full backlog) fails it in 10 s.
        let noAnswer = loop.scheduleTask(in: .seconds(10)) { ready.fail(ChannelError.connectTimeout(.seconds(10))) }
        ready.futureResult.whenComplete { _ in noAnswer.cancel() }
        do {
            try await ready.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return channel
    }
}

final class BenchCounters: Sendable {
    let sent = Atomic<Int>(0)
    let acked = Atomic<Int>(0)
    let received = Atomic<Int>(0)
    let started = Atomic<UInt64>(0)
    let lastSend = Atomic<UInt64>(0)
    let lastReceive = Atomic<UInt64>(0)
    let latencies = Locked<[UInt64]>([])
}

/// One benchmark connection: subscribes or publishes (within its in-flight window, or at a
/// fixed rate), and counts what it receives. `MQTTClientHandler` speaks the protocol.
final class BenchClient: MQTTClientBehaviour {
    enum Role {
        case publisher(topic: String, count: Int, rate: Int?)
        case subscriber(String)
        case idle

        var isSubscriber: Bool {
            if case .subscriber = self { true } else { false }
        }
    }

    /// Sent down a publisher's pipeline to start it.
    struct Go {}

    private let options: BenchOptions
    private let role: Role
    private let counters: BenchCounters
    private let ready: EventLoopPromise<Void>
    private var sent = 0
    private var going = false
    private var received = 0
    private var acked = 0
    private var timer: RepeatedTask?
    private var credit = 0.0
    private let payload: ByteBuffer
    private var latencies: [UInt64] = []

    init(options: BenchOptions, role: Role, counters: BenchCounters, ready: EventLoopPromise<Void>) {
        self.options = options
        self.role = role
        self.counters = counters
        self.ready = ready
        self.payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: max(options.payloadSize, 8))
    }

    func ready(_ client: MQTTClientConnection) {
        ready.succeed()
    }

    func failed(_ error: any Error) {
        ready.fail(error)
    }

    func closed() {
        timer?.cancel()
        flushLatencies()
    }

    func received(_ publish: PublishPacket, client: MQTTClientConnection) {
        received += 1
        // Every payload carries its send time: latency is measured in every scenario (at
        // saturation it is the time a message waits in the broker's queues).
        if let stamp = publish.payload.getInteger(at: publish.payload.readerIndex, as: UInt64.self) {
            latencies.append(DispatchTime.now().uptimeNanoseconds &- stamp)
        }
    }

    func acknowledged(accepted: Bool, client: MQTTClientConnection) {
        if accepted { acked += 1 }
    }

    func readComplete(_ client: MQTTClientConnection) {
        if received > 0 {
            counters.received.add(received, ordering: .relaxed)
            counters.lastReceive.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            received = 0
            flushLatencies()
        }
        if acked > 0 {
            counters.acked.add(acked, ordering: .relaxed)
            acked = 0
        }
        if going { pump(client) }
    }

    func event(_ event: Any, client: MQTTClientConnection) {
        guard event is Go, case .publisher(_, _, let rate) = role else { return }
        going = true
        if let rate {
            // Fixed rate: every millisecond, the messages that are due.
            let bound = NIOLoopBound((self, client), eventLoop: client.eventLoop)
            let perTick = Double(rate) / 1000
            timer = client.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in
                let (behaviour, client) = bound.value
                behaviour.credit += perTick
                behaviour.pump(client)
            }
        } else {
            pump(client)
        }
    }

    func writabilityChanged(_ client: MQTTClientConnection) {
        if going { pump(client) }
    }

    private func pump(_ client: MQTTClientConnection) {
        guard case .publisher(let topic, let count, let rate) = role else { return }
        var batch = 0
        while sent < count, client.isWritable, options.qos == .atMostOnce || client.inflight < options.inflight, batch < 256 {
            if rate != nil {
                guard credit >= 1 else { break }
                credit -= 1
            }
            var body = payload
            body.setInteger(DispatchTime.now().uptimeNanoseconds, at: body.readerIndex)
            client.publish(topic: topic, payload: body, qos: options.qos)
            sent += 1
            batch += 1
        }
        if batch > 0 {
            counters.sent.add(batch, ordering: .relaxed)
            counters.lastSend.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        }
        client.flush()
        if sent >= count {
            timer?.cancel()
        } else if batch == 256, rate == nil, client.isWritable {
            // Yield to the event loop, then go on.
            let bound = NIOLoopBound((self, client), eventLoop: client.eventLoop)
            client.eventLoop.execute { bound.value.0.pump(bound.value.1) }
        }
    }

    private func flushLatencies() {
        guard !latencies.isEmpty else { return }
        let batch = latencies
        latencies.removeAll(keepingCapacity: true)
        counters.latencies.withLock { $0.append(contentsOf: batch) }
    }
}

@available(*, unavailable)
extension BenchClient: Sendable {}
