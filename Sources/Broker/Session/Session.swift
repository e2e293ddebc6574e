import AviaryLocks
import DequeModule
import DurableStore
import MQTTCodec
import NIOCore
import Synchronization

/// A message waiting in a session's queue for its client (offline, or over its window).
struct QueuedMessage {
    var message: Message
    var qos: QoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
    /// Its id in the durable store; 0 while it is not stored.
    var storeId: Int64 = 0
}

/// An outgoing QoS 1/2 PUBLISH not yet completely acknowledged.
struct InflightMessage {
    enum State: UInt8 {
        case awaitingPuback = 1
        case awaitingPubrec, awaitingPubcomp
    }
    var publish: PublishPacket
    var state: State
    /// Its id in the durable store; 0 while it is not stored.
    var storeId: Int64 = 0

    /// The message and its delivery, read back from the PUBLISH (for a session that starts
    /// being stored while this is in flight): the expiry is what remained when it was sent.
    func queued(now: NIODeadline) -> QueuedMessage {
        var properties = publish.properties
        let identifiers = properties.subscriptionIdentifiers
        properties.subscriptionIdentifiers = []
        let expiresAt = properties.messageExpiryInterval.map { now + .seconds(Int64($0)) }
        properties.messageExpiryInterval = nil
        let message = Message(
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: properties,
            expiresAt: expiresAt
        )
        return QueuedMessage(message: message, qos: publish.qos, retain: publish.retain, subscriptionIdentifiers: identifiers)
    }
}

/// What became of a message handed to a session.
enum DeliveryOutcome: Equatable {
    /// Sent to the connection.
    case sent
    /// Queued within bounds.
    case queued
    /// Queued with the session connected and its queue at the high-water mark: the publisher
    /// should be held back.
    case queuedOverHighWater
    /// Not kept (counted in `dropped`): an offline queue full of QoS 1/2 messages, QoS 0 over
    /// the high-water mark under `OverloadPolicy.drop`, too large for the client, or expired.
    case dropped
}

/// One subscription of a session, as it sits in the subscription tree.
struct SessionSubscription {
    var filter: TopicFilter
    var options: Subscription
    var identifier: UInt32?
}

/// Everything the broker keeps about one client id between and during its connections
/// (section 4.1): subscriptions, in-flight and queued messages, incoming QoS 2 packet ids.
/// Not `Sendable`: it lives in `BrokerState`'s session store, and the compiler keeps every
/// access inside the broker's lock. Connections name it by `SessionKey` and reach it through
/// `BrokerState`'s methods; it reaches them through a `DeliverySink`.
final class Session {
    let clientId: String
    /// Its slot in the session store.
    var key = SessionKey(slot: -1)
    /// Identity and counters of the latest connection, kept for the listing after it leaves.
    var identity: ClientIdentity
    /// What the client table shows of this session, readable without the routing lock; every
    /// change below is stored there too.
    let gauges: SessionGauges
    var info: ClientInfo { identity.info }
    var counters: ConnectionCounters { identity.counters }
    /// Wall-clock milliseconds when the latest connection closed; nil while connected.
    var disconnectedAtMs: Int64? {
        get { gauges.disconnectedAtMs }
        set { gauges.disconnectedAt.store(newValue ?? 0, ordering: .relaxed) }
    }
    /// The live connection, nil while the client is offline.
    var link: (any DeliverySink)? {
        didSet { gauges.connectedFlag.store(link != nil, ordering: .relaxed) }
    }
    var subscriptions: [String: SessionSubscription] = [:] {
        didSet {
            gauges.subscriptionCount.store(subscriptions.count, ordering: .relaxed)
            let list = subscriptions.values.map(\.options)
            gauges.subscriptionList.withLock { $0 = list }
        }
    }
    /// Session Expiry Interval in seconds; `UInt32.max` never expires.
    var expiryInterval: UInt32 {
        get { gauges.expiryInterval }
        set { gauges.expiry.store(newValue, ordering: .relaxed) }
    }
    var expiresAt: NIODeadline?
    /// Will of the live connection.
    var will: Will? {
        get { wills?.will }
        set { updateWills { $0.will = newValue } }
    }
    /// A will waiting for its Will Delay Interval (or for the session to end).
    var pendingWill: (message: Message, at: NIODeadline)? {
        get { wills?.pending }
        set { updateWills { $0.pending = newValue } }
    }

