import ArgumentParser
import Broker
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the MQTT broker headless (no terminal needed).",
        discussion: """
            Examples:
              aviary serve                        # MQTT on 0.0.0.0:1883
              aviary serve --mqtt-port 0          # any free port; the bound port is printed
              aviary serve --mqtt-host 127.0.0.1 --mqtt-port 11883
            """
    )

    @OptionGroup var broker: BrokerOptions

    func run() async throws {
        let configuration = try broker.makeConfiguration()
        var logger = Logger(label: "aviary")
        logger.logLevel = broker.logLevel.level
        let server = Broker(configuration: configuration, logger: logger)
        let port = try await server.start()
        print("aviary \(AviaryVersion.current) listening for MQTT on \(configuration.host):\(port)")
        fflush(nil)  // a pipe or file is block-buffered: scripts wait for this line
        try await SignalWaiter.waitForTermination()
        await server.shutdown()
    }
}
