import Foundation

/// Every key, for the help overlay and the README (one table, so they cannot drift).
public enum KeyHelp {
    public static let entries: [(keys: String, action: String)] = [
        ("↑ ↓  j k", "move the selection (it follows the client across refreshes)"),
        ("PgUp PgDn", "move a page"),
        ("Home End  g G", "first / last client"),
        ("< >", "sort by the previous / next column"),
        ("r", "reverse the sort order"),
        ("F6", "sort-by menu (↑ ↓, Enter)"),
        ("F2", "choose the columns (remembered, with the sort and interval, in dashboard.conf)"),
        ("click a header", "sort by it; click again to reverse"),
        ("/", "filter by id, user or address; re:REGEX, !TEXT inverts (Enter keeps, Esc clears)"),
        ("Esc", "clear the filter / close a view"),
        ("Enter", "details of the selected client (live)"),
        ("d  Delete  F9", "disconnect the selected client (asks first: y confirms)"),
        ("Space", "tag / untag the selected client (d then disconnects every tagged one)"),
        ("U", "untag every client"),
        ("n", "cluster view: one row per node (EMQX 5/6); Enter narrows the table to a node"),
        ("s", "subscriptions by topic filter, with their clients; Enter narrows the table to them"),
        ("t  Tab", "next target, when watching several (aviary watch URL URL…, or target lines in dashboard.conf)"),
        ("p", "pause / resume polling"),
        ("+ -", "refresh interval (0.25 s to 10 s)"),
        ("?  h  F1", "this help"),
        ("q  F10  Ctrl-C", "quit"),
    ]
}

/// Renders the state into a frame of styled lines. Pure: no terminal involved.
public enum TableView {
    public static let headerY = 3