    /// Both wills out of line: a `Session` lives as long as its client, most have no will, and
    /// inline the two would be ~150 bytes of every session.
    private final class Wills {
        var will: Will?
        var pending: (message: Message, at: NIODeadline)?
    }
    private var wills: Wills?

    private func updateWills(_ body: (Wills) -> Void) {
        let box = wills ?? Wills()
        body(box)
        wills = box.will == nil && box.pending == nil ? nil : box
    }

    var inflight: [UInt16: InflightMessage] = [:] {
        didSet { gauges.inflightCount.store(inflight.count, ordering: .relaxed) }
    }
    var inflightOrder: Deque<UInt16> = []
    var queue: Deque<QueuedMessage> = [] {
        didSet { gauges.queueLength.store(queue.count, ordering: .relaxed) }
    }
    /// QoS 0 messages in `queue`: a full queue of QoS 1/2 messages drops its head without
    /// scanning for a QoS 0 one (a stuck subscriber must not cost a scan per routed message).
    private(set) var queuedQoS0 = 0
    /// Incoming QoS 2 packet ids that got PUBREC and wait for PUBREL (section 4.3.3).
    var incomingQoS2: Set<UInt16> = [] {
        didSet { gauges.awaitingRelCount.store(incomingQoS2.count, ordering: .relaxed) }
    }
    private var nextPacketId: UInt16 = 1
    /// Packet ids of stored messages whose end (PUBACK, PUBCOMP) is not on disk yet, with the
    /// batch that writes it: not given to a new message before, or after a crash the broker
    /// could send PUBREL for the old message under an id the client holds for the new one.
    private var retiring: [UInt16: UInt64] = [:]
    private var retiringPruneAt = 256

    /// Outgoing in-flight maximum: the client's Receive Maximum capped by the configuration.
    var window: Int {
        didSet { gauges.window.store(window, ordering: .relaxed) }
    }
    var maxQueued: Int
    let flow: FlowLimits
    /// The publishers' connections this session holds back (flow control), while it is connected.
    private var holding: [ObjectIdentifier: any DeliverySink] = [:] {
        didSet { gauges.holdingCount.store(holding.count, ordering: .relaxed) }
    }
    /// When the session began holding publishers back; nil while it holds none.
    private var holdingSince: NIODeadline?
    /// When a message last left the queue for the connection.
    private var lastProgress: NIODeadline?
    /// The client's Maximum Packet Size; larger messages are dropped for it [MQTT-3.1.2-25].
    var clientMaximumPacketSize: Int = .max
    /// Messages dropped for this client: queue overflow, too large, expired.
    var dropped: UInt64 {
        get { gauges.mqueueDropped }
        set { gauges.dropped.store(newValue, ordering: .relaxed) }
    }
    /// Drops are logged for this client at most every 10 s.
    var dropLog = LogThrottle()
    /// Payload bytes in `queue` and `inflight` (the `heap_size` analogue).
    private(set) var heldBytes = 0 {
        didSet { gauges.held.store(UInt64(max(0, heldBytes)), ordering: .relaxed) }
    }
    /// Wall-clock milliseconds when the session was created.
    var createdAtMs: Int64 { gauges.createdAtMs }
    /// The durable store, when persistence is on.
    let store: DurableStore?
    /// Whether the store keeps this session (it has a non-zero expiry): then its QoS 1/2
    /// messages, queued and in flight, are stored as they come and go.
    var stored = false

    init(
        identity: ClientIdentity,
        gauges: SessionGauges,
        expiryInterval: UInt32,
        window: Int,
        maxQueued: Int,
        flow: FlowLimits,
        store: DurableStore? = nil
    ) {
        self.clientId = identity.info.clientId
        self.identity = identity
        self.gauges = gauges
        self.window = window
        self.maxQueued = maxQueued
        self.flow = flow
        self.store = store
        gauges.expiry.store(expiryInterval, ordering: .relaxed)
        gauges.window.store(window, ordering: .relaxed)
    }

