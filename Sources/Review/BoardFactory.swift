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

/// The API key of each LLM tier, read from the environment by the composition root (`ReviewSetup.keys` in
/// Agent). Each reviewer is handed only its own entry; the environment never reaches this module (invariant 11).
public struct ReviewerKeys: Sendable {
    var keys: [ReviewerTier: APIKey]

    public init(_ keys: [ReviewerTier: APIKey] = [:]) { self.keys = keys }

    public subscript(tier: ReviewerTier) -> APIKey? { keys[tier] }
}

extension ReviewBoard {
    /// The board as app.yaml configures it: each tier `offline` or an LLM provider with its own model, given
    /// only its own key from `keys`.
    /// - Parameter transport: builds the HTTP stack of a tier (tests inject one; the default is libcurl with retries).
    public static func make(config: LoadedConfig, keys: ReviewerKeys,
                            transport: (ReviewerConfig) -> any HTTPTransport = { LLMReviewer.transport(for: $0) })
        throws(ReviewSetupError) -> ReviewBoard {
        var reviewers: [any Reviewer] = []
        for tier in ReviewerTier.allCases {
            var rc = config.app.reviewers.config(for: tier)
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
            if !rc.apiKeyEnv.isEmpty && keys[tier] == nil {
                throw ReviewSetupError(key: "\(key).api_key_env",
                                       message: "no key was resolved for \(rc.apiKeyEnv) (provider \(rc.provider) needs a key)")
            }
            if rc.timeoutSeconds == 0 { rc.timeoutSeconds = kind.defaultTimeoutSeconds }
            reviewers.append(LLMReviewer(tier: tier, kind: kind, config: rc, prompt: prompt,
                                         cost: CostModel.make(kind: kind, model: rc.model, baseURL: rc.baseUrl,
                                                              table: config.app.prices),
                                         cacheConfig: config.app.reviewCache,
                                         newsPerProposal: config.app.news.maxItemsPerProposal,
                                         apiKey: keys[tier], transport: transport(rc)))
        }
        return ReviewBoard(reviewers: reviewers, policy: config.policy)
    }

    /// Settings that work but are probably not what was meant, one sentence each (logged at start-up).
    public static func setupWarnings(config: LoadedConfig) -> [String] {
        var out: [String] = []
        for tier in ReviewerTier.allCases {
            let rc = config.app.reviewers.config(for: tier)
            guard let kind = ProviderKind(rawValue: rc.provider), kind != .openaiCompatible else { continue }
            if Endpoint.isLoopback(kind.endpoint(base: rc.baseUrl)) {
                out.append("reviewers.\(tier.rawValue.lowercased()): provider \(rc.provider) at loopback \(rc.baseUrl) is priced as the paid model \(rc.model); "
                           + "use provider openai_compatible for a local server")
            }
        }
        return out
    }
}
