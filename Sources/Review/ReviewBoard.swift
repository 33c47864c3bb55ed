import Config
import Model
import Risk

/// What one tier did this cycle, for the ledger (`review` event): the answer as used (provider, model, prompt
/// hash, request parameters, raw answer, calls with tokens and cost), what was applied, and every violation.
public struct TierRecord: Codable, Sendable, Equatable {
    public var reviewer: ReviewerTier
    public var answer: ReviewerAnswer
    public var applied: [AppliedReview]
    public var violations: [ReviewerViolation]
    /// `skip` or `no_trade` when the budget refused this tier's call.
    public var fallback: String?
    /// M1: the news risk it rated per symbol this cycle (the history that decays).
    public var newsRiskRated: [String: NewsRiskLevel]?
    /// M1: the effective risk per proposal symbol after decay of earlier flags.
    public var newsRiskEffective: [String: NewsRiskLevel]?
    /// The budget after this tier.
    public var budget: BudgetStatus?
    /// M3 skipped by the budget: which `reviewers.m3.on_skip` applied (`veto` or `allow`).
    public var onSkip: String?

    public init(reviewer: ReviewerTier, answer: ReviewerAnswer, applied: [AppliedReview], violations: [ReviewerViolation],
                fallback: String? = nil, newsRiskRated: [String: NewsRiskLevel]? = nil,
                newsRiskEffective: [String: NewsRiskLevel]? = nil, budget: BudgetStatus? = nil, onSkip: String? = nil) {
        self.onSkip = onSkip
        self.reviewer = reviewer
        self.answer = answer
        self.applied = applied
        self.violations = violations
        self.fallback = fallback
        self.newsRiskRated = newsRiskRated
        self.newsRiskEffective = newsRiskEffective
        self.budget = budget
    }

    /// Paid HTTP calls this tier made.
    public var calls: Int { answer.callCount }
}

/// The outcome of M1 -> M2 -> M3 over a cycle's proposals.
public struct ReviewOutcome: Codable, Sendable, Equatable {
    public var tiers: [TierRecord]
    /// HTTP calls made to LLM providers, repair retries included (offline, cache and replay are not calls).
    public var calls: Int
    public var cacheHits: Int
    public var costUsd: Double
    public var budgetUsd: Double
    /// The budget fallback taken, if any (`skip` or `no_trade`).
    public var fallback: String?
    public var inputTokens: Int = 0
    public var outputTokens: Int = 0
    /// The budget at the end of the tiers (nil when no paid reviewer is configured).
    public var budget: BudgetStatus?
    /// Set when the budget skipped M3: the `reviewers.m3.on_skip` that applied.
    public var m3OnSkip: String?

    /// Every applied review of one proposal, in tier order.
    public func reviews(for proposalId: String) -> [AppliedReview] {
        tiers.flatMap { $0.applied.filter { $0.proposalId == proposalId } }
    }

    public var violations: [ReviewerViolation] { tiers.flatMap(\.violations) }
}

/// Runs the three tiers, one batched call each, enforcing the bounds on every answer. M1 and M2 are
/// independent and run concurrently (M1 claims the budget first; inline when every tier answers at once, as the
/// offline ones do); M3 runs after both, seeing their reviews.
public struct ReviewBoard: Sendable {
    public var reviewers: [any Reviewer]
    public var policy: PolicyConfig
    /// The policy's check names (M3's `violated_checks` is restricted to them in the request); empty = unrestricted.
    public var checkNames: [String]

    public init(reviewers: [any Reviewer], policy: PolicyConfig, checkNames: [String] = []) {
        self.reviewers = reviewers.sorted { $0.tier.rawValue < $1.tier.rawValue }
        self.policy = policy
        self.checkNames = checkNames
    }

    /// The offline board: the embedded default.
    public static func offline(policy: PolicyConfig) -> ReviewBoard {
        ReviewBoard(reviewers: ReviewerTier.allCases.map(OfflineReviewers.make), policy: policy)
    }