    public static func render(
        state: TableState,
        source: SourceInfo,
        totals: Rates,
        detail: DetailInfo?,
        width: Int,
        height: Int,
        nowMs: Int64,
        unicode: Bool = true,
        history: RateHistory? = nil
    ) -> Screen {
        guard width >= 40, height >= 8 else {
            let message = Format.fit("terminal too small (\(width)x\(height)); need 40x8", max(1, width))
            var lines = [Line(message, .banner)]
            while lines.count < height { lines.append(Line()) }
            return Screen(width: width, height: height, lines: Array(lines.prefix(height)))
        }
        var lines: [Line] = []
        lines.append(titleLine(state: state, source: source, width: width, nowMs: nowMs))
        lines.append(ratesLine(state: state, source: source, totals: totals, width: width, nowMs: nowMs))
        if source.error == nil, let history, history.msgsIn.count > 1 {
            lines.append(historyLine(history, width: width, interval: state.interval, unicode: unicode))
        } else {
            lines.append(bannerLine(source: source, hasData: !state.rows.isEmpty, width: width, nowMs: nowMs))
        }
        let layout = Column.layout(width: width, nodes: source.flavour == .emqx5, counters: source.flavour != .nanomq, hidden: state.hiddenColumns)
        let body = height - 6
        switch state.mode {
        case .help:
            lines.append(Line(Format.fit(" Keys", width), .columnHeader))
            // Two columns when one does not fit the height and the width allows.
            let entries = KeyHelp.entries
            let columns = entries.count > body && width >= 100 ? 2 : 1
            let perColumn = (entries.count + columns - 1) / columns
            let cell = width / columns
            for r in 0..<min(perColumn, body) {
                var line = Line()
                for c in 0..<columns where c * perColumn + r < entries.count {
                    let entry = entries[c * perColumn + r]
                    line.append(Format.fit("  " + entry.keys, 18), .key)
                    line.append(Format.fit(entry.action, cell - 18))
                }
                lines.append(line)
            }
        case .columns(let index):
            lines.append(
                Line(Format.fit(" Columns (Space or Enter shows / hides; Esc keeps the choice, remembered in dashboard.conf)", width), .columnHeader)
            )
            for (i, column) in Column.allCases.enumerated().prefix(body - 1) {
                let mark = state.hiddenColumns.contains(column) ? "[ ]" : "[x]"
                let note = column == .clientId ? " (always shown)" : column == .node ? " (clusters only)" : ""
                lines.append(
                    Line(Format.fit("  \(mark) \(column.title.padding(11)) \(column.label)\(note)", width), i == index ? .selected : .normal)
                )
            }
        case .subscriptions(let index):
            let groups = state.visibleSubscriptions
            let clientsWidth = max(10, width - 58)
            lines.append(
                Line(
                    Format.fit(" " + Format.fit("TOPIC FILTER", 44) + " " + Format.fit("CLIENTS", 7, alignRight: true) + " QoS " + "WHO", width),
                    .columnHeader
                )
            )
            if state.subscriptionGroups == nil {
                lines.append(Line(Format.fit("  loading every subscription…", width), .dim))
            } else if groups.isEmpty {
                lines.append(
                    Line(Format.fit(state.filter.isEmpty ? "  (no subscriptions)" : "  (no topic filter matches \"\(state.filter)\")", width), .dim)
                )
            }
            let selected = min(index, max(0, groups.count - 1))
            let top = max(0, selected - (body - 2) + 1)
            for (i, group) in groups.enumerated().dropFirst(top).prefix(body - 1) {
                let who = group.clients.prefix(8).joined(separator: ", ") + (group.clients.count > 8 ? ", …" : "")
                let text =
                    " " + Format.fit(group.topic, 44) + " " + Format.fit("\(group.clients.count)", 7, alignRight: true) + "  \(group.qos)  "
                    + Format.fit(who, clientsWidth)
                lines.append(Line(Format.fit(text, width), i == selected ? .selected : .normal))
            }
        case .nodes(let index):
            var header = ""
            for (i, column) in NodeRow.columns.enumerated() { header += (i > 0 ? " " : " ") + Format.fit(column.title, column.width) }
            lines.append(Line(Format.fit(header, width), .columnHeader))
            for (i, node) in state.nodes.prefix(body - 1).enumerated() {
                var text = ""
                for (c, column) in NodeRow.columns.enumerated() {
                    text += (c > 0 ? " " : " ") + Format.fit(column.cell(node), column.width, alignRight: c >= 4 && c <= 8)
                }
                lines.append(Line(Format.fit(text, width), i == index ? .selected : node.status == "running" ? .normal : .dim))
            }
            if lines.count < height - 2 {
                lines.append(Line(Format.fit("  Enter shows the clients of the selected node; Esc returns", width), .dim))
            }
        case .sortMenu(let index):
            lines.append(Line(Format.fit(" Sort by (↑ ↓ to choose, Enter to apply, Esc to cancel)", width), .columnHeader))
            let all = Column.allCases
            let top = max(0, min(index - body / 2, all.count - body))
            for (i, column) in all.enumerated().dropFirst(max(0, top)).prefix(body) {
                let mark = column == state.sortColumn ? (state.descending ? (unicode ? " ▼" : " v") : (unicode ? " ▲" : " ^")) : ""
                lines.append(Line(Format.fit("  \(column.title.padding(11)) \(column.label)\(mark)", width), i == index ? .selected : .normal))
            }
        case .detail(let id):
            let raw = state.detailRaw ? "r for sections" : "r for raw fields"
            lines.append(Line(Format.fit(" Client \(id)  (Esc to return, \(raw)\(state.canKick ? ", d to disconnect" : ""))", width), .columnHeader))
            if state.detailRaw {
                lines += detailLines(
                    state: state,
                    id: id,
                    detail: detail,
                    width: width,
                    height: body,
                    history: history?.clients[id],
                    unicode: unicode
                )
            } else {
                lines += sectionLines(
                    state: state,
                    id: id,
                    detail: detail,
                    width: width,
                    height: body,
                    history: history?.clients[id],
                    nowMs: nowMs,
                    unicode: unicode
                )
            }
        case .table, .confirmKick, .confirmKickTagged:
            lines.append(headerLine(layout: layout, state: state, width: width, unicode: unicode))
            let stale = source.error != nil
            let end = min(state.visible.count, state.scrollTop + body)
            if state.scrollTop < end {
                for row in state.visible[state.scrollTop..<end] {
                    let rates = state.rates[row.clientId]
                    var text = ""
                    for (i, (column, w)) in layout.enumerated() {
                        if i > 0 { text += " " }
                        if column == .trend {
                            let samples = history?.clients[row.clientId].map { h in zip(h.msgsIn.samples, h.msgsOut.samples).map { $0 + $1 } } ?? []
                            text += Sparkline.render(samples, width: w, unicode: unicode)
                            continue
                        }
                        text += Format.fit(column.text(row, rates, nowMs: nowMs), w, alignRight: column.isNumeric, ellipsis: unicode ? "…" : "~")
                    }
                    let style: Style
                    if row.clientId == state.selectedId {
                        style = .selected
                    } else if state.tagged.contains(row.clientId) {
                        style = .tagged
                    } else if stale || !row.connected {
                        style = .dim
                    } else if let r = rates, r.msgsIn + r.msgsOut >= 100 || r.bytesIn + r.bytesOut >= 102_400 {
                        style = .hot
                    } else {
                        style = .normal
                    }
                    lines.append(Line(Format.fit(text, width), style))
                }
            }
            if state.visible.isEmpty {
                lines.append(Line(Format.fit(state.filter.isEmpty ? "  (no clients)" : "  (no client matches \"\(state.filter)\")", width), .dim))
            }
        }
        while lines.count < height - 2 { lines.append(Line()) }
        lines.append(statusLine(state: state, width: width))
        lines.append(footerLine(state: state, width: width))
        return Screen(width: width, height: height, lines: lines)
    }

