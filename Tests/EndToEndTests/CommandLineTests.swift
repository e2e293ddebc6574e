import Broker
import Foundation
import MQTTCodec
import TestSupport
import Testing

/// The built `aviary` binary as a subprocess: flags, printed port, signals, exit codes.
@Suite(.timeLimit(.minutes(1)))
struct CommandLineTests {
    @Test("aviary serve --mqtt-port 0 prints the bound port and serves MQTT there; SIGTERM exits 0")
    func servePortZero() throws {
        let (server, port) = try AviaryBinary.serve()
        #expect(port > 0)
        let sub = try Subprocess(["mosquitto_sub", "-p", "\(port)", "-t", "cli/t", "-C", "1", "-W", "10"])
        try AviaryBinary.waitForSubscriptions(api: "http://127.0.0.1:\(try AviaryBinary.apiPort(server))")
        let pub = try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-t", "cli/t", "-m", "via binary"])
        #expect(pub.code == 0)
        #expect(sub.wait(timeout: 10) == 0)
        #expect(sub.output == "via binary\n")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 10) == 0, "\(server.output)")
    }

    @Test(
        "--event-loops: the node reports the threads serving MQTT (1, or one per core by default) and QoS 1 flows on one thread",
        arguments: [
            ["--event-loops", "1"], [],
        ]
    )
    func eventLoops(_ flags: [String]) async throws {
        let (server, port) = try AviaryBinary.serve(flags)
        defer { server.signal(SIGTERM) }
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        let r = try await HTTP.request("GET", "\(api)/api/v4/nodes")
        #expect(r.status == 200)
        let nodes = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        let node = (nodes?["data"] as? [[String: Any]])?.first
        let expected = flags.isEmpty ? ProcessInfo.processInfo.activeProcessorCount : 1
        #expect(node?["event_loops"] as? Int == expected, "\(String(decoding: r.body, as: UTF8.self))")
        let sub = try Subprocess(["mosquitto_sub", "-p", "\(port)", "-t", "loops/t", "-q", "1", "-C", "3", "-W", "10"])
        try eventually("the subscriber to be in the table") {
            (try? Subprocess.run(["curl", "-s", "-u", "admin:public", "\(api)/api/v4/subscriptions"]).output.contains("loops/t")) == true
        }
        for n in 1...3 {
            #expect(try Subprocess.run(["mosquitto_pub", "-p", "\(port)", "-q", "1", "-t", "loops/t", "-m", "m\(n)"]).code == 0)
        }
        #expect(sub.wait(timeout: 10) == 0)
        #expect(sub.output == "m1\nm2\nm3\n")
    }

    @Test(
        """
        --tcp-receive-buffer: an accepted client socket's kernel receive buffer is the setting (16 KiB by default; 0 = the kernel's autotuned start)
        """,
        arguments: [
            (["--tcp-receive-buffer", "65536"], 65536), ([], 16384), (["--tcp-receive-buffer", "0"], 0),
        ]
    )
    func tcpReceiveBuffer(_ flags: [String], _ setting: Int) throws {
        let (server, port) = try AviaryBinary.serve(flags)
        defer { server.signal(SIGTERM) }
        let c = try TestClient(port: port)
        try c.connect("rcvbuf")
        // Linux doubles SO_RCVBUF for its bookkeeping; unset, a socket starts at tcp_rmem's default.
        let rmem = try String(contentsOfFile: "/proc/sys/net/ipv4/tcp_rmem", encoding: .utf8).split(whereSeparator: \.isWhitespace).compactMap {
            Int($0)
        }
        let expected = setting > 0 ? 2 * setting : rmem[1]
        let ss = try Subprocess.run(["ss", "-tmnH", "state", "established", "( sport = :\(port) )"])
        #expect(ss.code == 0, "\(ss.output)")
        let rb = ss.output.firstMatch(of: /rb(\d+)/).flatMap { Int($0.1) }
        #expect(rb == expected, "\(ss.output)")
    }

