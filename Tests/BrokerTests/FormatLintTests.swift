import Foundation
import Testing

/// scripts/lint/format.sh, which scripts/test runs before the build, finds what it is for: a
/// layout .swift-format would change, and a line over its length that swift-format cannot break.
struct FormatLintTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func lint(_ files: [String: String]) throws -> (status: Int32, output: String) {
        let tree = NSTemporaryDirectory() + "aviary-lint-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: tree) }
        try FileManager.default.createDirectory(atPath: tree + "/Sources/X", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root.appendingPathComponent(".swift-format").path, toPath: tree + "/.swift-format")
        for (name, text) in files { try text.write(toFile: tree + "/Sources/X/" + name, atomically: true, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", root.appendingPathComponent("scripts/lint/format.sh").path]
        process.environment = ProcessInfo.processInfo.environment.merging(["LINT_ROOT": tree]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("a tree laid out as .swift-format says passes; misplaced layout and a 151-column string literal each fail, named")
    func findings() throws {
        let good = "let greeting = \"hello\"\n"
        #expect(try Self.lint(["Good.swift": good]).status == 0)
        let layout = try Self.lint(["Good.swift": good, "Layout.swift": "let  x = [1,2]\n"])
        #expect(layout.status != 0 && layout.output.contains("Layout.swift"), "\(layout.output)")
        // As swift-format lays out a literal too long for its line: on a line of its own, which it
        // does not flag (it cannot break it); the script's own check does.
        let long = try Self.lint(["Long.swift": "let text =\n    \"\(String(repeating: "a", count: 145))\"\n"])
        #expect(long.status != 0 && long.output.contains("Long.swift:2: 151 columns"), "\(long.output)")
    }
}
