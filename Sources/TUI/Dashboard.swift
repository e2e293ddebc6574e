import Foundation

/// The dashboard: polls a management API on a task, draws on the calling thread (which must
/// not be a Swift concurrency thread: `getch` blocks), and restores the terminal on exit.
public enum Dashboard {
    public struct Options: Sendable {
        public var url: String
        public var user: String
        public var password: String
        /// Seconds between polls; nil: what dashboard.conf remembers, else 1.
        public var interval: Double?
        public var noColor = false
        /// Where the column choice, sort and interval are remembered; nil: not at all.
        public var preferencesPath: String? = DashboardPreferencesFile.defaultPath
        public init(url: String, user: String, password: String) {
            self.url = url
            self.user = user
            self.password = password
        }
    }

    /// Runs until `q`, Ctrl-C or SIGTERM/SIGHUP; returns the signal that ended it (0 for `q`).
    public static func run(_ options: Options) -> Int32 {
        var state = TableState()
        if let path = options.preferencesPath { state.apply(DashboardPreferencesFile.load(path, status: &state.status)) }
        if let interval = options.interval { state.interval = interval }
        let poller = Poller(url: options.url, user: options.user, password: options.password, interval: state.interval)
        let pollTask = Task.detached { await poller.run() }
        let noColor = options.noColor || !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let terminal = Terminal(noColor: noColor)
        var tracker = RateTracker()
        var history = RateHistory()
        var generation = -1
        var lastDraw = 0.0
        var dirty = true
        var signal: Int32 = 0
        var lastQuery = Poller.ViewQuery()
        loop: while true {
            var wanted = Poller.ViewQuery()
            wanted.sortField = state.sortColumn.apiField
            wanted.descending = state.descending
            // A regular expression or an inverted filter is applied here, to the rows fetched.
            wanted.filter = ClientFilter(state.filter).serverNeedle ?? ""
            if wanted != lastQuery {
                poller.setQuery(wanted)
                lastQuery = wanted
            }
            signal = terminal.quitSignal
            if signal != 0 { break }
            let snapshot = poller.snapshot()
            if snapshot.generation != generation {
                generation = snapshot.generation
                tracker.update(snapshot.rows, at: snapshot.fetchedAt)
                if let broker = snapshot.info.brokerMessages {
                    tracker.updateBroker(received: broker.received, sent: broker.sent, at: snapshot.fetchedAt)
                }
                history.record(total: tracker.total, rates: tracker.rates)
                state.setRows(snapshot.rows, rates: tracker.rates)
                state.canKick = snapshot.info.canKick
                state.nodes = snapshot.nodes
                state.setSubscriptions(snapshot.subscriptions)
                dirty = true
            }
            for message in poller.drainMessages() {
                state.status = message
                dirty = true
            }
            let (width, height) = terminal.size
            let layout = Column.layout(width: width, nodes: snapshot.info.flavour == .emqx5, counters: snapshot.info.flavour != .nanomq, hidden: state.hiddenColumns)
            state.lastLayout = layout
            let pageSize = max(1, height - 6)
            let now = Poller.monotonic()
            if dirty || now - lastDraw >= 0.5 {
                state.scrollToSelection(pageSize: pageSize)
                let detail: DetailInfo? = if case .detail(let id) = state.mode, snapshot.detailId == id { snapshot.detail } else { nil }
                let screen = TableView.render(
                    state: state,
                    source: snapshot.info,
                    totals: tracker.total,
                    detail: detail,
                    width: width,
                    height: height,
                    nowMs: Int64(Date().timeIntervalSince1970 * 1000),
                    unicode: terminal.unicode,
                    history: history
                )
                terminal.draw(screen)
                lastDraw = now
                dirty = false
            }
            guard let key = terminal.readKey(timeoutMs: 100) else { continue }
            dirty = true
            if key == .function(0) { continue }  // resize: re-laid out on the next draw
            let wasDetail: Bool = if case .detail = state.mode { true } else { false }
            switch state.handle(key, columns: layout.map(\.column), pageSize: pageSize, headerY: TableView.headerY) {
            case .quit: break loop
            case .kick(let id): Task.detached { await poller.kick(id) }
            case .kickMany(let ids): Task.detached { await poller.kick(ids) }
            case .intervalChanged(let seconds): poller.setInterval(seconds)
            case .pauseChanged(let paused): poller.setPaused(paused)
            case .openDetail(let id): poller.setDetail(id)
            case .subscriptionsWanted(let wanted): poller.setSubscriptionsWanted(wanted)
            case .savePreferences: if let path = options.preferencesPath { DashboardPreferencesFile.save(state.preferences, to: path) }
            case nil: break
            }
            if wasDetail, case .table = state.mode { poller.setDetail(nil) }
        }
        terminal.end()
        pollTask.cancel()
        // The sort and interval as they are at the end are remembered too.
        if let path = options.preferencesPath { DashboardPreferencesFile.save(state.preferences, to: path) }
        return signal
    }
}

/// Reads and writes `DashboardPreferences` at `$XDG_CONFIG_HOME/aviary/dashboard.conf`
/// (`~/.config/aviary/dashboard.conf` by default). A file that cannot be read as preferences is
/// named in the status line and left alone until the dashboard ends.
public enum DashboardPreferencesFile {
    public static var defaultPath: String? {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/aviary/dashboard.conf" }
        return environment["HOME"].map { $0 + "/.config/aviary/dashboard.conf" }
    }

    static func load(_ path: String, status: inout String) -> DashboardPreferences {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return DashboardPreferences() }
        do {
            return try DashboardPreferences(parsing: text, path: path)
        } catch {
            status = "\(error) (defaults used)"
            return DashboardPreferences()
        }
    }

    static func save(_ preferences: DashboardPreferences, to path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? preferences.rendered.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
