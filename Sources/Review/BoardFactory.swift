import Config
import HTTP
import Model

/// Why the reviewer board cannot be built from the configuration. Never contains a key value.
public struct ReviewSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config path at fault, e.g. `app.yaml reviewers.m1.api_key_env`.
    public var key: String
    public var message: String
    public var description: String { "\(key): \(message)" }
}

extension ReviewBoard {
    /// The board as app.yaml configures it: each tier `offline` or an LLM provider with its own model.
    /// API keys are read from the environment variables named in `api_key_env` (the value never leaves memory).
    /// - Parameter transport: builds the HTTP stack of a tier (tests inject one; the default is libcurl with retries).
    public static func make(config: LoadedConfig, environment: [String: String],
                            transport: (ReviewerConfig) -> any HTTPTransport = { LLMReviewer.transport(for: $0) })
        throws(ReviewSetupError) -> ReviewBoard {
        var reviewers: [any Reviewer] = []
        for tier in ReviewerTier.allCases {
            let rc = config.app.reviewers.config(for: tier)
            let key = "app.yaml reviewers.\(tier.rawValue.lowercased())"
            if rc.provider == "offline" {
                reviewers.append(OfflineReviewers.make(tier))
                continue
            }
            guard let kind = ProviderKind(rawValue: rc.provider) else {
                throw ReviewSetupError(key: "\(key).provider", message: "unknown provider '\(rc.provider)'")
            }
            guard let prompt = config.prompt(tier) else {
                throw ReviewSetupError(key: "prompts", message: "no prompt template for \(tier.rawValue)")
            }
            var apiKey: APIKey?
            if !rc.apiKeyEnv.isEmpty {
                guard let value = environment[rc.apiKeyEnv], !value.isEmpty else {
                    throw ReviewSetupError(key: "\(key).api_key_env",
                                           message: "environment variable \(rc.apiKeyEnv) is not set (provider \(rc.provider) needs a key)")
                }
                apiKey = APIKey(value)
            }
            reviewers.append(LLMReviewer(tier: tier, kind: kind, config: rc, prompt: prompt,
                                         cost: CostModel.make(kind: kind, model: rc.model, table: config.app.prices),
                                         cacheConfig: config.app.reviewCache,
                                         newsPerProposal: config.app.news.maxItemsPerProposal,
                                         apiKey: apiKey, transport: transport(rc)))
        }
        return ReviewBoard(reviewers: reviewers, policy: config.policy)
    }
}
