import DurableStore
import Logging
import MQTTCodec
import NIOCore

/// Where a routed message went.
struct PublishResult: Sendable, Equatable {
    /// Sessions whose subscriptions matched.
    var matched = 0
    /// Sessions that took it (sent or queued).
    var accepted = 0
    /// Why it was not routed at all: the durable store, which would have to keep it, refuses
    /// new messages (short of room, failing).
    var storeRefusal: String?

    /// The 5.0 reason code of the publisher's PUBACK/PUBREC: 0x80 when the store refused it,
    /// 0x10 when nobody subscribes, 0x97 when every matching session refused it (full), else
    /// success.
    var reasonCode: ReasonCode {
        if storeRefusal != nil { return .unspecifiedError }
        if matched == 0 { return .noMatchingSubscribers }
        return accepted == 0 ? .quotaExceeded : .success
    }
}

extension BrokerState {
    /// Routes a message to every matching subscription (one member of each shared group) and
    /// updates the retained store. A connected subscriber at its high-water mark holds back
    /// `publisher` (the connection it came from; nil for wills and $SYS). While the durable
    /// store refuses new messages, one it would have to keep (retained, or QoS 1/2 for a
    /// stored session) goes nowhere: refused, not routed, counted.
    @discardableResult
    mutating func publish(_ message: Message, now: NIODeadline, from publisher: (any DeliverySink)? = nil) -> PublishResult {
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
        // With an ACL file, each receiver's read access is checked at delivery (a deny rule
        // inside a granted subscription, or a reload that took reading away).
        let security = self.security
        let checkReads = security.checksTopics
        func mayReceive(_ session: Session) -> Bool {
            guard checkReads, session.info.bridge == nil else { return true }
            if security.canReceive(message.topic, username: session.info.username, clientId: session.clientId) { return true }
            security.denials.add()
            return false
        }
        tree.match(
            message.topic,
            visit: { entry in
                // [MQTT-3.8.3-3] No Local: not back to the publisher.
                if entry.options.noLocal, entry.subscriber.clientId == message.publisherId { return }
                if mayReceive(entry.subscriber) { add(entry) }
            },
            visitGroup: { group in
                if let entry = group.pick(isOnline: { $0.isOnline }), mayReceive(entry.subscriber) { add(entry) }
            }
        )
        let keepsRetained = message.retain && !message.topic.hasPrefix("$SYS/")
        if let refusal = store?.refusal, keepsRetained || targets.values.contains(where: { $0.session.stored && $0.item.qos != .atMostOnce }) {
            metrics.storeRefusals.add()
            return PublishResult(storeRefusal: refusal)
        }
        if message.retain {
            retained.retain(message)
            storeRetained(message)
        }
        if targets.isEmpty {
            metrics.messagesNoSubscribers.add()
            return PublishResult()
        }
        var result = PublishResult(matched: targets.count)
        for (session, item) in targets.values {
            switch session.deliver(item, now: now) {
            case .sent, .queued:
                result.accepted += 1
            case .queuedOverHighWater:
                result.accepted += 1
                // A client is never held back by its own queue: it could not read the PUBACKs
                // that drain it.
                if let publisher, publisher !== session.link, session.hold(publisher, now: now) {
                    metrics.publishersHeld.add()
                    holders.insert(session.key)
                }
            case .dropped:
                noteDrops(1, session: session, now: now)
            }
        }
        if result.accepted == 0 && message.qos != .atMostOnce { metrics.quotaExceeded.add() }
        return result
    }

    /// Counts drops and warns about them, at most once every 10 s per client so that a slow
    /// consumer cannot flood the log.
    func noteDrops(_ drops: Int, session: Session, now: NIODeadline) {
        metrics.messagesDropped.add(UInt64(drops))
        guard session.dropLog.due(now: now) else { return }
        logger.warning(
            "messages dropped for a client (offline queue full, QoS 0 over its high-water mark, too large for it, or expired)",
            metadata: [
                "client.id": "\(session.clientId)",
                "dropped.total": "\(session.dropped)",
                "queue.length": "\(session.queue.count)",
                "queue.max": "\(configuration.maxQueuedMessages)",
            ]
        )
    }
}
