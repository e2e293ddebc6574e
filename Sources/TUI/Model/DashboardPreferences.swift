/// What the dashboard remembers between runs, in `~/.config/aviary/dashboard.conf` (or under
/// `$XDG_CONFIG_HOME`): the columns hidden with F2, the sort, the interval. `key = value`
/// lines like aviary's own config file; `#` comments.
public struct DashboardPreferences: Sendable, Equatable {
    public var hiddenColumns: Set<Column> = [.trend]
    public var sortColumn: Column?
    public var descending: Bool?
    public var interval: Double?
    /// Named APIs to watch when `aviary watch` is given no URL: `target = NAME URL [USER [PASSWORD]]`.
    public var targets: [TargetLine] = []

    public struct TargetLine: Sendable, Equatable {
        public var name: String
        public var url: String
        public var user: String?
        public var password: String?
    }

    public init() {}

    /// A line the file cannot hold: which, and what was expected.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(parsing text: String, path: String) throws(Invalid) {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Self.trimmed(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func invalid(_ expected: String) -> Invalid { Invalid(description: "\(path) line \(index + 1): \(expected), got '\(line)'") }
            guard let equals = line.firstIndex(of: "=") else { throw invalid("expected 'key = value'") }
            let key = Self.trimmed(line[..<equals])
            let value = Self.trimmed(line[line.index(after: equals)...])
            switch key {
            case "hidden_columns":
                hiddenColumns = []  // the line says every hidden column (TREND too, if it is)
                for name in value.split(separator: ",").map(Self.trimmed) where !name.isEmpty {
                    guard let column = Column.named(name), column != .clientId else {
                        throw invalid(
                            "hidden_columns: expected column names from \(Column.allCases.dropFirst().map(\.configName).joined(separator: ", "))"
                        )
                    }
                    hiddenColumns.insert(column)
                }
            case "sort":
                let words = value.split(separator: " ").map(String.init)
                guard (1...2).contains(words.count), let column = Column.named(words[0]), words.count == 1 || ["asc", "desc"].contains(words[1])
                else {
                    throw invalid("sort: expected a column name and asc or desc")
                }
                sortColumn = column
                descending = words.count == 2 ? words[1] == "desc" : column.isNumeric
            case "target":
                let words = value.split(separator: " ").map(String.init)
                guard (2...4).contains(words.count), words[1].contains("://") else {
                    throw invalid("target: expected NAME URL [USER [PASSWORD]] with an http:// or https:// URL")
                }
                targets.append(
                    TargetLine(name: words[0], url: words[1], user: words.count > 2 ? words[2] : nil, password: words.count > 3 ? words[3] : nil)
                )
            case "interval":
                guard let seconds = Double(value), (0.25...10).contains(seconds) else { throw invalid("interval: expected seconds from 0.25 to 10") }
                interval = seconds
            default:
                throw invalid("expected hidden_columns, sort, interval or target")
            }
        }
    }

    /// Model stays free of Foundation: blanks off both ends by hand.
    static func trimmed(_ text: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(text.drop(while: blank).reversed().drop(while: blank).reversed())
    }

    static func trimmed(_ text: String) -> String { trimmed(Substring(text)) }

    public var rendered: String {
        var lines = ["# aviary dashboard: what F2, the sort keys and + - chose (rewritten when the dashboard ends)"]
        lines.append("hidden_columns = " + Column.allCases.filter(hiddenColumns.contains).map(\.configName).joined(separator: ", "))
        if let sortColumn { lines.append("sort = \(sortColumn.configName) \(descending ?? true ? "desc" : "asc")") }
        if let interval { lines.append("interval = \(Format.seconds(interval).dropLast())") }
        for t in targets { lines.append("target = " + [t.name, t.url, t.user, t.password].compactMap { $0 }.joined(separator: " ")) }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Column {
    /// The name in the preferences file: the API field the column shows (rates: `in_rate` …).
    public var configName: String {
        switch self {
        case .clientId: "clientid"
        case .username: "username"
        case .address: "address"
        case .node: "node"
        case .proto: "proto"
        case .state: "state"
        case .connectedFor: "connected_for"
        case .keepAlive: "keepalive"
        case .bytesInRate: "bytes_in_rate"
        case .bytesOutRate: "bytes_out_rate"
        case .msgsInRate: "msgs_in_rate"
        case .msgsOutRate: "msgs_out_rate"
        case .recvOct: "recv_oct"
        case .sendOct: "send_oct"
        case .recvPkt: "recv_pkt"
        case .sendPkt: "send_pkt"
        case .queued: "queued"
        case .dropped: "dropped"
        case .subscriptions: "subscriptions"
        case .trend: "trend"
        }
    }

    public static func named(_ name: String) -> Column? { allCases.first { $0.configName == name } }
}
