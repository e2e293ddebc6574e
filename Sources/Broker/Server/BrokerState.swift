import MQTTCodec
import Logging
import NIOCore
import Synchronization

/// How a connection ended, which decides its will and its session.
enum CloseKind: Sendable {
    /// DISCONNECT 0x00 from the client: no will. [MQTT-3.14.4-3]
    case graceful
    /// DISCONNECT 0x04 (5.0): publish the will.
    case disconnectWithWill
    /// Network error, keepalive timeout, protocol error, or a close without DISCONNECT.
    case ungraceful
    /// Kicked through the management API: will published, session discarded.
    case kicked
    /// Broker shutting down: no will, session kept.
    case shutdown
}

/// What a CONNECT asks the broker for, after the connection validated it.
struct ConnectRequest {
    var packet: ConnectPacket
    var clientId: String
    var link: ConnectionLink
    var info: ClientInfo
    var expiryInterval: UInt32
    var window: Int
    var clientMaximumPacketSize: Int
}

/// The broker's shared state: sessions, subscriptions, retained messages. Lives in a `Mutex`
/// in `BrokerCore`; every method runs under that lock and never blocks or does I/O itself
/// (writes go to connection outboxes).
struct BrokerState: @unchecked Sendable {
    var sessions: [String: Session] = [:]
    let tree = SubscriptionTree<Session>()
    var retained: [String: Message] = [:]
    var liveConnections = 0
    var maxLiveConnections = 0
    var maxima = (sessions: 0, subscriptions: 0, topics: 0, retained: 0)
    let configuration: BrokerConfiguration
    /// CONNECTs beyond this many live connections are refused (`ConnectionCapacity`).
    let maxConnections: Int
    let metrics: BrokerMetrics
    let logger: Logger

    let security: SecurityPolicy

    init(configuration: BrokerConfiguration, maxConnections: Int, metrics: BrokerMetrics, security: SecurityPolicy, logger: Logger) {
        self.security = security
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: - Connect and disconnect

    /// Attaches a connection to its session (new or resumed), taking over an older connection
    /// with the same client id. Returns the session and Session Present, or a refusal reason.
    mutating func connect(_ request: ConnectRequest, now: NIODeadline) -> (session: Session?, present: Bool, refusal: ReasonCode?) {
        let existing = sessions[request.clientId]
        let takeover = existing?.link != nil
        if !takeover && liveConnections >= maxConnections {
            return (nil, false, .quotaExceeded)  // counted by the handler's refusal
        }
        if let existing, let oldLink = existing.link {
            // [MQTT-3.1.4-3] takeover: the older connection is closed (5.0: DISCONNECT 0x8E).
            oldLink.closedByBroker.store(1, ordering: .relaxed)
            oldLink.send(.close(.sessionTakenOver))
            existing.link = nil
            liveConnections -= 1
            existing.disconnectedAtMs = request.info.connectedAtMs
            logger.info(
                "session taken over",
                metadata: ["client.id": "\(request.clientId)", "connection.peer": "\(existing.info.peerAddress):\(existing.info.peerPort)"]
            )
            if let will = existing.will {
                existing.will = nil
                let delay = will.properties.willDelayInterval ?? 0
                // A will with a delay is cancelled when the session continues [MQTT-3.1.3-9].
                if delay == 0 || request.packet.cleanStart {
                    publish(Message(will: will, publisherId: existing.clientId, now: now), now: now)
                }
            }
        }
        if let existing, let pending = existing.pendingWill {
            existing.pendingWill = nil
            // Reconnected within the Will Delay Interval: cancelled, unless the session ends now.
            if request.packet.cleanStart { publish(pending.message, now: now) }
        }
        let session: Session
        var present = false
        if let existing, !request.packet.cleanStart {
            session = existing
            present = true
            session.identity = ClientIdentity(info: request.info, counters: request.link.counters)
        } else {
            if let existing { endSession(existing, now: now) }
            session = Session(
                clientId: request.clientId,
                info: request.info,
                counters: request.link.counters,
                expiryInterval: request.expiryInterval,
                window: request.window,
                maxQueued: configuration.maxQueuedMessages
            )
            session.createdAtMs = request.info.connectedAtMs
            sessions[request.clientId] = session
        }
        session.link = request.link
        session.expiryInterval = request.expiryInterval
        session.expiresAt = nil
        session.will = request.packet.will
        session.window = request.window
        session.clientMaximumPacketSize = request.clientMaximumPacketSize
        session.disconnectedAtMs = nil
        liveConnections += 1
        maxLiveConnections = max(maxLiveConnections, liveConnections)
        if present {
            session.resendInflight(over: request.link)
            session.pump(now: now)
        }
        return (session, present, nil)
    }

    /// The connection `link` of `session` has closed.
    mutating func connectionClosed(_ link: ConnectionLink, session: Session, kind: CloseKind, now: NIODeadline) {
        guard session.link === link else { return }  // already taken over
        session.link = nil
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
        case .ungraceful, .disconnectWithWill:
            if let will {
                let message = Message(will: will, publisherId: session.clientId, now: now)
                let delay = will.properties.willDelayInterval ?? 0
                if delay == 0 || session.expiryInterval == 0 {
                    publish(message, now: now)
                } else {
                    session.pendingWill = (message, now + .seconds(Int64(min(delay, session.expiryInterval))))
                }
            }
        }
        if session.expiryInterval == 0 {
            endSession(session, now: now)
        } else if session.expiryInterval != UInt32.max {
            session.expiresAt = now + .seconds(Int64(session.expiryInterval))
        }
    }

