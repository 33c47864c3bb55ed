import Config
import Model

private let fmt = Format.number

/// The deterministic offline reviewers: same contract as the LLM providers, no network, labelled `offline`.
public enum OfflineReviewers {
    public static func make(_ tier: ReviewerTier) -> any Reviewer {
        switch tier {
        case .m1: OfflineNewsReviewer()
        case .m2: OfflineTapeReviewer()
        case .m3: OfflineGovernor()
        }
    }
}

/// M1 without a news source: neutral on every proposal.
public struct OfflineNewsReviewer: Reviewer {
    public var answersAtOnce: Bool { true }
    public init() {}
    public var tier: ReviewerTier { .m1 }
    public func review(_ context: ReviewContext) async -> ReviewerAnswer {
        ReviewerAnswer(verdicts: context.proposals.map {
            ReviewerVerdict(proposalId: $0.id, symbol: $0.symbol, delta: 0, veto: false,
                            reason: "no news source configured (offline): neutral")
        }, source: ReviewSource.offline.rawValue, model: "offline-v1")
    }
}

/// M2 on the tape: vetoes illiquid books and parabolic moves on thin depth; otherwise nudges by tape quality.
public struct OfflineTapeReviewer: Reviewer {
    public var answersAtOnce: Bool { true }
    public init() {}
    public var tier: ReviewerTier { .m2 }

    public func review(_ context: ReviewContext) async -> ReviewerAnswer {
        let limits = context.policy.reviewers.m2
        let verdicts = context.proposals.map { p -> ReviewerVerdict in
            guard let tape = context.tape(for: p.symbol) else {
                return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, veto: true, reason: "no tape for \(p.symbol)")
            }
            if tape.spreadBps > limits.maxSpreadBps {
                return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, veto: true,
                    reason: "illiquid: spread \(fmt(tape.spreadBps)) bps > \(fmt(limits.maxSpreadBps)) bps")
            }
            if abs(tape.change24hPct) > limits.parabolicMovePct, tape.depthUsd < limits.thinDepthUsd {
                return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, veto: true,
                    reason: "parabolic: \(fmt(tape.change24hPct))% in 24h on \(Format.usd(tape.depthUsd)) depth")
            }
            var delta = 0.0
            var notes: [String] = []
            if tape.spreadBps <= 5 {
                delta += 0.02
                notes.append("tight spread \(fmt(tape.spreadBps)) bps")
            } else if tape.spreadBps > limits.maxSpreadBps / 2 {
                delta -= 0.03
                notes.append("wide spread \(fmt(tape.spreadBps)) bps")
            }
            if tape.depthUsd >= limits.thinDepthUsd * 4 {
                delta += 0.02
                notes.append("deep book \(Format.usd(tape.depthUsd))")
            } else if tape.depthUsd < limits.thinDepthUsd {
                delta -= 0.03
                notes.append("thin book \(Format.usd(tape.depthUsd))")
            }
            if tape.volumeRatio >= 1.5 {
                delta += 0.01
                notes.append("volume \(fmt(tape.volumeRatio))x average")
            }
            if let funding = tape.fundingRate, p.side == .buy, funding > 0.0003 {
                delta -= 0.02
                notes.append("crowded longs (funding \(fmt(funding * 100))%)")
            }
            return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, delta: delta, veto: false,
                                   reason: notes.isEmpty ? "ordinary tape" : notes.joined(separator: ", "))
        }
        return ReviewerAnswer(verdicts: verdicts, source: ReviewSource.offline.rawValue, model: "offline-v1")
    }
}

/// M3: checks the combined conviction and the tape against the policy; approves or vetoes with the checks it sees violated.
public struct OfflineGovernor: Reviewer {
    public var answersAtOnce: Bool { true }
    public init() {}
    public var tier: ReviewerTier { .m3 }

    public func review(_ context: ReviewContext) async -> ReviewerAnswer {
        let risk = context.policy.risk
        let bound = context.policy.reviewers.deltaBound
        let verdicts = context.proposals.map { p -> ReviewerVerdict in
            let prior = context.priorReviews.filter { $0.proposalId == p.id }
            var violated: [String] = []
            var reasons: [String] = []
            if let vetoer = prior.first(where: \.veto) {
                reasons.append("\(vetoer.reviewer.rawValue) vetoed")
            }
            let combined = Conviction.combine(base: p.conviction, reviews: prior, bound: bound)
            if combined < risk.minCombinedConviction {
                violated.append("min_combined_conviction")
                reasons.append("combined conviction \(fmt(combined)) < \(fmt(risk.minCombinedConviction))")
            }
            if let tape = context.tape(for: p.symbol) {
                if tape.spreadBps > risk.maxSpreadBps {
                    violated.append("max_spread_bps")
                    reasons.append("spread \(fmt(tape.spreadBps)) bps > \(fmt(risk.maxSpreadBps))")
                }
                if tape.volume24hUsd < risk.min24hVolumeUsd {
                    violated.append("min_24h_volume")
                    reasons.append("24h volume \(Format.usd(tape.volume24hUsd)) < \(Format.usd(risk.min24hVolumeUsd))")
                }
            }
            if p.leverage > risk.maxLeverage {
                violated.append("max_leverage")
                reasons.append("leverage \(fmt(p.leverage)) > \(fmt(risk.maxLeverage))")
            }
            let veto = !violated.isEmpty
            return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, delta: 0, veto: veto,
                                   reason: veto ? reasons.joined(separator: "; ")
                                       : "approve: combined conviction \(fmt(combined)) within policy",
                                   violatedChecks: violated)
        }
        return ReviewerAnswer(verdicts: verdicts, source: ReviewSource.offline.rawValue, model: "offline-v1")
    }
}

/// Replays a recorded answer instead of calling anyone: the answer is returned verbatim (source, verdicts,
/// failure, budget refusal), so the bounds, the news risk and the policy reproduce the recorded decisions.
public struct ReplayReviewer: Reviewer {
    public let tier: ReviewerTier
    public let recorded: ReviewerAnswer

    public init(tier: ReviewerTier, recorded: ReviewerAnswer) {
        self.tier = tier
        self.recorded = recorded
    }

    public func review(_ context: ReviewContext) async -> ReviewerAnswer { recorded }
}
