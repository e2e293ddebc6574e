import DurableStore
import Logging
import MQTTCodec
import NIOCore

/// What start-up found in the durable store.
public struct RecoveryReport: Sendable, Hashable {
    public var sessions = 0
    public var subscriptions = 0
    public var messages = 0
    public var retained = 0
    /// Records that could not be read (skipped, each logged) or belonged to no session.
    public var skipped = 0
    public var milliseconds: Int64 = 0
}

extension BrokerState {
    /// With persistence on, a session with a non-zero expiry is kept in the store: its row
    /// (identity, expiry, when it went offline, a delayed will) is written whenever one of
    /// them changes. A session that starts being kept has its subscriptions and QoS 1/2
    /// messages written too; one whose expiry became 0 leaves the store (it ends with its
    /// connection anyway).
    func storeSession(_ session: Session) {
        guard let store else { return }
        guard session.expiryInterval > 0 else {
            if session.stored {
                session.stored = false
                store.append(.deleteSession(clientId: session.clientId))
            }
            return
        }
        let time = WallTime.current()
        var info = session.info
        info.disconnectedAtMs = nil
        let fields = StoredRecord.SessionFields(
            info: info,
            expiryInterval: session.expiryInterval,
            createdAtMs: session.createdAtMs,
            disconnectedAtMs: session.disconnectedAtMs,
            pendingWill: session.pendingWill.map { ($0.message, time.milliseconds(of: $0.at)) }
        )
        store.append(.putSession(clientId: session.clientId, record: StoredRecord.session(fields, at: time)))
        guard !session.stored else { return }
        session.stored = true
        for (filter, subscription) in session.subscriptions {
            store.append(
                .putSubscription(
                    clientId: session.clientId,
                    filter: filter,
                    record: StoredRecord.subscription(subscription.options, identifier: subscription.identifier)
                )
            )
        }
        for packetId in session.incomingQoS2 {
            store.append(.putIncoming(clientId: session.clientId, packetId: packetId))
        }
        session.storeMessages()
    }

    /// Retained messages are kept in the store (an empty payload removes one), except the
    /// broker's own `$SYS` ones, which it publishes again after a restart.
    func storeRetained(_ message: Message) {
        guard let store, !message.topic.hasPrefix("$SYS/") else { return }
        if message.payload.readableBytes == 0 {
            store.append(.deleteRetained(topic: message.topic))
        } else {
            store.append(.putRetained(topic: message.topic, record: StoredRecord.message(message, at: .current())))
        }
    }

    /// A batch could not be written: the messages it put that are still queued (never sent)
    /// are taken out again, so that what was refused to its publisher is not delivered later.
    /// Returns those; the rest were sent already and stay to be written.
    mutating func withdrawUnwritten(_ messages: [UnwrittenMessage]) -> [UnwrittenMessage] {
        messages.filter { sessions[$0.clientId]?.withdrawUnwritten(storeId: $0.id) ?? false }
    }

    /// Start-up: rebuilds sessions (offline), subscriptions, queued and in-flight messages,
    /// incoming QoS 2 ids and retained messages from the store. A session's expiry and a
    /// delayed will count the time the broker was down: what fell due meanwhile is done by
    /// the first tick (the will published, the session ended).
    mutating func restore(_ recovered: RecoveredState, time: WallTime) -> RecoveryReport {
        var report = RecoveryReport()
        let lastWriteMs = recovered.lastWriteMs ?? time.nowMs
        func skip(_ what: String, _ error: any Error) {
            report.skipped += 1
            logger.error("durable store: a record could not be read and is skipped", metadata: ["record": "\(what)", "error": "\(error)"])
        }
        for (clientId, record) in recovered.sessions {
            let fields: StoredRecord.SessionFields
            do {
                fields = try StoredRecord.session(clientId: clientId, from: record, at: time)
            } catch {
                skip("session \(clientId)", error)
                continue
            }
            let disconnectedAtMs = fields.disconnectedAtMs ?? lastWriteMs
            let session = makeSession(
                ClientIdentity(info: fields.info, counters: ConnectionCounters()),
                expiryInterval: fields.expiryInterval,
                window: configuration.maxInflight,
                createdAtMs: fields.createdAtMs
            )
            session.disconnectedAtMs = disconnectedAtMs
            session.stored = true
            sessions.insert(session)
            if fields.expiryInterval != UInt32.max {
                let at = time.deadline(of: disconnectedAtMs + Int64(fields.expiryInterval) * 1000)
                session.expiresAt = at
                sessionDeadlines.schedule(session.key, at: at)
            }
            if let will = fields.pendingWill {
                let at = time.deadline(of: will.atMs)
                session.pendingWill = (will.message, at)
                sessionDeadlines.schedule(session.key, at: at)
            }
            report.sessions += 1
        }
        for (clientId, filter, record) in recovered.subscriptions {
            guard let session = sessions[clientId] else {
                report.skipped += 1
                continue
            }
            do {
                let (options, identifier) = try StoredRecord.subscription(filter: filter, from: record)
                let topicFilter = try TopicFilter(filter)
                addToTree(topicFilter, SubscriptionEntry(subscriber: session, options: options, identifier: identifier), replacing: false)
                session.subscriptions[filter] = SessionSubscription(filter: topicFilter, options: options, identifier: identifier)
                report.subscriptions += 1
            } catch {
                skip("subscription \(clientId) \(filter)", error)
            }
        }
        for stored in recovered.messages {
            guard let session = sessions[stored.clientId] else {
                report.skipped += 1
                continue
            }
            do {
                let (message, delivery) = try StoredRecord.message(from: stored.record, at: time)
                let delivered = delivery ?? .init(qos: message.qos, retain: false, subscriptionIdentifiers: [])
                let item = QueuedMessage(
                    message: message,
                    qos: delivered.qos,
                    retain: delivered.retain,
                    subscriptionIdentifiers: delivered.subscriptionIdentifiers,
                    storeId: stored.id
                )
                if let packetId = stored.packetId, let state = InflightMessage.State(rawValue: stored.state) {
                    session.restoreInflight(item, packetId: packetId, state: state, now: time.now)
                } else {
                    session.restoreQueued(item)
                }
                report.messages += 1
            } catch {
                skip("message \(stored.id) of \(stored.clientId)", error)
            }
        }
        for (clientId, packetId) in recovered.incoming {
            sessions[clientId]?.incomingQoS2.insert(packetId)
        }
        for (topic, record) in recovered.retained {
            do {
                let (message, _) = try StoredRecord.message(from: record, at: time)
                if message.isExpired(at: time.now) {
                    store?.append(.deleteRetained(topic: topic))
                    continue
                }
                retained.retain(message)
                report.retained += 1
            } catch {
                skip("retained \(topic)", error)
            }
        }
        sampleMaxima()
        return report
    }
}
