import Logging
import MQTTCodec
import NIOCore

extension BrokerState {
    /// Routes a message to every matching subscription (one member of each shared group) and
    /// updates the retained store. Returns the number of sessions it was delivered to.
    @discardableResult
    mutating func publish(_ message: Message, now: NIODeadline) -> Int {
        if message.retain { retained.retain(message) }
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

    /// Counts drops and warns about them, at most once every 10 s per client so that a slow
    /// consumer cannot flood the log.
    func noteDrops(_ drops: Int, session: Session, now: NIODeadline) {
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
}
