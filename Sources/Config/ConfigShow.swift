import Foundation
import Model

/// One configuration file's tree: merged over its built-in default, and as used (after `${ENV}` and `--set`).
public struct ConfigTree: Sendable {
    public var name: String
    public var beforeEnvironment: YAMLNode
    public var effective: YAMLNode
}

/// One effective value and where it came from, for `agent config show`.
public struct ConfigSetting: Codable, Sendable, Equatable {
    /// `file.dotted.key`, e.g. `policy.risk.max_open_positions` (sequence items by index).
    public var key: String
    /// The value as YAML text; secrets are replaced by `<redacted>`.
    public var value: String
    /// `built-in default`, `config/app.yaml:12`, `--set`, or `env NAME (config/app.yaml:12)`.
    public var origin: String
}

extension LoadedConfig {
    /// Every effective leaf value in file order, with its origin. Secrets are redacted.
    public var settings: [ConfigSetting] {
        var out: [ConfigSetting] = []
        for tree in trees {
            ConfigSettingWalk.walk(tree.effective, before: tree.beforeEnvironment, key: tree.name, into: &out)
        }
        return out
    }
}

enum ConfigSettingWalk {
    static let redacted = "<redacted>"
    /// Key names (and environment variable names) whose values are credentials.
    static let secretWords = ["secret", "token", "password", "passphrase", "private", "credential", "webhook", "api_key", "apikey"]

    static func walk(_ node: YAMLNode, before: YAMLNode?, key: String, into out: inout [ConfigSetting]) {
        switch node.content {
        case .mapping(let entries) where !entries.isEmpty:
            for entry in entries {
                walk(entry.value, before: before?.child(entry.key), key: key + "." + entry.key, into: &out)
            }
        case .sequence(let items) where !items.isEmpty && items.contains(where: { !$0.isScalar }):
            for (index, item) in items.enumerated() {
                walk(item, before: before?.child("\(index)"), key: key + ".\(index)", into: &out)
            }
        default:
            var origin = origin(of: node.mark)
            var secret = isSecretKey(key)
            if !node.mark.file.hasPrefix("--set"), case .scalar(let raw, _)? = before?.content, raw.contains("${") {
                let names = environmentNames(in: raw)
                origin = "env \(names.joined(separator: ", ")) (\(origin))"
                secret = secret || names.contains(where: isSecretKey)
            }
            out.append(ConfigSetting(key: key, value: secret ? redacted : text(node), origin: origin))
        }
    }

    static func origin(of mark: SourceMark) -> String {
        if mark.file.hasPrefix("<default") { return "built-in default" }
        if mark.file.hasPrefix("--set") { return mark.file }
        return "\(mark.file):\(mark.line)"
    }

    static func isSecretKey(_ key: String) -> Bool {
        let last = (key.split(separator: ".").last.map(String.init) ?? key).lowercased()
        if last.hasSuffix("_env") { return false }  // the NAME of a variable, never its value
        return secretWords.contains { last.contains($0) }
    }

    static func environmentNames(in raw: String) -> [String] {
        var names: [String] = []
        var rest = Substring(raw)
        while let open = rest.range(of: "${") {
            rest = rest[open.upperBound...]
            guard let close = rest.firstIndex(of: "}") else { break }
            let body = rest[..<close]
            names.append(String(body.split(separator: ":", maxSplits: 1).first ?? body))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// A leaf as flow-style YAML text, credentials in URLs (`user:pass@`) removed.
    static func text(_ node: YAMLNode) -> String {
        switch node.content {
        case .scalar(let value, let style):
            let shown = redactingUserInfo(value)
            return style == .quoted || shown.isEmpty ? YAMLScalars.quote(shown) : ConfigProblem.excerpt(shown, limit: 200)
        case .sequence(let items):
            return "[" + items.map(text).joined(separator: ", ") + "]"
        case .mapping:
            return "{}"
        }
    }

    static func redactingUserInfo(_ value: String) -> String {
        guard let scheme = value.range(of: "://"), let at = value[scheme.upperBound...].firstIndex(of: "@"),
              !value[scheme.upperBound..<at].contains("/") else { return value }
        return String(value[..<scheme.upperBound]) + redacted + String(value[at...])
    }
}

extension YAMLNode {
    var isScalar: Bool {
        if case .scalar = content { return true }
        return false
    }
}

extension LoadedConfig {
    /// The quotes each venue can trade our `BASE-QUOTE` symbols in (a venue not listed takes any quote).
    static let venueQuotes: [Exchange: Set<String>] = [.binance: ["USD", "USDT", "USDC"]]

    /// Universe symbols the venue cannot map, at their positions in universe.yaml (`--exchange` may differ from
    /// app.yaml's, so this is asked once the venue is known).
    public func symbolProblems(exchange: Exchange) -> [ConfigProblem] {
        guard let quotes = Self.venueQuotes[exchange] else { return [] }
        let tree = trees.first { $0.name == "universe" }?.effective
        var problems: [ConfigProblem] = []
        for tier in Tier.allCases {
            for (i, symbol) in universe.tiers.config(for: tier).symbols.enumerated() {
                guard let quote = symbol.split(separator: "-").last.map(String.init), !quotes.contains(quote) else { continue }
                let path = "tiers.\(tier.rawValue).symbols.\(i)"
                let mark = tree?.mark(at: path) ?? SourceMark(file: "universe.yaml", line: 1, column: 1)
                problems.append(ConfigProblem(mark: mark, message:
                    "\(symbol): \(exchange.rawValue) trades only \(quotes.sorted().joined(separator: ", ")) quotes (write e.g. BTC-USD)"))
            }
        }
        return problems
    }
}
