import Foundation
import TestSupport
import Testing
@testable import Config

/// Hostile or mistaken configuration: every case is an error with its position, never a crash or a silent default.
@Suite struct BadConfigInputTests {
    func problems(_ paths: ConfigPaths, overrides: [String] = []) -> [String] {
        do {
            _ = try ConfigLoader(paths: paths, overrides: overrides, environment: [:]).load()
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    /// A config/policy/prompts tree in a temp folder.
    func root(_ files: [String: String] = [:]) throws -> String {
        let root = Fixtures.tempDir("agent-badconfig")
        for dir in ["config", "policy", "prompts"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        for (path, text) in files { try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8) }
        return root
    }

    @Test func deepFlowNestingIsAnErrorWithItsPosition() {
        // 4,000 levels in 8 KB: this overflowed the stack (SIGSEGV) before.
        let text = "a: " + String(repeating: "[", count: 4_000) + String(repeating: "]", count: 4_000) + "\n"
        #expect(throws: ConfigDiagnostics.self) { try YAMLNode.parse(text, file: "deep.yaml") }
        do {
            _ = try YAMLNode.parse(text, file: "deep.yaml")
        } catch {
            let problem = error.problems.first
            #expect(problem?.message.contains("nested more than 256 levels") == true)
            #expect(problem?.mark.file == "deep.yaml")
            #expect(problem?.mark.line == 1)
            // The document's mapping is level 1, so the 256th bracket (column 4 + 255) is level 257.
            #expect(problem?.mark.column == 4 + 255)
        }
    }

    @Test func deepBlockNestingIsAnErrorWithItsLine() {
        var text = ""
        for level in 0..<2_000 { text += String(repeating: " ", count: level) + "k\(level):\n" }
        do {
            _ = try YAMLNode.parse(text, file: "block.yaml")
            Issue.record("2,000 nested mappings parsed")
        } catch {
            #expect(error.problems.first?.message.contains("nested more than 256 levels") == true)
            #expect(error.problems.first?.mark.line == 257)
        }
    }

    @Test func nestingWithinTheBoundStillParses() throws {
        let text = "a: " + String(repeating: "[", count: 200) + "1" + String(repeating: "]", count: 200)
        _ = try YAMLNode.parse(text, file: "ok.yaml")
    }

    @Test func randomNestingNeverCrashes() {
        // Fixed seed: mixes of flow and block nesting of random depth, some unbalanced.
        var random = Fixtures.SeededRandom(seed: 15)
        for _ in 0..<40 {
            let depth = Int.random(in: 1...1_500, using: &random)
            var text = "root:\n  "
            for _ in 0..<depth { text += Bool.random(using: &random) ? "[" : "{k: " }
            if Bool.random(using: &random) { text += "1" }
            do {
                _ = try YAMLNode.parse(text, file: "fuzz.yaml")
            } catch {
                #expect(!error.problems.isEmpty)
                #expect(error.problems.allSatisfy { $0.mark.file == "fuzz.yaml" && $0.mark.line >= 1 })
            }
        }
    }

    @Test func aNamedConfigFolderThatDoesNotExistIsAnError() {
        let paths = ConfigPaths(configDir: "/nonexistent-agent-typo/config", given: true)
        let found = problems(paths)
        #expect(found.first == "/nonexistent-agent-typo/config:1:1: the folder does not exist")
        #expect(found.count == 1)
        // Implicit folders may be absent: the built-in defaults apply.
        #expect(problems(ConfigPaths(configDir: "/nonexistent-agent-typo/config")).isEmpty)
    }

    @Test func aDanglingPolicySymlinkIsAnError() throws {
        let root = try root()
        try FileManager.default.createSymbolicLink(atPath: root + "/policy/policy.yaml", withDestinationPath: root + "/gone.yaml")
        let found = problems(ConfigPaths(configDir: root + "/config"))
        #expect(found == ["\(root)/policy/policy.yaml:1:1: cannot read the configuration file: a symbolic link to a file that does not exist"])
    }

    @Test func aMisspeltExtensionIsAnError() throws {
        let root = try root(["policy/policy.yml": "risk:\n  max_open_positions: 2\n"])
        let found = problems(ConfigPaths(configDir: root + "/config"))
        #expect(found == ["\(root)/policy/policy.yml:1:1: found policy.yml, but the file must be named policy.yaml"])
    }

    @Test func aDirectoryWhereAFileBelongsIsAnError() throws {
        let root = try root()
        try FileManager.default.createDirectory(atPath: root + "/config/app.yaml", withIntermediateDirectories: true)
        #expect(problems(ConfigPaths(configDir: root + "/config")) == ["\(root)/config/app.yaml:1:1: configuration path is a directory, not a file"])
    }

    @Test func anEmptyFolderNameIsAnError() {
        #expect(problems(ConfigPaths(configDir: "", given: true)).first?.contains("an empty folder name") == true)
    }

    @Test func everyProblemOfAFileIsReportedInFileOrder() throws {
        let root = try root(["config/app.yaml": "loop:\n  interval_minutes: abc\n  history_hours: -1\nmode: MAYBE\nlogging:\n  levle: info\n"])
        let found = problems(ConfigPaths(configDir: root + "/config"))
        let lines = found.map { $0.replacingOccurrences(of: root + "/config/app.yaml:", with: "") }
        #expect(lines.count == 4, "\(found)")
        #expect(lines.first?.hasPrefix("2:21: expected a number") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("3:18: must be between 48 and 2160") == true, "\(lines)")
        #expect(lines.dropFirst(2).first?.hasPrefix("4:7: 'MAYBE' is not one of") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("6:3: unknown key 'levle'") == true, "\(lines)")
    }

    @Test func universeSymbolsHaveTheOneVenueForm() {
        let paths = ConfigPaths(configDir: "/nonexistent-agent/config")
        for bad in ["btc-usd", "BTC/USD", "../../etc", "BTC-", "BTC-USD-X"] {
            let found = problems(paths, overrides: ["universe.tiers.tier_1_core.symbols=[\"\(bad)\"]"])
            #expect(found.count == 1 && found.first?.contains("invalid symbol") == true, "\(bad): \(found)")
        }
        #expect(problems(paths, overrides: ["universe.never_trade=[eth/usd]"]).first?.contains("invalid symbol 'eth/usd'") == true)
        #expect(problems(paths, overrides: ["universe.tiers.tier_1_core.symbols=[BTC-USD, 1000PEPE-USDT]"]).isEmpty)
    }

    @Test func binanceRefusesQuotesItCannotMap() throws {
        let root = try root(["config/universe.yaml": "tiers:\n  tier_1_core:\n    symbols: [BTC-USD, ETH-EUR]\n"])
        let config = try ConfigLoader(paths: ConfigPaths(configDir: root + "/config"), environment: [:]).load()
        let found = config.symbolProblems(exchange: .binance).map(\.description)
        #expect(found == ["\(root)/config/universe.yaml:3:24: ETH-EUR: binance trades only USD, USDC, USDT quotes (write e.g. BTC-USD)"])
        #expect(config.symbolProblems(exchange: .coinbase).isEmpty)
    }

    @Test func setErrorsKeepTheFilePrefix() {
        let found = problems(ConfigPaths(configDir: "/nonexistent-agent/config"), overrides: ["policy.risk.max_open_posits=2"])
        #expect(found.first?.hasPrefix("--set policy.risk.max_open_posits:1:1:") == true)
    }

    @Test func hugeValuesAreNotEchoedWhole() throws {
        let huge = String(repeating: "x", count: 2_000_000)
        let root = try root(["config/app.yaml": "mode: \(huge)\n"])
        let found = problems(ConfigPaths(configDir: root + "/config"))
        #expect(found.count == 1)
        #expect((found.first?.count ?? .max) < 400)
        #expect(found.first?.contains("more characters") == true)
    }

    @Test func settingsNameTheOriginOfEveryValue() throws {
        let root = try root(["config/app.yaml": "# comment\nloop:\n  interval_minutes: 5\nlogging:\n  level: ${AGENT_LOG:-info}\n"])
        let config = try ConfigLoader(paths: ConfigPaths(configDir: root + "/config"),
                                      overrides: ["policy.risk.max_open_positions=2"],
                                      environment: ["AGENT_LOG": "debug"]).load()
        let settings = Dictionary(config.settings.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(settings["app.loop.interval_minutes"]?.origin == "\(root)/config/app.yaml:3")
        #expect(settings["app.loop.interval_minutes"]?.value == "5")
        #expect(settings["app.logging.level"]?.origin == "env AGENT_LOG (\(root)/config/app.yaml:5)")
        #expect(settings["app.logging.level"]?.value == "debug")
        #expect(settings["policy.risk.max_open_positions"]?.origin == "--set policy.risk.max_open_positions")
        #expect(settings["app.exchange"]?.origin == "built-in default")
        #expect(settings["app.reviewers.m1.api_key_env"] != nil)
    }

    @Test func secretsAreRedacted() {
        var out: [ConfigSetting] = []
        let mark = SourceMark(file: "app.yaml", line: 1, column: 1)
        let node = YAMLNode(content: .mapping([
            YAMLMappingEntry(key: "webhook_url", keyMark: mark, value: YAMLNode(content: .scalar("https://hooks/T0/abc", .plain), mark: mark)),
            YAMLMappingEntry(key: "base_url", keyMark: mark, value: YAMLNode(content: .scalar("https://user:pw@host/v1", .plain), mark: mark)),
            YAMLMappingEntry(key: "api_key_env", keyMark: mark, value: YAMLNode(content: .scalar("OPENAI_API_KEY", .plain), mark: mark)),
        ]), mark: mark)
        ConfigSettingWalk.walk(node, before: nil, key: "app", into: &out)
        #expect(out.map(\.value) == ["<redacted>", "https://<redacted>@host/v1", "OPENAI_API_KEY"])
    }
}
