import ArgumentParser
import Broker
import Logging

@main
struct AviaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aviary",
        abstract: "An MQTT 3.1/3.1.1/5.0 broker with live per-client counters.",
        version: AviaryVersion.current,
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
