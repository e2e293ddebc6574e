import DurableStore
import Logging
import MQTTCodec
import NIOCore

/// What a CONNECT asks the broker for, after the connection validated it.
struct ConnectRequest: Sendable {
    var packet: ConnectPacket
    var clientId: String
    var sink: any DeliverySink
    var identity: ClientIdentity
    var expiryInterval: UInt32
    var window: Int
    var clientMaximumPacketSize: Int
}

/// The outcome of a CONNECT: the session's key and Session Present, or a refusal.
enum ConnectOutcome: Sendable {
    case accepted(SessionKey, sessionPresent: Bool)
    case refused(ReasonCode)
}

/// The broker's shared state: sessions, subscriptions, retained messages. It lives in the
/// lock of `BrokerCore` (`Locked`, a `Mutex`) and is not `Sendable`, so the compiler keeps
/// every session and the subscription tree inside that lock: connections name their session by
/// `SessionKey` and call these methods, which return `Sendable` results and never block or do
/// I/O (writes go to the connections' `DeliverySink`s).
struct BrokerState {
    var sessions: SessionStore
    let tree = SubscriptionTree<Session>()
    var retained = RetainedStore()
    /// Offline sessions' expiry and delayed-will deadlines, by time.
    var sessionDeadlines = DeadlineSchedule<SessionKey>()
    /// Sessions that hold publishers back (or did: checked and pruned once a second), for the
    /// `max_stall` check without a scan of every session.
    var holders: Set<SessionKey> = []
    /// Subscribers per distinct topic filter, so the topic count is not a scan of every session.
    var filterSubscribers: [String: Int] = [:]
    var liveConnections = 0
    var maxLiveConnections = 0
    var maxima = (sessions: 0, subscriptions: 0, topics: 0, retained: 0)
    let configuration: BrokerConfiguration
    /// CONNECTs beyond this many live connections are refused (`ConnectionCapacity`).
    let maxConnections: Int
    let metrics: BrokerMetrics
    let logger: Logger
    let security: SecurityPolicy
    /// The durable store, when persistence is on (set at start, before the first connection).
    var store: DurableStore?