    /// Removes a session and its subscriptions; a will still waiting is published now
    /// (the session's end is the latest moment for it).
    mutating func endSession(_ session: Session, now: NIODeadline) {
        for subscription in session.subscriptions.values {
            tree.remove(subscription.filter, subscriber: session)
        }
        session.subscriptions.removeAll()
        session.clearState()
        if sessions[session.clientId] === session { sessions[session.clientId] = nil }
        if let pending = session.pendingWill {
            session.pendingWill = nil
            publish(pending.message, now: now)
        }
    }

    // MARK: - Publish

    /// Routes a message to every matching subscription (one member of each shared group) and
    /// updates the retained store. Returns the number of sessions it was delivered to.
    @discardableResult
    mutating func publish(_ message: Message, now: NIODeadline) -> Int {
        if message.retain {
            // [MQTT-3.3.1-6] an empty retained payload clears the retained message.
            if message.payload.readableBytes == 0 {
                retained[message.topic] = nil
            } else {
                retained[message.topic] = message
            }
        }
        // One entry per receiving session: overlapping subscriptions merge (highest QoS, every
        // subscription identifier), as section 3.3.4 allows.
        var targets: [ObjectIdentifier: (session: Session, item: QueuedMessage)] = [:]
        func add(_ entry: SubscriptionEntry<Session>) {
            let id = ObjectIdentifier(entry.subscriber)
            let qos = min(message.qos, entry.options.qos)
            let retain = entry.options.retainAsPublished && message.retain
            if var existing = targets[id] {
                existing.item.qos = max(existing.item.qos, qos)
                existing.item.retain = existing.item.retain || retain
                if let identifier = entry.identifier { existing.item.subscriptionIdentifiers.append(identifier) }
                targets[id] = existing
            } else {
                let item = QueuedMessage(message: message, qos: qos, retain: retain, subscriptionIdentifiers: entry.identifier.map { [$0] } ?? [])
                targets[id] = (entry.subscriber, item)
            }
        }
        tree.match(
            message.topic,
            visit: { entry in
                // [MQTT-3.8.3-3] No Local: not back to the publisher.
                if entry.options.noLocal, entry.subscriber.clientId == message.publisherId { return }
                add(entry)
            },
            visitGroup: { group in
                if let entry = group.pick(isOnline: { $0.isOnline }) { add(entry) }
            }
        )
        if targets.isEmpty {
            metrics.messagesNoSubscribers.add()
            return 0
        }
        for (session, item) in targets.values {
            let drops = session.deliver(item, now: now)
            if drops > 0 { noteDrops(drops, session: session, now: now) }
        }
        return targets.count
    }