    static func titleLine(state: TableState, source: SourceInfo, width: Int, nowMs: Int64) -> Line {
        var parts = [(source.target.map { "[\($0)] " } ?? "") + (source.brokerName ?? "broker") + (source.version.map { " " + $0 } ?? "")]
        parts.append(source.url + (source.flavour.map { " (\($0.rawValue))" } ?? ""))
        if let seconds = source.uptimeSeconds, let read = source.uptimeReadMs {
            parts.append("up " + Format.duration(seconds: seconds + max(0, nowMs - read) / 1000))
        } else if let uptime = source.uptime {
            parts.append("up " + uptime)
        }
        if let window = source.window {
            parts.append("clients \(source.total)\(state.filter.isEmpty ? "" : " matching")")
            parts.append("showing \(state.visible.count): \(window)")
        } else {
            let connected = state.rows.filter(\.connected).count
            parts.append("clients \(connected) connected / \(max(source.total, state.rows.count))")
            if case .subscriptions = state.mode, let groups = state.subscriptionGroups {
                parts.append("\(groups.reduce(0) { $0 + $1.clients.count }) subscriptions on \(groups.count) topic filters")
            } else if !state.filter.isEmpty || state.nodeFilter != nil || state.subscriberFilter != nil {
                parts.append(
                    "\(state.visible.count) of \(state.rows.count) shown" + (state.nodeFilter.map { " on \($0)" } ?? "")
                        + (state.subscriberFilter.map { " subscribed to \($0.topic)" } ?? "")
                )
            }
        }
        return Line(Format.fit(" " + parts.joined(separator: " │ "), width), .title)
    }

