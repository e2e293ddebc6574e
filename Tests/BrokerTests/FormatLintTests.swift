import Foundation
import TestSupport
import Testing

/// scripts/lint/format.sh, which scripts/test runs before the build, finds what it is for: a
/// layout .swift-format would change, and a line over its length that swift-format cannot break.
struct FormatLintTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func lint(_ files: [String: String]) async throws -> (code: Int32, output: String) {
        let tree = NSTemporaryDirectory() + "aviary-lint-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: tree) }
        try FileManager.default.createDirectory(atPath: tree + "/Sources/X", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root.appendingPathComponent(".swift-format").path, toPath: tree + "/.swift-format")
        for (name, text) in files { try text.write(toFile: tree + "/Sources/X/" + name, atomically: true, encoding: .utf8) }
        // Awaited, not blocking one of the two threads of the concurrency pool.
        return try await Subprocess.runAsync(
            ["env", "LINT_ROOT=\(tree)", "bash", root.appendingPathComponent("scripts/lint/format.sh").path],
            timeout: 120
        )
    }

    @Test("a tree laid out as .swift-format says passes; misplaced layout and a 151-column string literal each fail, named")
    func findings() async throws {
        let good = "let greeting = \"hello\"\n"
        #expect(try await Self.lint(["Good.swift": good]).code == 0)
        let layout = try await Self.lint(["Good.swift": good, "Layout.swift": "let  x = [1,2]\n"])
        #expect(layout.code != 0 && layout.output.contains("Layout.swift"), "\(layout.output)")
        // As swift-format lays out a literal too long for its line: on a line of its own, which it
        // does not flag (it cannot break it); the script's own check does.
        let long = try await Self.lint(["Long.swift": "let text =\n    \"\(String(repeating: "a", count: 145))\"\n"])
        #expect(long.code != 0 && long.output.contains("Long.swift:2: 151 columns"), "\(long.output)")
    }
}
