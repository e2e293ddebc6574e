import AviaryLocks
import NIOCore
import Synchronization

/// What the connections of one event loop share, confined to that loop:
/// - their CONNECT timeouts and keepalives, checked by one repeated task every 250 ms (a
///   scheduled task per connection — NIO's task, its promise and closure — costs ~450 bytes for
///   as long as the connection lives; here it costs one dictionary entry);
/// - the links of this loop that were handed packets by a connection of the same loop: the
///   reading connection drains them when its read ends, before it flushes its own
///   acknowledgements, so a message between two clients of one loop goes out in the same pass
///   (no task, no wake-up) and reaches the subscriber before the publisher hears its PUBACK.
final class LoopConnections {
    static let interval = TimeAmount.milliseconds(250)

    let connectTimeout: TimeAmount
    private let eventLoop: any EventLoop
    private var handlers: [ObjectIdentifier: MQTTConnectionHandler] = [:]
    private var pending: [ConnectionLink] = []
    /// Connections with acknowledgements waiting for the durable store.
    private var awaitingStore: [ObjectIdentifier: MQTTConnectionHandler] = [:]

    init(connectTimeout: TimeAmount, eventLoop: any EventLoop) {
        self.connectTimeout = connectTimeout
        self.eventLoop = eventLoop
    }

    func add(_ handler: MQTTConnectionHandler) {
        handlers[ObjectIdentifier(handler)] = handler
    }

    func remove(_ handler: MQTTConnectionHandler) {
        handlers[ObjectIdentifier(handler)] = nil
        awaitingStore[ObjectIdentifier(handler)] = nil
    }

    /// `handler` holds acknowledgements until the store has written what they acknowledge.
    func awaitStore(_ handler: MQTTConnectionHandler) {
        awaitingStore[ObjectIdentifier(handler)] = handler
    }

    func storeCaughtUp(_ handler: MQTTConnectionHandler) {
        awaitingStore[ObjectIdentifier(handler)] = nil
    }

    /// The store wrote (or failed to write) a batch: the connections waiting for it go on.
    func storeWritten() {
        guard !awaitingStore.isEmpty else { return }
        for handler in Array(awaitingStore.values) { handler.storeWritten() }
    }

    /// Fires the timers that are due; closing a connection removes it, so they are collected first.
    func sweep(now: NIODeadline) {
        var due: [MQTTConnectionHandler] = []
        for handler in handlers.values where handler.timerDue(now: now, connectTimeout: connectTimeout) {
            due.append(handler)
        }
        for handler in due { handler.timerFired(now: now, connectTimeout: connectTimeout) }
    }

    /// Remembers a link of this loop that has packets waiting. The first one of a pass also
    /// queues a task, which drains whatever no connection's read end drained first.
    func deliverSoon(_ link: ConnectionLink) {
        pending.append(link)
        if pending.count == 1 {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { bound.value.drainPending() }
        }
    }

    /// Hands every waiting link's packets to its connection (each writes and flushes once).
    func drainPending() {
        while !pending.isEmpty {
            let links = pending
            pending.removeAll(keepingCapacity: true)
            for link in links { link.drain() }
        }
    }
}

/// One `LoopConnections` per event loop, created when the loop's first connection arrives.
final class LoopConnectionsRegistry: Sendable {
    private struct Entry {
        let loop: any EventLoop
        let connections: NIOLoopBound<LoopConnections>
        let task: RepeatedTask
    }

    private let connectTimeout: TimeAmount
    private let entries = Locked<[ObjectIdentifier: Entry]>([:])

    init(connectTimeout: TimeAmount) {
        self.connectTimeout = connectTimeout
    }

    /// The shared state of `loop`'s connections; call on `loop`.
    func connections(on loop: any EventLoop) -> NIOLoopBound<LoopConnections> {
        let key = ObjectIdentifier(loop)
        return entries.withLock { entries in
            // A test's embedded loop may be freed and its address reused by another one.
            if let entry = entries[key], entry.loop === loop { return entry.connections }
            entries[key]?.task.cancel()
            let bound = NIOLoopBound(LoopConnections(connectTimeout: connectTimeout, eventLoop: loop), eventLoop: loop)
            let task = loop.scheduleRepeatedTask(initialDelay: LoopConnections.interval, delay: LoopConnections.interval) { _ in
                bound.value.sweep(now: loop.now)
            }
            entries[key] = Entry(loop: loop, connections: bound, task: task)
            return bound
        }
    }

    /// Tells every loop's connections that the store wrote a batch (from the store's thread).
    func notifyStoreWritten() {
        let all = entries.withLock { Array($0.values) }
        for entry in all {
            let connections = entry.connections
            entry.loop.execute { connections.value.storeWritten() }
        }
    }

    /// Stops every sweep (at shutdown).
    func cancelAll() {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in all { entry.task.cancel() }
    }
}
