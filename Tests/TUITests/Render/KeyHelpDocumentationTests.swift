import Foundation
import Testing

@testable import TUI

struct DocumentationTests {
    @Test("README lists every key of the help overlay")
    func readmeKeys() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for entry in KeyHelp.entries {
            #expect(text.contains("| `\(entry.keys)` | \(entry.action) |"), "README is missing the key \(entry.keys)")
        }
    }
}
