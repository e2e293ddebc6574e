import Bridge
import Broker
import BrokerManagement
import Logging
import NIOSSL
import ServiceLifecycle

extension ResolvedSettings {
    /// The server TLS configuration from tls_cert / tls_key / tls_ca / tls_verify_clients, or nil
    /// when TLS is not configured. Errors name the setting, its source and the file.
    func makeTLSConfiguration() throws(SettingsError) -> TLSConfiguration? {
        let tls = configuration.tls
        func source(_ key: String) -> String { "\(key) (\(sources[key] ?? .defaultValue))" }
        guard let cert = tls.cert, let key = tls.key else {
            if tls.cert != nil || tls.key != nil {
                throw SettingsError("\(source(tls.cert == nil ? "tls_key" : "tls_cert")) needs \(tls.cert == nil ? "tls_cert" : "tls_key") as well")
            }
            if tls.api { throw SettingsError("\(source("api_tls")) needs tls_cert and tls_key") }
            if tls.verifyClients { throw SettingsError("\(source("tls_verify_clients")) needs tls_cert, tls_key and tls_ca") }
            return nil
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(cert)
        } catch {
            throw SettingsError("\(source("tls_cert")): cannot load a PEM certificate from \(cert): \(error)")
        }
        guard !chain.isEmpty else { throw SettingsError("\(source("tls_cert")): no certificate in \(cert)") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw SettingsError("\(source("tls_key")): cannot load a PEM private key from \(key): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = .tlsv12
        if let ca = tls.ca {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw SettingsError("\(source("tls_ca")): cannot load PEM certificates from \(ca): \(error)")
            }
        }
        if tls.verifyClients {
            guard tls.ca != nil else { throw SettingsError("\(source("tls_verify_clients")) needs tls_ca: the CA client certificates must chain to") }
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }
}

extension ResolvedSettings {
    /// The application these settings describe (`AviaryApplication.build`); a listener that
    /// cannot be opened is a settings error naming the address.
    func buildApplication(
        security: SecurityPolicy,
        tls: TLSConfiguration?,
        logger: Logger,
        onRunning: @escaping @Sendable (AviaryApplication.Ports) async -> Void
    ) async throws -> AviaryApplication {
        do {
            return try await AviaryApplication.build(
                broker: configuration.broker,
                api: configuration.api,
                security: security,
                mqttTLS: tls.map { (configuration.tls.mqttPort, $0) },
                apiTLS: configuration.tls.api ? tls : nil,
                logger: logger,
                onRunning: onRunning
            )
        } catch let error as ListenerError {
            throw SettingsError(error.description)
        }
    }

    /// The services to run: the application's, then the bridges of the config file (stopped
    /// first at shutdown, so they leave both sides with DISCONNECT while the broker still runs).
    func services(of application: AviaryApplication, logger: Logger) throws -> [any Service] {
        guard !bridges.isEmpty else { return application.services }
        do {
            return application.services + [
                try BridgeService(configurations: bridges.map(\.configuration), broker: application.broker, logger: logger)
            ]
        } catch {
            throw SettingsError("\(configFile ?? "config file"): \(error)")
        }
    }
}
