import DurableStore
import Logging
import MQTTCodec
import NIOCore

extension BrokerState {
    /// Applies a SUBSCRIBE of the session `key`; returns one reason code per filter and sends
    /// matching retained messages after it. Throws for a protocol violation that closes the
    /// connection; nil when the connection no longer owns the session.
    mutating func subscribe(
        _ packet: SubscribePacket,
        key: SessionKey,
        sink: any DeliverySink,
        now: NIODeadline
    ) throws -> [ReasonCode]? {
        guard let session = sessions.session(key, sink: sink) else { return nil }
        let version = sink.version
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
            if identity.bridge == nil && !security.canSubscribe(filter.filter, username: identity.username, clientId: session.clientId) {
                security.denials.add()
                metrics.subscriptionsRefused.add()
                logger.warning(
                    "subscription denied by the ACL",
                    metadata: ["client.id": "\(session.clientId)", "client.username": "\(identity.username ?? "")", "topic.filter": "\(filter.raw)"]
                )
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
                refuseSubscription(
                    filter.raw,
                    session: session,
                    reason: "client holds the maximum of \(configuration.maxSubscriptions) subscriptions"
                )
                codes.append(version == .v5 ? .quotaExceeded : .unspecifiedError)
                continue
            }
            addToTree(filter, SubscriptionEntry(subscriber: session, options: subscription, identifier: identifier), replacing: existed)
            session.subscriptions[filter.raw] = SessionSubscription(filter: filter, options: subscription, identifier: identifier)
            if session.stored {
                store?.append(
                    .putSubscription(
                        clientId: session.clientId,
                        filter: filter.raw,
                        record: StoredRecord.subscription(subscription, identifier: identifier)
                    )
                )
            }
            codes.append(ReasonCode(subscription.qos.rawValue))
            // Retained messages are not sent for shared subscriptions (section 4.8.2).
            let sendRetained =
                filter.shareGroup == nil
                && (subscription.retainHandling == .sendOnSubscribe
                    || (subscription.retainHandling == .sendOnNewSubscribe && !existed))
            if sendRetained {
                for message in retained.matching(filter, now: now) {
                    if security.checksTopics && !security.canReceive(message.topic, username: identity.username, clientId: session.clientId) {
                        continue  // a deny rule inside the granted filter
                    }
                    // [MQTT-3.3.1-8] retained messages sent on subscribe keep RETAIN = 1.
                    let item = QueuedMessage(
                        message: message,
                        qos: min(message.qos, subscription.qos),
                        retain: true,
                        subscriptionIdentifiers: identifier.map { [$0] } ?? []
                    )
                    if session.deliver(item, now: now) == .dropped { noteDrops(1, session: session, now: now) }
                }
            }
        }
        return codes
    }

    private func refuseSubscription(_ filter: String, session: Session, reason: String) {
        metrics.subscriptionsRefused.add()
        logger.warning("subscription refused", metadata: ["client.id": "\(session.clientId)", "topic.filter": "\(filter)", "reason": "\(reason)"])
    }

    /// Applies an UNSUBSCRIBE; one reason code per filter, nil when the connection no longer
    /// owns the session.
    mutating func unsubscribe(_ packet: UnsubscribePacket, key: SessionKey, sink: any DeliverySink) -> [ReasonCode]? {
        guard let session = sessions.session(key, sink: sink) else { return nil }
        return packet.topicFilters.map { raw in
            guard let filter = try? TopicFilter(raw) else { return .topicFilterInvalid }
            guard session.subscriptions.removeValue(forKey: raw) != nil else { return .noSubscriptionExisted }
            removeFromTree(filter, session)
            if session.stored { store?.append(.deleteSubscription(clientId: session.clientId, filter: raw)) }
            return .success
        }
    }
}
