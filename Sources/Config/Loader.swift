import Crypto
import Foundation
import Model

extension Mode: ConfigEnum {}
extension Exchange: ConfigEnum {}
extension Tier: ConfigEnum {}
extension FailureMode: ConfigEnum {}
extension BudgetFallback: ConfigEnum {}

/// Where the configuration folders are. `--config-dir DIR` moves all three together: policy/ and prompts/
/// default to siblings of DIR (so `/etc/agent/config` implies `/etc/agent/policy` and `/etc/agent/prompts`).
public struct ConfigPaths: Sendable, Equatable {
    public var configDir: String
    public var policyDir: String
    public var promptsDir: String
    /// The folders a person named on the command line. These must exist and be readable; only implicit
    /// folders may be absent (and then the built-in defaults apply).
    public var givenFolders: Set<String> = []

    /// `given: true` (the command line) makes every folder passed here required.
    public init(configDir: String? = nil, policyDir: String? = nil, promptsDir: String? = nil, given: Bool = false) {
        let config = configDir ?? "config"
        let parent = Self.parent(of: config)
        func sibling(_ name: String) -> String { parent.isEmpty ? name : (parent.hasSuffix("/") ? parent : parent + "/") + name }
        self.configDir = config
        self.policyDir = policyDir ?? sibling("policy")
        self.promptsDir = promptsDir ?? sibling("prompts")
        if given {
            givenFolders = Set([configDir, policyDir, promptsDir].compactMap { $0 })
        }
    }

    /// The folder holding `path` ("" for a bare name, "/" for a top-level folder). Plain string work:
    /// Foundation's `deletingLastPathComponent` traps on some relative paths on Linux.
    static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
}

/// A prompt template and its hash (recorded with every review).
public struct PromptTemplate: Sendable, Equatable {
    public var tier: ReviewerTier
    public var text: String
    /// "sha256:<hex>" of the template text.
    public var hash: String
    /// The file it came from, or "<default prompts/...>".
    public var source: String
}

/// One configuration file as loaded: from disk, or the embedded default when the file is absent.
public struct ConfigSource: Codable, Sendable, Equatable {
    public var name: String
    public var path: String
    public var fromFile: Bool
}

/// The whole validated configuration of a run.
public struct LoadedConfig: Sendable {
    public var app: AppConfig
    public var universe: UniverseConfig
    public var signals: SignalsConfig
    public var policy: PolicyConfig
    public var prompts: [PromptTemplate]
    public var sources: [ConfigSource]
    /// Each file's tree, before and after `${ENV}` and `--set`: where every value came from (`agent config show`).
    public var trees: [ConfigTree] = []
    /// "sha256:..." over the effective app, universe and signals settings (after defaults, overrides and env).
    public var configHash: String
    /// "sha256:..." over the effective policy.
    public var policyHash: String

    public func prompt(_ tier: ReviewerTier) -> PromptTemplate? { prompts.first { $0.tier == tier } }
}

/// Loads config/app.yaml, config/universe.yaml, config/signals.yaml, policy/policy.yaml and prompts/*.md:
/// each file merged over its embedded default, `${ENV}` expanded, `--set` overrides applied, decoded and
/// validated. Every problem of every file is collected and reported with its position.
public struct ConfigLoader: Sendable {
    public var paths: ConfigPaths
    /// `file.dotted.key=value`, where file is app, universe, signals or policy.
    public var overrides: [String]
    public var environment: [String: String]

    public init(paths: ConfigPaths = ConfigPaths(), overrides: [String] = [],
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.paths = paths
        self.overrides = overrides
        self.environment = environment
    }

    static let fileNames = ["app", "universe", "signals", "policy"]

