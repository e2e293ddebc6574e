import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// PUBLISH from the client: aliases resolved, limits and rules checked, then routed with its
/// acknowledgement; a message that may not be routed takes the one refusal path.
extension MQTTConnectionHandler {
    func handlePublish(_ incoming: PublishPacket, key: SessionKey, link: ConnectionLink, now: NIODeadline) throws {
        var publish = incoming
        try incomingAliases.resolve(&publish)
        guard let delivery = publish.delivery else {
            throw MQTTProtocolError.protocolViolation("QoS \(publish.qos.rawValue) PUBLISH without a packet identifier")
        }
        if !publish.properties.subscriptionIdentifiers.isEmpty {
            throw MQTTProtocolError.protocolViolation("subscription identifier in a PUBLISH from a client")  // [MQTT-3.3.4-6]
        }
        try checkTopicLimits(publish.topic)
        ConnectionCounters.add(counters.recvMsg, 1)
        core.metrics.messagesReceived.add()
        core.metrics.messagesReceivedByQoS[Int(publish.qos.rawValue)].add()
        guard bridge != nil || core.security.canPublish(publish.topic, username: username, clientId: clientId) else {
            core.security.denials.add()
            if denialLog.due(now: now) {
                logger.warning(
                    "publish denied by the ACL",
                    metadata: logMetadata(["topic": "\(publish.topic)", "client.username": "\(username ?? "")"])
                )
            }
            refusePublish(delivery, reason: .notAuthorized, key: key, link: link)
            return
        }
        if core.configuration.validateUTF8Payloads && !ConnectNegotiation.isValidPayload(publish.payload, publish.properties) {
            core.metrics.payloadFormatInvalid.add()
            // QoS 0 has no acknowledgement to refuse in: DISCONNECT 0x99.
            guard delivery != .atMostOnce else {
                throw MQTTProtocolError(.payloadFormatInvalid, "payload format indicator says UTF-8, the payload is not")
            }
            refusePublish(delivery, reason: .payloadFormatInvalid, key: key, link: link)
            return
        }
        let message = Message(publish: publish, publisherId: clientId, now: now)
        let v5 = version == .v5
        switch delivery {
        case .atMostOnce:
            core.withState { _ = $0.publish(message, key: key, sink: link, now: now) }
            // Under `throttle`, a held-back QoS 0 publisher is not read until it is let go.
            if link.isHeld && core.configuration.overloadPolicy == .throttle { gate.pauseReads() }
        case .atLeastOnce(let id):
            let (result, mark) = core.withStateMarked { $0.publish(message, key: key, sink: link, now: now) }
            let ack = MQTTPacket.puback(AckPacket(packetId: id, reasonCode: v5 ? result.reasonCode : .success))
            respond(ack, after: mark, unlessRefused: result.storeRefusal)
        case .exactlyOnce(let id):
            let (result, mark) = try core.withStateMarked { try $0.publishExactlyOnce(message, packetId: id, key: key, sink: link, now: now) }
            let ack = MQTTPacket.pubrec(AckPacket(packetId: id, reasonCode: v5 ? result?.reasonCode ?? .success : .success))
            respond(ack, after: mark, unlessRefused: result?.storeRefusal)
        }
    }

    /// The acknowledgement of a message the durable store refused before it was routed goes
    /// out as a refusal, in its turn behind those waiting for the store (3.x: the connection
    /// closes instead).
    private func respond(_ ack: MQTTPacket, after mark: UInt64?, unlessRefused storeRefusal: String?) {
        guard let storeRefusal else { return respond(ack, after: mark) }
        if let refused = refusal(of: ack, notStored: storeRefusal) { respond(refused, after: nil) }
    }

    /// A PUBLISH that is not routed. 5.0 hears `reason` in its acknowledgement; 3.x has no way
    /// to hear a refusal and gets a normal one (as from Mosquitto), for QoS 2 with the packet
    /// id kept until PUBREL so that its exchange completes. QoS 0: dropped without a word.
    private func refusePublish(_ delivery: PublishPacket.Delivery, reason: ReasonCode, key: SessionKey, link: ConnectionLink) {
        let v5 = version == .v5
        let code: ReasonCode = v5 ? reason : .success
        switch delivery {
        case .atMostOnce:
            break
        case .atLeastOnce(let id):
            respond(.puback(AckPacket(packetId: id, reasonCode: code)), after: nil)
        case .exactlyOnce(let id):
            let mark = v5 ? nil : core.withStateMarked { $0.awaitRelease(id, key: key, sink: link) }.batch
            respond(.pubrec(AckPacket(packetId: id, reasonCode: code)), after: mark)
        }
    }

    /// A topic over `max_topic_length` or `max_topic_levels` is treated as an invalid topic name:
    /// 5.0 DISCONNECT 0x90, a plain close for 3.x, counted as a protocol error.
    private func checkTopicLimits(_ topic: String) throws {
        let config = core.configuration
        if let violation = TopicName.limitViolation(topic, maxLength: config.maxTopicLength, maxLevels: config.maxTopicLevels) {
            throw MQTTProtocolError(.topicNameInvalid, violation)
        }
    }
}