    static func ratesLine(state: TableState, source: SourceInfo, totals: Rates, width: Int, nowMs: Int64) -> Line {
        var text = " in \(Format.rate(totals.msgsIn)) msg/s \(Format.byteRate(totals.bytesIn))"
        text += " │ out \(Format.rate(totals.msgsOut)) msg/s \(Format.byteRate(totals.bytesOut))"
        text += " │ every \(Format.seconds(state.interval))"
        if let last = source.lastPollMs {
            text += " │ last poll \(clock(last))" + (source.latencyMs.map { " (\(Int($0.rounded())) ms)" } ?? "")
        }
        var line = Line(text, .header)
        if state.paused { line.append("  PAUSED", .banner) }
        let used = Format.width(line.text)
        if used < width { line.append(String(repeating: " ", count: width - used), .header) }
        return line
    }

    static func bannerLine(source: SourceInfo, hasData: Bool, width: Int, nowMs: Int64) -> Line {
        guard let error = source.error else { return Line(String(repeating: " ", count: width)) }
        let what = source.authFailed ? "CREDENTIALS REJECTED" : "UNREACHABLE"
        var text = " \(what)"
        if let since = source.errorSinceMs { text += " since \(clock(since))" }
        text += ": \(error)"
        if let retry = source.retryIn { text += " — retry in \(Int(retry.rounded(.up)))s" }
        if hasData { text += " (showing the last data)" }
        return Line(Format.fit(text, width), .banner)
    }

    static func headerLine(layout: [(column: Column, width: Int)], state: TableState, width: Int, unicode: Bool) -> Line {
        var line = Line()
        for (i, (column, w)) in layout.enumerated() {
            if i > 0 { line.append(" ", .columnHeader) }
            var title = column.title
            if column == state.sortColumn { title += state.descending ? (unicode ? "▼" : "v") : (unicode ? "▲" : "^") }
            line.append(Format.fit(title, w, alignRight: column.isNumeric), column == state.sortColumn ? .sortedHeader : .columnHeader)
        }
        let used = Format.width(line.text)
        if used < width { line.append(String(repeating: " ", count: width - used), .columnHeader) }
        return line
    }

    /// The third header line while the API answers: the broker's messages per second over the
    /// last polls, in and out, as two sparklines that share the width, each with its peak.
    static func historyLine(_ history: RateHistory, width: Int, interval: Double, unicode: Bool) -> Line {
        let span = Format.duration(seconds: Int64((Double(history.msgsIn.count) * interval).rounded()))
        // Messages in and out; bytes in and out beside them where the terminal is wide enough.
        var labels: [(String, [Double], (Double) -> String)] = [
            (" msg in ", history.msgsIn.samples, Format.rate), (" out ", history.msgsOut.samples, Format.rate),
        ]
        if width >= 140 {
            labels += [
                (" bytes in ", history.bytesIn.samples, { Format.bytes(UInt64(max(0, $0))) }),
                (" out ", history.bytesOut.samples, { Format.bytes(UInt64(max(0, $0))) }),
            ]
        }
        let tail = " per second, peaks, last \(span)"
        let room = max(0, width - Format.width(tail) - labels.reduce(0) { $0 + Format.width($1.0) + 12 })
        var line = Line()
        for (label, samples, format) in labels {
            line.append(label, .dim)
            line.append(Sparkline.render(samples, width: room / labels.count, unicode: unicode), .header)
            line.append(" " + Format.fit(format(samples.max() ?? 0), 10) + " ", .dim)
        }
        line.append(tail, .dim)
        let used = Format.width(line.text)
        guard used <= width else { return Line(Format.fit(line.text, width), .dim) }
        line.append(String(repeating: " ", count: width - used), .dim)
        return line
    }

