import Foundation
import Testing

@testable import TUI

/// A response captured from a real NanoMQ 0.25.5 (Tests/Fixtures/nanomq).
struct GoldenResponse: Sendable, CustomTestStringConvertible {
    var file: String
    var status: Int
    var body: [UInt8]
    var testDescription: String { file }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/nanomq")

    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String { "golden file missing: \(path) (Tests/Fixtures/nanomq is part of the repository)" }
    }

    static func load(_ file: String) throws -> GoldenResponse {
        let path = directory.appendingPathComponent(file)
        guard let text = try? String(contentsOf: path, encoding: .utf8) else { throw Missing(path: path.path) }
        let response = text.components(separatedBy: "=== RESPONSE")[1]
        let afterMarker = response[response.index(after: response.firstIndex(of: "\n")!)...]
        let statusLine = afterMarker.prefix { $0 != "\r" && $0 != "\n" }
        let status = Int(statusLine.split(separator: " ")[1])!
        let body = afterMarker.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return GoldenResponse(file: file, status: status, body: Array(body.utf8))
    }

    /// Every GET of a client list or a client lookup in the capture.
    static var clientResponses: [GoldenResponse] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.contains("_GET_clients") || $0.contains("_GET_api_v4_clients") }.sorted().compactMap { try? load($0) }
    }
}

struct GoldenNanoMQTests {
    @Test("the golden captures are present")
    func present() {
        #expect(GoldenResponse.clientResponses.count >= 40, "Tests/Fixtures/nanomq not found at \(GoldenResponse.directory.path)")
    }

