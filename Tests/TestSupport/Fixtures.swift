import Config
import Foundation
import Model

/// Shared test fixtures.
public enum Fixtures {
    /// The repository root (this file is Tests/TestSupport/Fixtures.swift).
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The embedded defaults, as a fresh machine without config files would load them.
    public static func defaults(_ overrides: [String] = []) throws -> LoadedConfig {
        try ConfigLoader(paths: ConfigPaths(configDir: "/nonexistent-agent-config/config"), overrides: overrides,
                         environment: [:]).load()
    }

    /// A fresh temporary directory.
    public static func tempDir(_ name: String = "agent-test") -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(name)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A small seeded PRNG (splitmix64) so property tests are reproducible.
    public struct SeededRandom: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
