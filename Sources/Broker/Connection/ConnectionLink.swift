import AviaryLocks
import MQTTCodec
import NIOCore
import Synchronization

/// The thread-safe side of a live connection: sessions and the router (on any thread) put
/// packets in its outbox; the connection's event loop drains it in one batch and one flush.
final class ConnectionLink: DeliverySink {
    let eventLoop: any EventLoop
    let version: ProtocolVersion
    let counters: ConnectionCounters
    private struct Outbox {
        var items: [Outbound] = []
        var scheduled = false
    }
    private let outbox = Locked(Outbox())
    private let writable = Atomic<Bool>(true)
    private let drainTarget: NIOLoopBound<Drain>
    private let loop: NIOLoopBound<LoopConnections>

    /// Holder of the handler's drain function, cleared when the channel goes inactive.
    final class Drain {
        var body: (([Outbound]) -> Void)?
    }

    init(
        eventLoop: any EventLoop,
        loop: NIOLoopBound<LoopConnections>,
        version: ProtocolVersion,
        counters: ConnectionCounters,
        drain: @escaping ([Outbound]) -> Void
    ) {
        self.eventLoop = eventLoop
        self.loop = loop
        self.version = version
        self.counters = counters
        let target = Drain()
        target.body = drain
        self.drainTarget = NIOLoopBound(target, eventLoop: eventLoop)
    }

    var isWritable: Bool { writable.load(ordering: .relaxed) }

    func setWritable(_ value: Bool) { writable.store(value, ordering: .relaxed) }

    /// Whether a subscriber holds this connection's publishing back.
    var isHeld: Bool { counters.heldBy.load(ordering: .relaxed) > 0 }

    func hold() {
        ConnectionCounters.add(counters.heldBy, 1)
    }

    func release() {
        if counters.heldBy.wrappingSubtract(1, ordering: .relaxed).newValue == 0 { send(.resume) }
    }

    /// Queues an item and makes sure a drain is due on the connection's loop: from another
    /// thread a task (which wakes the loop), from the same loop at the end of the current read.
    func send(_ item: Outbound) {
        let schedule = outbox.withLock { box -> Bool in
            box.items.append(item)
            if box.scheduled { return false }
            box.scheduled = true
            return true
        }
        ConnectionCounters.add(counters.outboxLen, 1)
        if schedule {
            if eventLoop.inEventLoop {
                loop.value.deliverSoon(self)
            } else {
                eventLoop.execute { self.drain() }
            }
        }
    }

    /// Runs on the event loop: hands everything queued to the handler at once.
    func drain() {
        let items = outbox.withLock { box -> [Outbound] in
            box.scheduled = false
            var taken: [Outbound] = []
            swap(&taken, &box.items)
            return taken
        }
        guard !items.isEmpty else { return }
        ConnectionCounters.subtract(counters.outboxLen, UInt64(items.count))
        drainTarget.value.body?(items)
    }

    /// Called by the handler when the channel is gone: further items are discarded.
    func detach() {
        drainTarget.value.body = nil
    }
}
