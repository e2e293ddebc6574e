import AviaryLocks
import MQTTCodec
import NIOCore
import NIOPosix
import Synchronization

/// A handful of real MQTT clients (TCP to the broker, our codec) with different protocol
/// versions and changing traffic, so `aviary --demo` shows a live table at once and the
/// screenshots are reproducible (fixed ids).
public final class DemoTraffic: Sendable {
    struct Profile: Sendable {
        var id: String
        var version: ProtocolVersion
        var username: String?
        var cleanStart = true
        var subscribe: [(String, QoS)] = []
        var topic: String?
        var qos: QoS = .atMostOnce
        /// Seconds between publications, payload bytes, messages per publication.
        var every: Double = 1
        var size = 32
        var burst = 1
        /// Closes and reconnects after this many seconds (a flaky device).
        var reconnectAfter: Double?
    }

    static let profiles: [Profile] = [
        Profile(id: "sensor-kitchen", version: .v3_1_1, username: "alice", topic: "home/kitchen/temp", every: 0.5, size: 24),
        Profile(id: "sensor-garage", version: .v5, username: "alice", topic: "home/garage/temp", qos: .atLeastOnce, every: 1, size: 48),
        Profile(id: "meter-main", version: .v3_1, topic: "home/meter/power", every: 0.1, size: 200),
        Profile(id: "camera-door", version: .v5, username: "bob", topic: "home/door/frames", every: 3, size: 2048, burst: 40),
        Profile(id: "ops-console", version: .v5, username: "ops", subscribe: [("home/#", .atLeastOnce)]),
        Profile(id: "logger", version: .v3_1_1, username: "ops", subscribe: [("#", .atMostOnce)]),
        Profile(
            id: "alarm-panel",
            version: .v3_1_1,
            username: "bob",
            cleanStart: false,
            subscribe: [("home/+/alarm", .exactlyOnce)],
            topic: "home/hall/alarm",
            qos: .exactlyOnce,
            every: 5,
            size: 16
        ),
        Profile(id: "flaky-plug", version: .v5, topic: "home/plug/state", qos: .atLeastOnce, every: 0.5, size: 12, reconnectAfter: 15),
    ]

    private let group: any EventLoopGroup
    private let port: Int
    private let host: String
    private let running = Atomic<Bool>(true)
    private let channels = Locked<[ObjectIdentifier: any Channel]>([:])

    public init(host: String = "127.0.0.1", port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.group = group
    }

    /// Connects every demo client; failed or closed connections are retried every second.
    public func start() {
        for profile in Self.profiles { connect(profile) }
    }

    public func stop() {
        running.store(false, ordering: .relaxed)
        let all = channels.withLock { Array($0.values) }
        for channel in all { channel.close(promise: nil) }
    }

    private func connect(_ profile: Profile) {
        guard running.load(ordering: .relaxed) else { return }
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        MQTTClientHandler(
                            connect: DemoClient.connectPacket(profile),
                            subscriptions: profile.subscribe.map { Subscription(topicFilter: $0.0, qos: $0.1) },
                            behaviour: DemoClient(profile: profile)
                        )
                    )
                }
            }
        bootstrap.connect(host: host, port: port).whenComplete { result in
            switch result {
            case .success(let channel):
                let key = ObjectIdentifier(channel)
                self.channels.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in
                    self.channels.withLock { $0[key] = nil }
                    self.group.next().scheduleTask(in: .seconds(1)) { self.connect(profile) }
                }
            case .failure:
                self.group.next().scheduleTask(in: .seconds(1)) { self.connect(profile) }
            }
        }
    }
}

/// One demo client: after CONNECT (and SUBSCRIBE), publishes on a timer.
final class DemoClient: MQTTClientBehaviour {
    private let profile: DemoTraffic.Profile
    private var timer: RepeatedTask?
    private var sequence = 0

    init(profile: DemoTraffic.Profile) {
        self.profile = profile
    }

    /// The CONNECT this profile sends.
    static func connectPacket(_ profile: DemoTraffic.Profile) -> ConnectPacket {
        var props = Properties()
        if profile.version == .v5 && !profile.cleanStart { props.sessionExpiryInterval = 3600 }
        return ConnectPacket(
            version: profile.version,
            clientId: profile.id,
            cleanStart: profile.cleanStart,
            keepAlive: 30,
            username: profile.username,
            properties: props
        )
    }

    func ready(_ client: MQTTClientConnection) {
        if let after = profile.reconnectAfter {
            let channel = client.context.channel
            client.eventLoop.scheduleTask(in: .milliseconds(Int64(after * 1000))) { channel.close(promise: nil) }
        }
        guard let topic = profile.topic else { return }
        let bound = NIOLoopBound((self, client), eventLoop: client.eventLoop)
        timer = client.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(Int64(profile.every * 1000))) { _ in
            let (behaviour, client) = bound.value
            behaviour.publish(topic: topic, client: client)
        }
    }

    func failed(_ error: any Error) {}

    func closed() {
        timer?.cancel()
        timer = nil
    }

    private func publish(topic: String, client: MQTTClientConnection) {
        for _ in 0..<profile.burst {
            sequence += 1
            var payload = client.context.channel.allocator.buffer(capacity: profile.size)
            let text = "{\"seq\":\(sequence),\"from\":\"\(profile.id)\"}"
            payload.writeString(text)
            if profile.size > text.utf8.count { payload.writeRepeatingByte(UInt8(ascii: " "), count: profile.size - text.utf8.count) }
            client.publish(topic: topic, payload: payload, qos: profile.qos)
        }
        client.flush()
    }
}

@available(*, unavailable)
extension DemoClient: Sendable {}
