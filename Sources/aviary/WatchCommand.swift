import ArgumentParser

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show the dashboard for a remote management API: aviary, NanoMQ (HTTP API v4), EMQX 5/6 (/api/v5) or EMQX v3/v4.",
        discussion: """
            Runs aviary-dashboard (installed beside aviary) with these arguments; `aviary watch --help` lists its options.

            Examples:
              aviary watch http://127.0.0.1:8081
              aviary watch http://nanomq.local:8081 --user admin --password public
              AVIARY_WATCH_PASSWORD=s3cret aviary watch http://emqx.local:8081 --user ops
              aviary watch http://emqx-1.local:18083 --api-key KEY --api-secret SECRET
            """,
        // `--help` goes to the dashboard, which knows its options.
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "[URL…] [--user U | --api-key K] [--password P | --api-secret S] [--interval S] [--no-color]")
    var arguments: [String] = []

    func run() throws {
        try DashboardProcess.exec(arguments: arguments)
    }
}
