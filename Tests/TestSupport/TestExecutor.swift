import Foundation

/// The tests' one task executor: threads of its own instead of Swift's cooperative pool, which
/// has as many threads as cores (two here) and which the synchronous waits of tests (a
/// subprocess, a raw socket, a tmux screen, `eventually`) hold while they wait. What must keep
/// its pace meanwhile runs here — the API's services in every harness, a dashboard poller whose
/// polls a test counts (`Task(executorPreference: TestExecutor.shared)`). A job that finds no
/// idle thread gets a new one (up to `maximumThreads`): Dispatch's queues add threads only
/// slowly when jobs block.
package final class TestExecutor: TaskExecutor, @unchecked Sendable {
    package static let shared = TestExecutor(name: "test-executor", maximumThreads: 32)

    private let name: String
    private let maximumThreads: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var threads = 0
    private var idle = 0

    private init(name: String, maximumThreads: Int) {
        self.name = name
        self.maximumThreads = maximumThreads
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        let grow = jobs.count > idle && threads < maximumThreads
        if grow { threads += 1 }
        let number = threads
        condition.signal()
        condition.unlock()
        if grow {
            let thread = Thread { [unowned self] in self.run() }
            thread.name = "\(name)-\(number)"
            thread.start()
        }
    }

    private func run() {
        condition.lock()
        while true {
            while jobs.isEmpty {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
            condition.lock()
        }
    }
}
