import Foundation
import Testing

/// The layers inside each target with folders (the broker's, the dashboard's: one module each)
/// depend on each other without cycles, and the codec imports NIOCore only:
/// scripts/lint/layers.py reads the sources and says.
struct LayerTests {
    @Test("the folders of Sources/Broker and Sources/TUI form no cycle and MQTTCodec imports NIOCore only (scripts/lint/layers.py)")
    func layers() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/lint/layers.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path]
        let errors = Pipe()
        process.standardError = errors
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let graphs = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(message)")
        // Both targets were read, and the dashboard's model depends on nothing of it.
        #expect(graphs.contains("Broker:\n") && graphs.contains("TUI:\n") && graphs.contains("  Model       -> (nothing)"), "\(graphs)")
    }
}
