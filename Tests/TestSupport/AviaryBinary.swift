import Foundation

/// The built `aviary` binary run as `aviary serve` on free ports.
package enum AviaryBinary {
    /// Starts `aviary serve` on a free port and returns it with the port it printed.
    /// `launcher` runs before the binary (e.g. `prlimit --nofile=N:N`).
    package static func serve(
        _ extra: [String] = [],
        environment: [String: String] = [:],
        defaults: Bool = true,
        launcher: [String] = []
    ) throws -> (Subprocess, Int) {
        // No WebSocket listeners unless a test asks (8083/8084 would clash between parallel tests).
        let base =
            defaults
            ? ["--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off", "--wss-port", "off", "--log-level", "warning"]
            : []
        let p = try Subprocess(launcher + [Tools.aviary, "serve"] + base + extra, environment: environment)
        var port: Int?
        try eventually("the bound port to be printed") {
            if let line = p.lines.first(where: { $0.contains("listening for MQTT on") }), let last = line.split(separator: ":").last {
                port = Int(last)
            }
            return port != nil
        }
        return (p, port!)
    }

    /// The management API port `aviary serve` printed.
    /// Waits, instead of sleeping, until the broker behind `api` lists at least `count`
    /// subscriptions (a subscriber process is then ready for the messages a test publishes).
    package static func waitForSubscriptions(api: String, count: Int = 1, timeout: Double = 15) throws {
        try eventually("\(count) subscription(s) listed", timeout: timeout) {
            let r = try Subprocess.run(["curl", "-s", "-u", "admin:public", "\(api)/api/v4/subscriptions?_limit=1"])
            let json = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any]
            return (((json?["meta"] as? [String: Any])?["count"] as? NSNumber)?.intValue ?? 0) >= count
        }
    }

    package static func apiPort(_ p: Subprocess) throws -> Int {
        var port: Int?
        try eventually("the API port to be printed") {
            if let line = p.lines.first(where: { $0.contains("management API on") }), let last = line.split(separator: ":").last {
                port = Int(last)
            }
            return port != nil
        }
        return port!
    }
}

/// A file with `text` in the temporary directory; returns its path.
package func temporaryFile(_ text: String, suffix: String = ".conf") throws -> String {
    let path = NSTemporaryDirectory() + "aviary-\(UUID().uuidString.prefix(8))\(suffix)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