    /// Whether any tier may cost money (so a budget and the ledger's spend history are needed).
    public var hasPaidReviewers: Bool { reviewers.contains { $0 is LLMReviewer } }

    /// Runs M1 and M2, then M3. No proposals: no reviewer is consulted. `newsRiskHistory` holds M1's earlier flags.
    public func run(_ context: ReviewContext, newsRiskHistory: [NewsRiskFlag] = []) async -> ReviewOutcome {
        guard !context.proposals.isEmpty else {
            return ReviewOutcome(tiers: [], calls: 0, cacheHits: 0, costUsd: 0,
                                 budgetUsd: policy.aiBudget.maxCostPerCycleUsd, fallback: nil)
        }
        var base = context
        base.checkNames = checkNames
        var records: [TierRecord] = []
        var applied: [AppliedReview] = []
        // The tiers before the governor see no other review: run them together, each admitted to the budget
        // only after the one before it, so which call a tight budget refuses does not depend on timing.
        var running: [(tier: ReviewerTier, task: Task<ReviewerAnswer, Never>)] = []
        var previous: AdmissionGate?
        let inline = reviewers.allSatisfy(\.answersAtOnce)
        for reviewer in reviewers where reviewer.tier != .m3 && inline {
            records.append(await settle(reviewer.tier, await reviewer.review(base), context: base, newsRiskHistory: newsRiskHistory,
                                        applied: &applied))
        }
        for reviewer in reviewers where reviewer.tier != .m3 && !inline {
            await previous?.wait()
            let gate = AdmissionGate()
            var ctx = base
            ctx.admission = gate
            running.append((reviewer.tier, Task {
                let answer = await reviewer.review(ctx)
                await gate.open()
                return answer
            }))
            previous = gate
        }
        for (tier, task) in running {
            records.append(await settle(tier, await task.value, context: base, newsRiskHistory: newsRiskHistory, applied: &applied))
        }
        for reviewer in reviewers where reviewer.tier == .m3 {
            var ctx = base
            ctx.priorReviews = applied
            records.append(await settle(.m3, await reviewer.review(ctx), context: base, newsRiskHistory: newsRiskHistory,
                                        applied: &applied))
        }
        let fallbacks = records.compactMap(\.fallback)
        let paid = records.map(\.answer).filter { $0.source != ReviewSource.cache.rawValue }
        return ReviewOutcome(tiers: records, calls: records.reduce(0) { $0 + $1.calls },
                             cacheHits: records.filter { $0.answer.source == ReviewSource.cache.rawValue }.count,
                             costUsd: paid.reduce(0) { $0 + $1.costUsd },
                             budgetUsd: policy.aiBudget.maxCostPerCycleUsd,
                             fallback: fallbacks.contains("no_trade") ? "no_trade" : fallbacks.first,
                             inputTokens: paid.reduce(0) { $0 + $1.inputTokens },
                             outputTokens: paid.reduce(0) { $0 + $1.outputTokens },
                             budget: await context.spend?.status(),
                             m3OnSkip: records.first { $0.reviewer == .m3 }?.onSkip)
    }

