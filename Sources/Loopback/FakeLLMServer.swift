import Foundation

/// A request to ``FakeLLMServer``, decoded enough to answer it: which API, which tier, which proposals.
public struct FakeLLMRequest: Sendable {
    public enum API: Sendable { case openai, anthropic }
    public var api: API
    /// "M1", "M2" or "M3" (from the schema or tool name).
    public var tier: String
    /// The user message (the filled prompt template).
    public var prompt: String
    /// (proposal id, symbol) in prompt order.
    public var proposals: [(id: String, symbol: String)]
    /// News item ids mentioned in the prompt (`n-...`).
    public var newsIds: [String]
    /// Whether this is the repair retry (the prompt says the previous answer was rejected).
    public var isRepair: Bool
    public var raw: RecordedRequest
}

/// A fake LLM provider on 127.0.0.1 speaking the OpenAI chat completions and Anthropic messages formats.
/// Tests decide every answer; nothing leaves the machine.
public final class FakeLLMServer: Sendable {
    public let server: LoopbackHTTPServer

    public init(_ answer: @escaping @Sendable (FakeLLMRequest) -> StubResponse) throws {
        server = try LoopbackHTTPServer { raw in
            guard let request = FakeLLMServer.decode(raw) else {
                return .json(#"{"error": {"message": "fake server: unreadable request", "type": "invalid_request_error"}}"#, status: 400)
            }
            return answer(request)
        }
    }

    /// `http://127.0.0.1:<port>/v1` (both APIs live under it).
    public var baseURL: String { server.baseURL + "/v1" }
    public var requests: [RecordedRequest] { server.requests }
    public func stop() { server.stop() }

    static func decode(_ raw: RecordedRequest) -> FakeLLMRequest? {
        guard let body = try? JSONSerialization.jsonObject(with: raw.body) as? [String: Any] else { return nil }
        let api: FakeLLMRequest.API = raw.pathWithoutQuery.hasSuffix("/messages") ? .anthropic : .openai
        var name = ""
        var prompt = ""
        switch api {
        case .openai:
            let format = body["response_format"] as? [String: Any]
            name = (format?["json_schema"] as? [String: Any])?["name"] as? String ?? ""
            let messages = body["messages"] as? [[String: Any]] ?? []
            prompt = messages.last?["content"] as? String ?? ""
        case .anthropic:
            name = (body["tool_choice"] as? [String: Any])?["name"] as? String ?? ""
            let messages = body["messages"] as? [[String: Any]] ?? []
            prompt = messages.last?["content"] as? String ?? ""
        }
        var proposals: [(String, String)] = []
        for line in prompt.split(separator: "\n") where line.hasPrefix("- p") {
            let parts = line.dropFirst(2).split(separator: " ")
            let isId = parts.first.map { $0.count > 1 && $0.dropFirst().allSatisfy(\.isNumber) } ?? false
            if parts.count >= 2, isId { proposals.append((String(parts[0]), String(parts[1]))) }
        }
        let newsIds = prompt.split(whereSeparator: { " ,\n[]():".contains($0) }).map(String.init)
            .filter { $0.hasPrefix("n-") && $0.count == 18 }
        return FakeLLMRequest(api: api, tier: String(name.prefix(2)).uppercased(), prompt: prompt,
                              proposals: proposals, newsIds: Array(Set(newsIds)).sorted(),
                              isRepair: prompt.contains("Your previous answer was rejected"), raw: raw)
    }
}

/// Builders for provider answers.
public enum FakeLLM {
    /// One verdict object for the tier's schema.
    public static func verdict(tier: String, id: String, symbol: String, delta: Double = 0, veto: Bool = false,
                               reason: String = "fake", cited: [String] = [], risk: String = "LOW",
                               checks: [String] = []) -> [String: Any] {
        var v: [String: Any] = ["proposal_id": id, "symbol": symbol, "veto": veto, "reason": reason]
        switch tier {
        case "M1":
            v["delta"] = delta
            v["cited_news_ids"] = cited
            v["news_risk"] = risk
        case "M2":
            v["delta"] = delta
        default:
            v["violated_checks"] = checks
        }
        return v
    }

    /// `{"verdicts": [...]}` as text.
    public static func verdictsText(_ verdicts: [[String: Any]]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: ["verdicts": verdicts], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// A neutral answer covering every proposal of the request.
    public static func neutral(_ r: FakeLLMRequest, delta: Double = 0) -> [[String: Any]] {
        r.proposals.map { verdict(tier: r.tier, id: $0.id, symbol: $0.symbol, delta: delta) }
    }

    /// Usage in the request's API format: nil = leave `usage` out entirely.
    public static func answer(_ r: FakeLLMRequest, content: String?, finish: String? = nil, refusal: String? = nil,
                              usage: (input: Double, output: Double)? = (900, 120)) -> StubResponse {
        var body: [String: Any]
        switch r.api {
        case .openai:
            var message: [String: Any] = ["role": "assistant", "content": content.map { $0 as Any } ?? NSNull()]
            if let refusal { message["refusal"] = refusal }
            body = ["id": "chatcmpl-fake", "object": "chat.completion",
                    "choices": [["index": 0, "message": message, "finish_reason": finish ?? "stop"]]]
            if let usage { body["usage"] = ["prompt_tokens": usage.input, "completion_tokens": usage.output] }
        case .anthropic:
            var blocks: [[String: Any]] = []
            if let refusal {
                blocks.append(["type": "text", "text": refusal])
            } else if let content {
                if let data = content.data(using: .utf8), let input = try? JSONSerialization.jsonObject(with: data),
                   input is [String: Any] {
                    blocks.append(["type": "tool_use", "id": "toolu_fake", "name": "\(r.tier.lowercased())_verdicts", "input": input])
                } else {
                    blocks.append(["type": "text", "text": content])
                }
            }
            body = ["id": "msg_fake", "type": "message", "role": "assistant", "content": blocks,
                    "stop_reason": refusal != nil ? "refusal" : (finish ?? "tool_use")]
            if let usage { body["usage"] = ["input_tokens": usage.input, "output_tokens": usage.output] }
        }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return StubResponse(status: 200, headers: [TestHeader("Content-Type", "application/json")], body: data)
    }

    /// A valid answer with the given verdicts.
    public static func valid(_ r: FakeLLMRequest, _ verdicts: [[String: Any]], usage: (input: Double, output: Double)? = (900, 120)) -> StubResponse {
        answer(r, content: verdictsText(verdicts), usage: usage)
    }

    /// An error in the request's API format.
    public static func error(_ r: FakeLLMRequest, status: Int, message: String) -> StubResponse {
        switch r.api {
        case .openai:
            return .json(#"{"error": {"message": "\#(message)", "type": "fake", "code": null}}"#, status: status)
        case .anthropic:
            return .json(#"{"type": "error", "error": {"type": "fake", "message": "\#(message)"}}"#, status: status)
        }
    }
}
