import Foundation
import TestSupport
import Testing

@testable import TUI

/// The dashboard's poller against a local EMQX 5/6 stand-in (`Scripts/fake_emqx5.py`, which
/// follows the /api/v5 contract in docs/EMQX5-API.md): detection, both kinds of credentials,
/// paging with hasnext and the 1,000-row fallback, nodes, detail, kick.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EMQX5DashboardTests {
    static func fake(_ extra: [String] = []) throws -> (Subprocess, String) {
        let fake = try FakeAPI.emqx5(extra)
        return (fake.process, fake.base)
    }

    /// Runs a poller until `done` holds for its snapshot (or 60 s pass), on a thread of its own
    /// (tests elsewhere may hold the cooperative pool's two threads for seconds).
    static func poll(_ poller: Poller, until done: @escaping (PollSnapshot) -> Bool) async throws -> PollSnapshot {
        let task = Task(executorPreference: TestExecutor.shared) { await poller.run() }
        defer { task.cancel() }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let s = poller.snapshot()
            if done(s) { return s }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("poller never got there: \(poller.snapshot().info)")
        return poller.snapshot()
    }

    static func log(_ base: String) throws -> [[String: String]] {
        let r = try Subprocess.run(["curl", "-s", "\(base)/fake/log"])
        return (try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[String: String]]) ?? []
    }

    @Test(
        """
        API key and secret: EMQX 5/6 detected, every client of 2,500 paged in (the 10,000 limit refused, 1,000 taken), one row per node and id, \
        nodes in the header
        """
    )
    func apiKeyAndPaging() async throws {
        let (server, base) = try Self.fake(["--clients", "2500", "--max-limit", "1000"])
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "key-1", password: "secret-1", interval: 0.25)
        let s = try await Self.poll(poller) { $0.generation >= 2 }
        #expect(s.info.flavour == .emqx5 && s.info.error == nil, "\(s.info)")
        #expect(s.info.brokerName == "EMQX cluster (2/3 nodes running)" && s.info.version == "6.2.2" && s.info.uptimeSeconds == 86400, "\(s.info)")
        #expect(s.rows.count == 2500 && Set(s.rows.map(\.clientId)).count == 2500 && s.info.total == 2500 && s.info.window == nil)
        #expect(Set(s.rows.compactMap(\.node)) == ["emqx@10.0.0.1", "emqx@10.0.0.2"])
        let odd = try #require(s.rows.first { $0.clientId == "dev 0000/odd" })
        #expect(odd.connectedAtMs == 1_795_252_502_417 && odd.protocolName == "3.1.1" && odd.inflight == 0, "RFC 3339 timestamps, inflight_cnt")
        #expect(s.rows.contains { !$0.connected }, "sessions without a connection are rows too")
        #expect(
            s.nodes.map(\.name) == ["emqx@10.0.0.1", "emqx@10.0.0.2", "emqx@10.0.0.3"] && s.nodes.map(\.status) == ["running", "running", "stopped"]
        )
        let first = try #require(s.nodes.first)
        #expect(
            first.connections == 1250 && first.liveConnections == 1000 && first.sessions == 1250 && first.receivedRate == 20_000
                && first.sentRate == 10_000,
            "\(first)"
        )
        #expect(first.memoryUsed == "3.12G" && first.uptimeSeconds == 86400 && s.nodes[2].receivedRate == nil)
        let paths = try Self.log(base).compactMap { $0["path"] }.filter { $0.hasPrefix("/api/v5/clients?") }
        let fields = "&fields=" + EMQX5API.fields
        #expect(
            paths.prefix(4) == [
                "/api/v5/clients?page=1&limit=10000\(fields)", "/api/v5/clients?page=1&limit=1000\(fields)",
                "/api/v5/clients?page=2&limit=1000\(fields)", "/api/v5/clients?page=3&limit=1000\(fields)",
            ],
            "\(paths.prefix(5))"
        )
    }

    @Test("the subscriptions view's data: every subscription of the cluster, page by page, grouped by topic filter")
    func subscriptions() async throws {
        let (server, base) = try Self.fake(["--clients", "700"])
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "key-1", password: "secret-1", interval: 0.25)
        poller.setSubscriptionsWanted(true)
        let s = try await Self.poll(poller) { $0.subscriptions != nil }
        #expect(s.subscriptions?.count == 1400, "two pages of 1,000")
        let groups = SubscriptionGroup.group(s.subscriptions ?? [])
        #expect(groups.first?.topic == "fleet/#" && groups.first?.clients.count == 700 && groups.first?.qos == 0 && groups.count == 701)
    }

    @Test("dashboard user and password: refused as an API key, logged in for a bearer token, logged in again when it expires")
    func bearerToken() async throws {
        let (server, base) = try Self.fake(["--token-requests", "3"])
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "admin", password: "public", interval: 0.25)
        let s = try await Self.poll(poller) { $0.generation >= 6 }
        #expect(s.info.error == nil && s.rows.count == 25, "\(s.info)")
        let log = try Self.log(base)
        #expect(log.filter { $0["path"] == "/api/v5/login" }.count >= 2, "a new token when the first one expired")
        #expect(log.contains { $0["auth"] == "Bearer" })
    }

    @Test("credentials that are neither: the header says why (EMQX's code), no retry storm")
    func refused() async throws {
        let (server, base) = try Self.fake()
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "nobody", password: "wrong", interval: 0.25)
        let s = try await Self.poll(poller) { $0.info.error != nil }
        #expect(s.info.authFailed && (s.info.error ?? "").contains("BAD_API_KEY_OR_SECRET"), "\(s.info)")
    }

    @Test("detail of an id with a space and a slash (fields, subscriptions); kick answers 204, then 404 says it is gone")
    func detailAndKick() async throws {
        let (server, base) = try Self.fake()
        defer { server.signal(SIGTERM) }
        let poller = Poller(url: base, user: "key-1", password: "secret-1", interval: 0.25)
        poller.setDetail("dev 0000/odd")
        let s = try await Self.poll(poller) { $0.detail?.fields != nil }
        #expect(s.detail?.fields?.contains { $0.key == "clientid" && $0.value == "dev 0000/odd" } == true)
        #expect(s.detail?.subscriptions?.map(\.topic) == ["devices/dev 0000/odd/cmd"])
        await poller.kick("dev-0001")
        await poller.kick("dev-0001")
        #expect(poller.drainMessages() == ["disconnected dev-0001", "dev-0001 was already gone (CLIENTID_NOT_FOUND)"])
        let deletes = try Self.log(base).filter { $0["method"] == "DELETE" }.compactMap { $0["path"] }
        #expect(deletes == ["/api/v5/clients/dev-0001", "/api/v5/clients/dev-0001"])
        await poller.kick(["dev-0002", "dev-0003"])
        #expect(poller.drainMessages() == ["asked EMQX to disconnect 2 clients (bulk kickout); the next poll shows them gone"])
        #expect(try Self.log(base).contains { $0["method"] == "POST" && $0["path"] == "/api/v5/clients/kickout/bulk" })
        let after = try await Self.poll(poller) { !$0.rows.contains { $0.clientId == "dev-0002" } && !$0.rows.isEmpty }
        #expect(after.rows.count == 22 && !after.rows.contains { $0.clientId == "dev-0003" })
    }

    @Test("the decoders read EMQX's own example responses (Tests/Fixtures/emqx5/examples)")
    func contractExamples() throws {
        let examples = Tools.fixtures.appendingPathComponent("emqx5/examples")
        let list = try Data(contentsOf: examples.appendingPathComponent("clients_list.json"))
        let page = try ClientDecoder.decodeV5Page(Array(list))
        #expect(page.rows.count == 3 && page.hasNext == false && page.count == 3)
        let first = try #require(page.rows.first)
        #expect(first.clientId == "sensor-0042" && first.node == "emqx@10.20.0.1" && first.recvOct == 268345 && first.connected)
        #expect(first.connectedAtMs == ClientDecoder.parseRFC3339("2026-11-21T09:15:02.417+00:00"))
        let lookup = try Data(contentsOf: examples.appendingPathComponent("client_lookup.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: lookup) as? [String: Any])
        #expect(Flavour.detect(object) == .emqx5)
        // The cluster view: /nodes (a stopped node has its name, status and role only) and a
        // node's monitor_current.
        let nodesJSON = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: examples.appendingPathComponent("nodes.json"))) as? [[String: Any]]
        )
        var nodes = nodesJSON.compactMap(EMQX5API.node)
        #expect(
            nodes.map(\.status) == ["running", "running", "stopped"] && nodes[0].memoryUsed == "3.12G" && nodes[0].uptimeSeconds == 86400
                && nodes[2].version == nil
        )
        let current = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: examples.appendingPathComponent("monitor_current_node.json"))) as? [String: Any]
        )
        EMQX5API.apply(current: current, to: &nodes[0])
        #expect(nodes[0].receivedRate == 6 && nodes[0].sentRate == 2 && nodes[0].liveConnections == 1)
        // Error bodies {code, message} as the header shows them.
        for (file, status, shown) in [
            ("error_500_node_down.json", 500, "NODE_DOWN: bad rpc call"),
            ("error_401_bad_api_key.json", 401, "BAD_API_KEY_OR_SECRET: Check api_key/api_secret"),
            ("error_404_clientid_not_found.json", 404, "CLIENTID_NOT_FOUND: Client ID not found"),
            ("error_403_unauthorized_role_6x.json", 403, "UNAUTHORIZED_ROLE"),
        ] {
            let body = Array(try Data(contentsOf: examples.appendingPathComponent(file)))
            let error = EMQX5API.error(Poller.Reply(status: status, body: body))
            #expect(error.status == status && error.message.hasPrefix(shown), "\(file): \(error)")
        }
        #expect(EMQX5API.code(Array(try Data(contentsOf: examples.appendingPathComponent("error_401_token_expired_6x.json")))) == "TOKEN_TIME_OUT")
    }
}