    var isOnline: Bool { link != nil }

    // MARK: - Outgoing messages

    /// Delivers a routed message: straight to the connection when it can take it, otherwise
    /// into the queue. A connected session queues every QoS 1/2 message (its publishers are
    /// held back past the high-water mark instead); an offline one keeps `maxQueued`.
    func deliver(_ item: QueuedMessage, now: NIODeadline) -> DeliveryOutcome {
        if let link, queue.isEmpty, link.isWritable, item.qos == .atMostOnce || inflight.count < window {
            return send(item, over: link, now: now) ? .sent : .dropped
        }
        guard isOnline else { return enqueueOffline(item) }
        guard queue.count >= flow.highWater else {
            append(item)
            return .queued
        }
        if item.qos == .atMostOnce && flow.policy == .drop {
            dropped += 1
            return .dropped
        }
        append(item)
        return .queuedOverHighWater
    }

    /// Moves queued messages to the connection while its window and socket allow; down at the
    /// low-water mark, the publishers held back go on.
    func pump(now: NIODeadline) {
        guard let link else { return }
        var moved = false
        while link.isWritable, let head = queue.first {
            if head.qos != .atMostOnce && inflight.count >= window { break }
            queue.removeFirst()
            if head.qos == .atMostOnce { queuedQoS0 -= 1 }
            heldBytes -= head.message.payload.readableBytes
            send(head, over: link, now: now)
            moved = true
        }
        if moved { lastProgress = now }
        if !holding.isEmpty && queue.count <= flow.lowWater { releaseHolds() }
    }

    private func append(_ incoming: QueuedMessage) {
        var item = incoming
        if stored && item.qos != .atMostOnce && item.storeId == 0, let store {
            item.storeId = store.newMessageId()
            store.append(.putMessage(StoredMessage(id: item.storeId, clientId: clientId, record: Self.record(item))))
        }
        queue.append(item)
        if item.qos == .atMostOnce { queuedQoS0 += 1 }
        heldBytes += item.message.payload.readableBytes
    }

    /// The offline queue holds `maxQueued` messages. When full, the oldest QoS 0 message makes
    /// room; with none, the new message is refused (as Mosquitto does): a QoS 1/2 message
    /// already queued is never thrown out for a newer one. Every drop is counted.
    private func enqueueOffline(_ item: QueuedMessage) -> DeliveryOutcome {
        guard maxQueued > 0 else {
            dropped += 1
            return .dropped
        }
        if queue.count >= maxQueued {
            guard queuedQoS0 > 0, let index = queue.firstIndex(where: { $0.qos == .atMostOnce }) else {
                dropped += 1
                return .dropped
            }
            heldBytes -= queue.remove(at: index).message.payload.readableBytes  // QoS 0: never stored
            queuedQoS0 -= 1
            dropped += 1
        }
        append(item)
        return .queued
    }

    /// Going offline: the queue (which may have grown past `maxQueued` while connected) is cut
    /// to `maxQueued`, QoS 0 messages first, then the newest. Returns the number dropped.
    func trimForOffline() -> Int {
        guard queue.count > maxQueued else { return 0 }
        var drops = 0
        if queuedQoS0 > 0 {
            var kept: Deque<QueuedMessage> = []
            var excess = queue.count - maxQueued
            for item in queue {
                if excess > 0 && item.qos == .atMostOnce {
                    excess -= 1
                    drops += 1
                    heldBytes -= item.message.payload.readableBytes
                    queuedQoS0 -= 1
                } else {
                    kept.append(item)
                }
            }
            queue = kept
        }
        while queue.count > maxQueued {
            let item = queue.removeLast()
            forget(item.storeId)
            heldBytes -= item.message.payload.readableBytes
            if item.qos == .atMostOnce { queuedQoS0 -= 1 }
            drops += 1
        }
        dropped += UInt64(drops)
        return drops
    }

    // MARK: - Flow control

    /// Holds `publisher` back until this session's queue is down to the low-water mark. False
    /// when this session already holds it.
    func hold(_ publisher: any DeliverySink, now: NIODeadline) -> Bool {
        let id = ObjectIdentifier(publisher)
        guard holding[id] == nil else { return false }
        if holding.isEmpty { holdingSince = now }
        holding[id] = publisher
        publisher.hold()
        return true
    }

