import Broker
import NIOSSL

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

/// Binds the MQTT listener and, with TLS configured, the MQTT over TLS one beside it; returns
/// both ports. A port that cannot be bound is an error naming the address.
func startListeners(_ server: Broker, _ configuration: EffectiveConfiguration, tls: TLSConfiguration?) async throws -> (plain: Int, tls: Int?) {
    let host = configuration.broker.host
    let port: Int
    do {
        port = try await server.start()
    } catch {
        throw SettingsError("cannot listen for MQTT on \(host):\(configuration.broker.port): \(error)")
    }
    guard let tls else { return (port, nil) }
    do {
        return (port, try await server.startTLS(host: host, port: configuration.tls.mqttPort, configuration: tls))
    } catch {
        await server.shutdown()
        throw SettingsError("cannot listen for MQTT over TLS on \(host):\(configuration.tls.mqttPort): \(error)")
    }
}