    /// The detail view in sections (`DetailSections`), two columns of items where the width
    /// allows, then the subscriptions.
    static func sectionLines(
        state: TableState,
        id: String,
        detail: DetailInfo?,
        width: Int,
        height: Int,
        history: RateHistory.Client?,
        nowMs: Int64,
        unicode: Bool
    ) -> [Line] {
        guard let row = state.rows.first(where: { $0.clientId == id }) else {
            return [Line(Format.fit("  \(id) is no longer listed by the API", width), .dim)]
        }
        var lines: [Line] = []
        if let note = detail?.note, detail?.fields == nil { lines.append(Line(Format.fit("  " + note, width), .dim)) }
        if detail == nil && row.fields.isEmpty { lines.append(Line(Format.fit("  loading every field…", width), .dim)) }
        let fields = detail?.fields ?? row.fields
        let sections = DetailSections.build(
            fields: fields,
            row: row,
            rates: state.rates[id] ?? Rates(),
            history: history,
            nowMs: nowMs,
            unicode: unicode
        )
        let columns = width >= 100 ? 2 : 1
        let cell = width / columns
        func subscriptionLines() {
            guard let subscriptions = detail?.subscriptions else { return }
            lines.append(Line(Format.fit(" subscriptions (\(subscriptions.count))", width), .key))
            for s in subscriptions {
                lines.append(Line(Format.fit("   \(s.topic)  QoS \(s.qos)" + (s.options.isEmpty ? "" : "  " + s.options), width)))
            }
        }
        var subscriptionsShown = false
        for section in sections {
            if !subscriptionsShown && ["flow control", "bridge", "will"].contains(section.title) {
                subscriptionLines()
                subscriptionsShown = true
            }
            lines.append(Line(Format.fit(" " + section.title, width), .key))
            var index = 0
            while index < section.items.count {
                var line = Line()
                for c in 0..<columns where index + c < section.items.count {
                    let item = section.items[index + c]
                    line.append(Format.fit("   " + item.label, 22) + " ", .dim)
                    line.append(Format.fit(item.value, cell - 23))
                }
                lines.append(line)
                index += columns
            }
        }
        if !subscriptionsShown { subscriptionLines() }
        if detail?.subscriptions == nil, let note = detail?.note, detail?.fields != nil {
            lines.append(Line(Format.fit("  " + note, width), .dim))
        }
        return Array(lines.prefix(height))
    }

    static func detailLines(
        state: TableState,
        id: String,
        detail: DetailInfo?,
        width: Int,
        height: Int,
        history: RateHistory.Client? = nil,
        unicode: Bool = true
    ) -> [Line] {
        guard let row = state.rows.first(where: { $0.clientId == id }) else {
            return [Line(Format.fit("  \(id) is no longer listed by the API", width), .dim)]
        }
        var lines: [Line] = []
        let rates = state.rates[id] ?? Rates()
        var fields = detail?.fields ?? row.fields
        if fields.isEmpty {
            // Not fetched yet; or fetched and the API's lookup could not find the id (NanoMQ
            // with a space or '/' in it): what the listing gave is shown, with the note.
            fields = detail == nil ? [("client id", row.clientId), ("", "loading every field…")] : row.listedFields
        }
        if row.recvOct != nil {
            fields.insert(("rate in", "\(Format.rate(rates.msgsIn)) msg/s, \(Format.byteRate(rates.bytesIn))"), at: 0)
            fields.insert(("rate out", "\(Format.rate(rates.msgsOut)) msg/s, \(Format.byteRate(rates.bytesOut))"), at: 1)
            if let history, history.msgsIn.count > 1 {
                let bars = min(RateHistory.clientSamples, max(8, width / 2 - 30))
                fields.insert(
                    (
                        "msg/s in, history",
                        Sparkline.render(history.msgsIn.samples, width: bars, unicode: unicode)
                            + " peak \(Format.rate(history.msgsIn.samples.max() ?? 0))"
                    ),
                    at: 2
                )
                fields.insert(
                    (
                        "msg/s out, history",
                        Sparkline.render(history.msgsOut.samples, width: bars, unicode: unicode)
                            + " peak \(Format.rate(history.msgsOut.samples.max() ?? 0))"
                    ),
                    at: 3
                )
            }
        }
        let subs = detail?.subscriptions ?? []
        let subLines = subs.isEmpty ? 1 : subs.count + 1
        let fieldRows = max(1, height - min(subLines, height / 3))
        let needed = (fields.count + fieldRows - 1) / fieldRows
        let columns = max(1, min(needed, max(1, width / 40)))
        let perColumn = (fields.count + columns - 1) / columns
        let cellWidth = width / columns
        for r in 0..<min(perColumn, fieldRows) {
            var line = Line()
            for c in 0..<columns {
                let i = c * perColumn + r
                guard i < fields.count else { continue }
                line.append(Format.fit("  " + fields[i].key, 22), .key)
                line.append(Format.fit(fields[i].value, cellWidth - 22))
            }
            lines.append(line)
        }
        if lines.count < height, let note = detail?.note, detail?.subscriptions != nil || detail?.fields == nil {
            lines.append(Line(Format.fit("  " + note, width), .dim))
        }
        if lines.count < height {
            if let subscriptions = detail?.subscriptions {
                lines.append(Line(Format.fit("  subscriptions (\(subscriptions.count))", width), .key))
                for s in subscriptions.prefix(height - lines.count) {
                    lines.append(Line(Format.fit("    \(s.topic)  qos \(s.qos)" + (s.options.isEmpty ? "" : "  " + s.options), width)))
                }
            } else if let note = detail?.note {
                lines.append(Line(Format.fit("  " + note, width), .dim))
            }
        }
        return Array(lines.prefix(height))
    }

