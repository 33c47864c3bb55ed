import Foundation
import PackagePlugin

/// Stamps the `agent` executable with the git commit it was built from: before every build,
/// `scripts/build-stamp.sh` writes `BuildStamp.swift` (rewritten only when the commit changes, so an unchanged
/// tree recompiles nothing). Only the tiny `agent` executable target uses it, so a new commit relinks, not rebuilds.
@main
struct BuildStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "Stamp")
        let script = context.package.directoryURL.appending(path: "scripts/build-stamp.sh")
        return [.prebuildCommand(displayName: "Stamp the git commit into \(target.name)",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: [script.path, context.package.directoryURL.path, output.path],
                                 outputFilesDirectory: output)]
    }
}
