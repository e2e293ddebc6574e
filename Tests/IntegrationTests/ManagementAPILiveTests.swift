import Broker
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

@testable import TUI

/// The management API against a live broker with real MQTT clients, through curl. Alone it
/// takes ~3 s; in the full run it shares two cores and the concurrency pool with every other
/// suite (~50 s seen), hence the generous limit: it is there to stop a hang, not to time it.
@Suite(.timeLimit(.minutes(3)))
struct ManagementAPILiveTests {
    /// Seven clients: three versions, users, clean flags, odd ids, one offline with a queue.
    static func population(_ h: APIHarness) throws -> [TestClient] {
        var clients: [TestClient] = []
        func add(_ id: String, _ version: ProtocolVersion, user: String? = nil, clean: Bool = true) throws {
            let c = try TestClient(port: h.mqtt.port, version: version)
            try c.connect(id, cleanStart: clean, username: user)
            try c.subscribe("own/\(id)", qos: .atLeastOnce)
            clients.append(c)
        }
        try add("alpha", .v5, user: "alice")
        try add("beta", .v3_1_1, user: "bob", clean: false)
        try add("gamma", .v3_1)
        try add("dev/ice 1", .v5, user: "alice")
        try add("100%", .v3_1_1)
        try add("ünï-çødé", .v5)
        try add("offline-1", .v3_1_1, clean: false)
        clients.last!.disconnect()
        try eventually("offline-1 offline") { h.broker.client(id: "offline-1")?.connected == false }
        let publisher = try TestClient(port: h.mqtt.port)
        try publisher.connect("zz-publisher")
        for (n, id) in ["offline-1", "offline-1"].enumerated() {
            publisher.publish("own/\(id)", "queued \(n)", qos: .atLeastOnce, id: UInt16(n + 1))
            _ = try publisher.receive()
        }
        publisher.disconnect()
        try eventually("publisher gone") { h.broker.client(id: "zz-publisher") == nil }
        return clients
    }

