import MQTTCodec
import NIOCore
import Testing

@testable import Broker

/// CONNECT negotiation as a pure function: packet + configuration + security policy in,
/// CONNACK parameters or a refusal out.
struct ConnectNegotiationTests {
    static func negotiate(
        _ packet: ConnectPacket,
        shuttingDown: Bool = false,
        _ configure: (inout BrokerConfiguration) -> Void = { _ in }
    ) throws -> ConnectNegotiation.Verdict {
        var configuration = BrokerConfiguration()
        configure(&configuration)
        return try ConnectNegotiation.negotiate(
            packet,
            configuration: configuration,
            security: .open,
            shuttingDown: shuttingDown,
            assignClientId: { "assigned" }
        )
    }

    static func accepted(_ verdict: ConnectNegotiation.Verdict) -> ConnectNegotiation.Accepted? {
        if case .accept(let accepted) = verdict { accepted } else { nil }
    }

    @Test("[MQTT-3.1.3-6] an empty client id is assigned for 5.0 (and told in the CONNACK) and for clean 3.1.1")
    func assignedIds() throws {
        let v5 = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "")))
        #expect(v5?.clientId == "assigned" && v5?.ackProperties.assignedClientIdentifier == "assigned")
        let v311 = Self.accepted(try Self.negotiate(ConnectPacket(version: .v3_1_1, clientId: "", cleanStart: true)))
        #expect(v311?.clientId == "assigned" && v311?.ackProperties.assignedClientIdentifier == nil)
    }

    @Test("[MQTT-3.1.3-8] an empty client id without clean session, and any empty 3.1 id, is refused with 0x85")
    func refusedIds() throws {
        for packet in [ConnectPacket(version: .v3_1_1, clientId: "", cleanStart: false), ConnectPacket(version: .v3_1, clientId: "")] {
            guard case .refuse(let code, _, .protocolRule) = try Self.negotiate(packet) else {
                Issue.record("accepted \(packet)")
                continue
            }
            #expect(code == .clientIdentifierNotValid)
        }
    }

    @Test(
        """
        max_keepalive: a 5.0 keepalive above it (or 0) is lowered and announced as Server Keep Alive; 3.1.1 keeps its own with keepalive_cap_v3 \
        accept
        """
    )
    func keepAliveCap() throws {
        let high = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "k", keepAlive: 600)) { $0.maxKeepAlive = 120 })
        #expect(high?.keepAliveSeconds == 120 && high?.ackProperties.serverKeepAlive == 120)
        let zero = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "k", keepAlive: 0)) { $0.maxKeepAlive = 120 })
        #expect(zero?.keepAliveSeconds == 120)
        let within = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "k", keepAlive: 60)) { $0.maxKeepAlive = 120 })
        #expect(within?.keepAliveSeconds == 60 && within?.ackProperties.serverKeepAlive == nil)
        let old = Self.accepted(
            try Self.negotiate(ConnectPacket(version: .v3_1_1, clientId: "k", keepAlive: 600)) {
                $0.maxKeepAlive = 120
                $0.keepAliveCapV3 = .accept
            }
        )
        #expect(old?.keepAliveSeconds == 600)
    }

    @Test("session expiry: 5.0 asks, max_session_expiry caps (and the CONNACK says so); 3.1.1 persistent = forever, capped too")
    func expiry() throws {
        var props = Properties()
        props.sessionExpiryInterval = 7200
        let capped = Self.accepted(
            try Self.negotiate(ConnectPacket(version: .v5, clientId: "e", cleanStart: false, properties: props)) { $0.maxSessionExpiry = 3600 }
        )
        #expect(capped?.expiryInterval == 3600 && capped?.ackProperties.sessionExpiryInterval == 3600)
        let persistent = Self.accepted(try Self.negotiate(ConnectPacket(version: .v3_1_1, clientId: "e", cleanStart: false)))
        #expect(persistent?.expiryInterval == .max)
        let clean = Self.accepted(try Self.negotiate(ConnectPacket(version: .v3_1_1, clientId: "e", cleanStart: true)))
        #expect(clean?.expiryInterval == 0)
    }

    @Test("window = min(Receive Maximum, max_inflight); an authentication method is refused with 0x8C; shutdown refuses with 0x88")
    func windowAuthShutdown() throws {
        var props = Properties()
        props.receiveMaximum = 5
        let small = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "w", properties: props)) { $0.maxInflight = 20 })
        #expect(small?.window == 5)
        let capped = Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "w")) { $0.maxInflight = 20 })
        #expect(capped?.window == 20)
        var auth = Properties()
        auth.authenticationMethod = "SCRAM-SHA-256"
        guard case .refuse(.badAuthenticationMethod, _, _) = try Self.negotiate(ConnectPacket(version: .v5, clientId: "a", properties: auth)) else {
            Issue.record("authentication method accepted")
            return
        }
        guard case .refuse(.serverUnavailable, _, .shutdown) = try Self.negotiate(ConnectPacket(version: .v5, clientId: "s"), shuttingDown: true)
        else {
            Issue.record("accepted while shutting down")
            return
        }
    }

    @Test("a will topic over max_topic_length is a protocol error 0x90, not a refusal")
    func willTopicLimit() throws {
        let packet = ConnectPacket(version: .v5, clientId: "w", will: Will(topic: String(repeating: "a", count: 40), payload: ByteBuffer()))
        #expect(throws: MQTTProtocolError.self) { try Self.negotiate(packet) { $0.maxTopicLength = 32 } }
    }

    @Test(
        """
        max_keepalive for 3.x (Mosquitto's way): over the cap or 0 is refused with return code 2 unless keepalive_cap_v3 accept; 5.0 gets Server \
        Keep Alive; no cap at 65535
        """
    )
    func keepAliveCapV3() throws {
        func verdict(
            _ version: ProtocolVersion,
            _ keepAlive: UInt16,
            _ policy: KeepAliveCapPolicy = .refuse,
            cap: Int = 60
        ) throws -> ConnectNegotiation.Verdict {
            try Self.negotiate(ConnectPacket(version: version, clientId: "k", keepAlive: keepAlive)) {
                $0.maxKeepAlive = cap
                $0.keepAliveCapV3 = policy
            }
        }
        for version in [ProtocolVersion.v3_1_1, .v3_1] {
            for asked: UInt16 in [61, 0] {
                guard case .refuse(let code, let message, .protocolRule) = try verdict(version, asked) else {
                    Issue.record("\(version) keepalive \(asked) accepted")
                    continue
                }
                #expect(code == .clientIdentifierNotValid && code.connackReturnCodeV3 == 2)
                #expect(message.contains("max_keepalive 60"), "\(message)")
            }
            #expect(Self.accepted(try verdict(version, 60))?.keepAliveSeconds == 60)
            #expect(Self.accepted(try verdict(version, 600, .accept))?.keepAliveSeconds == 600)
            #expect(Self.accepted(try verdict(version, 0, cap: 65535))?.keepAliveSeconds == 0, "no cap set")
        }
        let v5 = Self.accepted(try verdict(.v5, 600))
        #expect(v5?.keepAliveSeconds == 60 && v5?.ackProperties.serverKeepAlive == 60)
    }

    @Test("Response Information: sent (with %c filled in) only to a 5.0 client that requests it, only when configured")
    func responseInformation() throws {
        var request = Properties()
        request.requestResponseInformation = 1
        let asked = ConnectPacket(version: .v5, clientId: "dev-7", properties: request)
        let configured: (inout BrokerConfiguration) -> Void = { $0.responseInformation = "responses/%c/" }
        #expect(Self.accepted(try Self.negotiate(asked, configured))?.ackProperties.responseInformation == "responses/dev-7/")
        #expect(
            Self.accepted(try Self.negotiate(ConnectPacket(version: .v5, clientId: "dev-7"), configured))?.ackProperties.responseInformation == nil
        )
        #expect(Self.accepted(try Self.negotiate(asked))?.ackProperties.responseInformation == nil, "not configured")
    }

    @Test("validate_utf8_payloads: a will marked UTF-8 that is not refuses the CONNECT with 0x99; off, or unmarked, it passes")
    func willPayloadFormat() throws {
        var marked = Properties()
        marked.payloadFormatIndicator = 1
        let bad = ConnectPacket(version: .v5, clientId: "w", will: Will(topic: "w", payload: ByteBuffer(bytes: [0xC3, 0x28]), properties: marked))
        guard case .refuse(let code, _, _) = try Self.negotiate(bad, { $0.validateUTF8Payloads = true }) else {
            Issue.record("accepted")
            return
        }
        #expect(code == .payloadFormatInvalid)
        #expect(Self.accepted(try Self.negotiate(bad)) != nil, "off by default")
        let good = ConnectPacket(version: .v5, clientId: "w", will: Will(topic: "w", payload: ByteBuffer(string: "héllo\u{0}"), properties: marked))
        #expect(Self.accepted(try Self.negotiate(good, { $0.validateUTF8Payloads = true })) != nil)
    }
}
