import Foundation
import Testing

/// The layers inside the Broker target (one module) depend on each other without cycles, and
/// the codec imports NIOCore only: scripts/lint/layers.py reads the sources and says.
struct LayerTests {
    @Test("Sources/Broker's folders form no cycle and MQTTCodec imports NIOCore only (scripts/lint/layers.py)")
    func layers() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/lint/layers.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(message)")
    }
}
