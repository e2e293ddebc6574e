import Foundation

/// The management-API stand-ins of the tests (`Tests/IntegrationTests/Scripts/fake_*.py`) on a
/// free port: the process and its base URL, once it printed "listening PORT".
package enum FakeAPI {
    /// EMQX 5/6's `/api/v5` (fake_emqx5.py; `args` such as `--clients N`).
    package static func emqx5(_ args: [String] = []) throws -> (process: Subprocess, base: String) {
        try start("fake_emqx5.py", args)
    }

    /// NanoMQ's HTTP API v4 from its golden captures (fake_nanomq.py), as 0.25.5 or, with
    /// `kick`, as a NanoMQ that has DELETE /api/v4/clients/{id}.
    package static func nanomq(golden: String, kick: Bool) throws -> (process: Subprocess, base: String) {
        try start("fake_nanomq.py", [golden] + (kick ? ["--kick"] : []))
    }

    private static func start(_ script: String, _ args: [String]) throws -> (process: Subprocess, base: String) {
        let path = Tools.packageRoot.appendingPathComponent("Tests/IntegrationTests/Scripts/\(script)").path
        let p = try Subprocess(["python3", path, "0"] + args)
        var port: Int?
        try eventually("\(script) to listen") {
            port = p.lines.first { $0.hasPrefix("listening ") }.flatMap { Int($0.dropFirst("listening ".count)) }
            return port != nil
        }
        return (p, "http://127.0.0.1:\(port!)")
    }
}