    init(
        configuration: BrokerConfiguration,
        maxConnections: Int,
        metrics: BrokerMetrics,
        security: SecurityPolicy,
        registry: ClientRegistry = ClientRegistry(),
        logger: Logger
    ) {
        self.sessions = SessionStore(registry: registry)
        self.security = security
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: - Connect and disconnect

    /// Attaches a connection to its session (new or resumed), taking over an older connection
    /// with the same client id.
    mutating func connect(_ request: ConnectRequest, now: NIODeadline) -> ConnectOutcome {
        let existing = sessions[request.clientId]
        if existing?.link == nil && liveConnections >= maxConnections {
            return .refused(.quotaExceeded)  // counted by the handler's refusal
        }
        if let existing, existing.link != nil {
            // [MQTT-3.1.4-3] takeover: the older connection is closed (5.0: DISCONNECT 0x8E).
            let peer = existing.info
            release(existing, as: .sessionTakenOver, now: now, resumedBy: request.packet.cleanStart ? nil : request)
            logger.info(
                "session taken over",
                metadata: ["client.id": "\(request.clientId)", "connection.peer": "\(peer.peerAddress):\(peer.peerPort)"]
            )
        }
        if let existing, let pending = existing.pendingWill {
            existing.pendingWill = nil
            // Reconnected within the Will Delay Interval: cancelled, unless the session ends now.
            if request.packet.cleanStart { publish(pending.message, now: now) }
        }
        let session: Session
        var present = false
        if let existing = sessions[request.clientId], !request.packet.cleanStart {
            session = existing
            present = true
            session.identity = request.identity
            sessions.refresh(session)
        } else {
            if let existing = sessions[request.clientId] { endSession(existing, now: now) }
            session = makeSession(request.identity, expiryInterval: request.expiryInterval, window: request.window)
            sessions.insert(session)
        }
        session.link = request.sink
        session.expiryInterval = request.expiryInterval
        session.expiresAt = nil
        session.will = request.packet.will
        session.window = request.window
        session.clientMaximumPacketSize = request.clientMaximumPacketSize
        session.disconnectedAtMs = nil
        storeSession(session)
        liveConnections += 1
        maxLiveConnections = max(maxLiveConnections, liveConnections)
        if present {
            session.resendInflight(over: request.sink)
            session.pump(now: now)
        }
        return .accepted(session.key, sessionPresent: present)
    }

    /// The connection `sink` of the session `key` has closed. Nothing happens if the broker
    /// already let go of it (takeover, kick, shutdown).
    mutating func connectionClosed(_ key: SessionKey, sink: any DeliverySink, kind: CloseKind, now: NIODeadline) {
        guard let session = sessions.session(key, sink: sink) else { return }
        detach(session, kind: kind, now: now)
    }

    /// The broker closes the live connection of `session` itself: the connection is told why,
    /// and the session goes on as that kind of close says, at once.
    mutating func release(_ session: Session, as close: BrokerClose, now: NIODeadline, resumedBy request: ConnectRequest? = nil) {
        guard let link = session.link else { return }
        link.send(.close(close))
        detach(session, kind: close.kind, now: now, resumedBy: request)
    }

    /// Separates a session from its connection and applies what the kind of close means for
    /// the will and the session (section 3.1.2.5, 3.1.3.2).
    private mutating func detach(_ session: Session, kind: CloseKind, now: NIODeadline, resumedBy request: ConnectRequest? = nil) {
        session.link = nil
        session.releaseHolds()
        let trimmed = session.trimForOffline()
        if trimmed > 0 { noteDrops(trimmed, session: session, now: now) }
        liveConnections -= 1
        session.disconnectedAtMs = WallClock.nowMilliseconds()
        let will = session.will
        session.will = nil
        switch kind {
        case .kicked:
            if let will { publish(Message(will: will, publisherId: session.clientId, now: now), now: now) }
            endSession(session, now: now)
            return
        case .graceful, .shutdown:
            break
        case .takenOver:
            // A will with a delay is cancelled when the session continues [MQTT-3.1.3-9].
            if let will, (will.properties.willDelayInterval ?? 0) == 0 || request == nil {
                publish(Message(will: will, publisherId: session.clientId, now: now), now: now)
            }
            storeSession(session)
            return
        case .ungraceful, .disconnectWithWill:
            if let will {
                let message = Message(will: will, publisherId: session.clientId, now: now)
                let delay = will.properties.willDelayInterval ?? 0
                if delay == 0 || session.expiryInterval == 0 {
                    publish(message, now: now)
                } else {
                    let at = now + .seconds(Int64(min(delay, session.expiryInterval)))
                    session.pendingWill = (message, at)
                    sessionDeadlines.schedule(session.key, at: at)
                }
            }
        }
        if session.expiryInterval == 0 {
            endSession(session, now: now)
            return
        } else if session.expiryInterval != UInt32.max {
            let at = now + .seconds(Int64(session.expiryInterval))
            session.expiresAt = at
            sessionDeadlines.schedule(session.key, at: at)
        }
        storeSession(session)
    }

    /// A new session for `identity`, created now (or at `createdAtMs`, restored).
    func makeSession(_ identity: ClientIdentity, expiryInterval: UInt32, window: Int, createdAtMs: Int64? = nil) -> Session {
        let gauges = SessionGauges(
            createdAtMs: createdAtMs ?? identity.info.connectedAtMs,
            maxSubscriptions: configuration.maxSubscriptions,
            maxAwaitingRel: configuration.receiveMaximum,
            maxMqueue: configuration.maxQueuedMessages
        )
        return Session(
            identity: identity,
            gauges: gauges,
            expiryInterval: expiryInterval,
            window: window,
            maxQueued: configuration.maxQueuedMessages,
            flow: FlowLimits(configuration),
            store: store
        )
    }

    /// Removes a session and its subscriptions; a will still waiting is published now
    /// (the session's end is the latest moment for it).
    mutating func endSession(_ session: Session, now: NIODeadline) {
        for subscription in session.subscriptions.values {
            removeFromTree(subscription.filter, session)
        }
        session.subscriptions.removeAll()
        session.clearState()
        sessions.remove(session)
        if session.stored {
            session.stored = false
            store?.append(.deleteSession(clientId: session.clientId))
        }
        if let pending = session.pendingWill {
            session.pendingWill = nil
            publish(pending.message, now: now)
        }
    }

    /// Closes the live connection of `clientId` with 0x98: its will is published and its
    /// session discarded now. False when it is not connected.
    mutating func kick(_ clientId: String, now: NIODeadline) -> Bool {
        guard let session = sessions[clientId], session.link != nil else { return false }
        release(session, as: .administrativeAction, now: now)
        return true
    }

    /// Closes every live connection for shutdown (5.0: 0x8B); sessions are kept, no will is sent.
    mutating func closeAll(now: NIODeadline) {
        var live: [Session] = []
        sessions.forEachSession { if $0.link != nil { live.append($0) } }
        for session in live { release(session, as: .serverShuttingDown, now: now) }
    }

    // MARK: - Subscription tree bookkeeping

    mutating func addToTree(_ filter: TopicFilter, _ entry: SubscriptionEntry<Session>, replacing: Bool) {
        tree.insert(filter, entry)
        if !replacing { filterSubscribers[filter.raw, default: 0] += 1 }
    }

    mutating func removeFromTree(_ filter: TopicFilter, _ session: Session) {
        tree.remove(filter, subscriber: session)
        if let count = filterSubscribers[filter.raw] {
            filterSubscribers[filter.raw] = count > 1 ? count - 1 : nil
        }
    }
}