    /// Lets every publisher this session holds back go on.
    func releaseHolds() {
        guard !holding.isEmpty else { return }
        let held = holding
        holding.removeAll()
        holdingSince = nil
        for publisher in held.values { publisher.release() }
    }

    var isHolding: Bool { !holding.isEmpty }

    /// Whether the session has held publishers back for `limit` without taking a message.
    func hasStalled(now: NIODeadline, limit: TimeAmount) -> Bool {
        guard let since = holdingSince else { return false }
        return now - max(since, lastProgress ?? since) >= limit
    }

    @discardableResult
    private func send(_ item: QueuedMessage, over link: any DeliverySink, now: NIODeadline) -> Bool {
        if item.message.isExpired(at: now) {
            forget(item.storeId)
            dropped += 1
            return false
        }
        var packetId: UInt16?
        if item.qos != .atMostOnce { packetId = allocatePacketId() }
        let subscriptionIds = link.version == .v5 ? item.subscriptionIdentifiers : []
        let publish = item.message.publishPacket(
            qos: item.qos,
            retain: item.retain,
            packetId: packetId,
            subscriptionIdentifiers: subscriptionIds,
            now: now
        )
        if clientMaximumPacketSize != .max && MQTTPacket.publish(publish).encodedSize(version: link.version) > clientMaximumPacketSize {
            forget(item.storeId)
            dropped += 1
            return false
        }
        if let packetId {
            let state: InflightMessage.State = item.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
            var storeId = item.storeId
            if let store {
                if storeId != 0 {
                    store.append(.updateMessage(clientId: clientId, id: storeId, packetId: packetId, state: state.rawValue))
                } else if stored {
                    storeId = store.newMessageId()
                    store.append(
                        .putMessage(
                            StoredMessage(id: storeId, clientId: clientId, record: Self.record(item), packetId: packetId, state: state.rawValue)
                        )
                    )
                }
            }
            inflight[packetId] = InflightMessage(publish: publish, state: state, storeId: storeId)
            inflightOrder.append(packetId)
            heldBytes += publish.payload.readableBytes
        }
        link.send(.publish(publish))
        return true
    }

    private func allocatePacketId() -> UInt16 {
        var tried = 0
        while true {
            let id = nextPacketId
            nextPacketId = nextPacketId == .max ? 1 : nextPacketId + 1
            tried += 1
            guard inflight[id] == nil else { continue }
            if let batch = retiring[id] {
                // Every id in use or retiring (a window of 65,535): the oldest is taken.
                if tried < Int(UInt16.max), store?.outcome(of: batch) == .pending { continue }
                retiring[id] = nil
            }
            return id
        }
    }

    // MARK: - Acknowledgements from the client

    /// PUBACK or PUBCOMP: the message is done. Returns false for an unknown packet id.
    @discardableResult
    func complete(_ packetId: UInt16, expecting state: InflightMessage.State) -> Bool {
        guard let entry = inflight[packetId], entry.state == state else { return false }
        removeInflight(packetId)
        return true
    }

    /// PUBREC: the next step is PUBREL. Returns false for an unknown packet id.
    func received(_ packetId: UInt16, reasonCode: ReasonCode) -> Bool {
        guard let entry = inflight[packetId], entry.state != .awaitingPuback else { return false }
        if reasonCode.isFailure {
            removeInflight(packetId)  // 5.0: a failed PUBREC ends the exchange [MQTT-4.3.3-9]
        } else {
            inflight[packetId]?.state = .awaitingPubcomp
            if entry.storeId != 0 {
                store?.append(
                    .updateMessage(clientId: clientId, id: entry.storeId, packetId: packetId, state: InflightMessage.State.awaitingPubcomp.rawValue)
                )
            }
        }
        return true
    }

