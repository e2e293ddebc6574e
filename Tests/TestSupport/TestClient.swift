import Broker
import Foundation
import MQTTCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A blocking MQTT client over a real TCP socket, built on our codec. It counts exactly the
/// bytes and packets it writes and reads, so tests can compare them with the broker's counters.
package final class TestClient {
    package let version: ProtocolVersion
    private let fd: Int32
    private var decoder: MQTTPacketDecoder
    private var inbound = ByteBuffer()
    package private(set) var bytesWritten = 0
    package private(set) var bytesRead = 0
    package private(set) var packetsWritten = 0
    package private(set) var packetsRead = 0
    package private(set) var publishesWritten = 0
    package private(set) var publishesRead = 0
    package private(set) var socketReads = 0

    package struct Closed: Error {}

    /// `receiveBuffer` shrinks the socket's receive buffer (set before connecting, so the TCP
    /// window stays small): a client that then stops reading backs data up into the broker.
    package init(port: Int, version: ProtocolVersion = .v5, receiveBuffer: Int32? = nil) throws {
        self.version = version
        self.decoder = MQTTPacketDecoder(version: version)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(fd) }

    package func sendRaw(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
        bytesWritten += bytes.count
    }

    /// Writes `bytes`; the errno of a failed send (EPIPE, ECONNRESET, …), or nil when all went.
    package func sendReportingError(_ bytes: [UInt8]) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return errno }
            offset += n
        }
        bytesWritten += bytes.count
        return nil
    }

    package func send(_ packet: MQTTPacket) {
        var buffer = ByteBuffer()
        packet.write(to: &buffer, version: version)
        sendRaw(Array(buffer.readableBytesView))
        packetsWritten += 1
        if case .publish = packet { publishesWritten += 1 }
    }

    /// Reads until one packet is decoded; throws `Closed` on EOF and `TimedOut` after `timeout`.
    package func receive(timeout: Double = 5) throws -> MQTTPacket {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let packet = try decoder.decode(buffer: &inbound) {
                packetsRead += 1
                if case .publish = packet { publishesRead += 1 }
                return packet
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw TimedOut(what: "a packet") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { throw Closed() }
            socketReads += 1
            bytesRead += n
            inbound.writeBytes(chunk[0..<n])
        }
    }

    /// Skips packets until one satisfies `match`.
    package func receive<T>(timeout: Double = 5, _ match: (MQTTPacket) -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let packet = try receive(timeout: max(0.01, deadline.timeIntervalSinceNow))
            if let value = match(packet) { return value }
        }
    }

    package func receivePublish(timeout: Double = 5) throws -> PublishPacket {
        try receive(timeout: timeout) { if case .publish(let p) = $0 { p } else { nil } }
    }

    /// True when the broker closes the connection within `timeout` (packets before it are skipped).
    package func waitClosed(timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            do { _ = try receive(timeout: deadline.timeIntervalSinceNow) } catch is Closed { return true } catch { return false }
        }
        return false
    }

    /// True when nothing arrives within `timeout`.
    package func isSilent(for timeout: Double) -> Bool {
        do {
            _ = try receive(timeout: timeout)
            return false
        } catch {
            return error is TimedOut
        }
    }

    @discardableResult
    package func connect(
        _ clientId: String,
        cleanStart: Bool = true,
        keepAlive: UInt16 = 60,
        username: String? = nil,
        password: String? = nil,
        will: Will? = nil,
        properties: Properties = .none
    ) throws -> ConnAckPacket {
        send(
            .connect(
                ConnectPacket(
                    version: version,
                    clientId: clientId,
                    cleanStart: cleanStart,
                    keepAlive: keepAlive,
                    username: username,
                    password: password.map { ByteBuffer(string: $0) },
                    will: will,
                    properties: properties
                )
            )
        )
        return try receive { if case .connack(let c) = $0 { c } else { nil } }
    }

    @discardableResult
    package func subscribe(
        _ filter: String,
        qos: QoS = .atMostOnce,
        id: UInt16 = 1,
        options: (inout Subscription) -> Void = { _ in },
        properties: Properties = .none
    ) throws -> [ReasonCode] {
        var subscription = Subscription(topicFilter: filter, qos: qos)
        options(&subscription)
        send(.subscribe(SubscribePacket(packetId: id, subscriptions: [subscription], properties: properties)))
        return try receive { if case .suback(let s) = $0 { s.reasonCodes } else { nil } }
    }

    package func publish(
        _ topic: String,
        _ payload: String,
        qos: QoS = .atMostOnce,
        id: UInt16? = nil,
        retain: Bool = false,
        properties: Properties = .none
    ) {
        send(
            .publish(
                PublishPacket(
                    topic: topic,
                    payload: ByteBuffer(string: payload),
                    qos: qos,
                    retain: retain,
                    packetId: qos == .atMostOnce ? nil : (id ?? 1),
                    properties: properties
                )
            )
        )
    }

    package func disconnect(_ reason: ReasonCode = .normalDisconnection) {
        send(.disconnect(DisconnectPacket(reasonCode: reason)))
    }

    /// Closes the socket without DISCONNECT (an ungraceful close).
    package func drop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }
}

extension PublishPacket {
    package var text: String { String(buffer: payload) }
}
