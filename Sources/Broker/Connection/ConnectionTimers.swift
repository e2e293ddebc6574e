import NIOCore
import Synchronization

import AviaryLocks

/// The CONNECT timeout and the keepalive of every connection on one event loop, checked by
/// one repeated task every 250 ms. A scheduled task per connection (NIO's task, its promise
/// and closure) costs ~450 bytes for as long as the connection lives; here it costs one
/// dictionary entry. Confined to its event loop.
final class ConnectionTimers {
    static let interval = TimeAmount.milliseconds(250)

    let connectTimeout: TimeAmount
    private var handlers: [ObjectIdentifier: MQTTConnectionHandler] = [:]

    init(connectTimeout: TimeAmount) {
        self.connectTimeout = connectTimeout
    }

    func add(_ handler: MQTTConnectionHandler) {
        handlers[ObjectIdentifier(handler)] = handler
    }

    func remove(_ handler: MQTTConnectionHandler) {
        handlers[ObjectIdentifier(handler)] = nil
    }

    /// Fires the timers that are due; closing a connection removes it, so they are collected first.
    func sweep(now: NIODeadline) {
        var due: [MQTTConnectionHandler] = []
        for handler in handlers.values where handler.timerDue(now: now, connectTimeout: connectTimeout) {
            due.append(handler)
        }
        for handler in due { handler.timerFired(now: now, connectTimeout: connectTimeout) }
    }
}

/// One `ConnectionTimers` per event loop, created when the loop's first connection arrives.
final class ConnectionTimerRegistry: Sendable {
    private struct Entry {
        let timers: NIOLoopBound<ConnectionTimers>
        let task: RepeatedTask
    }

    private let connectTimeout: TimeAmount
    private let entries = Locked<[ObjectIdentifier: Entry]>([:])

    init(connectTimeout: TimeAmount) {
        self.connectTimeout = connectTimeout
    }

    /// The timers of `loop`; call on `loop`.
    func timers(on loop: any EventLoop) -> ConnectionTimers {
        let key = ObjectIdentifier(loop)
        return entries.withLock { entries in
            if let entry = entries[key] { return entry.timers.value }
            let timers = ConnectionTimers(connectTimeout: connectTimeout)
            let bound = NIOLoopBound(timers, eventLoop: loop)
            let task = loop.scheduleRepeatedTask(initialDelay: ConnectionTimers.interval, delay: ConnectionTimers.interval) { _ in
                bound.value.sweep(now: loop.now)
            }
            entries[key] = Entry(timers: bound, task: task)
            return timers
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
