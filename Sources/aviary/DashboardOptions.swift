import ArgumentParser
import Foundation
import TUI

/// Flags of the dashboard, shared by `aviary` and `aviary watch`.
struct DashboardOptions: ParsableArguments {
    @Option(name: .customLong("interval"), help: "Seconds between polls (0.25 to 10).")
    var interval: Double = 1

    @Flag(name: .customLong("no-color"), help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    func validate() throws {
        guard (0.25...10).contains(interval) else { throw ValidationError("--interval: expected seconds from 0.25 to 10") }
    }

    /// Runs the dashboard on a thread of its own (its key reads block) and waits for it.
    func runDashboard(url: String, user: String, password: String) async -> Int32 {
        var options = Dashboard.Options(url: url, user: user, password: password)
        options.interval = interval
        options.noColor = noColor
        let chosen = options
        return await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Dashboard.run(chosen)) }
            thread.name = "aviary-dashboard"
            thread.start()
        }
    }
}