    public func load() throws(ConfigDiagnostics) -> LoadedConfig {
        var problems: [ConfigProblem] = []
        var sources: [ConfigSource] = []
        var trees: [ConfigTree] = []

        // Sort the overrides by file first, so an override for a missing file is reported once.
        var setsByFile: [String: [(path: String, value: String)]] = [:]
        for raw in overrides {
            let mark = SourceMark(file: "--set \(raw)", line: 1, column: 1)
            guard let eq = raw.firstIndex(of: "=") else {
                problems.append(ConfigProblem(mark: mark, message: "expected file.dotted.key=value"))
                continue
            }
            let path = String(raw[..<eq]), value = String(raw[raw.index(after: eq)...])
            let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, Self.fileNames.contains(parts[0]) else {
                problems.append(ConfigProblem(mark: mark, message:
                    "the key must start with the file it belongs to: one of \(Self.fileNames.joined(separator: ", ")) (e.g. policy.risk.max_open_positions=3)"))
                continue
            }
            setsByFile[parts[0], default: []].append((parts[1], value))
        }

        func loadFile<T: Decodable>(_ name: String, dir: String, defaultText: String, as type: T.Type,
                                    validate: (T, inout ConfigValidator) -> Void) -> T? {
            let path = (dir as NSString).appendingPathComponent("\(name).yaml")
            let defaultName = "<default \(name == "policy" ? "policy" : "config")/\(name).yaml>"
            do throws(ConfigDiagnostics) {
                var node = try YAMLNode.parse(defaultText, file: defaultName)
                let defaults = node
                if try ConfigFileProbe.present(path, folder: dir, required: paths.givenFolders.contains(dir),
                                               misspelt: [(dir as NSString).appendingPathComponent("\(name).yml")]) {
                    node = try YAMLNode.parseFile(atPath: path).merged(over: node)
                    sources.append(ConfigSource(name: name, path: path, fromFile: true))
                } else {
                    sources.append(ConfigSource(name: name, path: defaultName, fromFile: false))
                }
                let merged = node
                node = try node.expandingEnvironment(environment)
                var setProblems: [ConfigProblem] = []
                for set in setsByFile[name] ?? [] {
                    do throws(ConfigDiagnostics) { try node.set(path: set.path, rawValue: set.value, file: name) } catch { setProblems += error.problems }
                }
                if !setProblems.isEmpty { throw ConfigDiagnostics(setProblems) }
                let (value, decodeProblems) = try Self.decodeReportingAll(T.self, from: &node, defaults: defaults)
                var validator = ConfigValidator(root: node)
                validate(value, &validator)
                let all = decodeProblems + validator.problems
                if !all.isEmpty { throw ConfigDiagnostics(Self.inFileOrder(all)) }
                trees.append(ConfigTree(name: name, beforeEnvironment: merged, effective: node))
                return value
            } catch {
                problems += error.problems
                return nil
            }
        }

        let app = loadFile("app", dir: paths.configDir, defaultText: EmbeddedDefaults.app, as: AppConfig.self, validate: Validation.app)
        let universe = loadFile("universe", dir: paths.configDir, defaultText: EmbeddedDefaults.universe, as: UniverseConfig.self, validate: Validation.universe)
        let signals = loadFile("signals", dir: paths.configDir, defaultText: EmbeddedDefaults.signals, as: SignalsConfig.self, validate: Validation.signals)
        let policy = loadFile("policy", dir: paths.policyDir, defaultText: EmbeddedDefaults.policy, as: PolicyConfig.self, validate: Validation.policy)

        var prompts: [PromptTemplate] = []
        let promptFiles: [(ReviewerTier, String, String)] = [
            (.m1, "m1_news.md", EmbeddedDefaults.m1News), (.m2, "m2_tape.md", EmbeddedDefaults.m2Tape),
            (.m3, "m3_governor.md", EmbeddedDefaults.m3Governor),
        ]
        for (tier, file, fallback) in promptFiles {
            let path = (paths.promptsDir as NSString).appendingPathComponent(file)
            var text = fallback, source = "<default prompts/\(file)>"
            let present: Bool
            do throws(ConfigDiagnostics) {
                present = try ConfigFileProbe.present(path, folder: paths.promptsDir,
                                                      required: paths.givenFolders.contains(paths.promptsDir), misspelt: [])
            } catch {
                problems += error.problems
                present = false
            }
            if present {
                if let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) {
                    text = s
                    source = path
                } else {
                    problems.append(ConfigProblem(mark: SourceMark(file: path, line: 1, column: 1), message: "cannot read the prompt as UTF-8 text"))
                }
            }
            prompts.append(PromptTemplate(tier: tier, text: text, hash: Self.sha256(Data(text.utf8)), source: source))
            sources.append(ConfigSource(name: "prompt_\(tier.rawValue.lowercased())", path: source, fromFile: source == path))
        }

        guard problems.isEmpty, let app, let universe, let signals, let policy else {
            var seen = Set<String>()
            throw ConfigDiagnostics(problems.filter { seen.insert($0.description).inserted })
        }
        return LoadedConfig(app: app, universe: universe, signals: signals, policy: policy, prompts: prompts,
                            sources: sources, trees: trees,
                            configHash: Self.hash(SettingsForHash(app: app, universe: universe, signals: signals)),
                            policyHash: Self.hash(policy))
    }

    /// Decodes, and on a failure puts the built-in default in place of the failing value and decodes again, so
    /// one run reports every bad value of a file rather than the first (the value returned is never used then).
    /// Throws when a failure cannot be set aside.
    static func decodeReportingAll<T: Decodable>(_ type: T.Type, from node: inout YAMLNode,
                                                 defaults: YAMLNode) throws(ConfigDiagnostics) -> (T, [ConfigProblem]) {
        var problems: [ConfigProblem] = []
        var tree = node
        while true {
            do throws(ConfigDiagnostics) {
                let value = try YAMLDecoder().decode(T.self, from: tree)
                node = tree
                return (value, problems)
            } catch {
                problems += error.problems
                // Unknown keys come only once everything else decoded: drop them, and the next pass yields the value.
                if error.problems.allSatisfy({ $0.message.hasPrefix("unknown key") }) {
                    tree = tree.removingEntries(keyedAt: Set(error.problems.map(\.mark)))
                    if let value = try? YAMLDecoder().decode(T.self, from: tree) {
                        node = tree
                        return (value, problems)
                    }
                    throw ConfigDiagnostics(inFileOrder(problems))
                }
                // A repeated position cannot be set aside.
                guard problems.count < 100, error.problems.count == 1, let failure = error.problems.first,
                      problems.dropLast().allSatisfy({ $0.mark != failure.mark }),
                      let patched = tree.replacingNode(at: failure.mark, from: defaults) else {
                    throw ConfigDiagnostics(inFileOrder(problems))
                }
                tree = patched
            }
        }
    }

    /// Problems sorted by file, then line and column (a stable sort: same-place problems keep their order).
    static func inFileOrder(_ problems: [ConfigProblem]) -> [ConfigProblem] {
        problems.enumerated().sorted { a, b in
            let x = a.element.mark, y = b.element.mark
            if x.file != y.file { return a.offset < b.offset }
            if x.line != y.line { return x.line < y.line }
            if x.column != y.column { return x.column < y.column }
            return a.offset < b.offset
        }.map(\.element)
    }

    private struct SettingsForHash: Encodable {
        var app: AppConfig
        var universe: UniverseConfig
        var signals: SignalsConfig
    }

    static func hash<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return sha256((try? encoder.encode(value)) ?? Data())
    }

    public static func sha256(_ data: Data) -> String {
        "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
