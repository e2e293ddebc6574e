import ArgumentParser
import Foundation
import TUI

/// The dashboard process. `aviary watch …` runs it with the user's arguments; `aviary` runs it
/// against its own management API. Kept apart from `aviary` so that the broker's binary never
/// links ncurses.
@main
struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aviary watch",
        abstract: "Show the dashboard for a management API: aviary, NanoMQ (HTTP API v4), EMQX 5/6 (/api/v5) or EMQX v3/v4.",
        discussion: """
            The kind of API is detected from its answers. NanoMQ's API has no counters and no disconnect endpoint: those columns show "–" and `d` \
            says so. For EMQX 5/6 give an API key and secret (--api-key/--api-secret, the same as --user/--password); if EMQX refuses them as a \
            key, they are tried as a dashboard user, whose bearer token is renewed when it expires. The credentials may also come from \
            AVIARY_WATCH_USER and AVIARY_WATCH_PASSWORD, which keeps the password out of the process list.

            Examples:
              aviary watch http://127.0.0.1:8081
              aviary watch http://nanomq.local:8081 --user admin --password public
              AVIARY_WATCH_PASSWORD=s3cret aviary watch http://emqx.local:8081 --user ops
              aviary watch http://emqx-1.local:18083 --api-key 4f0c… --api-secret 9Q…
              aviary watch http://edge-1:8081 http://edge-2:8081     # t or Tab switches
            """
    )

    @Argument(
        help:
            """
            Base URL of the management API, e.g. http://127.0.0.1:8081; several are watched together (t or Tab switches); none: the target lines of \
            dashboard.conf.
            """
    )
    var urls: [String] = []

    @Option(
        name: [.customLong("user"), .customLong("api-key")],
        help: "Basic Auth user name, or EMQX 5/6 API key (default: AVIARY_WATCH_USER or admin)."
    )
    var user: String?

    @Option(
        name: [.customLong("password"), .customLong("api-secret")],
        help: "Basic Auth password, or EMQX 5/6 API secret (default: AVIARY_WATCH_PASSWORD or public)."
    )
    var password: String?

    @Option(name: .customLong("interval"), help: "Seconds between polls (0.25 to 10; default: what dashboard.conf remembers, else 1).")
    var interval: Double?

    @Flag(name: .customLong("no-color"), help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    func validate() throws {
        for url in urls {
            guard let parsed = URL(string: url.contains("://") ? url : "http://" + url), let scheme = parsed.scheme,
                ["http", "https"].contains(scheme), parsed.host != nil
            else { throw ValidationError("URL: expected http://HOST:PORT, got '\(url)'") }
        }
        if let interval, !(0.25...10).contains(interval) { throw ValidationError("--interval: expected seconds from 0.25 to 10") }
    }

    static let noTerminal = """
        aviary watch: standard input and standard output must be a terminal (the dashboard is \
        interactive); from a script, read the management API itself, e.g. curl -u USER:PASSWORD URL/api/v4/clients
        """

    /// Draws on the main thread: `getch` blocks, so it must not run on a Swift concurrency thread.
    func run() throws {
        // The dashboard is interactive: without a terminal (a script, cron, ssh without a tty)
        // curses would draw escape codes into a file and read end-of-input forever. Say so
        // and stop at once.
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            FileHandle.standardError.write(Data((Self.noTerminal + "\n").utf8))
            throw ExitCode(2)
        }
        // Whoever started us may have left signals blocked (a mask survives exec): the dashboard
        // restores the terminal on SIGTERM/SIGHUP/SIGINT and redraws on SIGWINCH, so it takes them.
        var empty = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, nil)
        let environment = ProcessInfo.processInfo.environment
        let user = self.user ?? environment["AVIARY_WATCH_USER"] ?? "admin"
        let password = self.password ?? environment["AVIARY_WATCH_PASSWORD"] ?? "public"
        var targets = urls.map { Dashboard.Target(url: $0, user: user, password: password) }
        if targets.isEmpty {
            let path = DashboardPreferencesFile.defaultPath ?? "~/.config/aviary/dashboard.conf"
            targets = try DashboardPreferencesFile.targets(path)
            guard !targets.isEmpty else {
                throw ValidationError("URL: expected the URL of a management API (or 'target = NAME URL [USER [PASSWORD]]' lines in \(path))")
            }
        }
        var options = Dashboard.Options(targets: targets)
        options.interval = interval
        options.noColor = noColor
        let signal = Dashboard.run(options)
        if signal != 0 { print("aviary: exiting on signal \(signal)") }
    }
}
