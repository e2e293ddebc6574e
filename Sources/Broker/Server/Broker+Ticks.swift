import AviaryLocks
import NIOCore
import Synchronization

/// The broker's clock: one repeated task drives the state's timers and the $SYS topics.
extension Broker {
    /// Once a second: the state's timers (expiry, will delays, stalls) and, every
    /// `sys_interval` seconds, the $SYS topics.
    func startTicks() -> RepeatedTask {
        let core = self.core
        let sysEvery = configuration.sysInterval
        let sysTicks = Locked(0.0)
        return group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let now = NIODeadline.now()
            core.withState { $0.tick(now: now) }
            guard sysEvery > 0 else { return }
            let due = sysTicks.withLock { elapsed -> Bool in
                elapsed += 1
                if elapsed >= sysEvery {
                    elapsed = 0
                    return true
                }
                return false
            }
            if due { SysTopics.publish(self, now: now) }
        }
    }
}