    // MARK: - Subscribe

    /// Applies a SUBSCRIBE; returns one reason code per filter and sends matching retained
    /// messages after it. Throws for a protocol violation that closes the connection.
    mutating func subscribe(_ packet: SubscribePacket, session: Session, version: ProtocolVersion, now: NIODeadline) throws -> [ReasonCode] {
        let identifier = packet.properties.subscriptionIdentifiers.first
        var codes: [ReasonCode] = []
        for subscription in packet.subscriptions {
            let filter: TopicFilter
            do {
                filter = try TopicFilter(subscription.topicFilter)
            } catch {
                codes.append(version == .v5 ? .topicFilterInvalid : .unspecifiedError)
                continue
            }
            let identity = session.identity.info
            if !security.canSubscribe(filter.filter, username: identity.username, clientId: session.clientId) {
                security.denials.add()
                metrics.subscriptionsRefused.add()
                logger.warning("subscription denied by the ACL", metadata: ["client.id": "\(session.clientId)", "client.username": "\(identity.username ?? "")", "topic.filter": "\(filter.raw)"])
                codes.append(version == .v5 ? .notAuthorized : .unspecifiedError)
                continue
            }
            if let violation = TopicName.limitViolation(
                filter.filter,
                maxLength: configuration.maxTopicLength,
                maxLevels: configuration.maxTopicLevels
            ) {
                refuseSubscription(filter.raw, session: session, reason: violation)
                codes.append(version == .v5 ? .topicFilterInvalid : .unspecifiedError)
                continue
            }
            if filter.shareGroup != nil && subscription.noLocal {
                throw MQTTProtocolError.protocolViolation("No Local on a shared subscription")  // [MQTT-3.8.3-4]
            }
            let existed = session.subscriptions[filter.raw] != nil
            // Replacing a subscription never counts against the limit.
            if !existed, configuration.maxSubscriptions > 0, session.subscriptions.count >= configuration.maxSubscriptions {
                refuseSubscription(filter.raw, session: session, reason: "client holds the maximum of \(configuration.maxSubscriptions) subscriptions")
                codes.append(version == .v5 ? .quotaExceeded : .unspecifiedError)
                continue
            }
            tree.insert(filter, SubscriptionEntry(subscriber: session, options: subscription, identifier: identifier))
            session.subscriptions[filter.raw] = SessionSubscription(filter: filter, options: subscription, identifier: identifier)
            codes.append(ReasonCode(subscription.qos.rawValue))
            // Retained messages are not sent for shared subscriptions (section 4.8.2).
            let sendRetained =
                filter.shareGroup == nil
                && (subscription.retainHandling == .sendOnSubscribe
                    || (subscription.retainHandling == .sendOnNewSubscribe && !existed))
            if sendRetained { deliverRetained(filter: filter, subscription: subscription, identifier: identifier, to: session, now: now) }
        }
        return codes
    }

    private func refuseSubscription(_ filter: String, session: Session, reason: String) {
        metrics.subscriptionsRefused.add()
        logger.warning("subscription refused", metadata: ["client.id": "\(session.clientId)", "topic.filter": "\(filter)", "reason": "\(reason)"])
    }

    private mutating func deliverRetained(
        filter: TopicFilter,
        subscription: Subscription,
        identifier: UInt32?,
        to session: Session,
        now: NIODeadline
    ) {
        var expired: [String] = []
        for (topic, message) in retained where filter.matches(topic) {
            if message.isExpired(at: now) {
                expired.append(topic)
                continue
            }
            // [MQTT-3.3.1-8] retained messages sent on subscribe keep RETAIN = 1.
            let item = QueuedMessage(
                message: message,
                qos: min(message.qos, subscription.qos),
                retain: true,
                subscriptionIdentifiers: identifier.map { [$0] } ?? []
            )
            let drops = session.deliver(item, now: now)
            if drops > 0 { noteDrops(drops, session: session, now: now) }
        }
        for topic in expired { retained[topic] = nil }
    }

