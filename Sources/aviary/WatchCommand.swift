import ArgumentParser
import Foundation
import TUI

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show the dashboard for a remote management API: aviary, NanoMQ (HTTP API v4) or EMQX (v3/v4).",
        discussion: """
            The kind of API is detected from its answers. NanoMQ's API has no counters and no
            disconnect endpoint: those columns show "–" and `d` says so.
            Examples:
              aviary watch http://127.0.0.1:8081
              aviary watch http://nanomq.local:8081 --user admin --password public
              aviary watch http://emqx.local:8081 --user admin --password secret --interval 2
            """
    )

    @Argument(help: "Base URL of the management API, e.g. http://127.0.0.1:8081.")
    var url: String

    @Option(name: .customLong("user"), help: "Basic Auth user name.")
    var user: String = "admin"

    @Option(name: .customLong("password"), help: "Basic Auth password.")
    var password: String = "public"

    @OptionGroup var dashboard: DashboardOptions

    func validate() throws {
        guard let parsed = URL(string: url.contains("://") ? url : "http://" + url), let scheme = parsed.scheme,
            ["http", "https"].contains(scheme), parsed.host != nil
        else { throw ValidationError("URL: expected http://HOST:PORT, got '\(url)'") }
    }

    func run() async throws {
        let signal = await dashboard.runDashboard(url: url, user: user, password: password)
        if signal != 0 { print("aviary: exiting on signal \(signal)") }
    }
}