    static func enc(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))!
    }

    @Test("every endpoint answers with the documented envelope")
    func endpoints() async throws {
        let h = try await APIHarness.start()
        let clients = try Self.population(h)
        let node = try await HTTP.request("GET", "\(h.base)/api/v4/nodes").data.first?["node"] as? String
        let n = try #require(node)
        for path in [
            "/api/v4", "/api/v4/", "/api/v4/brokers", "/api/v4/brokers/\(n)", "/api/v4/nodes", "/api/v4/nodes/\(n)", "/api/v4/clients",
            "/api/v4/clients/", "/api/v4/clients/alpha", "/api/v4/clients/username/alice", "/api/v4/nodes/\(n)/clients",
            "/api/v4/nodes/\(n)/clients/alpha", "/api/v4/subscriptions", "/api/v4/subscriptions/alpha", "/api/v4/nodes/\(n)/subscriptions",
            "/api/v4/stats", "/api/v4/metrics", "/api/v3/connections", "/api/v3/connections/alpha", "/api/v3/connection/username/alice",
            "/api/v3/nodes/\(n)/connections",
        ] {
            let r = try await HTTP.request("GET", h.base + path)
            #expect(r.status == 200, "\(path): \(r.status) \(r.message)")
            #expect(r.code == 0, "\(path)")
            #expect(r.headers["content-type"] == "application/json", "\(path)")
            #expect(r.json["data"] != nil, "\(path)")
        }
        let brokers = try await HTTP.request("GET", "\(h.base)/api/v4/brokers").data
        #expect((brokers.first?["sysdescr"] as? String)?.contains("Aviary") == true)
        #expect(brokers.first?["version"] as? String == AviaryVersion.current)
        let lookup = try await HTTP.request("GET", "\(h.base)/api/v4/clients/alpha")
        #expect(lookup.ids == ["alpha"])
        let nobody = try await HTTP.request("GET", "\(h.base)/api/v4/clients/nobody")
        #expect(nobody.status == 200 && nobody.data.isEmpty)
        let byUser = try await HTTP.request("GET", "\(h.base)/api/v4/clients/username/alice")
        #expect(byUser.ids.sorted() == ["alpha", "dev/ice 1"])
        let v3 = try await HTTP.request("GET", "\(h.base)/api/v3/connections")
        #expect(v3.data.allSatisfy { $0.count == 26 }, "EMQX v3 objects have exactly 26 keys")
        #expect(!v3.ids.contains("offline-1"), "v3 lists connections only")
        #expect(Set(v3.meta.keys) == ["page", "limit", "count"])
        let subs = try await HTTP.request("GET", "\(h.base)/api/v4/subscriptions/alpha")
        #expect(subs.data.first?["topic"] as? String == "own/alpha")
        #expect((subs.data.first?["qos"] as? NSNumber)?.intValue == 1)
        let stats = try await HTTP.request("GET", "\(h.base)/api/v4/stats").data.first?["stats"] as? [String: Any]
        #expect((stats?["connections.count"] as? NSNumber)?.intValue == 6)
        #expect((stats?["sessions.count"] as? NSNumber)?.intValue == 7)
        #expect((stats?["subscriptions.count"] as? NSNumber)?.intValue == 7)
        let metrics = try await HTTP.request("GET", "\(h.base)/api/v4/metrics").data.first?["metrics"] as? [String: Any]
        #expect((metrics?["messages.received"] as? NSNumber)?.intValue == 2)
        #expect((metrics?["packets.connect.received"] as? NSNumber)?.intValue == 8)
        _ = clients
        await h.stop()
    }

    @Test(
        "filters, alone and combined",
        arguments: [
            ("clientid=alpha", ["alpha"]),
            ("client_id=beta", ["beta"]),
            ("username=alice", ["alpha", "dev/ice 1"]),
            ("conn_state=disconnected", ["offline-1"]),
            ("conn_state=CONNECTED&clean_start=false", ["beta"]),
            ("clean_start=false", ["beta", "offline-1"]),
            ("proto_ver=3", ["gamma"]),
            ("proto_name=MQIsdp", ["gamma"]),
            ("proto_ver=5&username=alice", ["alpha", "dev/ice 1"]),
            ("_like_clientid=PH", ["alpha"]),
            ("_like_username=LIC", ["alpha", "dev/ice 1"]),
            ("ip_address=127.0.0.1&proto_ver=4", ["100%", "beta", "offline-1"]),
            ("zone=default&_like_clientid=ga", ["gamma"]),
            ("_gte_mqueue_len=2", ["offline-1"]),
            ("_lte_mqueue_len=0&proto_ver=4", ["100%", "beta"]),
            ("_gte_mqueue_dropped=1", []),
            ("_lte_created_at=1000", []),
            ("_gte_connected_at=1000&clientid=gamma", ["gamma"]),
            ("clientid=dev%2Fice+1", ["dev/ice 1"]),
            ("clientid=100%25", ["100%"]),
            ("clientid=%C3%BCn%C3%AF-%C3%A7%C3%B8d%C3%A9", ["ünï-çødé"]),
        ] as [(String, [String])]
    )
    func filters(query: String, expected: [String]) async throws {
        let h = try await APIHarness.start()
        let clients = try Self.population(h)
        let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients?\(query)")
        #expect(r.status == 200, "\(r.message)")
        #expect(r.ids.sorted() == expected.sorted())
        #expect((r.meta["count"] as? NSNumber)?.intValue == expected.count)
        _ = clients
        await h.stop()
    }

    @Test(
        "bad query values are 400 with code 108 naming the key",
        arguments: [
            ("conn_state=bogus", "conn_state"), ("proto_ver=6", "proto_ver"), ("_limit=abc", "_limit"), ("_limit=0", "_limit"),
            ("_limit=10001", "_limit"), ("_page=0", "_page"), ("foo=1", "foo"), ("_sort=nope", "_sort"), ("_order=sideways", "_order"),
            ("_sort=recv_oct&_order=up", "_order"), ("clean_start=maybe", "clean_start"), ("_gte_created_at=yesterday", "_gte_created_at"),
            ("_lte_mqueue_len=-1", "_lte_mqueue_len"),
        ] as [(String, String)]
    )
    func badQueries(query: String, key: String) async throws {
        let h = try await APIHarness.start()
        let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients?\(query)")
        #expect(r.status == 400)
        #expect(r.code == 108)
        #expect(r.message.contains(key), "\(r.message)")
        #expect(r.headers["content-type"] == "application/json")
        await h.stop()
    }

    @Test("paging: pages concatenate to the whole list, past the end is empty")
    func paging() async throws {
        let h = try await APIHarness.start()
        let clients = try Self.population(h)
        let all = try await HTTP.request("GET", "\(h.base)/api/v4/clients").ids
        #expect(all.count == 7)
        var collected: [String] = []
        for page in 1...4 {
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients?_page=\(page)&_limit=2")
            #expect((r.meta["page"] as? NSNumber)?.intValue == page)
            #expect((r.meta["limit"] as? NSNumber)?.intValue == 2)
            #expect((r.meta["count"] as? NSNumber)?.intValue == 7)
            #expect(r.meta["hasnext"] as? Bool == (page < 4))
            collected += r.ids
        }
        #expect(collected == all)
        let past = try await HTTP.request("GET", "\(h.base)/api/v4/clients?_page=9&_limit=2")
        #expect(past.status == 200 && past.data.isEmpty && past.meta["hasnext"] as? Bool == false)
        _ = clients
        await h.stop()
    }

    @Test("server-side sort by several fields, both ways, ties by client id, with paging")
    func sorting() async throws {
        let h = try await APIHarness.start()
        let clients = try Self.population(h)
        // Give each connected client a different amount of traffic.
        let publisher = try TestClient(port: h.mqtt.port)
        try publisher.connect("sorter")
        for (i, id) in ["alpha", "beta", "gamma", "dev/ice 1", "100%", "ünï-çødé"].enumerated() {
            for k in 0..<(i * 2 + 1) { publisher.publish("own/\(id)", String(repeating: "x", count: 10 * (k + 1))) }
        }
        publisher.send(.pingreq)
        _ = try publisher.receive()
        try eventually("deliveries counted") {
            h.broker.clients().filter { $0.subscriptionsCount > 0 && $0.connected }.map(\.sendMsg).reduce(0, +) == 36
        }
        for field in ["send_oct", "recv_oct", "send_msg", "proto_ver", "username", "clientid", "connected_at", "mqueue_len"] {
            for order in ["asc", "desc"] {
                let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients?_sort=\(field)&_order=\(order)")
                #expect(r.status == 200, "\(r.message)")
                // Timestamps are rendered to the second; the server orders by their exact milliseconds.
                let compared = field == "connected_at" ? "connected_at_ms" : field
                let keyed = r.data.map { (key: $0[compared], id: $0["clientid"] as! String) }
                for (a, b) in zip(keyed, keyed.dropFirst()) {
                    let cmp = Self.compare(a.key, b.key)
                    if cmp == 0 {
                        #expect(a.id < b.id, "\(field) \(order): tie not broken by client id (\(a.id), \(b.id))")
                    } else {
                        #expect(order == "asc" ? cmp < 0 : cmp > 0, "\(field) \(order): \(a.id) before \(b.id)")
                    }
                }
                // A top-k page equals the head of the full order.
                let top = try await HTTP.request("GET", "\(h.base)/api/v4/clients?_sort=\(field)&_order=\(order)&_limit=3&_page=2")
                #expect(top.ids == Array(r.ids[3..<6]), "\(field) \(order) page 2")
            }
        }
        _ = clients
        await h.stop()
    }

    static func compare(_ a: Any?, _ b: Any?) -> Int {
        if let x = a as? NSNumber, let y = b as? NSNumber { return x.compare(y).rawValue }
        let x = a as? String ?? ""
        let y = b as? String ?? ""
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    @Test("ids with /, space, % and non-ASCII are looked up and kicked through encoded paths")
    func oddIds() async throws {
        let h = try await APIHarness.start()
        let clients = try Self.population(h)
        for id in ["dev/ice 1", "100%", "ünï-çødé"] {
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients/\(Self.enc(id))")
            #expect(r.ids == [id], "\(id): \(r.status) \(r.message)")
            let v3 = try await HTTP.request("GET", "\(h.base)/api/v3/connections/\(Self.enc(id))")
            #expect(v3.ids == [id])
        }
        let bad = try await HTTP.request("GET", "\(h.base)/api/v4/clients/%ZZ")
        #expect(bad.status == 400 && bad.code == 108)
        let kicked = try await HTTP.request("DELETE", "\(h.base)/api/v4/clients/\(Self.enc("dev/ice 1"))")
        #expect(kicked.status == 200 && kicked.code == 0)
        #expect(clients[3].waitClosed())
        _ = clients
        await h.stop()
    }

    @Test("auth failures, unknown routes and wrong methods are JSON errors with real statuses")
    func errors() async throws {
        let h = try await APIHarness.start()
        let none = try await HTTP.request("GET", "\(h.base)/api/v4/clients", auth: nil)
        #expect(none.status == 401 && none.code == 104)
        #expect(none.headers["www-authenticate"]?.hasPrefix("Basic realm=") == true)
        let wrong = try await HTTP.request("GET", "\(h.base)/api/v4/clients", auth: "admin:nope")
        #expect(wrong.status == 401 && wrong.code == 103)
        #expect(wrong.headers["www-authenticate"] != nil)
        let garbled = try await HTTP.request("GET", "\(h.base)/api/v4", auth: nil, extra: ["-H", "Authorization: Basic !!!notbase64"])
        #expect(garbled.status == 401 && garbled.code == 103)
        let catalogueNoAuth = try await HTTP.request("GET", "\(h.base)/api/v4", auth: nil)
        #expect(catalogueNoAuth.status == 401)
        let unknown = try await HTTP.request("GET", "\(h.base)/api/v4/nope")
        #expect(unknown.status == 404 && unknown.code == 102 && unknown.headers["content-type"] == "application/json")
        let root = try await HTTP.request("GET", "\(h.base)/")
        #expect(root.status == 404 && root.code == 102)
        let put = try await HTTP.request("PUT", "\(h.base)/api/v4/clients/x")
        #expect(put.status == 405 && put.headers["allow"] == "GET, DELETE")
        let post = try await HTTP.request("POST", "\(h.base)/api/v4/clients")
        #expect(post.status == 405 && post.code == 102)
        let kickUnknown = try await HTTP.request("DELETE", "\(h.base)/api/v4/clients/ghost")
        #expect(kickUnknown.status == 404 && kickUnknown.code == 112)
        let badNode = try await HTTP.request("GET", "\(h.base)/api/v4/nodes/other@host/clients")
        #expect(badNode.status == 404 && badNode.code == 102)
        await h.stop()
    }

    @Test("kick: a 5.0 client gets DISCONNECT 0x98 and its will is published; a 3.1.1 client is closed", arguments: [ProtocolVersion.v5, .v3_1_1])
    func kick(version: ProtocolVersion) async throws {
        let h = try await APIHarness.start()
        let listener = try TestClient(port: h.mqtt.port)
        try listener.connect("watcher")
        try listener.subscribe("wills/#")
        let victim = try TestClient(port: h.mqtt.port, version: version)
        try victim.connect("victim", cleanStart: false, will: Will(topic: "wills/victim", payload: ByteBuffer(string: "bye")))
        let r = try await HTTP.request("DELETE", "\(h.base)/api/\(version == .v5 ? "v4/clients" : "v3/connections")/victim")
        #expect(r.status == 200 && r.code == 0)
        if version == .v5 {
            let d = try victim.receive { if case .disconnect(let d) = $0 { d } else { nil } }
            #expect(d.reasonCode == .administrativeAction)
        }
        #expect(victim.waitClosed())
        #expect(try listener.receivePublish().text == "bye")
        try await eventuallyAsync("session discarded") {
            let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients/victim")
            return r.status == 200 && r.code == 0 && r.data.isEmpty
        }
        await h.stop()
    }

    @Test("counters in the API equal what mosquitto_pub/sub and paho sent and received, at once")
    func countersMatchRealClients() async throws {
        let h = try await APIHarness.start()
        let topic = "api/counters"
        let sub = try Subprocess(["mosquitto_sub", "-p", "\(h.mqtt.port)", "-i", "api-sub", "-q", "1", "-t", topic])
        try eventually("subscribed") { h.broker.client(id: "api-sub")?.subscriptionsCount == 1 }
        let payloads = (1...4).map { "m\($0)" + String(repeating: "y", count: $0 * 7) }
        for p in payloads {
            #expect(try await Subprocess.runAsync(["mosquitto_pub", "-p", "\(h.mqtt.port)", "-q", "1", "-t", topic, "-m", p]).code == 0)
        }
        // paho is part of the test setup (scripts/deps.sh installs it): required, not skipped.
        let python = try #require(Tools.python, "no Python with paho-mqtt: run the README's test command, which installs it")
        let script = "import paho.mqtt.publish as p; p.single('\(topic)', 'from-paho', qos=1, port=\(h.mqtt.port), client_id='paho-pub')"
        #expect(try await Subprocess.runAsync([python, "-c", script]).code == 0)
        let count = payloads.count + 1
        let sizes = payloads.map(\.utf8.count) + ["from-paho".utf8.count]
        let expectedSent = 4 + 5 + sizes.reduce(0) { $0 + 2 + 2 + topic.utf8.count + 2 + $1 }
        try eventually("acks in") { h.broker.client(id: "api-sub")?.recvPkt == UInt64(2 + count) }
        let r = try await HTTP.request("GET", "\(h.base)/api/v4/clients/api-sub")
        let o = try #require(r.data.first)
        #expect((o["send_msg"] as? NSNumber)?.intValue == count)
        #expect((o["send_pkt"] as? NSNumber)?.intValue == 2 + count)
        #expect((o["send_oct"] as? NSNumber)?.intValue == expectedSent)
        #expect((o["recv_pkt"] as? NSNumber)?.intValue == 2 + count)
        #expect((o["recv_oct"] as? NSNumber)?.intValue == (2 + 10 + 2 + 7) + (2 + 2 + 2 + topic.utf8.count + 1) + 4 * count)
        sub.signal(SIGKILL)
        await h.stop()
    }

    @Test("our /api/v4/clients is a superset of NanoMQ's shape and decodes with the dashboard's decoder")
    func nanoMQSuperset() async throws {
        let h = try await APIHarness.start()
        let c = try TestClient(port: h.mqtt.port, version: .v3_1_1)
        try c.connect("shape", will: Will(topic: "w", payload: ByteBuffer(string: "gone")))
        let ours = try await HTTP.request("GET", "\(h.base)/api/v4/clients")
        let golden = Tools.fixtures.appendingPathComponent("nanomq/09_GET_clients_paho-alice.txt")
        let text = try String(contentsOf: golden, encoding: .utf8)
        let body = try #require(text.components(separatedBy: "\r\n\r\n").last)
        let nano = try #require(((try JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["data"] as? [[String: Any]]).first!
        let mine = try #require(ours.data.first)
        for (key, value) in nano {
            let theirs = try #require(mine[key], "missing NanoMQ key \(key)")
            #expect(Self.jsonType(theirs) == Self.jsonType(value), "\(key): \(Self.jsonType(theirs)) vs \(Self.jsonType(value))")
        }
        let page = try ClientDecoder.decode(status: ours.status, body: ours.body)
        #expect(page.flavour == .aviary)
        #expect(page.rows.first?.clientId == "shape" && page.rows.first?.recvOct != nil && page.rows.first?.willTopic == "w")
        await h.stop()
    }

    static func jsonType(_ v: Any) -> String {
        if let n = v as? NSNumber { return String(cString: n.objCType) == "c" ? "bool" : "number" }
        if v is String { return "string" }
        if v is [Any] { return "array" }
        return "object"
    }

    @Test("/metrics is Prometheus text whose counters move with traffic")
    func prometheus() async throws {
        let h = try await APIHarness.start()
        func scrape() async throws -> [String: Double] {
            let r = try await HTTP.request("GET", "\(h.base)/metrics")
            #expect(r.status == 200)
            #expect(r.headers["content-type"]?.hasPrefix("text/plain") == true)
            var values: [String: Double] = [:]
            for line in String(decoding: r.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
            }
            return values
        }
        let before = try await scrape()
        let c = try TestClient(port: h.mqtt.port)
        try c.connect("prom")
        try c.subscribe("p")
        for _ in 0..<5 { c.publish("p", "x", qos: .atLeastOnce) }
        for _ in 0..<10 { _ = try c.receive() }
        let after = try await scrape()
        #expect(after["aviary_connections"] == 1)
        #expect((after["aviary_messages_received_total{qos=\"1\"}"] ?? 0) - (before["aviary_messages_received_total{qos=\"1\"}"] ?? 0) == 5)
        #expect((after["aviary_packets_received_total{type=\"connect\"}"] ?? 0) == 1)
        #expect((after["aviary_bytes_received_total"] ?? 0) > (before["aviary_bytes_received_total"] ?? 0))
        #expect((after["aviary_api_requests_total{method=\"GET\",code=\"200\"}"] ?? 0) >= 1)
        await h.stop()
    }
}