    /// Counts drops and warns about them, at most once every 10 s per client so that a slow
    /// consumer cannot flood the log.
    private func noteDrops(_ drops: Int, session: Session, now: NIODeadline) {
        metrics.messagesDropped.add(UInt64(drops))
        if let last = session.lastDropWarning, now - last < .seconds(10) { return }
        session.lastDropWarning = now
        logger.warning(
            "messages dropped for a client (queue full, too large for it, or expired)",
            metadata: [
                "client.id": "\(session.clientId)",
                "dropped.total": "\(session.dropped)",
                "queue.length": "\(session.queue.count)",
                "queue.max": "\(configuration.maxQueuedMessages)",
            ]
        )
    }

    mutating func unsubscribe(_ packet: UnsubscribePacket, session: Session, version: ProtocolVersion) -> [ReasonCode] {
        packet.topicFilters.map { raw in
            guard let filter = try? TopicFilter(raw) else { return .topicFilterInvalid }
            guard session.subscriptions.removeValue(forKey: raw) != nil else { return .noSubscriptionExisted }
            tree.remove(filter, subscriber: session)
            return .success
        }
    }

    // MARK: - Timers and administration

    /// Distinct topic filters with at least one subscriber.
    func topicCount() -> Int {
        var filters = Set<String>()
        for session in sessions.values { filters.formUnion(session.subscriptions.keys) }
        return filters.count
    }

    mutating func sampleMaxima() {
        maxima.sessions = max(maxima.sessions, sessions.count)
        maxima.subscriptions = max(maxima.subscriptions, tree.count)
        maxima.retained = max(maxima.retained, retained.count)
        maxima.topics = max(maxima.topics, topicCount())
    }

    /// Once a second: expire sessions, fire delayed wills, drop expired retained messages.
    mutating func tick(now: NIODeadline) {
        sampleMaxima()
        var expiredSessions: [Session] = []
        for session in sessions.values where session.link == nil {
            if let pending = session.pendingWill, pending.at <= now {
                session.pendingWill = nil
                publish(pending.message, now: now)
            }
            if let expiresAt = session.expiresAt, expiresAt <= now { expiredSessions.append(session) }
        }
        for session in expiredSessions {
            logger.debug("session expired", metadata: ["client.id": "\(session.clientId)"])
            endSession(session, now: now)
        }
        let expiredRetained = retained.filter { $0.value.isExpired(at: now) }.map(\.key)
        for topic in expiredRetained { retained[topic] = nil }
    }

    /// Closes the live connection of `clientId` with 0x98; its will is published and its
    /// session discarded when the close completes. False when it is not connected.
    func kick(_ clientId: String) -> Bool {
        guard let link = sessions[clientId]?.link else { return false }
        link.closedByBroker.store(2, ordering: .relaxed)
        link.send(.close(.administrativeAction))
        return true
    }

    /// One row of the client table; cheap enough to copy for every session under the lock.
    func listing(of session: Session) -> ClientListing {
        ClientListing(
            identity: session.identity,
            connected: session.link != nil,
            disconnectedAtMs: session.disconnectedAtMs,
            expiryInterval: session.expiryInterval,
            createdAtMs: session.createdAtMs,
            subscriptionsCount: session.subscriptions.count,
            maxSubscriptions: configuration.maxSubscriptions,
            inflight: session.inflight.count,
            maxInflight: session.window,
            awaitingRel: session.incomingQoS2.count,
            maxAwaitingRel: configuration.receiveMaximum,
            mqueueLen: session.queue.count,
            maxMqueue: configuration.maxQueuedMessages,
            mqueueDropped: session.dropped,
            heldBytes: UInt64(session.heldBytes)
        )
    }
}
