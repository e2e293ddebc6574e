import Foundation
import Testing

@testable import TUI

/// The detail view's sections from each API's fields.
struct DetailSectionsTests {
    static func value(_ sections: [DetailSections.Section], _ title: String, _ label: String) -> String? {
        sections.first { $0.title == title }?.items.first { $0.label == label }?.value
    }

    @Test(
        """
        aviary's fields: identity, connection, traffic in human units, queues with their limits, flow control, bridge; no duplicate of \
        client_id/clientid
        """
    )
    func aviary() {
        let fields: [(key: String, value: String)] = [
            ("client_id", "s1"), ("clientid", "s1"), ("username", "u"), ("ip_address", "10.0.0.5"), ("port", "5000"), ("proto_name", "MQTT"),
            ("proto_ver", "5"), ("clean_start", "false"), ("expiry_interval", "4294967295"), ("keepalive", "60"), ("node", "aviary@h"),
            ("recv_oct", "362945"), ("send_oct", "12"), ("recv_msg", "1500"), ("mqueue_len", "3"), ("max_mqueue", "1000"),
            ("inflight", "2"), ("max_inflight", "100"), ("awaiting_rel", "0"), ("max_awaiting_rel", "100"), ("subscriptions_cnt", "1"),
            ("max_subscriptions", "0"), ("held_back", "true"), ("held_acks", "20"), ("holding_publishers", "0"),
            ("bridge_name", "hq"), ("bridge_state", "backing off"), ("bridge_error", "Connection refused"), ("will_topic", "w/t"),
        ]
        let row = ClientRow(
            clientId: "s1",
            username: "u",
            address: "10.0.0.5",
            port: 5000,
            protocolName: "5.0",
            connected: true,
            connectedAtMs: 0,
            recvOct: 362945,
            fields: fields
        )
        let sections = DetailSections.build(fields: fields, row: row, rates: Rates(), history: nil, nowMs: 125_000)
        #expect(sections.map(\.title) == ["identity", "connection", "traffic", "queues and windows", "flow control", "bridge", "will"])
        #expect(Self.value(sections, "identity", "address") == "10.0.0.5:5000" && Self.value(sections, "identity", "protocol") == "5.0 (MQTT)")
        #expect(Self.value(sections, "identity", "session expiry") == "never expires")
        #expect(Self.value(sections, "connection", "connected for") == "2m05s" && Self.value(sections, "connection", "keepalive") == "60 s")
        #expect(
            Self.value(sections, "traffic", "received") == "\(Format.bytes(362945)) (362945 B), 1.5k msgs"
                && Self.value(sections, "traffic", "sent") == "12 B"
        )
        #expect(
            Self.value(sections, "queues and windows", "queued") == "3 / 1.0k" && Self.value(sections, "queues and windows", "in flight") == "2 / 100"
        )
        #expect(Self.value(sections, "queues and windows", "subscriptions") == "1 / no limit")
        #expect(Self.value(sections, "flow control", "acks waiting") == "20" && Self.value(sections, "bridge", "last error") == "Connection refused")
        #expect(sections.flatMap(\.items).filter { $0.label == "client id" }.count == 1)
    }

    @Test("EMQX 5's keys (inflight_cnt, mqueue_max, \"infinity\") and NanoMQ's few")
    func others() {
        let emqx: [(key: String, value: String)] = [
            ("clientid", "e"), ("inflight_cnt", "1"), ("inflight_max", "32"), ("mqueue_max", "1000"), ("mqueue_len", "0"), ("subscriptions_cnt", "2"),
            ("subscriptions_max", "infinity"), ("node", "emqx@n1"),
        ]
        let row = ClientRow(clientId: "e", username: "", protocolName: "5.0", connected: true, node: "emqx@n1", fields: emqx)
        let sections = DetailSections.build(fields: emqx, row: row, rates: Rates(), history: nil, nowMs: 0)
        #expect(
            Self.value(sections, "queues and windows", "in flight") == "1 / 32"
                && Self.value(sections, "queues and windows", "subscriptions") == "2 / no limit"
        )
        #expect(Self.value(sections, "connection", "node") == "emqx@n1")
        let nano: [(key: String, value: String)] = [
            ("client_id", "n"), ("username", ""), ("keepalive", "30"), ("conn_state", "connected"), ("clean_start", "true"), ("proto_name", "MQIsdp"),
            ("proto_ver", "3"),
        ]
        let nanoRow = ClientRow(clientId: "n", username: "", protocolName: "3.1", connected: true, fields: nano)
        let nanoSections = DetailSections.build(fields: nano, row: nanoRow, rates: Rates(), history: nil, nowMs: 0)
        #expect(nanoSections.map(\.title) == ["identity", "connection"] && Self.value(nanoSections, "identity", "protocol") == "3.1 (MQIsdp)")
    }
}
