import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// CONNECT and enhanced authentication: the negotiation's verdict carried out.
extension MQTTConnectionHandler {
    func handleConnect(_ connect: ConnectPacket, now: NIODeadline, authenticated: (user: String, serverFinal: String)? = nil) throws {
        guard let context else { return }
        connectVersion = connect.version
        isBridgeClient = connect.isBridge
        let verdict = try ConnectNegotiation.negotiate(
            connect,
            configuration: core.configuration,
            security: bridge == nil ? core.security : .open,
            shuttingDown: core.shuttingDown.load(ordering: .relaxed),
            authenticatedUser: authenticated?.user
        )
        var accepted: ConnectNegotiation.Accepted
        switch verdict {
        case .authenticate(let method):
            try authenticationStep(authentication.start(connect, method: method, credentials: core.security.scramCredentials), now: now)
            return
        case .refuse(let reason, let message, let cause):
            switch cause {
            case .authentication: core.security.authFailures.add()
            case .acl: core.security.denials.add()
            case .protocolRule, .shutdown: break
            }
            refuse(reason, message)
            return
        case .accept(let result):
            accepted = result
        }
        if let authenticated, let method = authentication.method {
            accepted.ackProperties.authenticationMethod = method
            accepted.ackProperties.authenticationData = ByteBuffer(string: authenticated.serverFinal)
        }
        clientId = accepted.clientId
        username = accepted.username
        let link = ConnectionLink(
            eventLoop: context.eventLoop,
            loop: core.loops.connections(on: context.eventLoop),
            version: connect.version,
            counters: counters
        ) { [unowned self] items in
            self.writeOutbound(items)
        }
        link.setWritable(context.channel.isWritable)
        var info = ClientInfo(
            clientId: accepted.clientId,
            username: accepted.username,
            peerAddress: peer.0,
            peerPort: peer.1,
            protocolVersion: connect.version,
            keepAlive: UInt16(accepted.keepAliveSeconds),
            cleanStart: connect.cleanStart,
            connectedAtMs: WallClock.nowMilliseconds()
        )
        info.willTopic = connect.will?.topic
        info.willPayload = connect.will.map { Array($0.payload.readableBytesView) }
        info.bridge = bridge
        let request = ConnectRequest(
            packet: connect,
            clientId: accepted.clientId,
            sink: link,
            identity: ClientIdentity(info: info, counters: counters),
            expiryInterval: accepted.expiryInterval,
            window: accepted.window,
            clientMaximumPacketSize: accepted.clientMaximumPacketSize
        )
        let outcome = core.withState { $0.connect(request, now: now) }
        guard case .accepted(let key, let present) = outcome else {
            if case .refused(let reason) = outcome { refuse(reason, "connection limit reached", log: core.capacityLog.withLock { $0.due() }) }
            return
        }
        self.key = key
        self.link = link
        if connect.version == .v5 && core.configuration.topicAliasServer {
            outgoingAliases = OutgoingTopicAliases(clientMaximum: connect.properties.topicAliasMaximum)
        }
        machine.connected(keepAliveSeconds: accepted.keepAliveSeconds)
        writePacket(.connack(ConnAckPacket(sessionPresent: present, reasonCode: .success, properties: accepted.ackProperties)))
        logger.info(
            "client connected",
            metadata: logMetadata([
                "client.protocol": "\(connect.version.displayName)",
                "client.username": "\(connect.username ?? "")",
                "client.clean_start": "\(connect.cleanStart)",
                "client.keepalive": "\(accepted.keepAliveSeconds)",
                "session.present": "\(present)",
            ])
        )
    }

    /// Carries out what a step of enhanced authentication decided.
    func authenticationStep(_ action: EnhancedAuthentication.Action, now: NIODeadline) throws {
        switch action {
        case .send(let auth):
            writePacket(.auth(auth))
        case .accept(let connect, let user, let serverFinal):
            try handleConnect(connect, now: now, authenticated: (user, serverFinal))
        case .refuse(let reason, let message, let logDetail):
            core.security.authFailures.add()
            refuse(reason, message, logDetail: logDetail)
        case .reauthenticated(let auth):
            writePacket(.auth(auth))
            logger.info("client re-authenticated", metadata: logMetadata(["auth.method": "\(authentication.method ?? "")"]))
        case .disconnect(let why):
            core.security.authFailures.add()
            logger.warning("re-authentication failed, closing", metadata: logMetadata(["error": "\(why)"]))
            guard machine.close(.ungraceful, reason: "re-authentication failed") else { return }
            var props = Properties()
            props.reasonString = "re-authentication failed"
            writePacket(.disconnect(DisconnectPacket(reasonCode: .notAuthorized, properties: props)))
            closeAfterFlush()
        }
    }
}
