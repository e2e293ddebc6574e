import Foundation

/// The tests' one task executor: eight threads of its own instead of Swift's cooperative pool,
/// which has as many threads as cores (two here) and which the blocking waits of synchronous
/// tests (raw sockets, subprocesses, tmux screens) can fill. Work that must keep its pace
/// meanwhile — the API's services in every harness, a dashboard poller whose polls a test
/// counts — runs here (`Task(executorPreference: TestExecutor.shared)`). Its own threads, not
/// Dispatch's: a Dispatch queue gets about one thread per core and adds more only slowly when
/// jobs block.
package final class TestExecutor: TaskExecutor, @unchecked Sendable {
    package static let shared = TestExecutor(threads: 8)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.run() }
            thread.name = "test-executor-\(index)"
            thread.start()
        }
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
