import Foundation
import Model

/// The JSON schema each tier must answer with, and our own validation of answers against it.
///
/// Providers are asked for structured output (OpenAI `json_schema` strict, Anthropic forced tool use, local
/// servers `json_schema`), but no provider's promise is trusted: every answer is validated here.
public enum VerdictSchema {
    /// The schema's name (OpenAI `json_schema.name`, Anthropic tool name).
    public static func name(_ tier: ReviewerTier) -> String { "\(tier.rawValue.lowercased())_verdicts" }

    /// What a request's schema is narrowed to: this cycle's proposals, the news ids given, the policy's checks.
    public struct Facts: Sendable, Equatable {
        public var proposalIds: [String]
        public var symbols: [String]
        /// Every news id given to M1 this cycle (empty: `cited_news_ids` must stay empty).
        public var newsIds: [String]
        /// The policy's check names (M3's `violated_checks`); empty = unrestricted.
        public var checkNames: [String]
        public var deltaBound: Double
        /// Longest `reason`, characters (sent only where the provider enforces it).
        public var reasonMaxLength: Int

        public init(proposalIds: [String], symbols: [String], newsIds: [String], checkNames: [String], deltaBound: Double,
                    reasonMaxLength: Int = 240) {
            self.proposalIds = proposalIds
            self.symbols = symbols
            self.newsIds = newsIds
            self.checkNames = checkNames
            self.deltaBound = deltaBound
            self.reasonMaxLength = reasonMaxLength
        }
    }

    /// Which JSON Schema keywords a provider's structured output accepts beyond type/properties/required/
    /// additionalProperties/items/enum. OpenAI strict mode takes minItems/maxItems and minimum/maximum (since
    /// 2025); string lengths are refused for fine-tuned models, so they are never sent there. Anthropic's forced
    /// tool (not strict) takes any keyword as guidance. llama.cpp and Ollama compile all of these, and the
    /// order of `properties`, into the grammar. Answers are validated here whatever the provider enforced.
    public struct Keywords: Sendable, Equatable {
        public var itemCounts: Bool
        public var numberRange: Bool
        public var stringLength: Bool

        public static func of(_ kind: ProviderKind) -> Keywords {
            switch kind {
            case .openai, .anthropic: Keywords(itemCounts: true, numberRange: true, stringLength: false)
            case .openaiCompatible: Keywords(itemCounts: true, numberRange: true, stringLength: true)
            }
        }
    }

    /// The fields of a tier's verdict in the order a model should write them: what it is about, why, the
    /// evidence, and only then the effect.
    public static func fieldOrder(_ tier: ReviewerTier) -> [String] {
        switch tier {
        case .m1: ["proposal_id", "symbol", "reason", "cited_news_ids", "news_risk", "delta", "veto"]
        case .m2: ["proposal_id", "symbol", "reason", "delta", "veto"]
        case .m3: ["proposal_id", "symbol", "reason", "violated_checks", "veto"]
        }
    }

    /// The structural schema of a tier (what every answer is validated against), in OpenAI strict form:
    /// every property required, no additional properties, fields in `fieldOrder`.
    public static func schema(_ tier: ReviewerTier) -> JSONValue { build(tier, facts: nil, keywords: nil) }

    /// The schema sent with one request: the structural schema narrowed to the cycle's facts, with the
    /// keywords the provider accepts. Answers are still validated against the structural schema, so an
    /// invented id is dropped and recorded by the bounds rather than failing the whole answer.
    public static func schema(_ tier: ReviewerTier, facts: Facts, kind: ProviderKind) -> JSONValue {
        build(tier, facts: facts, keywords: .of(kind))
    }

    private static func build(_ tier: ReviewerTier, facts: Facts?, keywords: Keywords?) -> JSONValue {
        func string(_ allowed: [String]? = nil, maxLength: Int? = nil) -> JSONValue {
            var m = [JSONMember("type", .string("string"))]
            if let allowed, !allowed.isEmpty { m.append(JSONMember("enum", .array(allowed.map(JSONValue.string)))) }
            if let maxLength { m.append(JSONMember("maxLength", .number(Double(maxLength)))) }
            return .orderedObject(m)
        }
        func strings(_ allowed: [String]?, emptyOnly: Bool = false) -> JSONValue {
            var m = [JSONMember("type", .string("array")), JSONMember("items", string(allowed))]
            if emptyOnly { m.append(JSONMember("maxItems", .number(0))) }
            return .orderedObject(m)
        }
        let bound = facts.map { abs($0.deltaBound.isFinite ? $0.deltaBound : 0) }
        var delta = [JSONMember("type", .string("number"))]
        if let bound, keywords?.numberRange == true {
            delta += [JSONMember("minimum", .number(-bound)), JSONMember("maximum", .number(bound))]
        }
        let properties: [String: JSONValue] = [
            "proposal_id": string(facts?.proposalIds),
            "symbol": string(facts?.symbols),
            "reason": string(maxLength: keywords?.stringLength == true ? facts?.reasonMaxLength : nil),
            "cited_news_ids": strings(facts?.newsIds, emptyOnly: facts.map { $0.newsIds.isEmpty } ?? false),
            "news_risk": string(NewsRiskLevel.allCases.map(\.rawValue)),
            "violated_checks": strings(facts?.checkNames),
            "delta": .orderedObject(delta),
            "veto": .orderedObject([JSONMember("type", .string("boolean"))]),
        ]
        let order = fieldOrder(tier)
        let verdict: JSONValue = .orderedObject([
            JSONMember("type", .string("object")),
            JSONMember("additionalProperties", .bool(false)),
            JSONMember("required", .array(order.map(JSONValue.string))),
            JSONMember("properties", .orderedObject(order.map { JSONMember($0, properties[$0] ?? .null) })),
        ])
        var verdicts = [JSONMember("type", .string("array")), JSONMember("items", verdict)]
        if let facts, keywords?.itemCounts == true {
            verdicts += [JSONMember("minItems", .number(Double(facts.proposalIds.count))),
                         JSONMember("maxItems", .number(Double(facts.proposalIds.count)))]
        }
        return .orderedObject([
            JSONMember("type", .string("object")),
            JSONMember("additionalProperties", .bool(false)),
            JSONMember("required", .array([.string("verdicts")])),
            JSONMember("properties", .orderedObject([JSONMember("verdicts", .orderedObject(verdicts))])),
        ])
    }

    /// Problems of `value` against `schema` (the subset used here: type, properties, required,
    /// additionalProperties, items, enum), each naming the JSON path. Empty = valid.
    public static func problems(_ value: JSONValue, against schema: JSONValue, path: String = "$") -> [String] {
        var out: [String] = []
        if let type = schema["type"]?.stringValue {
            let ok: Bool
            switch (type, value) {
            case ("object", .object), ("object", .orderedObject), ("array", .array), ("string", .string), ("boolean", .bool): ok = true
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
        if let object = value.members {
            let properties = schema["properties"]?.members ?? [:]
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
        case .object, .orderedObject: "object"
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
