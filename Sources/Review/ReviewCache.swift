import Crypto
import Foundation
import Model

/// A cached review: a tier's validated answer for one set of decision inputs.
public struct CachedReview: Sendable, Equatable {
    public var answer: ReviewerAnswer
    /// The cycle whose paid call produced it.
    public var cycleId: String
    /// Unix seconds after which it is no longer used.
    public var expires: Int64

    public init(answer: ReviewerAnswer, cycleId: String, expires: Int64) {
        self.answer = answer
        self.cycleId = cycleId
        self.expires = expires
    }
}

/// Reviews keyed on their decision inputs, with a TTL. Seeded from the ledger's recent `review` events on
/// every cycle, so a hit works across restarts; a hit costs nothing and is marked `source: "cache"`.
public actor ReviewCache {
    private var entries: [String: CachedReview] = [:]

    public init(seed: [String: CachedReview] = [:]) {
        entries = seed
    }

    /// A live entry for `key` at decision time `now`.
    public func get(_ key: String, now: Int64) -> CachedReview? {
        guard let hit = entries[key], hit.expires > now else { return nil }
        return hit
    }

    public func put(_ key: String, _ review: CachedReview) {
        entries[key] = review
    }

    public var count: Int { entries.count }
}

/// The cache key: sha256 over the decision inputs of a tier's call.
public enum ReviewCacheKey {
    /// What the key covers; encoded with sorted keys so the hash is stable.
    struct Inputs: Encodable {
        var tier: String
        var provider: String
        var model: String
        var promptHash: String
        var maxTokens: Int
        var temperature: Double
        var proposals: [ProposalFacts]
        var priorReviews: [PriorFacts]
        /// sha256 of the policy limits the prompt quotes.
        var policy: String
    }

    struct ProposalFacts: Encodable {
        var id: String
        var symbol: String
        var side: String
        var sizePct: Double
        var conviction: Double
        var leverage: Double
        var tape: [Double]
        var newsIds: [String]
    }

    struct PriorFacts: Encodable {
        var proposalId: String
        var reviewer: String
        var delta: Double
        var veto: Bool
    }

    /// Numbers are rounded to `decimals` so noise below that precision still hits the cache.
    public static func make(tier: ReviewerTier, provider: String, model: String, promptHash: String, maxTokens: Int,
                            temperature: Double, context: ReviewContext, newsIds: [String: [String]], decimals: Int) -> String {
        func r(_ x: Double?) -> Double { Format.round(x ?? 0, decimals) }
        let proposals = context.proposals.map { p -> ProposalFacts in
            let t = context.tape(for: p.symbol)
            return ProposalFacts(id: p.id, symbol: p.symbol, side: p.side.rawValue, sizePct: r(p.sizePct),
                                 conviction: r(p.conviction), leverage: r(p.leverage),
                                 tape: tier == .m1 ? [] : [r(t?.spreadBps), r(t?.depthUsd), r(t?.change24hPct),
                                                           r(t?.volume24hUsd), r(t?.volumeRatio), r(t?.fundingRate)],
                                 newsIds: newsIds[p.id] ?? [])
        }
        let prior = tier == .m3 ? context.priorReviews.map {
            PriorFacts(proposalId: $0.proposalId, reviewer: $0.reviewer.rawValue, delta: r($0.delta), veto: $0.veto)
        } : []
        let inputs = Inputs(tier: tier.rawValue, provider: provider, model: model, promptHash: promptHash,
                            maxTokens: maxTokens, temperature: temperature, proposals: proposals, priorReviews: prior,
                            policy: sha((try? JSONCoding.encoder().encode(context.policy)) ?? Data()))
        return "rk-" + sha((try? JSONCoding.encoder().encode(inputs)) ?? Data())
    }

    static func sha(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
