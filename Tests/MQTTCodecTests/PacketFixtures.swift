import NIOCore
import Testing

@testable import MQTTCodec

/// Every packet type, in every version that has it, with properties where 5.0 allows them.
/// The same rows feed the encode, decode and byte-at-a-time tests.
struct PacketFixture: Sendable, CustomTestStringConvertible {
    var name: String
    var version: ProtocolVersion
    var packet: MQTTPacket
    var testDescription: String { "\(name) (\(version.displayName))" }
}

enum PacketFixtures {
    static func buf(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    static var allProperties: [(PropertyContext, Properties)] {
        var connect = Properties()
        connect.sessionExpiryInterval = 3600
        connect.receiveMaximum = 20
        connect.maximumPacketSize = 65536
        connect.topicAliasMaximum = 10
        connect.requestResponseInformation = 1
        connect.requestProblemInformation = 0
        connect.userProperties = [UserProperty("a", "1"), UserProperty("a", "2")]
        connect.authenticationMethod = "SCRAM"
        connect.authenticationData = buf("data")

        var will = Properties()
        will.willDelayInterval = 5
        will.payloadFormatIndicator = 1
        will.messageExpiryInterval = 60
        will.contentType = "text/plain"
        will.responseTopic = "reply/here"
        will.correlationData = buf("corr")
        will.userProperties = [UserProperty("k", "v")]

        var connack = Properties()
        connack.sessionExpiryInterval = 10
        connack.receiveMaximum = 100
        connack.maximumQoS = 1
        connack.retainAvailable = 1
        connack.maximumPacketSize = 1000
        connack.assignedClientIdentifier = "auto-1"
        connack.topicAliasMaximum = 5
        connack.reasonString = "fine"
        connack.userProperties = [UserProperty("x", "y")]
        connack.wildcardSubscriptionAvailable = 1
        connack.subscriptionIdentifiersAvailable = 0
        connack.sharedSubscriptionAvailable = 1
        connack.serverKeepAlive = 30
        connack.responseInformation = "resp"
        connack.serverReference = "other:1883"
        connack.authenticationMethod = "SCRAM"
        connack.authenticationData = buf("d2")

        var publish = Properties()
        publish.payloadFormatIndicator = 0
        publish.messageExpiryInterval = 9
        publish.topicAlias = 3
        publish.responseTopic = "r/t"
        publish.correlationData = buf("cd")
        publish.userProperties = [UserProperty("u", "p")]
        publish.subscriptionIdentifiers = [1, 268_435_455]
        publish.contentType = "application/json"

        var subscribe = Properties()
        subscribe.subscriptionIdentifiers = [42]
        subscribe.userProperties = [UserProperty("s", "t")]

        var reason = Properties()
        reason.reasonString = "why"
        reason.userProperties = [UserProperty("r", "s")]

        var disconnect = reason
        disconnect.sessionExpiryInterval = 0
        disconnect.serverReference = "elsewhere"

        var auth = reason
        auth.authenticationMethod = "SCRAM"
        auth.authenticationData = buf("proof")

        return [
            (.connect, connect), (.will, will), (.connack, connack), (.publish, publish), (.subscribe, subscribe),
            (.ack, reason), (.disconnect, disconnect), (.auth, auth),
        ]
    }

    static func props(_ context: PropertyContext) -> Properties {
        allProperties.first { $0.0 == context }!.1
    }

    static var all: [PacketFixture] {
        var rows: [PacketFixture] = []
        for version in ProtocolVersion.allCases {
            let v5 = version == .v5
            func p(_ context: PropertyContext) -> Properties { v5 ? props(context) : .none }
            rows += [
                .init(name: "CONNECT minimal", version: version, packet: .connect(ConnectPacket(version: version, clientId: "c1"))),
                .init(
                    name: "CONNECT full",
                    version: version,
                    packet: .connect(
                        ConnectPacket(
                            version: version,
                            clientId: "client-ü",
                            cleanStart: false,
                            keepAlive: 30,
                            username: "user",
                            password: buf("secret"),
                            will: Will(topic: "will/t", payload: buf("gone"), qos: .exactlyOnce, retain: true, properties: p(.will)),
                            properties: p(.connect)
                        )
                    )
                ),
                // A 3.x bridge's level has its top bit set (0x83, 0x84); 5.0 has no such bit.
                .init(
                    name: "CONNECT bridge",
                    version: version,
                    packet: .connect(ConnectPacket(version: version, clientId: "edge", cleanStart: false, isBridge: !v5))
                ),
                .init(name: "CONNACK", version: version, packet: .connack(ConnAckPacket(sessionPresent: true, properties: p(.connack)))),
                .init(
                    name: "CONNACK refused",
                    version: version,
                    packet: .connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid))
                ),
                .init(name: "PUBLISH QoS 0", version: version, packet: .publish(PublishPacket(topic: "a/b", payload: buf("x")))),
                .init(
                    name: "PUBLISH QoS 1 retain dup",
                    version: version,
                    packet: .publish(
                        PublishPacket(
                            topic: "a/b",
                            payload: buf("hello"),
                            qos: .atLeastOnce,
                            retain: true,
                            dup: true,
                            packetId: 7,
                            properties: p(.publish)
                        )
                    )
                ),
                .init(
                    name: "PUBLISH QoS 2 empty payload",
                    version: version,
                    packet: .publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetId: 65535))
                ),
                .init(name: "PUBACK", version: version, packet: .puback(AckPacket(packetId: 1))),
                .init(name: "PUBREC", version: version, packet: .pubrec(AckPacket(packetId: 2))),
                .init(name: "PUBREL", version: version, packet: .pubrel(AckPacket(packetId: 3))),
                .init(name: "PUBCOMP", version: version, packet: .pubcomp(AckPacket(packetId: 4))),
                .init(
                    name: "SUBSCRIBE",
                    version: version,
                    packet: .subscribe(
                        SubscribePacket(
                            packetId: 10,
                            subscriptions: [
                                Subscription(topicFilter: "a/+", qos: .atLeastOnce),
                                Subscription(
                                    topicFilter: "b/#",
                                    qos: .exactlyOnce,
                                    noLocal: v5,
                                    retainAsPublished: v5,
                                    retainHandling: v5 ? .doNotSend : .sendOnSubscribe
                                ),
                            ],
                            properties: p(.subscribe)
                        )
                    )
                ),
                .init(
                    name: "SUBACK",
                    version: version,
                    packet: .suback(SubAckPacket(packetId: 10, reasonCodes: [.grantedQoS1, .grantedQoS2, .unspecifiedError], properties: p(.ack)))
                ),
                .init(
                    name: "UNSUBSCRIBE",
                    version: version,
                    packet: .unsubscribe(UnsubscribePacket(packetId: 11, topicFilters: ["a/+", "b/#"]))
                ),
                .init(
                    name: "UNSUBACK",
                    version: version,
                    packet: .unsuback(SubAckPacket(packetId: 11, reasonCodes: v5 ? [.success, .noSubscriptionExisted] : [], properties: p(.ack)))
                ),
                .init(name: "PINGREQ", version: version, packet: .pingreq),
                .init(name: "PINGRESP", version: version, packet: .pingresp),
                .init(name: "DISCONNECT", version: version, packet: .disconnect(DisconnectPacket())),
            ]
            if v5 {
                rows += [
                    .init(
                        name: "PUBACK with reason and properties",
                        version: version,
                        packet: .puback(AckPacket(packetId: 5, reasonCode: .noMatchingSubscribers, properties: props(.ack)))
                    ),
                    .init(name: "PUBREC with reason", version: version, packet: .pubrec(AckPacket(packetId: 6, reasonCode: .quotaExceeded))),
                    .init(
                        name: "PUBREL not found",
                        version: version,
                        packet: .pubrel(AckPacket(packetId: 7, reasonCode: .packetIdentifierNotFound))
                    ),
                    .init(
                        name: "PUBCOMP with properties",
                        version: version,
                        packet: .pubcomp(AckPacket(packetId: 8, reasonCode: .success, properties: props(.ack)))
                    ),
                    .init(
                        name: "PUBLISH topic alias only",
                        version: version,
                        packet: .publish(
                            PublishPacket(
                                topic: "",
                                payload: buf("z"),
                                properties: {
                                    var p = Properties()
                                    p.topicAlias = 4
                                    return p
                                }()
                            )
                        )
                    ),
                    .init(
                        name: "DISCONNECT with reason",
                        version: version,
                        packet: .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage, properties: props(.disconnect)))
                    ),
                    .init(name: "DISCONNECT reason only", version: version, packet: .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))),
                    .init(name: "AUTH", version: version, packet: .auth(AuthPacket(reasonCode: .continueAuthentication, properties: props(.auth)))),
                    .init(name: "AUTH empty", version: version, packet: .auth(AuthPacket())),
                ]
            }
        }
        return rows
    }
}
