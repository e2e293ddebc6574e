import Foundation

/// A task executor with a thread of its own. Swift's cooperative pool has as many threads as
/// cores (two here), and tests that wait synchronously (tmux screens, subprocesses) hold them:
/// work that must keep its pace while they do — a dashboard poller whose polls a test counts —
/// runs here instead (`Task(executorPreference: ThreadTaskExecutor.shared)`).
package final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    package static let shared = ThreadTaskExecutor(name: "test-executor")

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`

    private init(name: String) {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = name
        thread.start()
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
