import Foundation
import Model

/// The JSON schema each tier must answer with, and our own validation of answers against it.
///
/// Providers are asked for structured output (OpenAI `json_schema` strict, Anthropic forced tool use, local
/// servers `json_schema`), but no provider's promise is trusted: every answer is validated here.
public enum VerdictSchema {
    /// The schema's name (OpenAI `json_schema.name`, Anthropic tool name).
    public static func name(_ tier: ReviewerTier) -> String { "\(tier.rawValue.lowercased())_verdicts" }

    /// The schema for a tier, in OpenAI strict form: every property required, no additional properties.
    public static func schema(_ tier: ReviewerTier) -> JSONValue {
        var properties: [String: JSONValue] = [
            "proposal_id": .object(["type": .string("string")]),
            "symbol": .object(["type": .string("string")]),
            "veto": .object(["type": .string("boolean")]),
            "reason": .object(["type": .string("string")]),
        ]
        switch tier {
        case .m1:
            properties["delta"] = .object(["type": .string("number")])
            properties["cited_news_ids"] = .object(["type": .string("array"), "items": .object(["type": .string("string")])])
            properties["news_risk"] = .object(["type": .string("string"),
                                               "enum": .array(NewsRiskLevel.allCases.map { .string($0.rawValue) })])
        case .m2:
            properties["delta"] = .object(["type": .string("number")])
        case .m3:
            properties["violated_checks"] = .object(["type": .string("array"), "items": .object(["type": .string("string")])])
        }
        let verdict: JSONValue = .object([
            "type": .string("object"),
            "additionalProperties": .bool(false),
            "required": .array(properties.keys.sorted().map(JSONValue.string)),
            "properties": .object(properties),
        ])
        return .object([
            "type": .string("object"),
            "additionalProperties": .bool(false),
            "required": .array([.string("verdicts")]),
            "properties": .object(["verdicts": .object(["type": .string("array"), "items": verdict])]),
        ])
    }

    /// Problems of `value` against `schema` (the subset used here: type, properties, required,
    /// additionalProperties, items, enum), each naming the JSON path. Empty = valid.
    public static func problems(_ value: JSONValue, against schema: JSONValue, path: String = "$") -> [String] {
        var out: [String] = []
        if let type = schema["type"]?.stringValue {
            let ok: Bool
            switch (type, value) {
            case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool): ok = true
            case ("number", .number(let n)): ok = n.isFinite
            case ("integer", .number(let n)): ok = n.isFinite && n == n.rounded()
            case ("null", .null): ok = true
            default: ok = false
            }
            if !ok { return ["\(path): expected \(type), got \(describe(value))"] }
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            out.append("\(path): \(value.text) is not one of \(JSONValue.array(allowed).text)")
        }
        if case .object(let object) = value {
            let properties: [String: JSONValue]
            if case .object(let p)? = schema["properties"] { properties = p } else { properties = [:] }
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                out.append("\(path): missing required field '\(name)'")
            }
            if schema["additionalProperties"] == .bool(false) {
                for name in object.keys.sorted() where properties[name] == nil {
                    out.append("\(path): unexpected field '\(name)'")
                }
            }
            for name in object.keys.sorted() {
                if let sub = properties[name], let v = object[name] {
                    out += problems(v, against: sub, path: "\(path).\(name)")
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (i, item) in items.enumerated() {
                out += problems(item, against: itemSchema, path: "\(path)[\(i)]")
            }
        }
        return out
    }

    private static func describe(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.isFinite ? "number" : "non-finite number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Parses and validates a tier's answer text. Returns the verdicts, or the reason the answer is invalid.
    public static func verdicts(from text: String, tier: ReviewerTier) -> Result<[ReviewerVerdict], InvalidAnswer> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(stripFences(text))
        } catch {
            return .failure(InvalidAnswer(reason: "not valid JSON (\(text.isEmpty ? "empty answer" : "\(text.utf8.count) bytes"))"))
        }
        return verdicts(from: value, tier: tier)
    }

    /// Validates an already-parsed answer (e.g. an Anthropic `tool_use` input).
    public static func verdicts(from value: JSONValue, tier: ReviewerTier) -> Result<[ReviewerVerdict], InvalidAnswer> {
        let found = problems(value, against: schema(tier))
        if !found.isEmpty {
            let shown = found.prefix(5).joined(separator: "; ")
            return .failure(InvalidAnswer(reason: "answer does not match the \(name(tier)) schema: \(shown)\(found.count > 5 ? " (+\(found.count - 5) more)" : "")"))
        }
        let items = value["verdicts"]?.arrayValue ?? []
        return .success(items.map { item in
            ReviewerVerdict(
                proposalId: item["proposal_id"]?.stringValue ?? "",
                symbol: item["symbol"]?.stringValue,
                delta: tier == .m3 ? nil : item["delta"]?.numberValue,
                veto: item["veto"]?.boolValue ?? false,
                reason: item["reason"]?.stringValue ?? "",
                violatedChecks: item["violated_checks"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                citedNewsIds: tier == .m1 ? (item["cited_news_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []) : nil,
                newsRisk: item["news_risk"]?.stringValue.flatMap(NewsRiskLevel.init(rawValue:)))
        })
    }

    /// Local models sometimes wrap JSON in a Markdown fence; the content inside is still validated strictly.
    static func stripFences(_ text: String) -> String {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.hasPrefix("```") else { return t }
        if let newline = t.firstIndex(of: "\n") { t = String(t[t.index(after: newline)...]) }
        if t.hasSuffix("```") { t = String(t.dropLast(3)) }
        return t.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Why an answer was rejected.
public struct InvalidAnswer: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
