import Config
import Foundation
import Model
import Policy
import TestSupport
import Testing
@testable import Review

/// A reviewer that answers whatever it is told: stands in for an arbitrary (possibly hostile) LLM.
struct ScriptedReviewer: Reviewer {
    var tier: ReviewerTier
    var answer: @Sendable (ReviewContext) -> ReviewerAnswer
    func review(_ context: ReviewContext) async -> ReviewerAnswer { answer(context) }
}

/// Counts calls, to prove a reviewer was (not) consulted.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func bump() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}

func proposal(_ id: String, _ symbol: String, conviction: Double = 0.6, size: Double = 2) -> Proposal {
    Proposal(id: id, symbol: symbol, tier: .core, side: .buy, sizePct: size, conviction: conviction, components: [],
             stopLossPct: 6, takeProfitPct: 12, reason: "test", triggers: [.momentum], referencePrice: 100)
}

func tape(_ symbol: String, spread: Double = 2, depth: Double = 5e6, change: Double = 2, volume: Double = 1e9) -> TapeFacts {
    TapeFacts(symbol: symbol, price: 100, spreadBps: spread, depthUsd: depth, change24hPct: change, volume24hUsd: volume,
              volumeRatio: 1, fundingRate: nil)
}

@Suite struct ReviewBoundsTests {
    let proposals = [proposal("p1", "BTC-USD"), proposal("p2", "ETH-USD", conviction: 0.7)]

    func apply(_ verdicts: [ReviewerVerdict], tier: ReviewerTier = .m1, failure: String? = nil,
               mode: FailureMode = .neutral) -> ReviewBounds.Result {
        ReviewBounds.apply(ReviewerAnswer(verdicts: verdicts, source: "test", model: "m", failure: failure), tier: tier,
                           proposals: proposals, bound: 0.15, failureMode: mode)
    }

    @Test func outOfRangeDeltasAreClampedAndRecorded() {
        let r = apply([ReviewerVerdict(proposalId: "p1", delta: 0.9), ReviewerVerdict(proposalId: "p2", delta: -0.9)])
        #expect(r.applied.map(\.delta) == [0.15, -0.15])
        #expect(r.applied.allSatisfy { $0.clamped })
        #expect(r.applied.map(\.requestedDelta) == [0.9, -0.9])
        #expect(r.violations.count == 2)
        #expect(r.violations[0].detail.contains("clamped"))
    }

    /// Invariant 1: unknown proposals and symbols are ignored and recorded, never added.
    @Test func verdictsForUnknownProposalsOrSymbolsAreDropped() {
        let r = apply([
            ReviewerVerdict(proposalId: "p9", symbol: "DOGE-USD", delta: 0.1),
            ReviewerVerdict(proposalId: "p1", symbol: "SOL-USD", delta: 0.1),
            ReviewerVerdict(proposalId: "p2", symbol: "ETH-USD", delta: 0.05),
            ReviewerVerdict(proposalId: "p2", delta: 0.15),
        ])
        #expect(Set(r.applied.map(\.proposalId)) == ["p1", "p2"])
        #expect(r.applied.count == 2)
        #expect(r.applied.first { $0.proposalId == "p1" }?.delta == 0)   // its only verdict named the wrong symbol
        #expect(r.applied.first { $0.proposalId == "p2" }?.delta == 0.05) // the first verdict wins
        #expect(r.violations.map(\.proposalId) == ["p9", "p1", "p2"])
    }

    @Test func nonFiniteDeltasCountAsZero() {
        let r = apply([ReviewerVerdict(proposalId: "p1", delta: .nan), ReviewerVerdict(proposalId: "p2", delta: .infinity)])
        #expect(r.applied.map(\.delta) == [0, 0])
        #expect(r.violations.count == 2)
    }

    @Test func theGovernorMayOnlyVeto() {
        let r = apply([ReviewerVerdict(proposalId: "p1", delta: 0.1), ReviewerVerdict(proposalId: "p2", veto: true,
                                                                                     violatedChecks: ["max_spread_bps"])], tier: .m3)
        #expect(r.applied.map(\.delta) == [0, 0])
        #expect(r.applied.map(\.veto) == [false, true])
        #expect(r.applied[1].violatedChecks == ["max_spread_bps"])
        #expect(r.violations.count == 1)
    }

    @Test func aFailedTierAppliesItsFailureModeVisibly() {
        let neutral = apply([], failure: "timeout after 20s", mode: .neutral)
        #expect(neutral.applied.allSatisfy { !$0.veto && $0.delta == 0 && $0.reason.contains("timeout after 20s") })
        let closed = apply([ReviewerVerdict(proposalId: "p1", delta: 0.1)], tier: .m3, failure: "invalid JSON", mode: .veto)
        #expect(closed.applied.count == 2)
        #expect(closed.applied.allSatisfy { $0.veto && $0.reason.contains("failure mode veto") })
    }

    @Test func aMissingVerdictIsNeverASilentDefault() {
        let r = apply([ReviewerVerdict(proposalId: "p1", delta: 0.05)])
        let p2 = r.applied.first { $0.proposalId == "p2" }
        #expect(p2?.reason.contains("no verdict") == true)
    }

