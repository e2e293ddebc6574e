/// How a run of text is drawn; the terminal layer maps it to colours or, with NO_COLOR, to
/// bold/reverse/dim only.
public enum Style: Sendable, Hashable {
    case normal, header, columnHeader, sortedHeader, selected, dim, hot, banner, status, key, title, tagged
}

/// One screen line as styled runs.
public struct Line: Sendable, Hashable {
    public var runs: [(text: String, style: Style)]

    public init(_ text: String = "", _ style: Style = .normal) { runs = text.isEmpty ? [] : [(text, style)] }

    public mutating func append(_ text: String, _ style: Style = .normal) { runs.append((text, style)) }

    public var text: String { runs.map(\.text).joined() }

    public static func == (a: Line, b: Line) -> Bool {
        a.runs.map(\.text) == b.runs.map(\.text) && a.runs.map(\.style) == b.runs.map(\.style)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

/// A whole frame: exactly `height` lines, each at most `width` cells.
public struct Screen: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var lines: [Line]

    /// The frame as plain text (for tests).
    public var text: String { lines.map(\.text).joined(separator: "\n") }
}
