import Foundation
import Model
import TestSupport
import Testing
@testable import Config

/// The loader over real files: defaults, merging, overrides, environment, positions.
@Suite struct LoaderTests {
    /// A config/policy/prompts tree in a temp folder with the given files.
    func tree(_ files: [String: String]) throws -> ConfigPaths {
        let root = Fixtures.tempDir("agent-config")
        for dir in ["config", "policy", "prompts"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        for (path, text) in files { try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8) }
        return ConfigPaths(configDir: root + "/config")
    }

    func problems(_ paths: ConfigPaths, overrides: [String] = [], env: [String: String] = [:]) -> [String] {
        do {
            _ = try ConfigLoader(paths: paths, overrides: overrides, environment: env).load()
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func theRepositoryFilesAreTheEmbeddedDefaults() throws {
        let pairs: [(String, String)] = [
            ("config/app.yaml", EmbeddedDefaults.app), ("config/universe.yaml", EmbeddedDefaults.universe),
            ("config/signals.yaml", EmbeddedDefaults.signals), ("policy/policy.yaml", EmbeddedDefaults.policy),
            ("prompts/m1_news.md", EmbeddedDefaults.m1News), ("prompts/m2_tape.md", EmbeddedDefaults.m2Tape),
            ("prompts/m3_governor.md", EmbeddedDefaults.m3Governor),
        ]
        for (path, embedded) in pairs {
            let text = try String(contentsOfFile: Fixtures.repoRoot + "/" + path, encoding: .utf8)
            #expect(text.trimmingCharacters(in: .newlines) == embedded, "\(path) differs: run scripts/embed-defaults.py")
        }
    }

    @Test func noFilesAtAllMeansTheBuiltInDefaults() throws {
        let config = try Fixtures.defaults()
        #expect(config.app.mode == .dryRun)
        #expect(config.app.exchange == .sim)
        #expect(config.policy.reviewers.deltaBound == 0.15)
        #expect(config.policy.risk.minCombinedConviction == 0.6)
        #expect(config.policy.aiBudget.maxCostPerCycleUsd == 2.0)
        #expect(config.sources.allSatisfy { !$0.fromFile })
        #expect(config.prompts.count == 3)
        #expect(config.configHash.hasPrefix("sha256:") && config.configHash.count == 71)
        #expect(try Fixtures.defaults().configHash == config.configHash)
    }

    /// The in-code defaults of the PAPER costs and exits (used by tests and backtests) are the shipped YAML's.
    @Test func codeDefaultsOfPaperCostsAndExitsMatchTheYAML() throws {
        let config = try Fixtures.defaults()
        #expect(PaperConfig() == config.app.paper)
        #expect(ExitsConfig() == config.signals.exits)
    }

    @Test func aPartialFileOverridesOnlyItsKeys() throws {
        let paths = try tree(["config/app.yaml": "loop:\n  interval_minutes: 5\n"])
        let config = try ConfigLoader(paths: paths, environment: [:]).load()
        #expect(config.app.loop.intervalMinutes == 5)
        #expect(config.app.loop.historyHours == 192)
        #expect(config.app.mode == .dryRun)
        #expect(config.sources.first { $0.name == "app" }?.fromFile == true)
    }

    @Test func problemsCarryFileLineAndColumn() throws {
        let paths = try tree([
            "config/app.yaml": "mode: MAYBE\n",
            "policy/policy.yaml": "risk:\n  max_open_positions: many\n",
            "config/signals.yaml": "triggers:\n  trend:\n    fast_ema: 30\n    slow_ema: 21\n",
        ])
        let found = problems(paths)
        let app = paths.configDir + "/app.yaml", policy = paths.policyDir + "/policy.yaml", signals = paths.configDir + "/signals.yaml"
        #expect(found.contains("\(app):1:7: 'MAYBE' is not one of: DRY_RUN, PAPER, LIVE"))
        #expect(found.contains { $0.hasPrefix("\(policy):2:23: ") && $0.contains("many") })
        #expect(found.contains { $0.hasPrefix("\(signals):3:15: ") && $0.contains("shorter than slow_ema") })
        #expect(found.count == 3)  // every file's problems at once
    }

    @Test func unknownKeysAndRangesArePositioned() throws {
        let paths = try tree(["policy/policy.yaml": "risk:\n  max_open_position: 3\nreviewers:\n  delta_bound: 0.9\n"])
        let found = problems(paths)
        let policy = paths.policyDir + "/policy.yaml"
        // Every problem of the file, in file order: the unknown key no longer hides the range problem below it.
        #expect(found == ["\(policy):2:3: unknown key 'max_open_position'; did you mean 'max_open_positions'?",
                          "\(policy):4:16: must be between 0 and 0.5, got 0.9"])
        let ranges = try tree(["policy/policy.yaml": "reviewers:\n  delta_bound: 0.9\n"])
        #expect(problems(ranges) == ["\(ranges.policyDir)/policy.yaml:2:16: must be between 0 and 0.5, got 0.9"])
    }

