import Foundation
import PackagePlugin

/// Compiles `api/openapi.json` into the BrokerManagement module as `OpenAPIDocument.json`, at
/// build time: the JSON file in the repository is the single source of the document, and no
/// generated code sits in `Sources/`.
@main
struct EmbedFile: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "api/openapi.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocument.swift")
        return [
            .buildCommand(
                displayName: "Embedding api/openapi.json",
                executable: try context.tool(named: "embed-file").url,
                arguments: [input.path, output.path, "OpenAPIDocument", "json"],
                inputFiles: [input],
                outputFiles: [output]
            )
        ]
    }
}
