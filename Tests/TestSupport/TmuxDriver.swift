import Foundation
import TUI

/// Runs a command in a private tmux server at a fixed size and reads its screen
/// (send-keys to type, capture-pane to read the screen).
package final class TmuxDriver {
    package let dir: String
    package let socket: String

    package init(_ command: [String], cols: Int = 160, rows: Int = 30, env: [String: String] = [:]) throws {
        dir = NSTemporaryDirectory() + "aviary-tmux-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        socket = dir + "/sock"
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        // A shell that outlives the program keeps its last output and shows the exit code.
        let shell = "\(quoted); echo \"[exit $?]\"; exec sleep 600"
        var argv = ["tmux", "-S", socket, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "\(cols)", "-y", "\(rows)"]
        // Each dashboard remembers its columns, sort and interval in a config directory of its
        // own (never the user's, never another test's), unless the test gives one.
        let environment = ["LANG": "C.UTF-8", "SWIFT_BACKTRACE": "interactive=no", "XDG_CONFIG_HOME": dir + "/config"].merging(env) { $1 }
        for (k, v) in environment { argv += ["-e", "\(k)=\(v)"] }
        try tmux(Array(argv.dropFirst()) + [shell])
    }

    deinit {
        _ = try? Subprocess.run(["tmux", "-S", socket, "kill-server"], timeout: 5)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    package func tmux(_ args: [String]) throws -> String {
        let argv = args.first == "tmux" ? args : ["tmux", "-S", socket] + args
        let r = try Subprocess.run(argv, timeout: 10)
        guard r.code == 0 else { throw TimedOut(what: "tmux \(args.joined(separator: " ")): \(r.output)") }
        return r.output
    }

    package func screen(colours: Bool = false) throws -> String {
        try tmux(["capture-pane", "-t", "e2e", "-p"] + (colours ? ["-e"] : []))
    }

    package var lines: [String] { ((try? screen()) ?? "").components(separatedBy: "\n") }

    package func send(_ keys: String...) throws { try tmux(["send-keys", "-t", "e2e"] + keys) }

    package func type(_ text: String) throws { try tmux(["send-keys", "-t", "e2e", "-l", text]) }

    package func display(_ format: String) throws -> String {
        try tmux(["display", "-t", "e2e", "-p", format]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until the screen satisfies `condition`; returns it.
    @discardableResult
    package func waitFor(_ what: String, timeout: Double = 20, _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = (try? screen()) ?? ""
            if condition(last) { return last }
            usleep(50_000)
        }
        throw TimedOut(what: "\(what); screen was:\n\(last)")
    }

    @discardableResult
    package func waitFor(text: String, timeout: Double = 20) throws -> String {
        try waitFor("'\(text)'", timeout: timeout) { $0.contains(text) }
    }

    /// Presses q and waits for the dashboard to exit with status 0.
    package func quit() throws {
        try send("q")
        try waitFor(text: "[exit 0]")
    }

    /// PID of the program (the child of the pane's shell).
    package func programPID() throws -> Int32? {
        let shell = try display("#{pane_pid}")
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    /// The text of one table cell: the row whose client id column starts with `id`, under `column`.
    package func cell(_ id: String, _ column: Column, width: Int = 160, nodes: Bool = false) -> String? {
        let layout = Column.layout(width: width, nodes: nodes)
        guard let row = lines.first(where: { $0.hasPrefix(id + " ") || $0 == id }) else { return nil }
        var start = 0
        for (c, w) in layout {
            if c == column {
                let chars = Array(row)
                guard chars.count >= start else { return "" }
                return String(chars[start..<min(chars.count, start + w)]).trimmingCharacters(in: .whitespaces)
            }
            start += w + 1
        }
        return nil
    }
}