    private func removeInflight(_ packetId: UInt16) {
        guard let removed = inflight.removeValue(forKey: packetId) else { return }
        if removed.storeId != 0, let store {
            retiring[packetId] = store.append(.deleteMessage(clientId: clientId, id: removed.storeId))
            if retiring.count > retiringPruneAt {
                retiring = retiring.filter { store.outcome(of: $0.value) == .pending }
                retiringPruneAt = max(256, retiring.count * 2)
            }
        }
        heldBytes -= removed.publish.payload.readableBytes
        if inflightOrder.first == packetId {
            inflightOrder.removeFirst()
        } else if let index = inflightOrder.firstIndex(of: packetId) {
            inflightOrder.remove(at: index)
        }
    }

    /// On session resume: resend every unacknowledged PUBLISH with DUP set, and PUBREL for
    /// the ones that got PUBREC, in their original order [MQTT-4.4.0-1].
    func resendInflight(over link: any DeliverySink) {
        for id in inflightOrder {
            guard let entry = inflight[id] else { continue }
            switch entry.state {
            case .awaitingPuback, .awaitingPubrec:
                var publish = entry.publish
                publish.dup = true
                link.send(.publish(publish))
            case .awaitingPubcomp:
                link.send(.packet(.pubrel(AckPacket(packetId: id))))
            }
        }
    }

    // MARK: - The durable store

    /// A queued message whose put the store could not write, and which was refused to its
    /// publisher: taken out again if it was not sent yet. False: it was sent or is gone.
    func withdrawUnwritten(storeId: Int64) -> Bool {
        guard let index = queue.firstIndex(where: { $0.storeId == storeId }) else { return false }
        heldBytes -= queue.remove(at: index).message.payload.readableBytes  // QoS 1/2: the only ones stored
        return true
    }

    /// A stored message left the session (done, dropped, expired).
    private func forget(_ storeId: Int64) {
        if storeId != 0 { store?.append(.deleteMessage(clientId: clientId, id: storeId)) }
    }

    private static func record(_ item: QueuedMessage) -> StoredRecord.QueuedRecord {
        StoredRecord.QueuedRecord(
            message: item.message,
            delivery: .init(qos: item.qos, retain: item.retain, subscriptionIdentifiers: item.subscriptionIdentifiers)
        )
    }

    /// The session starts being stored (persistence on, a non-zero expiry): every QoS 1/2
    /// message it holds is written too.
    func storeMessages() {
        guard let store else { return }
        for index in queue.indices where queue[index].qos != .atMostOnce && queue[index].storeId == 0 {
            queue[index].storeId = store.newMessageId()
            store.append(.putMessage(StoredMessage(id: queue[index].storeId, clientId: clientId, record: Self.record(queue[index]))))
        }
        for id in inflightOrder {
            guard var entry = inflight[id], entry.storeId == 0 else { continue }
            entry.storeId = store.newMessageId()
            store.append(
                .putMessage(
                    StoredMessage(
                        id: entry.storeId,
                        clientId: clientId,
                        record: Self.record(entry.queued(now: .now())),
                        packetId: id,
                        state: entry.state.rawValue
                    )
                )
            )
            inflight[id] = entry
        }
    }

    /// Recovery: a message that was queued when the broker stopped.
    func restoreQueued(_ item: QueuedMessage) {
        queue.append(item)
        if item.qos == .atMostOnce { queuedQoS0 += 1 }
        heldBytes += item.message.payload.readableBytes
    }

    /// Recovery: a message that was in flight, with its packet id and step; it is sent again
    /// (DUP) when the client resumes the session.
    func restoreInflight(_ item: QueuedMessage, packetId: UInt16, state: InflightMessage.State, now: NIODeadline) {
        let publish = item.message.publishPacket(
            qos: item.qos,
            retain: item.retain,
            packetId: packetId,
            subscriptionIdentifiers: item.subscriptionIdentifiers,
            now: now
        )
        inflight[packetId] = InflightMessage(publish: publish, state: state, storeId: item.storeId)
        inflightOrder.append(packetId)
        heldBytes += publish.payload.readableBytes
    }

    /// Drops everything a clean start or the session's end discards.
    func clearState() {
        releaseHolds()
        inflight.removeAll()
        inflightOrder.removeAll()
        queue.removeAll()
        queuedQoS0 = 0
        incomingQoS2.removeAll()
        retiring.removeAll()
        heldBytes = 0
    }
}
