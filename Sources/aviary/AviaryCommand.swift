import ArgumentParser
import Broker
import Logging

@main
struct AviaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aviary",
        abstract: "An MQTT 3.1/3.1.1/5.0 broker with a live terminal dashboard of its clients.",
        version: AviaryVersion.current,
        subcommands: [RunCommand.self, ServeCommand.self, WatchCommand.self, PasswdCommand.self, BenchCommand.self],
        defaultSubcommand: RunCommand.self
    )
}
