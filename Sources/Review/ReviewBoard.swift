import Config
import Model

/// What one tier did this cycle, for the ledger: the raw answer and its accounting.
public struct TierRecord: Codable, Sendable, Equatable {
    public var reviewer: ReviewerTier
    public var answer: ReviewerAnswer
    public var applied: [AppliedReview]
    public var violations: [ReviewerViolation]
}

/// The outcome of M1 -> M2 -> M3 over a cycle's proposals.
public struct ReviewOutcome: Codable, Sendable, Equatable {
    public var tiers: [TierRecord]
    /// Calls made to paid providers (offline reviews are not calls).
    public var calls: Int
    public var cacheHits: Int
    public var costUsd: Double
    public var budgetUsd: Double
    /// The budget fallback taken, if any.
    public var fallback: String?

    /// Every applied review of one proposal, in tier order.
    public func reviews(for proposalId: String) -> [AppliedReview] {
        tiers.flatMap { $0.applied.filter { $0.proposalId == proposalId } }
    }

    public var violations: [ReviewerViolation] { tiers.flatMap(\.violations) }
}

/// Runs the three tiers in order, one batched call each, enforcing the bounds on every answer.
public struct ReviewBoard: Sendable {
    public var reviewers: [any Reviewer]
    public var policy: PolicyConfig

    public init(reviewers: [any Reviewer], policy: PolicyConfig) {
        self.reviewers = reviewers.sorted { $0.tier.rawValue < $1.tier.rawValue }
        self.policy = policy
    }

    /// The offline board: the embedded default.
    public static func offline(policy: PolicyConfig) -> ReviewBoard {
        ReviewBoard(reviewers: ReviewerTier.allCases.map(OfflineReviewers.make), policy: policy)
    }

    public func run(_ context: ReviewContext) async -> ReviewOutcome {
        var records: [TierRecord] = []
        var applied: [AppliedReview] = []
        guard !context.proposals.isEmpty else {
            return ReviewOutcome(tiers: [], calls: 0, cacheHits: 0, costUsd: 0,
                                 budgetUsd: policy.aiBudget.maxCostPerCycleUsd, fallback: nil)
        }
        for reviewer in reviewers {
            var ctx = context
            ctx.priorReviews = applied
            let answer = await reviewer.review(ctx)
            let result = ReviewBounds.apply(answer, tier: reviewer.tier, proposals: context.proposals,
                                            bound: policy.reviewers.deltaBound,
                                            failureMode: failureMode(reviewer.tier))
            applied += result.applied
            records.append(TierRecord(reviewer: reviewer.tier, answer: answer, applied: result.applied,
                                      violations: result.violations))
        }
        let paid = records.filter { !["offline", "cache", "replay"].contains($0.answer.source) }
        return ReviewOutcome(tiers: records, calls: paid.count,
                             cacheHits: records.filter { $0.answer.source == "cache" }.count,
                             costUsd: paid.reduce(0) { $0 + $1.answer.costUsd },
                             budgetUsd: policy.aiBudget.maxCostPerCycleUsd, fallback: nil)
    }

    private func failureMode(_ tier: ReviewerTier) -> FailureMode {
        switch tier {
        case .m1: policy.reviewers.failureMode.m1
        case .m2: policy.reviewers.failureMode.m2
        case .m3: policy.reviewers.failureMode.m3
        }
    }
}