    /// Invariants 1-3 as a property over thousands of random answers from all three tiers: conviction moves by
    /// at most the bound per tier, no proposal appears that Rules did not make, and the policy's size never
    /// exceeds the rules' size.
    @Test func randomAnswersNeverBreakTheBounds() async throws {
        let config = try Fixtures.defaults()
        let bound = config.policy.reviewers.deltaBound
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)
        var rng = Fixtures.SeededRandom(seed: 2026)
        let ids = ["p1", "p2", "p3", "p4", "x", "", "p1 "]
        let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", nil]
        let deltas: [Double] = [0, 0.05, -0.05, 0.15, -0.15, 0.16, 0.9, -0.9, 5, -5, .nan, .infinity, -.infinity, 1e300]
        for _ in 0..<1_500 {
            let count = Int.random(in: 1...3, using: &rng)
            let rules = (1...count).map { proposal("p\($0)", ["BTC-USD", "ETH-USD", "SOL-USD"][$0 - 1],
                                                   conviction: Double.random(in: 0...1, using: &rng),
                                                   size: Double.random(in: 0.1...5, using: &rng)) }
            var answers: [ReviewerTier: ReviewerAnswer] = [:]
            for tier in ReviewerTier.allCases {
                let verdicts = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                    ReviewerVerdict(proposalId: ids.randomElement(using: &rng) ?? "p1",
                                    symbol: symbols.randomElement(using: &rng) ?? nil,
                                    delta: deltas.randomElement(using: &rng), veto: Int.random(in: 0..<8, using: &rng) == 0,
                                    reason: "r", violatedChecks: Bool.random(using: &rng) ? ["min_conviction"] : [])
                }
                answers[tier] = ReviewerAnswer(verdicts: verdicts, source: "fuzz", model: "fuzz",
                                               failure: Int.random(in: 0..<20, using: &rng) == 0 ? "broken" : nil)
            }
            let fixed = answers
            let board = ReviewBoard(reviewers: ReviewerTier.allCases.map { tier in
                ScriptedReviewer(tier: tier) { _ in fixed[tier] ?? ReviewerAnswer(verdicts: [], source: "fuzz", model: "fuzz") }
            }, policy: config.policy)
            let outcome = await board.run(ReviewContext(cycleId: "c", time: 0, proposals: rules,
                                                        tape: rules.map { tape($0.symbol) }, policy: config.policy))
            expectBoundsHold(outcome, rules: rules, engine: engine, bound: bound, tape: rules.map { tape($0.symbol) })
        }
    }
}

@Suite struct OfflineReviewerTests {
    func run(_ tier: ReviewerTier, _ tapes: [TapeFacts], proposals: [Proposal], prior: [AppliedReview] = []) async throws -> ReviewerAnswer {
        let config = try Fixtures.defaults()
        return await OfflineReviewers.make(tier).review(ReviewContext(cycleId: "c", time: 0, proposals: proposals, tape: tapes,
                                                                      policy: config.policy, priorReviews: prior))
    }

    @Test func m1WithoutNewsIsNeutral() async throws {
        let a = try await run(.m1, [tape("BTC-USD")], proposals: [proposal("p1", "BTC-USD")])
        #expect(a.verdicts.map(\.delta) == [0])
        #expect(a.verdicts.allSatisfy { !$0.veto })
        #expect(a.source == "offline")
    }

    @Test func m2VetoesAWideSpread() async throws {
        let a = try await run(.m2, [tape("PEPE-USD", spread: 75)], proposals: [proposal("p1", "PEPE-USD")])
        #expect(a.verdicts.first?.veto == true)
        #expect(a.verdicts.first?.reason.contains("illiquid") == true)
    }

    @Test func m2VetoesAParabolicMoveOnThinDepthButNotOnDepth() async throws {
        let thin = try await run(.m2, [tape("WIF-USD", spread: 20, depth: 50_000, change: 45)], proposals: [proposal("p1", "WIF-USD")])
        #expect(thin.verdicts.first?.veto == true)
        #expect(thin.verdicts.first?.reason.contains("parabolic") == true)
        let deep = try await run(.m2, [tape("SOL-USD", spread: 3, depth: 5e6, change: 45)], proposals: [proposal("p1", "SOL-USD")])
        #expect(deep.verdicts.first?.veto == false)
    }

    @Test func m2NudgesByTapeQualityWithinTheBound() async throws {
        let good = try await run(.m2, [tape("BTC-USD", spread: 1, depth: 5e6)], proposals: [proposal("p1", "BTC-USD")])
        let poor = try await run(.m2, [tape("AVAX-USD", spread: 40, depth: 100_000)], proposals: [proposal("p1", "AVAX-USD")])
        #expect((good.verdicts.first?.delta ?? 0) > 0)
        #expect((poor.verdicts.first?.delta ?? 0) < 0)
        #expect(abs(poor.verdicts.first?.delta ?? 1) <= 0.15)
    }

    @Test func m3VetoesBelowTheMinimumCombinedConviction() async throws {
        let p = proposal("p1", "BTC-USD", conviction: 0.55)
        let prior = [AppliedReview(reviewer: .m2, source: "offline", proposalId: "p1", requestedDelta: 0.02, delta: 0.02,
                                   clamped: false, veto: false, reason: "")]
        let a = try await run(.m3, [tape("BTC-USD")], proposals: [p], prior: prior)
        #expect(a.verdicts.first?.veto == true)
        #expect(a.verdicts.first?.violatedChecks == ["min_combined_conviction"])
        let ok = try await run(.m3, [tape("BTC-USD")], proposals: [proposal("p1", "BTC-USD", conviction: 0.7)], prior: prior)
        #expect(ok.verdicts.first?.veto == false)
    }

    @Test func theBoardMakesNoCallsWithoutProposals() async throws {
        let config = try Fixtures.defaults()
        let counter = CallCounter()
        let board = ReviewBoard(reviewers: ReviewerTier.allCases.map { tier in
            ScriptedReviewer(tier: tier) { _ in
                counter.bump()
                return ReviewerAnswer(verdicts: [], source: "x", model: "x")
            }
        }, policy: config.policy)
        let outcome = await board.run(ReviewContext(cycleId: "c", time: 0, proposals: [], tape: [], policy: config.policy))
        #expect(counter.count == 0)
        #expect(outcome.tiers.isEmpty)
    }
}