    static func statusLine(state: TableState, width: Int) -> Line {
        if state.filterEditing {
            if let error = ClientFilter(state.filter).error {
                return Line(Format.fit(" / \(state.filter)▏  \(error)", width), .banner)
            }
            return Line(
                Format.fit(" / \(state.filter)▏  (re:REGEX for a regular expression, !TEXT to invert; Enter keeps, Esc clears)", width),
                .status
            )
        }
        if case .confirmKick(let id) = state.mode {
            return Line(Format.fit(" Disconnect \(id)? [y/N]", width), .banner)
        }
        if case .confirmKickTagged(let ids) = state.mode {
            return Line(Format.fit(" Disconnect \(ids.count) tagged clients: \(ids.joined(separator: ", "))? [y/N]", width), .banner)
        }
        return Line(Format.fit(" " + state.status, width), .status)
    }

    static func footerLine(state: TableState, width: Int) -> Line {
        let keys: [(String, String)]
        switch state.mode {
        case .help: keys = [("any key", "close")]
        case .nodes: keys = [("↑↓", "choose"), ("Enter", "its clients"), ("Esc", "back")]
        case .columns: keys = [("↑↓", "choose"), ("Space", "show / hide"), ("Esc", "done")]
        case .subscriptions: keys = [("↑↓", "choose"), ("/", "filter topics"), ("Enter", "its clients"), ("Esc", "back")]
        case .sortMenu: keys = [("↑↓", "choose"), ("Enter", "sort"), ("Esc", "cancel")]
        case .detail: keys = [("Esc", "back"), ("r", state.detailRaw ? "sections" : "raw"), ("d", "disconnect"), ("q", "back")]
        case .confirmKick, .confirmKickTagged: keys = [("y", "disconnect"), ("any other key", "cancel")]
        case .table:
            keys = [
                ("q", "quit"), ("?", "help"), ("/", "filter"), ("Enter", "detail"), ("Space", "tag"),
                ("d", state.tagged.isEmpty ? "disconnect" : "disconnect tagged"), ("<>", "sort"),
                ("r", "reverse"), ("p", state.paused ? "resume" : "pause"), ("+-", "interval"), ("F6", "sort by"),
            ]
        }
        var line = Line()
        for (k, action) in keys {
            line.append(" " + k, .key)
            line.append(" " + action, .normal)
        }
        var fitted = Line()
        var used = 0
        for run in line.runs {
            let w = Format.width(run.text)
            if used + w > width { break }
            fitted.append(run.text, run.style)
            used += w
        }
        if used < width { fitted.append(String(repeating: " ", count: width - used)) }
        return fitted
    }

    /// HH:MM:SS local time.
    static func clock(_ ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
