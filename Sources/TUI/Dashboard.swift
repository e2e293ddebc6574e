import Foundation

/// The dashboard: polls a management API on a task, draws on the calling thread (which must
/// not be a Swift concurrency thread: `getch` blocks), and restores the terminal on exit.
public enum Dashboard {
    /// One API to watch: its URL, credentials, and a name for the header when there are several.
    public struct Target: Sendable, Equatable {
        public var name: String?
        public var url: String
        public var user: String
        public var password: String

        public init(name: String? = nil, url: String, user: String, password: String) {
            self.name = name
            self.url = url
            self.user = user
            self.password = password
        }
    }

    public struct Options: Sendable {
        /// Watched together; `t` / Tab switches between them (each keeps its own table state).
        public var targets: [Target]
        /// Seconds between polls; nil: what dashboard.conf remembers, else 1.
        public var interval: Double?
        public var noColor = false
        /// Where the column choice, sort and interval are remembered; nil: not at all.
        public var preferencesPath: String? = DashboardPreferencesFile.defaultPath

        public init(targets: [Target]) {
            self.targets = targets
        }

        public init(url: String, user: String, password: String) {
            self.init(targets: [Target(url: url, user: user, password: password)])
        }
    }

    /// One target's poller and what the screen keeps of it.
    private final class Watched {
        let target: Target
        let poller: Poller
        let task: Task<Void, Never>
        var state: TableState
        var tracker = RateTracker()
        var history = RateHistory()
        var generation = -1
        var lastQuery = Poller.ViewQuery()

        init(_ target: Target, state: TableState) {
            self.target = target
            self.state = state
            let poller = Poller(url: target.url, user: target.user, password: target.password, interval: state.interval)
            self.poller = poller
            self.task = Task.detached { await poller.run() }
        }
    }

    /// Runs until `q`, Ctrl-C or SIGTERM/SIGHUP; returns the signal that ended it (0 for `q`).
    public static func run(_ options: Options) -> Int32 {
        var initial = TableState()
        if let path = options.preferencesPath { initial.apply(DashboardPreferencesFile.load(path, status: &initial.status)) }
        if let interval = options.interval { initial.interval = interval }
        let watched = options.targets.map { Watched($0, state: initial) }
        var current = 0
        let noColor = options.noColor || !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let terminal = Terminal(noColor: noColor)
        var lastDraw = 0.0
        var dirty = true
        var signal: Int32 = 0
        loop: while true {
            let view = watched[current]
            var wanted = Poller.ViewQuery()
            wanted.sortField = view.state.sortColumn.apiField
            wanted.descending = view.state.descending
            // A regular expression or an inverted filter is applied here, to the rows fetched.
            wanted.filter = ClientFilter(view.state.filter).serverNeedle ?? ""
            if wanted != view.lastQuery {
                view.poller.setQuery(wanted)
                view.lastQuery = wanted
            }
            signal = terminal.quitSignal
            if signal != 0 { break }
            // Every target's data is taken in as it comes (rates and history go on in the
            // background); the screen shows the current one.
            for (index, other) in watched.enumerated() {
                let snapshot = other.poller.snapshot()
                guard snapshot.generation != other.generation else { continue }
                other.generation = snapshot.generation
                other.tracker.update(snapshot.rows, at: snapshot.fetchedAt)
                if let broker = snapshot.info.brokerMessages {
                    other.tracker.updateBroker(received: broker.received, sent: broker.sent, at: snapshot.fetchedAt)
                }
                other.history.record(total: other.tracker.total, rates: other.tracker.rates)
                other.state.setRows(snapshot.rows, rates: other.tracker.rates)
                other.state.canKick = snapshot.info.canKick
                other.state.nodes = snapshot.nodes
                other.state.setSubscriptions(snapshot.subscriptions)
                if index == current { dirty = true }
            }
            for message in view.poller.drainMessages() {
                view.state.status = message
                dirty = true
            }
            let snapshot = view.poller.snapshot()
            var source = snapshot.info
            if watched.count > 1 {
                source.target = "\(current + 1)/\(watched.count)" + (view.target.name.map { " " + $0 } ?? "")
            }
            let (width, height) = terminal.size
            let layout = Column.layout(
                width: width,
                nodes: source.flavour == .emqx5,
                counters: source.flavour != .nanomq,
                hidden: view.state.hiddenColumns
            )
            view.state.lastLayout = layout
            let pageSize = max(1, height - 6)
            let now = Poller.monotonic()
            if dirty || now - lastDraw >= 0.5 {
                view.state.scrollToSelection(pageSize: pageSize)
                let detail: DetailInfo? = if case .detail(let id) = view.state.mode, snapshot.detailId == id { snapshot.detail } else { nil }
                let screen = TableView.render(
                    state: view.state,
                    source: source,
                    totals: view.tracker.total,
                    detail: detail,
                    width: width,
                    height: height,
                    nowMs: Int64(Date().timeIntervalSince1970 * 1000),
                    unicode: terminal.unicode,
                    history: view.history
                )
                terminal.draw(screen)
                lastDraw = now
                dirty = false
            }
            guard let key = terminal.readKey(timeoutMs: 100) else { continue }
            dirty = true
            if key == .function(0) { continue }  // resize: re-laid out on the next draw
            if watched.count > 1, case .table = view.state.mode, !view.state.filterEditing, key == .tab || key == .char("t") {
                current = (current + 1) % watched.count
                watched[current].state.status = "watching \(watched[current].target.name ?? watched[current].target.url) (t or Tab: next)"
                continue
            }
            let wasDetail: Bool = if case .detail = view.state.mode { true } else { false }
            let poller = view.poller
            switch view.state.handle(key, columns: layout.map(\.column), pageSize: pageSize, headerY: TableView.headerY) {
            case .quit: break loop
            case .kick(let id): Task.detached { await poller.kick(id) }
            case .kickMany(let ids): Task.detached { await poller.kick(ids) }
            case .intervalChanged(let seconds): poller.setInterval(seconds)
            case .pauseChanged(let paused): poller.setPaused(paused)
            case .openDetail(let id): poller.setDetail(id)
            case .subscriptionsWanted(let wanted): poller.setSubscriptionsWanted(wanted)
            case .savePreferences: if let path = options.preferencesPath { DashboardPreferencesFile.save(view.state.preferences, to: path) }
            case nil: break
            }
            if wasDetail, case .table = view.state.mode { poller.setDetail(nil) }
        }
        terminal.end()
        for view in watched { view.task.cancel() }
        // The sort and interval as they are at the end are remembered too.
        if let path = options.preferencesPath { DashboardPreferencesFile.save(watched[current].state.preferences, to: path) }
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

    /// The named targets of the file, for `aviary watch` without a URL (unreadable: an error).
    public static func targets(_ path: String) throws -> [Dashboard.Target] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try DashboardPreferences(parsing: text, path: path).targets.map {
            Dashboard.Target(name: $0.name, url: $0.url, user: $0.user ?? "admin", password: $0.password ?? "public")
        }
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
        var preferences = preferences
        // The target lines are the user's: kept as they are (a file that does not parse is not
        // overwritten at all).
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let existing = try? DashboardPreferences(parsing: text, path: path) else { return }
            preferences.targets = existing.targets
        }
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? preferences.rendered.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
