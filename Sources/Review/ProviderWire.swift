import Config
import Foundation
import HTTP
import Model

/// The LLM API families a tier can use.
public enum ProviderKind: String, Codable, Sendable, CaseIterable {
    /// OpenAI chat completions (also OpenRouter, vLLM): `json_schema` strict structured output.
    case openai
    /// Anthropic messages: structured output by one forced tool.
    case anthropic
    /// Local OpenAI-compatible servers (Ollama, llama.cpp): chat completions with `json_schema`, no key.
    case openaiCompatible = "openai_compatible"

    /// The transfer limit when `timeout_seconds` is 0: local servers on small CPUs take 7-15 s a call.
    public var defaultTimeoutSeconds: Double {
        switch self {
        case .openai, .anthropic: 30
        case .openaiCompatible: 180
        }
    }

    /// Where requests go when `base_url` is empty.
    public var defaultBaseURL: String {
        switch self {
        case .openai: "https://api.openai.com/v1"
        case .anthropic: "https://api.anthropic.com"
        case .openaiCompatible: "http://127.0.0.1:11434/v1"
        }
    }

    /// The endpoint under a base URL.
    public func endpoint(base: String) -> String {
        var b = base.isEmpty ? defaultBaseURL : base
        while b.hasSuffix("/") { b.removeLast() }
        switch self {
        case .openai, .openaiCompatible: return b + "/chat/completions"
        case .anthropic: return b.hasSuffix("/v1") ? b + "/messages" : b + "/v1/messages"
        }
    }
}

/// Token usage as the provider reported it (either half may be missing).
public struct ReportedUsage: Codable, Sendable, Equatable {
    public var inputTokens: Int?
    public var outputTokens: Int?
}

/// A provider's answer envelope, parsed: the structured content (or its text), why it stopped, usage.
struct ProviderReply: Sendable {
    /// The JSON answer as text (OpenAI `message.content`, or Anthropic `tool_use.input` re-encoded).
    var content: String?
    /// Already-parsed structured content (Anthropic tool input).
    var structured: JSONValue?
    var finishReason: String?
    var refusal: String?
    var usage: ReportedUsage?
}

/// What went wrong at the provider level (not the transport).
enum ProviderProblem: Error, Sendable, CustomStringConvertible {
    case httpStatus(Int, String)
    case badEnvelope(String)

    var description: String {
        switch self {
        case .httpStatus(let status, let message): "HTTP \(status): \(message)"
        case .badEnvelope(let message): "unreadable provider response: \(message)"
        }
    }
}

/// Builds requests for and reads answers from each provider family. Pure functions: no I/O.
enum ProviderWire {
    /// The request body (also recorded in the ledger, without headers) and the HTTP request with its headers.
    /// `schema` is the request's schema (`VerdictSchema.schema(_:facts:kind:)`); its member order is kept.
    static func request(kind: ProviderKind, config: ReviewerConfig, apiKey: String?, tier: ReviewerTier,
                        system: String, user: String, schema: JSONValue) -> (HTTPRequest, body: JSONValue) {
        let schemaName = VerdictSchema.name(tier)
        var headers = [HTTPHeader("content-type", "application/json")]
        let body: JSONValue
        switch kind {
        case .openai, .openaiCompatible:
            body = .object([
                "model": .string(config.model),
                "messages": .array([
                    .object(["role": .string("system"), "content": .string(system)]),
                    .object(["role": .string("user"), "content": .string(user)]),
                ]),
                "max_tokens": .number(Double(config.maxTokens)),
                "temperature": .number(config.temperature),
                "response_format": .object([
                    "type": .string("json_schema"),
                    "json_schema": .object(["name": .string(schemaName), "strict": .bool(true), "schema": schema]),
                ]),
            ])
            if let apiKey, !apiKey.isEmpty { headers.append(HTTPHeader("authorization", "Bearer \(apiKey)")) }
        case .anthropic:
            body = .object([
                "model": .string(config.model),
                "max_tokens": .number(Double(config.maxTokens)),
                "temperature": .number(config.temperature),
                "system": .string(system),
                "messages": .array([.object(["role": .string("user"), "content": .string(user)])]),
                "tools": .array([.object([
                    "name": .string(schemaName),
                    "description": .string("Record one verdict per proposal id."),
                    "input_schema": schema,
                ])]),
                "tool_choice": .object(["type": .string("tool"), "name": .string(schemaName)]),
            ])
            headers.append(HTTPHeader("anthropic-version", "2023-06-01"))
            if let apiKey, !apiKey.isEmpty { headers.append(HTTPHeader("x-api-key", apiKey)) }
        }
        let request = HTTPRequest(method: "POST", url: kind.endpoint(base: config.baseUrl), headers: headers,
                                  body: Data(body.text.utf8), timeout: config.timeoutSeconds,
                                  connectTimeout: config.connectTimeoutSeconds)
        return (request, body)
    }

    /// Reads a provider response. Non-2xx statuses become `.httpStatus` with the provider's error message.
    static func parse(kind: ProviderKind, status: Int, body: Data) -> Result<ProviderReply, ProviderProblem> {
        let value = try? JSONDecoder().decode(JSONValue.self, from: body)
        guard (200...299).contains(status) else {
            let message = value?["error"]?["message"]?.stringValue
                ?? value?["error"]?.stringValue
                ?? String(decoding: body.prefix(200), as: UTF8.self)
            return .failure(.httpStatus(status, message))
        }
        guard let value, case .object = value else {
            return .failure(.badEnvelope("body is not a JSON object (\(body.count) bytes)"))
        }
        switch kind {
        case .openai, .openaiCompatible:
            guard let choice = value["choices"]?.arrayValue?.first else {
                return .failure(.badEnvelope("no choices[0]"))
            }
            let message = choice["message"]
            let usage = value["usage"].map {
                ReportedUsage(inputTokens: $0["prompt_tokens"]?.numberValue.flatMap(Self.int),
                              outputTokens: $0["completion_tokens"]?.numberValue.flatMap(Self.int))
            }
            return .success(ProviderReply(content: message?["content"]?.stringValue, structured: nil,
                                          finishReason: choice["finish_reason"]?.stringValue,
                                          refusal: message?["refusal"]?.stringValue, usage: usage))
        case .anthropic:
            let blocks = value["content"]?.arrayValue ?? []
            let tool = blocks.first { $0["type"]?.stringValue == "tool_use" }
            let text = blocks.filter { $0["type"]?.stringValue == "text" }.compactMap { $0["text"]?.stringValue }
                .joined(separator: "\n")
            let stop = value["stop_reason"]?.stringValue
            let usage = value["usage"].map {
                ReportedUsage(inputTokens: $0["input_tokens"]?.numberValue.flatMap(Self.int),
                              outputTokens: $0["output_tokens"]?.numberValue.flatMap(Self.int))
            }
            return .success(ProviderReply(content: tool?["input"]?.text ?? (text.isEmpty ? nil : text),
                                          structured: tool?["input"], finishReason: stop,
                                          refusal: stop == "refusal" ? (text.isEmpty ? "refused" : text) : nil,
                                          usage: usage))
        }
    }

    /// A token count from JSON: finite, non-negative and representable, else nil (treated as missing).
    static func int(_ x: Double) -> Int? {
        guard x.isFinite, x >= 0, x < 1e15 else { return nil }
        return Int(x)
    }

    /// Whether the stop reason says the output was cut at `max_tokens`.
    static func truncated(_ finish: String?) -> Bool { finish == "length" || finish == "max_tokens" }
}
