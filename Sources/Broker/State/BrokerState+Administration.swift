import DurableStore
import Logging
import MQTTCodec
import NIOCore

/// What the facade, $SYS and the once-a-second timer ask of the state: listings, gauges,
/// expiry. Everything returned is a `Sendable` copy.
extension BrokerState {
    /// Distinct topic filters with at least one subscriber.
    var topicCount: Int { filterSubscribers.count }

    mutating func sampleMaxima() {
        maxima.sessions = max(maxima.sessions, sessions.count)
        maxima.subscriptions = max(maxima.subscriptions, tree.count)
        maxima.retained = max(maxima.retained, retained.count)
        maxima.topics = max(maxima.topics, topicCount)
    }

    /// Gauges now and their maxima since start.
    mutating func stats() -> BrokerStats {
        sampleMaxima()
        return BrokerStats(
            connections: liveConnections,
            connectionsMax: maxLiveConnections,
            sessions: sessions.count,
            sessionsMax: maxima.sessions,
            subscriptions: tree.count,
            subscriptionsMax: maxima.subscriptions,
            topics: topicCount,
            topicsMax: maxima.topics,
            retained: retained.count,
            retainedMax: maxima.retained
        )
    }

    /// Once a second: expire sessions, fire delayed wills, drop expired retained messages.
    /// Only what is due is touched (`DeadlineSchedule`), never every session.
    mutating func tick(now: NIODeadline) {
        sampleMaxima()
        for key in sessionDeadlines.popDue(now: now) {
            guard let session = sessions.session(in: key), session.link == nil else { continue }
            if let pending = session.pendingWill, pending.at <= now {
                session.pendingWill = nil
                publish(pending.message, now: now)
                storeSession(session)
            }
            if let expiresAt = session.expiresAt, expiresAt <= now {
                logger.debug("session expired", metadata: ["client.id": "\(session.clientId)"])
                endSession(session, now: now)
            }
        }
        sessionDeadlines.compactIfNeeded(liveCount: sessions.count) {
            var live: [(SessionKey, NIODeadline)] = []
            sessions.forEachSession { session in
                guard session.link == nil else { return }
                if let at = session.expiresAt { live.append((session.key, at)) }
                if let at = session.pendingWill?.at { live.append((session.key, at)) }
            }
            return live
        }
        retained.removeExpired(now: now)
        checkStalls(now: now)
    }

    /// Disconnects subscribers that have held publishers back for `max_stall` without taking a
    /// message (their will goes out, a persistent session keeps `max_queued_messages`).
    /// Touches only the sessions that held someone back.
    mutating func checkStalls(now: NIODeadline) {
        guard !holders.isEmpty else { return }
        let limit = TimeAmount.nanoseconds(Int64(configuration.maxStall * 1e9))
        var stalled: [Session] = []
        for key in holders {
            guard let session = sessions.session(in: key), session.isHolding else {
                holders.remove(key)
                continue
            }
            if configuration.maxStall > 0 && session.hasStalled(now: now, limit: limit) { stalled.append(session) }
        }
        for session in stalled {
            metrics.stallDisconnects.add()
            logger.warning(
                "disconnecting a client that holds publishers back without taking messages",
                metadata: [
                    "client.id": "\(session.clientId)",
                    "queue.length": "\(session.queue.count)",
                    "max_stall.s": "\(configuration.maxStall)",
                ]
            )
            release(session, as: .stalled, now: now)
        }
    }

    /// An offline persistent session with the given identity (`--simulate-clients`).
    mutating func addOfflineSession(_ identity: ClientIdentity, disconnectedAtMs: Int64) {
        if let existing = sessions[identity.info.clientId] { endSession(existing, now: .now()) }
        let session = makeSession(identity, expiryInterval: .max, window: configuration.maxInflight)
        session.disconnectedAtMs = disconnectedAtMs
        sessions.insert(session)
    }
}

/// Aggregate gauges of the broker at one moment.
public struct BrokerStats: Sendable, Hashable {
    public var connections: Int
    public var connectionsMax: Int
    public var sessions: Int
    public var sessionsMax: Int
    public var subscriptions: Int
    public var subscriptionsMax: Int
    /// Distinct topic filters subscribed to.
    public var topics: Int
    public var topicsMax: Int
    public var retained: Int
    public var retainedMax: Int
}