    @Test(
        """
        --listener-per-loop: one listening socket per event loop on the MQTT and WebSocket ports (one without it); a port in use is still refused; \
        clients on every socket reach each other
        """,
        arguments: [true, false]
    )
    func listenerPerLoop(_ perLoop: Bool) throws {
        let (server, port) = try AviaryBinary.serve(["--event-loops", "2", "--listener-per-loop", "\(perLoop)", "--ws-port", "0"])
        defer { server.signal(SIGTERM) }
        let wsPort = try #require(
            server.lines.lazy.compactMap { $0.firstMatch(of: /MQTT over WebSockets on ws:\/\/[^:]+:(\d+)/).flatMap { Int($0.1) } }.first,
            "\(server.output)"
        )
        for listener in [port, wsPort] {
            let ss = try Subprocess.run(["ss", "-ltnH", "( sport = :\(listener) )"])
            #expect(ss.output.split(separator: "\n").count == (perLoop ? 2 : 1), "\(ss.output)")
        }
        let second = try Subprocess([
            Tools.aviary, "serve", "--mqtt-host", "127.0.0.1", "--mqtt-port", "\(port)", "--api-port", "0", "--ws-port", "off", "--wss-port", "off",
        ])
        #expect(second.wait(timeout: 20) != 0)
        #expect(second.output.contains("Address already in use"), "\(second.output)")
        // Sixteen clients land on both loops whatever the spread; each one's message reaches all.
        let clients = try (0..<16).map { n in
            let c = try TestClient(port: port)
            try c.connect("spread-\(n)")
            #expect(try c.subscribe("spread/#") == [.grantedQoS0])
            return c
        }
        for (n, c) in clients.enumerated() { c.publish("spread/\(n)", "from \(n)") }
        for c in clients {
            var topics: Set<String> = []
            for _ in 0..<16 { topics.insert(try c.receivePublish().topic) }
            #expect(topics == Set((0..<16).map { "spread/\($0)" }))
        }
    }

    @Test(
        "an accepted client socket has TCP_NODELAY (NIO sets it on the listener; accepted sockets inherit it, with one listener or one per loop)",
        arguments: [false, true]
    )
    func acceptedSocketsNoDelay(_ perLoop: Bool) throws {
        let (server, port) = try AviaryBinary.serve(["--event-loops", "2", "--listener-per-loop", "\(perLoop)"])
        defer { server.signal(SIGTERM) }
        let c = try TestClient(port: port)
        try c.connect("nodelay")
        // The broker's own socket, read from outside: `ss` names its descriptor, pidfd_getfd
        // (system call 438) lends a copy of it to this script, which asks the option.
        let script = #"""
            import ctypes, os, re, socket, subprocess, sys
            pid, port = int(sys.argv[1]), sys.argv[2]
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True).stdout
            libc = ctypes.CDLL(None, use_errno=True)
            pidfd = os.pidfd_open(pid)
            for fd in re.findall(rf"pid={pid},fd=(\d+)", out):
                local = libc.syscall(438, pidfd, int(fd), 0)
                if local < 0:
                    sys.exit(f"pidfd_getfd: errno {ctypes.get_errno()}")
                s = socket.socket(fileno=local)
                print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                s.close()
            """#
        let r = try Subprocess.run(["python3", "-c", script, "\(server.pid)", "\(port)"])
        #expect(r.code == 0, "\(r.output)")
        #expect(r.output == "1\n", "one accepted socket, TCP_NODELAY on: \(r.output)")
    }

    @Test("the descriptor table is sized for every client the file limit allows before any connects (no growth, and no RCU wait, inside accept)")
    func descriptorTableReserved() throws {
        let (server, _) = try AviaryBinary.serve()
        defer { server.signal(SIGTERM) }
        let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
        let size = try #require(status.firstMatch(of: /FDSize:\s+(\d+)/).flatMap { Int($0.1) }, "\(status)")
        let limits = try String(contentsOfFile: "/proc/\(server.pid)/limits", encoding: .utf8)
        let soft = try #require(limits.firstMatch(of: /Max open files\s+(\d+)/).flatMap { Int($0.1) }, "\(limits)")
        // Sockets stop 32 short of the limit, and the table is reserved up to 65,536 at most.
        #expect(size >= min(soft - 64, 1 << 16), "FDSize \(size) with an open-file limit of \(soft)")
    }

    @Test("the management API answers on threads of its own at nice 10 (its HTTP loop and its query thread), not on the MQTT event loops")
    func apiThreads() async throws {
        let (server, _) = try AviaryBinary.serve()
        defer { server.signal(SIGTERM) }
        let api = "http://127.0.0.1:\(try AviaryBinary.apiPort(server))"
        #expect(try await HTTP.request("GET", "\(api)/api/v4/clients").status == 200)
        // /proc/PID/task/TID: comm is the thread's name; field 19 of stat is its nice value.
        var nice: [String: [Int]] = [:]
        let tasks = "/proc/\(server.pid)/task"
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let name = try? String(contentsOfFile: "\(tasks)/\(tid)/comm", encoding: .utf8),
                let stat = try? String(contentsOfFile: "\(tasks)/\(tid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after "(comm)": state is field 3, so nice (19) is the 17th from there.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            nice[name.trimmingCharacters(in: .whitespacesAndNewlines), default: []].append(Int(fields[16]) ?? -99)
        }
        #expect(nice["aviary-api-http"] == [10], "\(nice)")
        #expect(nice["aviary-query"] == [10], "\(nice)")
        let loops = nice.filter { $0.key.hasPrefix("NIO-") }.flatMap(\.value)
        #expect(!loops.isEmpty && loops.allSatisfy { $0 == 0 }, "the MQTT event loops keep the normal priority: \(nice)")
    }

    @Test("SIGTERM sends a connected 5.0 client DISCONNECT 0x8B before exiting")
    func sigtermDisconnects() throws {
        let (server, port) = try AviaryBinary.serve()
        let c = try TestClient(port: port, version: .v5)
        try c.connect("at-shutdown")
        server.signal(SIGTERM)
        let d = try c.receive { if case .disconnect(let d) = $0 { d } else { nil } }
        #expect(d.reasonCode == .serverShuttingDown)
        #expect(server.wait(timeout: 10) == 0)
    }

    @Test(
        """
        no terminal (a script, cron, ssh without a tty): aviary watch and aviary say so and exit 2 at once, writing nothing to \
        standard output and starting no broker
        """
    )
    func noTerminal() async throws {
        let dir = NSTemporaryDirectory() + "aviary-notty-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = HarnessPorts.next()
        for (name, command) in [
            ("watch", "'\(Tools.aviary)' watch http://127.0.0.1:1"),
            ("run", "'\(Tools.aviary)' --mqtt-host 127.0.0.1 --mqtt-port \(port) --api-port 0 --ws-port off --log-file \(dir)/log"),
        ] {
            // As the report had it: input from /dev/null, output into a file. `timeout` ends a
            // process that would not stop (status 124); bash's `time` gives the CPU it used,
            // which a loop spinning on end-of-input would fill (a wall-clock bound would measure
            // this machine's load instead).
            let script = "TIMEFORMAT='%3U %3S'; time (timeout 20 \(command) < /dev/null > \(dir)/\(name).out 2> \(dir)/\(name).err)"
            let r = try await Subprocess.runAsync(["bash", "-c", script], timeout: 40)
            let err = try String(contentsOfFile: "\(dir)/\(name).err", encoding: .utf8)
            let out = try String(contentsOfFile: "\(dir)/\(name).out", encoding: .utf8)
            #expect(r.code == 2, "\(name) exits 2 by itself (124: it had to be stopped): \(err)")
            let cpu = r.output.split(separator: "\n").last.map { $0.split(separator: " ").compactMap { Double($0) }.reduce(0, +) }
            #expect(cpu.map { $0 < 2 } == true, "\(name) used \(cpu ?? -1) s of CPU")
            #expect(err.contains("must be a terminal") && out.isEmpty, "\(name): \(err) | \(out.debugDescription)")
        }
        #expect(try String(contentsOfFile: "\(dir)/run.err", encoding: .utf8).contains("aviary serve"), "the way out is named")
        // Nothing listens on the MQTT port `aviary` would have taken.
        #expect(throws: (any Error).self) { try TestClient(port: port) }
    }

    @Test("--version and --help")
    func versionAndHelp() throws {
        let v = try Subprocess.run([Tools.aviary, "--version"])
        #expect(v.code == 0 && v.output.trimmingCharacters(in: .whitespacesAndNewlines) == AviaryVersion.current)
        let h = try Subprocess.run([Tools.aviary, "serve", "--help"])
        #expect(h.code == 0)
        #expect(h.output.contains("--mqtt-port") && h.output.contains("Examples"))
        for (command, flag) in [("run", "--demo"), ("watch", "--interval"), ("passwd", "--delete"), ("bench", "--qos")] {
            let help = try Subprocess.run([Tools.aviary, command, "--help"])
            #expect(help.code == 0, "\(command)")
            #expect(help.output.contains(flag) && help.output.contains("Examples:"), "aviary \(command) --help: \(help.output)")
        }
    }
}
