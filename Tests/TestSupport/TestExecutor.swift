import Dispatch

/// The tests' one task executor: Dispatch threads instead of Swift's cooperative pool, which has
/// as many threads as cores (two here) and which the blocking waits of tests (raw sockets,
/// subprocesses, tmux screens) can fill. Work that must keep its pace meanwhile — the API's
/// services, a dashboard poller whose polls a test counts — runs here
/// (`Task(executorPreference: TestExecutor.shared)`).
package final class TestExecutor: TaskExecutor {
    package static let shared = TestExecutor()
    private let queue = DispatchQueue(label: "aviary.test.executor", attributes: .concurrent)

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
