@_spi(Simulation) import Broker
import Foundation
import MQTTCodec
import TUI
import TestSupport
import Testing

/// The real `aviary` binary in tmux against a real broker and real clients.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DashboardE2ETests {
    @Test("watch: rows, moving counters and rates, sort keys, filter, detail, and d+y disconnects the client")
    func watchEndToEnd() async throws {
        let h = try await APIHarness.start()
        var subs: [Subprocess] = []
        for (id, version) in [("e2e-sub-1", "mqttv5"), ("e2e-sub-2", "mqttv311"), ("e2e-sub-3", "mqttv31")] {
            subs.append(try Subprocess(["mosquitto_sub", "-p", "\(h.mqtt.port)", "-V", version, "-i", id, "-q", "1", "-t", "e2e/#"]))
        }
        let python = try #require(Tools.python)
        let publisher = try Subprocess([
            python, "-c",
            """
            import time, paho.mqtt.client as m
            kw = {'client_id': 'e2e-paho-pub'}
            c = m.Client(m.CallbackAPIVersion.VERSION2, **kw) if hasattr(m, 'CallbackAPIVersion') else m.Client(**kw)
            c.connect('127.0.0.1', \(h.mqtt.port)); c.loop_start()
            for i in range(1200):
                c.publish('e2e/data', 'x' * 100, qos=1); time.sleep(0.025)
            """,
        ])
        try await eventuallyAsync("clients connected") { h.broker.clients().filter(\.connected).count == 4 }
        let tui = try TmuxDriver([Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)", "--interval", "0.5"])
        try tui.waitFor("all four clients") { s in ["e2e-sub-1", "e2e-sub-2", "e2e-sub-3", "e2e-paho-pub"].allSatisfy(s.contains) }
        #expect(try tui.screen().contains("(aviary)"))
        try tui.waitFor("the history line") { s in s.contains("per second, peaks, last") && s.contains(" msg in ") && s.contains(" bytes in ") }
        // Subscriptions by topic filter; Enter narrows the table to its subscribers.
        try tui.send("s")
        try tui.waitFor("the subscriptions view") { s in
            s.contains("TOPIC FILTER") && s.contains("e2e/#") && s.contains("3 subscriptions on 1 topic filters")
        }
        try tui.send("Enter")
        try tui.waitFor("the subscribers") { s in s.contains("3 of 4 shown subscribed to e2e/#") && !s.contains("e2e-paho-pub ") }
        try tui.send("Escape")
        try tui.waitFor("the whole table") { s in s.contains("e2e-paho-pub") && !s.contains("shown subscribed to") }
        // Counters and rates move.
        try tui.waitFor("the publisher's rate") { _ in (tui.cell("e2e-paho-pub", .msgsInRate).flatMap(Double.init) ?? 0) >= 10 }
        try tui.waitFor("a subscriber's counters") { _ in
            let sent = tui.cell("e2e-sub-1", .sendOct) ?? ""
            return sent.hasSuffix("KiB") && tui.cell("e2e-sub-1", .bytesOutRate) != "0 B/s"
        }
        // Sort keys: > moves the marker, r reverses; the publisher tops MSG IN/s.
        try tui.send(">")
        try tui.waitFor(text: "OUT/s▼")
        try tui.send(">")
        try tui.waitFor(text: "MSG IN/s▼")
        try tui.waitFor("publisher first") { s in
            s.components(separatedBy: "\n").first { $0.hasPrefix("e2e-") }?.hasPrefix("e2e-paho-pub") == true
        }
        try tui.send("r")
        try tui.waitFor(text: "MSG IN/s▲")
        try tui.waitFor("publisher last") { s in
            s.components(separatedBy: "\n").last { $0.hasPrefix("e2e-") }?.hasPrefix("e2e-paho-pub") == true
        }
        // A regular expression, and an inverted filter.
        try tui.send("/")
        try tui.type("re:sub-[12]$")
        try tui.send("Enter")
        try tui.waitFor("regex") { s in s.contains("2 of 4 shown") && s.contains("e2e-sub-2") && !s.contains("e2e-sub-3") }
        try tui.send("Escape")
        try tui.send("/")
        try tui.type("!sub")
        try tui.send("Enter")
        try tui.waitFor("inverted") { s in s.contains("1 of 4 shown") && s.contains("e2e-paho-pub") && !s.contains("e2e-sub-1") }
        try tui.send("Escape")
        // Space tags, U untags.
        try tui.send("Space")
        try tui.waitFor(text: "1 tagged: d disconnects them all")
        try tui.send("U")
        try tui.waitFor(text: "no client tagged")
        // Filter narrows the rows and says "n of m".
        try tui.send("/")
        try tui.type("sub-1")
        try tui.send("Enter")
        try tui.waitFor("filtered") { s in s.contains("1 of 4 shown") && !s.contains("e2e-sub-2") && s.contains("e2e-sub-1") }
        // Detail view with every field and the subscriptions.
        try tui.send("Enter")
        try tui.waitFor("detail in sections") { s in
            s.contains("Client e2e-sub-1") && s.contains(" identity") && s.contains(" traffic") && s.contains("received ")
                && s.contains(" queues and windows") && s.contains("in flight") && s.contains("e2e/#") && s.contains("5.0 (MQTT)")
        }
        try tui.send("r")
        try tui.waitFor("the raw fields") { s in s.contains("recv_oct") && s.contains("r for sections") }
        try tui.send("r")
        try tui.waitFor(text: "r for raw fields")
        try tui.send("Escape")
        try tui.waitFor(text: "CLIENT ID")
        // Disconnect: asks, n cancels, y disconnects; the mosquitto_sub (5.0) process sees it and exits.
        try tui.send("d")
        try tui.waitFor(text: "Disconnect e2e-sub-1? [y/N]")
        try tui.send("n")
        try tui.waitFor(text: "not disconnected: e2e-sub-1")
        #expect(subs[0].wait(timeout: 0.2) == nil)
        try tui.send("d")
        try tui.waitFor(text: "Disconnect e2e-sub-1? [y/N]")
        try tui.send("y")
        try tui.waitFor(text: "disconnected e2e-sub-1")
        #expect(await subs[0].waitAsync(timeout: 10) != nil, "mosquitto_sub did not see the disconnect")
        try tui.waitFor("row gone") { s in !s.contains("e2e-sub-1 ") }
        // Quit restores the terminal.
        try tui.send("Escape")
        try tui.quit()
        #expect(try tui.display("#{alternate_on}") == "0")
        publisher.signal(SIGKILL)
        for s in subs { s.signal(SIGKILL) }
        await h.stop()
    }

    @Test(
        """
        watch an EMQX 5/6 cluster (a local stand-in of /api/v5): --api-key/--api-secret, a NODE column, rates from counters, detail with \
        subscriptions, d+y kicks with DELETE
        """
    )
    func watchEMQX5() async throws {
        let (fake, base) = try FakeAPI.emqx5(["--clients", "12"])
        defer { fake.signal(SIGTERM) }
        let tui = try TmuxDriver(
            [Tools.aviary, "watch", base, "--api-key", "key-1", "--api-secret", "secret-1", "--interval", "0.5"],
            cols: 160,
            rows: 30
        )
        let screen = try tui.waitFor("the cluster's clients") { s in s.contains("dev-0001") && s.contains("dev-0011") }
        #expect(screen.contains("(emqx5)") && screen.contains("EMQX cluster (2/3 nodes running)") && screen.contains("NODE"), "\(screen)")
        #expect(tui.cell("dev-0001", .node, width: 160, nodes: true) == "emqx@10.0.0.2", "\(screen)")
        try tui.waitFor("rates from the counters") { _ in (tui.cell("dev-0001", .msgsInRate, width: 160, nodes: true).flatMap(Double.init) ?? 0) > 0 }
        // The cluster view: a row per node, the stopped one too; Enter narrows the table to a node.
        try tui.send("n")
        try tui.waitFor("the nodes") { s in s.contains("emqx@10.0.0.3") && s.contains("stopped") && s.contains("MSG IN/s") && s.contains("15.51G") }
        try tui.send("Down")
        try tui.send("Enter")
        try tui.waitFor("the clients of one node") { s in s.contains("shown on emqx@10.0.0.2") && s.contains("dev-0001") && !s.contains("dev-0002 ") }
        try tui.send("Escape")
        try tui.waitFor("every node's clients") { s in !s.contains("shown on") && s.contains("dev-0002") }
        try tui.send("/")
        try tui.type("dev-0003")
        try tui.send("Enter")
        try tui.waitFor("filtered") { s in s.contains("1 of 12 shown") }
        try tui.send("Enter")
        try tui.waitFor("detail") { s in
            s.contains("Client dev-0003") && s.contains("devices/dev-0003/cmd") && s.contains("0 / 32") && s.contains("emqx@10.0.0.2")
        }
        try tui.send("Escape")
        try tui.send("d")
        try tui.waitFor(text: "Disconnect dev-0003? [y/N]")
        try tui.send("y")
        try tui.waitFor(text: "disconnected dev-0003")
        let log = try Subprocess.run(["curl", "-s", "\(base)/fake/log"]).output
        #expect(log.contains("\"method\": \"DELETE\", \"path\": \"/api/v5/clients/dev-0003\""), "\(log.suffix(400))")
        // Tag two with Space, one confirmation for both, EMQX's bulk kickout.
        try tui.send("Escape")
        try tui.waitFor("the whole table again, dev-0003 gone") { s in
            !s.contains("of 12 shown") && s.contains("dev-0001") && !s.components(separatedBy: "\n").contains { $0.hasPrefix("dev-0003 ") }
        }
        try tui.send("Home")
        try tui.send("Space")
        try tui.send("Space")
        try tui.waitFor(text: "2 tagged: d disconnects them all")
        try tui.send("d")
        try tui.waitFor(text: "Disconnect 2 tagged clients: dev 0000/odd, dev-0001? [y/N]")
        try tui.send("y")
        try tui.waitFor(text: "asked EMQX to disconnect 2 clients (bulk kickout)")
        try tui.waitFor("9 left") { s in s.contains("connected / 9") }
        try tui.send("Escape")
        try tui.quit()
    }

    @Test("F2 hides a column; the choice, the sort and the interval are remembered in $XDG_CONFIG_HOME/aviary/dashboard.conf for the next run")
    func rememberedColumns() async throws {
        let h = try await APIHarness.start()
        let client = try TestClient(port: h.mqtt.port)
        #expect(try client.connect("remember-me", username: "someone").reasonCode == .success)
        let config = NSTemporaryDirectory() + "aviary-xdg-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: config) }
        let first = try TmuxDriver([Tools.aviary, "watch", h.base], cols: 160, rows: 30, env: ["XDG_CONFIG_HOME": config])
        try first.waitFor(text: "remember-me")
        #expect(try first.screen().contains("USER"))
        try first.send("F2")
        try first.waitFor(text: "[x] USER")
        try first.send("Down")
        try first.send("Space")
        try first.waitFor(text: "[ ] USER")
        try first.send("Escape")
        try first.send("<")
        try first.send("+")
        try first.waitFor("USER gone, sort moved") { s in !s.contains("USER") && s.contains("UP▼") && s.contains("every 2s") }
        try first.quit()
        let saved = try String(contentsOfFile: config + "/aviary/dashboard.conf", encoding: .utf8)
        #expect(saved.contains("hidden_columns = username") && saved.contains("interval = 2"), "\(saved)")
        let second = try TmuxDriver([Tools.aviary, "watch", h.base], cols: 160, rows: 30, env: ["XDG_CONFIG_HOME": config])
        let screen = try second.waitFor(text: "remember-me")
        #expect(!screen.contains("USER") && screen.contains("UP▼") && screen.contains("every 2s"), "\(screen)")
        try second.send("q")
        withExtendedLifetime(client) {}
        await h.stop()
    }

    @Test(
        "80×24 and narrower: the table, the cluster view, the subscriptions view, the detail sections and the help fit and stay readable",
        arguments: [(80, 24), (50, 14)]
    )
    func smallTerminals(size: (cols: Int, rows: Int)) async throws {
        let (fake, base) = try FakeAPI.emqx5(["--clients", "30"])
        defer { fake.signal(SIGTERM) }
        let tui = try TmuxDriver(
            [Tools.aviary, "watch", base, "--api-key", "key-1", "--api-secret", "secret-1", "--interval", "0.5"],
            cols: size.cols,
            rows: size.rows
        )
        func fits(_ screen: String) -> Bool { screen.components(separatedBy: "\n").allSatisfy { $0.count <= size.cols } }
        let table = try tui.waitFor("the table") { s in s.contains("CLIENT ID") && s.contains("dev-0001") }
        #expect(fits(table), "\(table)")
        try tui.send("n")
        let nodes = try tui.waitFor("the cluster view") { s in s.contains("emqx@10.0.0.1") && s.contains("NODE") }
        #expect(fits(nodes), "\(nodes)")
        try tui.send("Escape")
        try tui.send("s")
        let subs = try tui.waitFor("the subscriptions view") { s in s.contains("TOPIC FILTER") && s.contains("fleet/#") }
        #expect(fits(subs), "\(subs)")
        try tui.send("Escape")
        try tui.waitFor(text: "CLIENT ID")
        try tui.send("Enter")
        let detail = try tui.waitFor("the detail sections") { s in s.contains("identity") && s.contains("client id") }
        #expect(fits(detail), "\(detail)")
        try tui.send("Escape")
        try tui.send("F1")
        let help = try tui.waitFor("the help") { s in s.contains("Keys") && s.contains("move the selection") }
        #expect(fits(help), "\(help)")
        try tui.send("Escape")
        try tui.quit()
    }

    @Test("several targets: aviary watch URL URL shows the first, t and Tab switch; without a URL the target lines of dashboard.conf are watched")
    func severalTargets() async throws {
        let a = try await APIHarness.start()
        let b = try await APIHarness.start()
        let ca = try TestClient(port: a.mqtt.port)
        #expect(try ca.connect("on-a").reasonCode == .success)
        let cb = try TestClient(port: b.mqtt.port)
        #expect(try cb.connect("on-b").reasonCode == .success)
        let tui = try TmuxDriver([Tools.aviary, "watch", a.base, b.base], cols: 160, rows: 30)
        try tui.waitFor("the first target") { s in s.contains("[1/2] aviary") && s.contains("on-a") && !s.contains("on-b") }
        try tui.send("t")
        try tui.waitFor("the second") { s in s.contains("[2/2] aviary") && s.contains("on-b") && !s.contains("on-a ") }
        try tui.send("Tab")
        try tui.waitFor("the first again") { s in s.contains("[1/2]") && s.contains("on-a") }
        try tui.quit()
        let config = NSTemporaryDirectory() + "aviary-xdg-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: config) }
        try FileManager.default.createDirectory(atPath: config + "/aviary", withIntermediateDirectories: true)
        try "# named targets\ntarget = edge-b \(b.base) admin public\n".write(
            toFile: config + "/aviary/dashboard.conf",
            atomically: true,
            encoding: .utf8
        )
        let named = try TmuxDriver([Tools.aviary, "watch"], cols: 160, rows: 30, env: ["XDG_CONFIG_HOME": config])
        try named.waitFor("the named target") { s in s.contains("on-b") }
        try named.quit()
        let kept = try String(contentsOfFile: config + "/aviary/dashboard.conf", encoding: .utf8)
        #expect(kept.contains("target = edge-b \(b.base) admin public"), "the target line survives the save at exit: \(kept)")
        withExtendedLifetime((ca, cb)) {}
        await a.stop()
        await b.stop()
    }

    @Test("an unreachable API gets a banner and retries; wrong credentials are named; SIGTERM ends aviary watch cleanly")
    func unreachableAndAuth() async throws {
        let h = try await APIHarness.start()
        let wrong = try TmuxDriver([Tools.aviary, "watch", "127.0.0.1:\(h.apiPort)", "--password", "nope"], cols: 120, rows: 20)
        try wrong.waitFor(text: "CREDENTIALS REJECTED")
        try wrong.quit()
        let c = try TestClient(port: h.mqtt.port)
        // A persistent session: the stop closes connections before the API goes, and a poll in
        // between must still list the client (offline), or the last screen would not show it.
        var expiry = Properties()
        expiry.sessionExpiryInterval = 3600
        try c.connect("survivor", cleanStart: false, properties: expiry)
        let tui = try TmuxDriver([Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)"], cols: 120, rows: 20)
        try tui.waitFor(text: "survivor")
        await h.stop()
        let screen = try tui.waitFor(text: "UNREACHABLE")
        #expect(screen.contains("retry in") && screen.contains("survivor"), "the last data stays on screen")
        // Backoff: with a 1 s interval the retries wait 1, 2, then 4 s.
        try tui.waitFor(text: "retry in 4s")
        // `aviary watch` execs the dashboard from a thread that blocks signals: SIGTERM must
        // still reach it and restore the terminal.
        let pid = try #require(try tui.programPID())
        kill(pid, SIGTERM)
        try tui.waitFor(text: "exiting on signal 15")
        try tui.waitFor(text: "[exit 0]")
        #expect(try tui.display("#{alternate_on}") == "0")
    }

    @Test(
        """
        keys through a real terminal: < sorts by id, End/g/PgDn/j/k and the mouse wheel move, Enter picks rows, F1 help, p pauses, + slows the \
        poll, F10 quits
        """
    )
    func keysInTmux() async throws {
        let h = try await APIHarness.start()
        let clients = try (0..<30).map { i -> TestClient in
            let c = try TestClient(port: h.mqtt.port)
            try c.connect(String(format: "key-%02d", i))
            return c
        }
        let tui = try TmuxDriver([Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)"], cols: 120, rows: 20)
        try tui.waitFor(text: "key-0")
        // Sort by client id: `<` from the default column wraps to the last shown, then walk to CLIENT ID.
        for _ in 0..<20 {
            if (try? tui.screen())?.contains("CLIENT ID▲") == true { break }
            try tui.send("<")
            try await Task.sleep(for: .milliseconds(100))
        }
        try tui.waitFor(text: "CLIENT ID▲")
        func detail(after keys: String...) throws -> String {
            for key in keys { try tui.send(key) }
            try tui.send("Enter")
            let screen = try tui.waitFor(text: "Client key-")
            try tui.send("Escape")
            try tui.waitFor(text: "CLIENT ID▲")
            return String(screen[screen.range(of: "Client key-")!.upperBound...].prefix(2))
        }
        #expect(try detail(after: "End") == "29")
        #expect(try detail(after: "g") == "00")
        #expect(try detail(after: "j", "j", "Down") == "03")
        #expect(try detail(after: "k") == "02")
        #expect(try detail(after: "NPage") != "02", "PgDn moves a page")
        #expect(try detail(after: "Home") == "00")
        // The mouse wheel, as the terminal reports it (X10 encoding: ESC [ M, button 64 + 32 up /
        // 65 + 32 down, column and row + 33), typed into the pane.
        let wheelDown = "\u{1B}[Ma+&"
        let wheelUp = "\u{1B}[M`+&"
        try tui.type(wheelDown)
        try tui.type(wheelDown)
        #expect(try detail() == "02", "two notches down")
        try tui.type(wheelUp)
        #expect(try detail() == "01", "one notch up")
        try tui.send("F1")
        try tui.waitFor("help") { $0.contains("Keys") && $0.contains("this help") }
        try tui.send("Escape")
        try tui.send("p")
        try tui.waitFor(text: "paused")
        try tui.send("p")
        try tui.send("+")
        try tui.waitFor(text: "refresh every 2s")
        try tui.send("F10")
        try tui.waitFor(text: "[exit 0]")
        #expect(try tui.display("#{alternate_on}") == "0")
        withExtendedLifetime(clients) {}
        await h.stop()
    }

    @Test(
        "`aviary` (broker + dashboard): q stops the broker too; Ctrl-C and SIGHUP end it with the terminal restored",
        arguments: ["q", "C-c", "SIGHUP"]
    )
    func runModeEnds(how: String) async throws {
        let log = NSTemporaryDirectory() + "aviary-run-\(UUID().uuidString.prefix(6)).log"
        defer { unlink(log) }
        let tui = try TmuxDriver(
            [Tools.aviary, "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off", "--log-file", log],
            cols: 120,
            rows: 20
        )
        try tui.waitFor(text: "CLIENT ID")
        var port: Int?
        try eventually("the broker's port in the log") {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"mqtt.port=[0-9]+"#, options: .regularExpression) {
                port = Int(text[range].dropFirst("mqtt.port=".count))
            }
            return port != nil
        }
        let c = try TestClient(port: try #require(port))
        try c.connect("run-mode")
        try tui.waitFor(text: "run-mode")
        switch how {
        case "q":
            try tui.send("q")
        case "C-c":
            // SIGINT reaches the whole foreground group (aviary and its dashboard); which of
            // them says so first varies, so only the outcome is checked below.
            try tui.send("C-c")
        default:
            kill(try #require(try tui.programPID()), SIGHUP)
            try tui.waitFor(text: "exiting on signal 1")
        }
        try tui.waitFor(text: "[exit 0]")
        #expect(try tui.display("#{alternate_on}") == "0", "the terminal is back")
        #expect(c.waitClosed(timeout: 10), "the broker stopped with the dashboard")
        #expect(throws: (any Error).self, "nothing listens on the MQTT port any more") { try TestClient(port: port!) }
    }

    @Test(
        "a crash (SIGSEGV, SIGABRT) gives the terminal back: the crash handler leaves the alternate screen and shows the cursor",
        arguments: [SIGSEGV, SIGABRT]
    )
    func crashRestoresTerminal(signal: Int32) async throws {
        let h = try await APIHarness.start()
        let c = try TestClient(port: h.mqtt.port)
        try c.connect("crash-check")
        let tui = try TmuxDriver(
            [Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)"],
            cols: 120,
            rows: 20,
            env: ["SWIFT_BACKTRACE": "enable=no"]
        )
        try tui.waitFor(text: "crash-check")
        #expect(try tui.display("#{alternate_on}") == "1")
        kill(try #require(try tui.programPID()), signal)
        try tui.waitFor(text: "[exit")
        #expect(try tui.display("#{alternate_on}") == "0", "left the alternate screen")
        #expect(try tui.display("#{cursor_flag}") == "1", "the cursor is shown again")
        await h.stop()
    }

    @Test("when its terminal goes away without a signal (no SIGHUP: another session), the dashboard exits instead of spinning")
    func terminalGone() async throws {
        let h = try await APIHarness.start()
        let c = try TestClient(port: h.mqtt.port)
        try c.connect("orphan-check")
        // setsid: the dashboard is not in the terminal's session, so the hang-up sends it no
        // SIGHUP; its reads just start failing at once.
        let tui = try TmuxDriver(["setsid", Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)"], cols: 120, rows: 20)
        try tui.waitFor(text: "orphan-check")
        let pid = try #require(try tui.programPID())
        _ = try tui.tmux(["kill-server"])
        func running() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            return state != "Z" && state != "X"
        }
        let deadline = Date().addingTimeInterval(10)
        while running() && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let stillRunning = running()
        if stillRunning { kill(pid, SIGKILL) }
        #expect(!stillRunning, "the dashboard noticed its terminal was gone and exited")
        await h.stop()
    }

    @Test("aviary --demo: broker, API and dashboard in one process; resize; NO_COLOR; SIGTERM restores the terminal")
    func demoMode() async throws {
        let log = NSTemporaryDirectory() + "aviary-e2e-\(UUID().uuidString.prefix(6)).log"
        defer { unlink(log) }
        let tui = try TmuxDriver(
            [Tools.aviary, "--demo", "--mqtt-port", "0", "--api-port", "0", "--ws-port", "off", "--log-file", log],
            cols: 160,
            rows: 30,
            env: ["NO_COLOR": "1"]
        )
        try tui.waitFor("demo clients") { s in s.contains("sensor-kitchen") && s.contains("camera-door") && s.contains("logger") }
        #expect(try tui.screen().contains("SENT"))
        let coloured = try tui.screen(colours: true)
        #expect(coloured.range(of: "\u{1B}\\[[0-9;]*[34][0-7]m", options: .regularExpression) == nil, "NO_COLOR: no colour codes")
        #expect(coloured.contains("\u{1B}[7m") || coloured.contains(";7m"), "reverse video marks the header")
        try tui.tmux(["resize-window", "-t", "e2e", "-x", "80", "-y", "24"])
        try tui.waitFor("narrow layout") { s in !s.contains("SENT") && s.contains("CLIENT ID") && s.contains("sensor-kitchen") }
        try tui.tmux(["resize-window", "-t", "e2e", "-x", "30", "-y", "6"])
        try tui.waitFor(text: "too small")
        try tui.tmux(["resize-window", "-t", "e2e", "-x", "160", "-y", "30"])
        try tui.waitFor(text: "SENT")
        let pid = try #require(try tui.programPID())
        kill(pid, SIGTERM)
        try tui.waitFor(text: "exiting on signal 15")
        try tui.waitFor(text: "[exit 0]")
        #expect(try tui.display("#{alternate_on}") == "0")
        #expect(try tui.display("#{cursor_flag}") == "1")
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logText.contains("client connected"), "broker logs go to --log-file, not the screen")
    }

    @Test("a large table is fetched as a server-sorted, server-filtered window")
    func largeTableWindow() async throws {
        let h = try await APIHarness.start()
        h.broker.addSimulatedClients(3000)
        let tui = try TmuxDriver([Tools.aviary, "watch", "http://127.0.0.1:\(h.apiPort)", "--interval", "0.5"])
        try tui.waitFor(text: "top 500 by recv_oct")
        #expect(try tui.screen().contains("clients 3000"))
        func shownIds() -> [String] { tui.lines.compactMap { $0.hasPrefix("sim-") ? String($0.prefix { $0 != " " }) : nil } }
        let topByRecv = Set(h.broker.clients().sorted { ($0.recvOct, $1.clientId) > ($1.recvOct, $0.clientId) }.prefix(500).map(\.clientId))
        #expect(!shownIds().isEmpty && shownIds().allSatisfy(topByRecv.contains))
        // F6 → "bytes sent": the window is now the top 500 by send_oct.
        try tui.send("F6")
        try tui.waitFor(text: "Sort by")
        let steps = Column.allCases.firstIndex(of: .sendOct)! - Column.allCases.firstIndex(of: .bytesInRate)!
        for _ in 0..<steps { try tui.send("Down") }
        try tui.send("Enter")
        try tui.waitFor(text: "top 500 by send_oct")
        let topBySent = Set(h.broker.clients().sorted { ($0.sendOct, $1.clientId) > ($1.sendOct, $0.clientId) }.prefix(500).map(\.clientId))
        try tui.waitFor("rows from the send_oct window") { _ in
            let ids = shownIds()
            return !ids.isEmpty && ids.allSatisfy(topBySent.contains)
        }
        // The filter goes to the server too.
        try tui.send("/")
        try tui.type("sim-29")
        try tui.send("Enter")
        try tui.waitFor("server-side filter") { s in s.contains("matching") && !shownIds().isEmpty && shownIds().allSatisfy { $0.contains("sim-29") }
        }
        try tui.quit()
        await h.stop()
    }
}