    @Test("every NanoMQ client list and lookup decodes with the dashboard's decoder", arguments: GoldenResponse.clientResponses)
    func decode(response: GoldenResponse) throws {
        if response.status == 200 {
            let page = try ClientDecoder.decode(status: response.status, body: response.body)
            let raw = try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
            let data = raw["data"] as! [[String: Any]]
            #expect(page.rows.count == data.count)
            #expect(page.total == data.count)
            for (row, object) in zip(page.rows, data) {
                #expect(row.clientId == object["client_id"] as? String)
                #expect(row.username == object["username"] as? String)
                #expect(row.connected == (object["conn_state"] as? String == "connected"))
                #expect(["3.1", "3.1.1", "5.0"].contains(row.protocolName))
                #expect(row.keepAlive == (object["keepalive"] as? NSNumber)?.intValue)
                #expect(row.recvOct == nil && row.sendMsg == nil)  // NanoMQ has no counters
                #expect(row.fields.count == object.count)
            }
            if let first = page.rows.first { #expect(page.flavour == .nanomq, "\(first.clientId)") }
        } else {
            #expect(throws: APIResponseError.self) { try ClientDecoder.decode(status: response.status, body: response.body) }
        }
    }

    @Test("NanoMQ errors keep their status and code")
    func errorCodes() throws {
        let bad = try GoldenResponse.load("19_GET_clients_q_conn_state_bogus.txt")
        #expect(throws: APIResponseError(status: 400, code: 108, message: "")) {
            try ClientDecoder.decode(status: bad.status, body: bad.body)
        }
        let noauth = try GoldenResponse.load("42_GET_clients_noauth.txt")
        #expect(throws: APIResponseError(status: 401, code: 104, message: "")) {
            try ClientDecoder.decode(status: noauth.status, body: noauth.body)
        }
    }

    @Test("protocol levels map to version names")
    func protocolNames() throws {
        let page = try ClientDecoder.decode(status: 200, body: try GoldenResponse.load("05_GET_clients.txt").body)
        let byId = Dictionary(uniqueKeysWithValues: page.rows.map { ($0.clientId, $0.protocolName) })
        #expect(byId["sub-v31"] == "3.1")
        #expect(byId["sub-v311"] == "3.1.1")
        #expect(byId["sub-v5"] == "5.0")
    }

    @Test("EMQX v4 and v3 shapes are recognised")
    func emqxShapes() throws {
        let v4 =
            #"{"code":0,"data":[{"clientid":"c1","username":"u","connected":true,"ip_address":"10.0.0.1","port":5,"proto_ver":4,"#
            + #""connected_at":"2024-01-02 03:04:05","recv_oct":10,"send_oct":20,"recv_msg":1,"send_msg":2,"mqueue_len":3,"mqueue_dropped":4,"#
            + #""subscriptions_cnt":1}],"meta":{"page":1,"limit":10,"count":42}}"#
        let page4 = try ClientDecoder.decode(status: 200, body: Array(v4.utf8))
        #expect(page4.flavour == .emqx4)
        #expect(page4.total == 42)
        let r = try #require(page4.rows.first)
        #expect(r.clientId == "c1" && r.address == "10.0.0.1" && r.port == 5 && r.recvOct == 10 && r.sendMsg == 2 && r.mqueueDropped == 4)
        #expect(r.connectedAtMs == ClientDecoder.parseLocalTime("2024-01-02 03:04:05"))
        let v3 =
            #"{"code":0,"data":[{"client_id":"c3","username":"","conn_mod":"emqx_connection","ipaddress":"127.0.0.1","port":1,"proto_ver":5,"#
            + #""recv_oct":1}],"meta":{"page":1,"limit":10,"count":1}}"#
        let page3 = try ClientDecoder.decode(status: 200, body: Array(v3.utf8))
        #expect(page3.flavour == .emqx3)
        #expect(page3.rows.first?.connected == true && page3.rows.first?.protocolName == "5.0")
    }

    @Test("aviary's flow-control fields show in the STATE column: held, holding; offline wins; other APIs just connected")
    func flowControlState() throws {
        let body =
            #"{"code":0,"data":[{"client_id":"p","clientid":"p","conn_state":"connected","proto_ver":5,"held_back":true,"held_acks":20,"#
            + #""holding_publishers":0},{"client_id":"s","clientid":"s","conn_state":"connected","proto_ver":5,"held_back":false,"#
            + #""holding_publishers":3},{"client_id":"o","clientid":"o","conn_state":"disconnected","proto_ver":5,"held_back":false,"#
            + #""holding_publishers":2},{"client_id":"n","clientid":"n","conn_state":"connected","proto_ver":5}]}"#
        let page = try ClientDecoder.decode(status: 200, body: Array(body.utf8))
        #expect(page.flavour == .aviary)
        #expect(page.rows.map(\.stateText) == ["held", "holding", "offline", "connected"])
        #expect(page.rows.map { Column.state.text($0, nil, nowMs: 0) } == ["held", "holding", "offline", "connected"])
        #expect(page.rows[0].fields.contains { $0.key == "held_acks" && $0.value == "20" }, "the detail view lists the numbers")
    }

    @Test("a row of one of aviary's bridges shows its link in the STATE column: bridge, bridge …, bridge ✗ (its error in the detail view)")
    func bridgeState() throws {
        let body =
            #"{"code":0,"data":[{"client_id":"b1","clientid":"b1","conn_state":"connected","proto_ver":5,"is_bridge":true,"#
            + #""bridge_state":"connected"},{"client_id":"b2","clientid":"b2","conn_state":"disconnected","proto_ver":5,"is_bridge":true,"#
            + #""bridge_state":"backing off","bridge_error":"cannot connect to hq:1883: Connection refused"},{"client_id":"b3","#
            + #""clientid":"b3","conn_state":"disconnected","proto_ver":5,"is_bridge":true,"bridge_state":"connecting"}]}"#
        let page = try ClientDecoder.decode(status: 200, body: Array(body.utf8))
        #expect(page.rows.map(\.stateText) == ["bridge", "bridge ✗", "bridge …"])
        #expect(page.rows[1].fields.contains { $0.key == "bridge_error" && $0.value.contains("Connection refused") })
    }

    @Test("an HTML error page is reported as not a JSON API")
    func htmlPage() throws {
        let page = try GoldenResponse.load("55_GET_api_v5_clients.txt")
        #expect(throws: APIResponseError(status: 404, code: nil, message: "not a JSON API (HTML page)")) {
            try ClientDecoder.decode(status: page.status, body: page.body)
        }
    }

    @Test("NanoMQ's uptime text in seconds; its Prometheus message counters; without counters the table shows PROTO at 80 columns, KA from 90")
    func nanoMQHeaderAndLayout() throws {
        #expect(Poller.parseUptime("0 Hours, 0 minutes, 19 seconds") == 19)
        #expect(Poller.parseUptime("3 days, 2 hours, 5 minutes, 1 seconds") == 266_701)
        #expect(Poller.parseUptime("soon") == nil)
        let prometheus = try GoldenResponse.load("36_GET_prometheus.txt")
        let messages = try #require(NanoMQAPI.parsePrometheusMessages(String(decoding: prometheus.body, as: UTF8.self)))
        #expect(messages.received == 46 && messages.sent == 67)
        let layout = Column.layout(width: 80, counters: false).map(\.column)
        #expect(layout.contains(.proto) && layout.contains(.state) && layout.contains(.connectedFor) && !layout.contains(.recvOct), "\(layout)")
        #expect(Column.layout(width: 90, counters: false).map(\.column).contains(.keepAlive))
    }
}
