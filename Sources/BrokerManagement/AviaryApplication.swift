import Broker
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// A listener could not be opened; says which.
public struct ListenerError: Error, CustomStringConvertible {
    public let description: String
}

/// The whole server, assembled in one place for `aviary serve`, `aviary run` and the tests:
/// the broker with its MQTT listeners bound, and the management API. `services` go into one
/// `ServiceGroup` in this order; the group stops them in reverse, so the broker stops first
/// (listener closed, DISCONNECT 0x8B, writes flushed) and the API after it.
public struct AviaryApplication: Sendable {
    public let broker: Broker
    public let mqttPort: Int
    public let tlsPort: Int?
    public let webSocketPort: Int?
    public let secureWebSocketPort: Int?
    public let services: [any Service]

    /// The bound ports, once the API listens.
    public struct Ports: Sendable {
        public let mqtt: Int
        public let tls: Int?
        public let webSocket: Int?
        public let secureWebSocket: Int?
        public let api: Int
    }

    /// Binds the MQTT listener (and the TLS one when `mqttTLS` is given) and prepares the API;
    /// `onRunning` gets the bound ports once the API listens too.
    public static func build(
        broker configuration: BrokerConfiguration,
        api: ManagementConfiguration,
        security: SecurityPolicy = .open,
        mqttTLS: (port: Int, configuration: TLSConfiguration)? = nil,
        apiTLS: TLSConfiguration? = nil,
        logger: Logger,
        onRunning: @escaping @Sendable (Ports) async -> Void = { _ in }
    ) async throws -> AviaryApplication {
        let broker = Broker(configuration: configuration, security: security, logger: logger)
        let port: Int
        do {
            port = try await broker.start()
        } catch let error as PersistenceError {
            throw ListenerError(description: error.description)
        } catch {
            throw ListenerError(description: "cannot listen for MQTT on \(configuration.host):\(configuration.port): \(error)")
        }
        var tlsPort: Int?
        if let mqttTLS {
            do {
                tlsPort = try await broker.startTLS(host: configuration.host, port: mqttTLS.port, configuration: mqttTLS.configuration)
            } catch {
                await broker.shutdown()
                throw ListenerError(description: "cannot listen for MQTT over TLS on \(configuration.host):\(mqttTLS.port): \(error)")
            }
        }
        var webSocketPort: Int?
        var secureWebSocketPort: Int?
        do {
            if let wsPort = configuration.webSocketPort {
                webSocketPort = try await broker.startWebSocket(host: configuration.host, port: wsPort, path: configuration.webSocketPath)
            }
            if let mqttTLS, let wssPort = configuration.secureWebSocketPort {
                secureWebSocketPort = try await broker.startWebSocket(
                    host: configuration.host,
                    port: wssPort,
                    path: configuration.webSocketPath,
                    tls: mqttTLS.configuration
                )
            }
        } catch {
            await broker.shutdown()
            let which = webSocketPort == nil ? "ws_port \(configuration.webSocketPort ?? 0)" : "wss_port \(configuration.secureWebSocketPort ?? 0)"
            throw ListenerError(description: "cannot listen for MQTT over WebSockets on \(configuration.host) (\(which)): \(error)")
        }
        let bound = Ports(mqtt: port, tls: tlsPort, webSocket: webSocketPort, secureWebSocket: secureWebSocketPort, api: 0)
        let app = try buildManagementApplication(broker: broker, configuration: api, logger: logger, tls: apiTLS) { channel in
            await onRunning(
                Ports(
                    mqtt: bound.mqtt,
                    tls: bound.tls,
                    webSocket: bound.webSocket,
                    secureWebSocket: bound.secureWebSocket,
                    api: channel.localAddress?.port ?? api.port
                )
            )
        }
        return AviaryApplication(
            broker: broker,
            mqttPort: port,
            tlsPort: tlsPort,
            webSocketPort: webSocketPort,
            secureWebSocketPort: secureWebSocketPort,
            services: [app, BrokerService(broker: broker)]
        )
    }
}