    /// One tier's answer made safe: the budget fallback when its call was refused, the bounds, M1's news risk.
    private func settle(_ tier: ReviewerTier, _ raw: ReviewerAnswer, context: ReviewContext, newsRiskHistory: [NewsRiskFlag],
                        applied: inout [AppliedReview]) async -> TierRecord {
        var answer = raw
        var fallback: String?
        var onSkip: String?
        if let denied = answer.budgetDenied {
            // Invariant 5's fallback, recorded on every proposal: rules only for this tier, or no trade. A skipped
            // governor vetoes unless reviewers.m3.on_skip says allow: M3's own failure mode is veto.
            let mode = policy.aiBudget.onBudgetExhausted
            fallback = mode.rawValue
            answer.failure = nil
            answer.source = ReviewSource.budgetSkip.rawValue
            let veto: Bool
            let why: String
            switch (mode, tier) {
            case (.noTrade, _):
                veto = true
                why = "\(denied): on_budget_exhausted no_trade"
            case (.skip, .m3):
                let skip = policy.reviewers.m3.onSkip
                onSkip = skip.rawValue
                veto = skip == .veto
                why = "\(denied): on_budget_exhausted skip, M3 skipped: reviewers.m3.on_skip \(skip.rawValue)"
                    + (veto ? " (no trade without the governor)" : " (rules only)")
            case (.skip, _):
                veto = false
                why = "\(denied): on_budget_exhausted skip, \(tier.rawValue) skipped (rules only)"
            }
            answer.verdicts = context.proposals.map {
                ReviewerVerdict(proposalId: $0.id, symbol: $0.symbol, delta: 0, veto: veto, reason: why)
            }
        }
        let given: [String: Set<String>]? = tier == .m1
            ? Dictionary(uniqueKeysWithValues: context.proposals.map { ($0.id, Set(answer.request?.newsIds[$0.id] ?? [])) })
            : nil
        var result = ReviewBounds.apply(answer, tier: tier, proposals: context.proposals,
                                        bound: policy.reviewers.deltaBound, failureMode: failureMode(tier),
                                        givenNewsIds: given)
        var rated: [String: NewsRiskLevel]?
        var effective: [String: NewsRiskLevel]?
        if tier == .m1 {
            (rated, effective) = applyNewsRisk(answer: answer, result: &result, context: context, history: newsRiskHistory)
        }
        applied += result.applied
        return TierRecord(reviewer: tier, answer: answer, applied: result.applied, violations: result.violations,
                          fallback: fallback, newsRiskRated: rated, newsRiskEffective: effective,
                          budget: await context.spend?.status(), onSkip: onSkip)
    }

    /// M1's ratings this cycle (from verdicts that survived the bounds) and the effective level per proposal
    /// symbol after decay; an effective HIGH vetoes new entries on the symbol, recorded in the reason.
    private func applyNewsRisk(answer: ReviewerAnswer, result: inout ReviewBounds.Result, context: ReviewContext,
                               history: [NewsRiskFlag]) -> ([String: NewsRiskLevel], [String: NewsRiskLevel]) {
        var rated: [String: NewsRiskLevel] = [:]
        let accepted = Set(result.applied.map(\.proposalId))
        var seen = Set<String>()
        for verdict in answer.verdicts where answer.failure == nil {
            guard let level = verdict.newsRisk, accepted.contains(verdict.proposalId), seen.insert(verdict.proposalId).inserted,
                  let p = context.proposals.first(where: { $0.id == verdict.proposalId }),
                  verdict.symbol == nil || verdict.symbol == p.symbol else { continue }
            rated[p.symbol] = max(rated[p.symbol] ?? .low, level)
        }
        let decayed = NewsRiskDecay.effective(history, at: context.time, policy: policy.reviewers.newsRisk)
        var effective: [String: NewsRiskLevel] = [:]
        for p in context.proposals {
            let old = decayed[p.symbol]
            let level = max(rated[p.symbol] ?? .low, old?.0 ?? .low)
            effective[p.symbol] = level
            guard level == .high, let i = result.applied.firstIndex(where: { $0.proposalId == p.id }) else { continue }
            let origin = rated[p.symbol] == .high ? "rated HIGH this cycle"
                : "flagged HIGH at \(old.map { String($0.1.time) } ?? "?") (Unix s)"
            result.applied[i].veto = true
            result.applied[i].reason += "; news risk HIGH on \(p.symbol) (\(origin)): new entries blocked for \(Format.number(policy.reviewers.newsRisk.highRiskBlockHours))h"
        }
        return (rated, effective)
    }

    private func failureMode(_ tier: ReviewerTier) -> FailureMode {
        switch tier {
        case .m1: policy.reviewers.failureMode.m1
        case .m2: policy.reviewers.failureMode.m2
        case .m3: policy.reviewers.failureMode.m3
        }
    }
}

extension EventType where Payload == TierRecord {
    /// One reviewer tier's record for the cycle (its answer, spend and what it applied).
    public static var review: Self { Self(.review) }
}
