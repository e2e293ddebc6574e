import MQTTCodec
import NIOCore

/// Enhanced authentication of one 5.0 connection (section 4.12) with SCRAM-SHA-256: during
/// CONNECT (CONNACK waits for the client's proof) and re-authentication after it. It knows no
/// channel: every step returns what the connection does next, so it is tested on its own.
/// Confined to the connection's event loop.
struct EnhancedAuthentication {
    /// What the connection does after a step.
    enum Action: Equatable {
        /// Send this AUTH and wait for the client's next one.
        case send(AuthPacket)
        /// The CONNECT's user proved who it is: go on with the CONNECT as `user`; its CONNACK
        /// carries the method and `serverFinal`.
        case accept(ConnectPacket, user: String, serverFinal: String)
        /// Refuse the CONNECT with a failure CONNACK (an authentication failure, counted);
        /// `logDetail` says more than the client is told.
        case refuse(ReasonCode, message: String, logDetail: String?)
        /// Re-authentication succeeded: send this AUTH 0x00.
        case reauthenticated(AuthPacket)
        /// Re-authentication failed: DISCONNECT 0x87 and close (an authentication failure).
        case disconnect(why: String)
    }

    /// Looks a user's SCRAM credentials up (the password file's).
    typealias Credentials = (String) -> ScramSHA256.Credentials?

    /// The method CONNECT named, once it named one the broker offers; never changes after.
    private(set) var method: String?
    /// The exchange in progress, if any.
    private var exchange: ScramSHA256.ServerExchange?
    /// The CONNECT waiting for its exchange to end.
    private var pendingConnect: ConnectPacket?

    /// A CONNECT is waiting for the client's proof.
    var isConnecting: Bool { pendingConnect != nil }

    /// CONNECT named `method`: its Authentication Data is the client-first message; the answer
    /// is AUTH 0x18 with server-first, and CONNACK waits for the proof.
    mutating func start(_ connect: ConnectPacket, method: String, credentials: Credentials) -> Action {
        self.method = method
        guard let data = connect.properties.authenticationData else {
            return .refuse(.notAuthorized, message: "\(method) needs the client-first message in the CONNECT's Authentication Data", logDetail: nil)
        }
        do {
            let (exchange, serverFirst) = try ScramSHA256.ServerExchange.start(clientFirst: String(buffer: data), lookup: credentials)
            self.exchange = exchange
            pendingConnect = connect
            return .send(Self.authPacket(.continueAuthentication, method: method, data: serverFirst))
        } catch {
            return .refuse(.notAuthorized, message: "\(method): \(error)", logDetail: nil)
        }
    }

    /// AUTH 0x18 while CONNECT waits: the client's proof. Right: accept; wrong: CONNACK 0x86.
    mutating func continueConnect(_ auth: AuthPacket) throws(MQTTProtocolError) -> Action {
        guard let connect = pendingConnect, let exchange, let method else {
            throw MQTTProtocolError.protocolViolation("AUTH without a CONNECT waiting for it")
        }
        try Self.check(auth, method: method, expecting: .continueAuthentication)
        pendingConnect = nil
        self.exchange = nil
        do {
            let serverFinal = try exchange.finish(clientFinal: String(buffer: auth.properties.authenticationData ?? ByteBuffer()))
            return .accept(connect, user: exchange.username, serverFinal: serverFinal)
        } catch {
            return .refuse(.badUserNameOrPassword, message: "\(method) authentication failed", logDetail: "\(error)")
        }
    }

    /// AUTH after CONNACK: re-authentication [MQTT-4.12.1] with the CONNECT's method and the
    /// connection's user. 0x19 starts it (client-first), 0x18 carries the proof; success is
    /// AUTH 0x00 with server-final, failure a DISCONNECT 0x87.
    mutating func reauthenticate(_ auth: AuthPacket, username: String?, credentials: Credentials) throws(MQTTProtocolError) -> Action {
        guard let method else {
            throw MQTTProtocolError.protocolViolation("AUTH without an authentication method")  // [MQTT-4.12.0-7]
        }
        let data = String(buffer: auth.properties.authenticationData ?? ByteBuffer())
        if let exchange {
            try Self.check(auth, method: method, expecting: .continueAuthentication)
            self.exchange = nil
            do {
                return .reauthenticated(Self.authPacket(.success, method: method, data: try exchange.finish(clientFinal: data)))
            } catch {
                return .disconnect(why: "\(error)")
            }
        }
        try Self.check(auth, method: method, expecting: .reAuthenticate)
        do {
            // Only the connection's own user may re-authenticate on it.
            let (exchange, serverFirst) = try ScramSHA256.ServerExchange.start(clientFirst: data) { $0 == username ? credentials($0) : nil }
            self.exchange = exchange
            return .send(Self.authPacket(.continueAuthentication, method: method, data: serverFirst))
        } catch {
            return .disconnect(why: "\(error)")
        }
    }

    /// [MQTT-4.12.0-5] the method never changes; the reason code must fit the step.
    private static func check(_ auth: AuthPacket, method: String, expecting code: ReasonCode) throws(MQTTProtocolError) {
        guard auth.properties.authenticationMethod == method else {
            throw MQTTProtocolError.protocolViolation("AUTH with another authentication method than CONNECT's")
        }
        guard auth.reasonCode == code else {
            throw MQTTProtocolError.protocolViolation("AUTH with reason \(auth.reasonCode) where \(code) was expected")
        }
    }

    static func authPacket(_ code: ReasonCode, method: String, data: String) -> AuthPacket {
        var props = Properties()
        props.authenticationMethod = method
        props.authenticationData = ByteBuffer(string: data)
        return AuthPacket(reasonCode: code, properties: props)
    }
}
