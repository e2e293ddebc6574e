@_spi(Simulation) import Broker
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import BrokerManagement

#if canImport(Glibc)
import Glibc
#endif

/// The management routes through Hummingbird's router test framework (no sockets) against a
/// broker seeded with simulated sessions and never started.
struct ManagementRoutesTests {
    static let auth: HTTPFields = [.authorization: "Basic " + Data("admin:public".utf8).base64EncodedString()]

    static func app(clients: Int = 100) throws -> some ApplicationProtocol {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let broker = Broker(configuration: BrokerConfiguration(), logger: logger)
        broker.addSimulatedClients(clients)
        return try buildManagementApplication(broker: broker, configuration: ManagementConfiguration(), logger: logger)
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
    }

    @Test("a sorted, paged client list: the top 5 by recv_oct of 100 sessions, with an exact count")
    func sortedPage() async throws {
        try await Self.app().test(.router) { client in
            let response = try await client.execute(uri: "/api/v4/clients?_limit=5&_sort=recv_oct&_order=desc", method: .get, headers: Self.auth)
            #expect(response.status == .ok)
            let body = try Self.json(response)
            let rows = body["data"] as? [[String: Any]] ?? []
            let meta = body["meta"] as? [String: Any] ?? [:]
            #expect(rows.count == 5 && meta["count"] as? Int == 100 && meta["hasnext"] as? Bool == true)
            let values = rows.compactMap { ($0["recv_oct"] as? NSNumber)?.int64Value }
            #expect(values.count == 5 && values == values.sorted(by: >))
        }
    }

