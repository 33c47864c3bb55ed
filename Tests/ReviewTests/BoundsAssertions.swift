import Model
import Policy
import Testing
@testable import Review

/// Invariants 1-3 after a board ran on untrusted answers: exactly one bounded effect per proposal per tier and
/// none for anything else, M3 never moves conviction, and the policy never grows a size nor lets a veto through.
func expectBoundsHold(_ outcome: ReviewOutcome, rules: [Proposal], engine: PolicyEngine, bound: Double,
                      tape: [TapeFacts]) {
    let known = Set(rules.map(\.id))
    for record in outcome.tiers {
        #expect(record.applied.count == rules.count)
        #expect(Set(record.applied.map(\.proposalId)) == known)
        #expect(record.applied.allSatisfy { abs($0.delta) <= bound && $0.delta.isFinite })
        if record.reviewer == .m3 { #expect(record.applied.allSatisfy { $0.delta == 0 }) }
        if record.answer.failure != nil { #expect(record.applied.allSatisfy { $0.reason.contains("failure mode") }) }
    }
    let decisions = engine.decide(rules.map { ReviewedProposal(proposal: $0, reviews: outcome.reviews(for: $0.id)) },
                                  input: PolicyInput(now: 1_000_000, killSwitchOn: false, state: .flat(equityUsd: 10_000),
                                                     tape: tape))
    #expect(decisions.map(\.proposalId) == rules.map(\.id))
    for (d, p) in zip(decisions, rules) {
        #expect(d.sizePct <= p.sizePct)
        #expect(d.finalConviction >= max(0, p.conviction - 2 * bound) - 1e-9)
        #expect(d.finalConviction <= min(1, p.conviction + 2 * bound) + 1e-9)
        if outcome.reviews(for: p.id).contains(where: { $0.veto }) { #expect(!d.approved) }
    }
}
