import Config
import Foundation
import Ledger
import Model
import Review

/// Payload of `cycle_inputs`: everything besides proposals and reviews that the policy and the reviewers saw,
/// so a recorded cycle can be replayed without the market or the network.
public struct CycleInputs: Codable, Sendable, Equatable {
    public var tape: [TapeFacts]
    public var state: PortfolioState
    /// News items given to M1 this cycle.
    public var news: [NewsItem]
    /// M1's earlier news risk flags still in play.
    public var newsRiskHistory: [NewsRiskFlag]
    public var killSwitchOn: Bool
}

/// Payload of `shadow`: the rules-only decision of every proposal next to the decision with reviews.
public struct ShadowOutcome: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var proposalId: String
        public var symbol: String
        public var rulesOnlyApproved: Bool
        public var rulesOnlySizePct: Double
        public var rulesOnlyViolatedChecks: [String]
        public var approved: Bool
        public var sizePct: Double
        /// `unchanged`, `blocked` (the AI tier turned an approval into a rejection), `enabled` (the reverse),
        /// `resized` (approved either way, different size).
        public var effect: String
    }

    /// Counts for the `--once` summary and the audit.
    public struct Counts: Codable, Sendable, Equatable {
        public var changed: Int
        public var blocked: Int
        public var enabled: Int
        public var resized: Int
    }

    public var entries: [Entry]

    public init(withReviews: [Decision], rulesOnly: [Decision]) {
        entries = zip(withReviews, rulesOnly).map { d, r in
            let effect: String
            switch (r.approved, d.approved) {
            case (true, false): effect = "blocked"
            case (false, true): effect = "enabled"
            case (true, true) where abs(d.sizePct - r.sizePct) > 1e-9: effect = "resized"
            default: effect = "unchanged"
            }
            return Entry(proposalId: d.proposalId, symbol: d.symbol, rulesOnlyApproved: r.approved,
                         rulesOnlySizePct: Format.round(r.sizePct), rulesOnlyViolatedChecks: r.violatedChecks,
                         approved: d.approved, sizePct: Format.round(d.sizePct), effect: effect)
        }
    }

    public var counts: Counts {
        Counts(changed: entries.filter { $0.effect != "unchanged" }.count,
               blocked: entries.filter { $0.effect == "blocked" }.count,
               enabled: entries.filter { $0.effect == "enabled" }.count,
               resized: entries.filter { $0.effect == "resized" }.count)
    }
}

/// What earlier `review` events say, rebuilt on every cycle so nothing depends on process memory:
/// AI spend in the rolling day (hour windows are a subset), live cache entries and M1's news risk flags.
struct ReviewHistory {
    var spend: [SpendEntry] = []
    var cache: [String: CachedReview] = [:]
    var newsRisk: [NewsRiskFlag] = []

    static func load(store: any EventStore, now: Int64, ttlMinutes: Double, policy: NewsRiskPolicy) throws -> ReviewHistory {
        var h = ReviewHistory()
        let riskHours = policy.highRiskBlockHours + policy.mediumRiskHours
        let horizon = max(86_400, Int64(riskHours * 3_600), Int64(ttlMinutes * 60))
        for event in try store.events(types: [EventKind.review.rawValue], since: now - horizon) where event.time <= now {
            let record = try event.value(TierRecord.self)
            let a = record.answer
            if event.time > now - 86_400, a.callCount > 0 || a.costUsd > 0 {
                h.spend.append(SpendEntry(time: event.time, costUsd: a.costUsd, calls: a.callCount))
            }
            if let key = a.cacheKey, a.failure == nil, a.budgetDenied == nil, a.source != "cache", a.callCount > 0 {
                let expires = event.time + Int64(ttlMinutes * 60)
                if expires > now { h.cache[key] = CachedReview(answer: a, cycleId: event.cycleId, expires: expires) }
            }
            for (symbol, level) in record.newsRiskRated ?? [:] where level != .low {
                h.newsRisk.append(NewsRiskFlag(symbol: symbol, level: level, time: event.time))
            }
        }
        h.newsRisk.sort { $0.time != $1.time ? $0.time < $1.time : $0.symbol < $1.symbol }
        return h
    }
}
