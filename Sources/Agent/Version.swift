import Foundation

/// What `agent --version` prints: the release number, the git commit the binary was built from (stamped by the
/// BuildStamp plugin into the executable target) and the build configuration.
public struct BuildInfo: Sendable, Equatable {
    /// The release number of this tree.
    public static let version = "0.1.0"

    /// Short commit hash, `-dirty` when tracked files had uncommitted changes, `unknown` without git.
    public var commit: String
    /// The commit's date (ISO 8601), empty without git.
    public var commitDate: String
    /// `debug` or `release`.
    public var configuration: String

    public init(commit: String, commitDate: String, configuration: String) {
        self.commit = commit
        self.commitDate = commitDate
        self.configuration = configuration
    }

    /// A build with nothing stamped (library use, tests that do not go through the executable).
    public static let unstamped = BuildInfo(commit: "unknown", commitDate: "", configuration: "unknown")

    /// `agent 0.1.0 (commit 33bb7b7c69bb 2026-12-01T22:48:04+00:00, debug build, Swift 6.x, Linux x86_64)`.
    public var text: String {
        var parts = ["commit \(commit)" + (commitDate.isEmpty ? "" : " \(commitDate)"), "\(configuration) build"]
        #if compiler(>=6.2)
        parts.append("Swift 6.2+")
        #elseif compiler(>=6.1)
        parts.append("Swift 6.1")
        #else
        parts.append("Swift 6.0")
        #endif
        #if os(Linux)
        let os = "Linux"
        #elseif os(macOS)
        let os = "macOS"
        #else
        let os = "other OS"
        #endif
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "other CPU"
        #endif
        parts.append("\(os) \(arch)")
        return "agent \(Self.version) (\(parts.joined(separator: ", ")))"
    }
}
