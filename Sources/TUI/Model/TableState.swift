/// Everything the screen shows, as a value: rows, sort, filter, selection (by client id,
/// so it follows the client across refreshes and re-sorts), mode and status.
public struct TableState: Sendable {
    public enum Mode: Sendable, Equatable {
        case table
        case detail(String)
        case help
        case sortMenu(Int)
        case confirmKick(String)
        /// Disconnect the tagged clients? (one confirmation listing them)
        case confirmKickTagged([String])
        /// The cluster view (EMQX 5/6), with the selected node.
        case nodes(Int)
        /// Every subscription by topic filter (`s`), with the selected one.
        case subscriptions(Int)
        /// The column chooser (F2), with the selected column.
        case columns(Int)
    }

    public private(set) var rows: [ClientRow] = []
    public private(set) var rates: [String: Rates] = [:]
    public private(set) var visible: [ClientRow] = []
    public var sortColumn: Column = .bytesInRate
    public var descending = true
    public var filter = ""
    public var filterEditing = false
    /// The detail view lists every field as the API sent it (`r`), instead of in sections.
    public var detailRaw = false
    /// Clients tagged with Space (htop's way), for a disconnect of all of them at once.
    public private(set) var tagged: Set<String> = []
    /// Columns the user hid with F2 (the client id is always shown; TREND starts hidden).
    public var hiddenColumns: Set<Column> = [.trend]

    /// What is remembered between runs.
    public var preferences: DashboardPreferences {
        var p = DashboardPreferences()
        p.hiddenColumns = hiddenColumns
        p.sortColumn = sortColumn
        p.descending = descending
        p.interval = interval
        return p
    }

    public mutating func apply(_ p: DashboardPreferences) {
        hiddenColumns = p.hiddenColumns.subtracting([.clientId])
        if let column = p.sortColumn {
            sortColumn = column
            descending = p.descending ?? column.isNumeric
        }
        if let seconds = p.interval { interval = seconds }
        refresh()
    }
    /// The cluster's nodes (EMQX 5/6) for the cluster view (`n`), and the node the client table
    /// is narrowed to (Enter on a node; Esc clears it).
    public var nodes: [NodeRow] = []
    public private(set) var nodeFilter: String?
    /// The subscriptions view's rows (nil until fetched), filtered by topic with `/`; Enter
    /// narrows the client table to one filter's clients.
    public private(set) var subscriptionGroups: [SubscriptionGroup]?
    public private(set) var subscriberFilter: (topic: String, clients: Set<String>)?

    public mutating func setSubscriptions(_ rows: [SubscriptionRow]?) {
        subscriptionGroups = rows.map(SubscriptionGroup.group)
    }

    /// The groups the view shows: those whose topic passes the `/` filter.
    public var visibleSubscriptions: [SubscriptionGroup] {
        let filter = ClientFilter(self.filter)
        return (subscriptionGroups ?? []).filter { filter.matches($0.topic) }
    }
    public var selectedId: String?
    public var scrollTop = 0
    public var mode: Mode = .table
    public var paused = false
    public var interval: Double = 1.0
    public var status = ""
    /// Whether the source can disconnect clients (not NanoMQ 0.25 and older: it has no endpoint).
    public var canKick = true

    public static let intervals: [Double] = [0.25, 0.5, 1, 2, 5, 10]

    public init() {}

    /// Replaces the data (a new poll), keeping sort, filter and the selected client.
    public mutating func setRows(_ rows: [ClientRow], rates: [String: Rates]) {
        self.rows = rows
        self.rates = rates
        if !tagged.isEmpty { tagged.formIntersection(rows.map(\.clientId)) }
        refresh()
    }

    /// Recomputes the visible rows after a change of data, sort or filter.
    public mutating func refresh() {
        var shown = ClientFilter(filter).apply(rows)
        if let nodeFilter { shown = shown.filter { $0.node == nodeFilter } }
        if let subscriberFilter { shown = shown.filter { subscriberFilter.clients.contains($0.clientId) } }
        let column = sortColumn
        let descending = self.descending
        let rates = self.rates
        let keyed = shown.map { (column.sortValue($0, rates[$0.clientId]), $0) }
        shown = keyed.sorted { a, b in
            switch (a.0, b.0) {
            case (.missing, .missing): return a.1.clientId < b.1.clientId
            case (.missing, _): return false
            case (_, .missing): return true
            default:
                if a.0 == b.0 { return a.1.clientId < b.1.clientId }
                return descending ? b.0 < a.0 : a.0 < b.0
            }
        }.map(\.1)
        visible = shown
        if let id = selectedId, !visible.contains(where: { $0.clientId == id }) {
            selectedId = visible.first?.clientId
        } else if selectedId == nil {
            selectedId = visible.first?.clientId
        }
    }