    @Test(
        """
        sorted pages equal a full sort by (key, client id) when many rows tie: all equal, groups of 3, three values, all distinct; both orders, \
        every page
        """
    )
    func tiesMatchAFullSort() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let broker = Broker(configuration: BrokerConfiguration(), logger: logger)
        broker.addSimulatedClients(301)
        let all = broker.registry.rows()
        for field in ClientField.allCases {
            let isNumber = if case .number = field.key(of: all[0]) { true } else { false }
            #expect(field.isNumeric == isNumber, "\(field): isNumeric must say what key(of:) gives")
        }
        // mqueue_len: every row 0; username: user-0…user-99 (groups of 3 or 4); proto_ver: 3
        // values; send_oct: random, (nearly) distinct.
        for field in [ClientField.mqueueLen, .username, .protoVer, .protoName, .sendOct, .clientId] {
            for order in ["asc", "desc"] {
                let expected = all.sorted { a, b in
                    let ka = field.key(of: a)
                    let kb = field.key(of: b)
                    if ka != kb { return order == "desc" ? kb < ka : ka < kb }
                    return a.clientId < b.clientId
                }.map(\.clientId)
                for limit in [1, 7, 50] {
                    var seen: [String] = []
                    var page = 1
                    while seen.count < all.count {
                        let query = try ClientQuery(items: [
                            ("_sort", field.rawValue), ("_order", order), ("_limit", "\(limit)"), ("_page", "\(page)"),
                        ])
                        let (rows, count) = query.apply(to: broker.registry)
                        #expect(count == all.count)
                        #expect(!rows.isEmpty, "\(field) \(order) limit \(limit) page \(page) is empty")
                        if rows.isEmpty { break }
                        seen += rows.map(\.clientId)
                        page += 1
                    }
                    #expect(seen == expected, "\(field) \(order) limit \(limit)")
                }
            }
        }
    }

    @Test("errors are JSON with a code: 401 (104) with a challenge, 404 (102), 405 (with Allow), 400 (108)")
    func errors() async throws {
        try await Self.app(clients: 0).test(.router) { client in
            let unauthenticated = try await client.execute(uri: "/api/v4/clients", method: .get)
            #expect(unauthenticated.status == .unauthorized && unauthenticated.headers[.wwwAuthenticate] != nil)
            #expect(try Self.json(unauthenticated)["code"] as? Int == 104)
            let missing = try await client.execute(uri: "/api/v4/nothing", method: .get, headers: Self.auth)
            let missingCode = try Self.json(missing)["code"] as? Int
            #expect(missing.status == .notFound && missingCode == 102)
            let method = try await client.execute(uri: "/api/v4/stats", method: .post, headers: Self.auth)
            #expect(method.status == .methodNotAllowed && method.headers[.allow] == "GET")
            let query = try await client.execute(uri: "/api/v4/clients?_limit=abc", method: .get, headers: Self.auth)
            let queryCode = try Self.json(query)["code"] as? Int
            #expect(query.status == .badRequest && queryCode == 108)
            let extra = try await client.execute(uri: "/api/v4/stats?x=1", method: .get, headers: Self.auth)
            #expect(extra.status == .badRequest)
        }
    }

    @Test("the /api/v4 catalogue comes from the route table; kicking an offline client is a 404")
    func catalogueAndKick() async throws {
        try await Self.app(clients: 3).test(.router) { client in
            let catalogue = try await client.execute(uri: "/api/v4", method: .get, headers: Self.auth)
            let names = (try Self.json(catalogue)["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            let listed = ManagementAPI.routes.flatMap { $0.catalogue.map(\.name) }
            #expect(names == listed && names.contains("kickout_client"))
            let kick = try await client.execute(uri: "/api/v4/clients/sim-1", method: .delete, headers: Self.auth)
            #expect(kick.status == .notFound)
            let lookup = try await client.execute(uri: "/api/v4/nodes/\(ManagementAPI.nodeName())/clients/sim-1", method: .get, headers: Self.auth)
            let row = (try Self.json(lookup)["data"] as? [[String: Any]])?.first
            #expect(row?["connected"] as? Bool == false)
            let otherNode = try await client.execute(uri: "/api/v4/nodes/elsewhere/clients/sim-1", method: .get, headers: Self.auth)
            #expect(otherNode.status == .notFound)
        }
    }

    @Test("/api/v4/metrics lists every figure of the metric catalogue that has an API name, with its value")
    func metrics() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let broker = Broker(configuration: BrokerConfiguration(), logger: logger)
        broker.metrics.messagesDropped.add(7)
        let app = try buildManagementApplication(broker: broker, configuration: ManagementConfiguration(), logger: logger)
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/api/v4/metrics", method: .get, headers: Self.auth)
            let figures = ((try Self.json(response)["data"] as? [[String: Any]])?.first?["metrics"] as? [String: Any]) ?? [:]
            let expected = broker.metricCatalogue().compactMap(\.api)
            #expect(Set(figures.keys) == Set(expected) && expected.count > 40)
            #expect((figures["messages.dropped"] as? NSNumber)?.intValue == 7)
        }
    }

    @Test("every field _sort accepts is a key of the v4 client object (the sort list and the JSON shape cannot drift apart)")
    func sortFieldsAreOutputKeys() async throws {
        try await Self.app(clients: 1).test(.router) { client in
            let response = try await client.execute(uri: "/api/v4/clients", method: .get, headers: Self.auth)
            let row = (try Self.json(response)["data"] as? [[String: Any]])?.first ?? [:]
            let missing = ClientField.allCases.map(\.rawValue).filter { row[$0] == nil }
            #expect(missing.isEmpty, "sortable but not in the JSON: \(missing)")
            for field in ClientField.allCases {
                let sorted = try await client.execute(uri: "/api/v4/clients?_sort=\(field.rawValue)", method: .get, headers: Self.auth)
                #expect(sorted.status == .ok, "\(field.rawValue)")
            }
        }
    }

    @Test("API requests are answered on one thread at nice 10, so a big query yields the CPU to the event loops")
    func queryThreadPriority() async {
        let nice = await QueryThread.shared.run { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        #expect(nice == 10)
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == 0, "other threads keep their priority")
        let threads = await withTaskGroup(of: String.self) { group in
            for _ in 0..<4 { group.addTask { await QueryThread.shared.run { "\(pthread_self())" } } }
            return await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(threads.count == 1)
    }
}