    @Test func setOverridesAnyKeyAndChangesTheHash() throws {
        let base = try Fixtures.defaults()
        let config = try Fixtures.defaults(["policy.risk.max_open_positions=2", "app.loop.interval_minutes=0.5",
                                            "universe.never_trade=[BTC-USD]"])
        #expect(config.policy.risk.maxOpenPositions == 2)
        #expect(config.app.loop.intervalMinutes == 0.5)
        #expect(config.universe.neverTrade == ["BTC-USD"])
        #expect(config.policyHash != base.policyHash)
        #expect(config.configHash != base.configHash)
    }

    @Test func badOverridesAreReportedNotIgnored() throws {
        let paths = ConfigPaths(configDir: "/nonexistent-agent/config")
        #expect(problems(paths, overrides: ["risk.max_open_positions=2"]).first?.contains("must start with the file") == true)
        #expect(problems(paths, overrides: ["policy.risk.max_open_positions"]).first?.contains("file.dotted.key=value") == true)
        let unknown = problems(paths, overrides: ["policy.risk.max_open_posits=2"])
        #expect(unknown.count == 1)
        #expect(unknown.first?.contains("unknown key 'max_open_posits'") == true)
        #expect(unknown.first?.hasPrefix("--set") == true)
        #expect(problems(paths, overrides: ["policy.risk.max_open_positions=-1"]).first?.contains("must be between 0 and 1000") == true)
    }

    @Test func environmentVariablesExpandInValues() throws {
        let paths = try tree(["config/app.yaml": "logging:\n  level: ${AGENT_LOG:-info}\nreviewers:\n  m1: {provider: offline, model: \"${M1_MODEL}\"}\n"])
        let config = try ConfigLoader(paths: paths, environment: ["AGENT_LOG": "debug", "M1_MODEL": "m1-test"]).load()
        #expect(config.app.logging.level == "debug")
        #expect(config.app.reviewers.m1.model == "m1-test")
        let missing = problems(paths, env: [:])
        #expect(missing == ["\(paths.configDir)/app.yaml:4:34: environment variable M1_MODEL is not set"])
    }

    @Test func policyAndPromptsFollowTheConfigFolder() {
        #expect(ConfigPaths(configDir: "/etc/agent/config").policyDir == "/etc/agent/policy")
        #expect(ConfigPaths(configDir: "/etc/agent/config").promptsDir == "/etc/agent/prompts")
        #expect(ConfigPaths().policyDir == "policy")
        #expect(ConfigPaths(configDir: "x", policyDir: "/p").policyDir == "/p")
        #expect(ConfigPaths(configDir: "x").policyDir == "policy")
        #expect(ConfigPaths(configDir: "a/b/config/").promptsDir == "a/b/prompts")
        #expect(ConfigPaths(configDir: "/config").policyDir == "/policy")
    }

    @Test func promptHashesChangeWithTheTemplate() throws {
        let paths = try tree(["prompts/m2_tape.md": "custom {{proposals}}"])
        let config = try ConfigLoader(paths: paths, environment: [:]).load()
        let defaults = try Fixtures.defaults()
        #expect(config.prompt(.m2)?.hash != defaults.prompt(.m2)?.hash)
        #expect(config.prompt(.m1)?.hash == defaults.prompt(.m1)?.hash)
        #expect(config.prompt(.m2)?.source == paths.promptsDir + "/m2_tape.md")
    }
}

@Suite struct HostileYAMLTests {
    /// A few hundred bytes that would expand to 10^9 nodes: refused with a position, quickly.
    @Test func anAliasBombIsRefused() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 {
            let prev = i == 1 ? "a" : "l\(i - 1)"
            text += "l\(i): &l\(i) [" + Array(repeating: "*\(prev)", count: 10).joined(separator: ", ") + "]\n"
        }
        do {
            _ = try YAMLNode.parse(text, file: "bomb.yaml")
            Issue.record("an alias bomb was accepted")
        } catch {
            #expect(error.problems.first?.message.contains("expands to more than") == true)
            #expect(error.problems.first?.mark.file == "bomb.yaml")
        }
    }

    @Test func ordinaryAliasesStillWork() throws {
        let node = try YAMLNode.parse("base: &b {x: 1}\ncopy: *b\n", file: "ok.yaml")
        #expect(node.node(at: "copy.x") != nil)
    }
}