    public var selectedIndex: Int? {
        guard let id = selectedId else { return nil }
        return visible.firstIndex { $0.clientId == id }
    }

    public var selectedRow: ClientRow? {
        selectedIndex.map { visible[$0] }
    }

    /// Keeps the selection on screen for a table of `pageSize` rows.
    public mutating func scrollToSelection(pageSize: Int) {
        guard pageSize > 0 else { return }
        let index = selectedIndex ?? 0
        if index < scrollTop { scrollTop = index }
        if index >= scrollTop + pageSize { scrollTop = index - pageSize + 1 }
        scrollTop = max(0, min(scrollTop, max(0, visible.count - pageSize)))
    }

    private mutating func move(by delta: Int, pageSize: Int) {
        guard !visible.isEmpty else { return }
        let index = max(0, min(visible.count - 1, (selectedIndex ?? 0) + delta))
        selectedId = visible[index].clientId
        scrollToSelection(pageSize: pageSize)
    }

    private mutating func sort(by column: Column) {
        if sortColumn == column {
            descending.toggle()
        } else {
            sortColumn = column
            descending = column.isNumeric
        }
        refresh()
    }

    /// Applies a key. `columns` is the current layout (for `<`/`>` and header clicks),
    /// `pageSize` the number of table rows on screen, `headerY` the screen row of the header.
    public mutating func handle(_ key: Key, columns: [Column], pageSize: Int, headerY: Int = 3) -> Effect? {
        if filterEditing {
            switch key {
            case .escape:
                filter = ""
                filterEditing = false
            case .enter:
                filterEditing = false
            case .backspace, .delete:
                if !filter.isEmpty { filter.removeLast() }
            case .char(let c) where !c.isNewline:
                filter.append(c)
            default:
                return nil
            }
            refresh()
            scrollToSelection(pageSize: pageSize)
            return nil
        }
        switch mode {
        case .help:
            mode = .table
            return key == .char("q") ? .quit : nil
        case .confirmKick(let id):
            mode = .table
            if key == .char("y") || key == .char("Y") {
                status = "disconnecting \(id)…"
                return .kick(id)
            }
            status = "not disconnected: \(id)"
            return nil
        case .confirmKickTagged(let ids):
            mode = .table
            if key == .char("y") || key == .char("Y") {
                status = "disconnecting \(ids.count) clients…"
                tagged.removeAll()
                return .kickMany(ids)
            }
            status = "not disconnected: \(ids.count) tagged clients (U untags them)"
            return nil
        case .subscriptions(let index):
            let groups = visibleSubscriptions
            switch key {
            case .up, .char("k"): mode = .subscriptions(max(0, index - 1))
            case .down, .char("j"): mode = .subscriptions(min(max(0, groups.count - 1), index + 1))
            case .pageUp: mode = .subscriptions(max(0, index - max(1, pageSize - 1)))
            case .pageDown: mode = .subscriptions(min(max(0, groups.count - 1), index + max(1, pageSize - 1)))
            case .char("/"): filterEditing = true
            case .enter:
                guard index < groups.count else { return nil }
                subscriberFilter = (groups[index].topic, Set(groups[index].clients))
                filter = ""
                status = "clients subscribed to \(groups[index].topic) (Esc shows all)"
                mode = .table
                refresh()
                return .subscriptionsWanted(false)
            case .escape, .char("s"), .char("q"):
                mode = .table
                filter = ""
                refresh()
                return .subscriptionsWanted(false)
            default: break
            }
            return nil
        case .columns(let index):
            let all = Column.allCases
            switch key {
            case .up, .char("k"): mode = .columns(max(0, index - 1))
            case .down, .char("j"): mode = .columns(min(all.count - 1, index + 1))
            case .char(" "), .enter:
                let column = all[index]
                if column == .clientId {
                    status = "the client id column is always shown"
                } else if hiddenColumns.remove(column) == nil {
                    hiddenColumns.insert(column)
                }
            case .escape, .function(2), .char("q"):
                mode = .table
                return .savePreferences
            default: break
            }
            return nil
        case .nodes(let index):
            switch key {
            case .up, .char("k"): mode = .nodes(max(0, index - 1))
            case .down, .char("j"): mode = .nodes(min(max(0, nodes.count - 1), index + 1))
            case .enter:
                if index < nodes.count {
                    nodeFilter = nodes[index].name
                    status = "clients on \(nodes[index].name) (Esc shows every node's)"
                    refresh()
                }
                mode = .table
            case .escape, .char("n"), .char("q"): mode = .table
            default: break
            }
            return nil
        case .sortMenu(let index):
            let all = Column.allCases
            switch key {
            case .up, .char("k"): mode = .sortMenu(max(0, index - 1))
            case .down, .char("j"): mode = .sortMenu(min(all.count - 1, index + 1))
            case .enter:
                sortColumn = all[index]
                descending = all[index].isNumeric
                mode = .table
                refresh()
            case .escape, .function(6), .char("q"): mode = .table
            default: break
            }
            return nil
        case .detail:
            switch key {
            case .escape, .enter, .char("q"), .backspace: mode = .table
            case .char("d"), .delete: return requestKick()
            case .char("r"): detailRaw.toggle()
            default: break
            }
            return nil
        case .table:
            break
        }
        switch key {
        case .char("q"), .function(10): return .quit
        case .up, .char("k"), .wheelUp: move(by: -1, pageSize: pageSize)
        case .down, .char("j"), .wheelDown: move(by: 1, pageSize: pageSize)
        case .pageUp: move(by: -max(1, pageSize - 1), pageSize: pageSize)
        case .pageDown: move(by: max(1, pageSize - 1), pageSize: pageSize)
        case .home, .char("g"): move(by: -visible.count, pageSize: pageSize)
        case .end, .char("G"): move(by: visible.count, pageSize: pageSize)
        case .char("<"), .char(","):
            if let i = columns.firstIndex(of: sortColumn), i > 0 { sortColumn = columns[i - 1] } else { sortColumn = columns.last ?? sortColumn }
            descending = sortColumn.isNumeric
            refresh()
        case .char(">"), .char("."):
            if let i = columns.firstIndex(of: sortColumn), i + 1 < columns.count {
                sortColumn = columns[i + 1]
            } else {
                sortColumn = columns.first ?? sortColumn
            }
            descending = sortColumn.isNumeric
            refresh()
        case .char("r"), .char("I"):
            descending.toggle()
            refresh()
        case .function(6):
            mode = .sortMenu(Column.allCases.firstIndex(of: sortColumn) ?? 0)
        case .function(2):
            mode = .columns(0)
        case .char("/"):
            filterEditing = true
        case .escape:
            if !filter.isEmpty || nodeFilter != nil || subscriberFilter != nil {
                filter = ""
                nodeFilter = nil
                subscriberFilter = nil
                refresh()
            }
        case .char("s"):
            mode = .subscriptions(0)
            return .subscriptionsWanted(true)
        case .char("n"):
            if nodes.isEmpty {
                status = "no cluster view: this API lists no nodes (EMQX 5/6 does)"
            } else {
                mode = .nodes(nodeFilter.flatMap { name in nodes.firstIndex { $0.name == name } } ?? 0)
            }
        case .enter:
            if let id = selectedId {
                mode = .detail(id)
                return .openDetail(id)
            }
        case .char("d"), .delete, .function(9):
            return requestKick()
        case .char(" "):
            // Tag or untag the selected client and move on (htop's Space).
            if let id = selectedId {
                if tagged.remove(id) == nil { tagged.insert(id) }
                status = tagged.isEmpty ? "no client tagged" : "\(tagged.count) tagged: d disconnects them all, U untags"
                move(by: 1, pageSize: pageSize)
            }
        case .char("U"):
            tagged.removeAll()
            status = "no client tagged"
        case .char("p"):
            paused.toggle()
            status = paused ? "paused: press p to resume" : "resumed"
            return .pauseChanged(paused)
        case .char("+"), .char("="):
            let next = TableState.intervals.first { $0 > interval } ?? interval
            interval = next
            status = "refresh every \(Format.seconds(interval))"
            return .intervalChanged(interval)
        case .char("-"), .char("_"):
            let next = TableState.intervals.last { $0 < interval } ?? interval
            interval = next
            status = "refresh every \(Format.seconds(interval))"
            return .intervalChanged(interval)
        case .char("?"), .char("h"), .function(1):
            mode = .help
        case .click(let x, let y):
            if y == headerY {
                var left = 0
                for (column, width) in lastLayout {
                    if x >= left && x < left + width + 1 {
                        sort(by: column)
                        break
                    }
                    left += width + 1
                }
            } else if y > headerY {
                let index = scrollTop + (y - headerY - 1)
                if index < visible.count { selectedId = visible[index].clientId }
            }
        default:
            break
        }
        return nil
    }

    /// Width given to the client id column by the last layout (set by the view).
    public var lastLayout: [(column: Column, width: Int)] = []

    private mutating func requestKick() -> Effect? {
        guard canKick else {
            status = "this API has no disconnect endpoint (this NanoMQ's HTTP API v4 cannot kick clients)"
            return nil
        }
        if !tagged.isEmpty, case .table = mode {
            let ids = visible.map(\.clientId).filter(tagged.contains) + tagged.subtracting(visible.map(\.clientId)).sorted()
            mode = .confirmKickTagged(ids)
            return nil
        }
        guard let row = selectedRow else { return nil }
        guard row.connected else {
            status = "\(row.clientId) is not connected"
            return nil
        }
        mode = .confirmKick(row.clientId)
        return nil
    }
}

extension Format {
    /// 0.25s, 1s, 10s
    public static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }
}
