import Config
import Model

/// Everything a reviewer tier may see about a cycle. There are no candles, venues or executors here:
/// the Review target cannot import Market or Execution, so a reviewer can only read facts and answer.
public struct ReviewContext: Sendable {
    public var cycleId: String
    public var time: Int64
    public var proposals: [Proposal]
    /// Tape facts per symbol of the proposals.
    public var tape: [TapeFacts]
    /// The policy limits, for M3 and the prompts.
    public var policy: PolicyConfig
    /// Reviews already applied this cycle (M3 sees M1's and M2's).
    public var priorReviews: [AppliedReview]

    public init(cycleId: String, time: Int64, proposals: [Proposal], tape: [TapeFacts], policy: PolicyConfig,
                priorReviews: [AppliedReview] = []) {
        self.cycleId = cycleId
        self.time = time
        self.proposals = proposals
        self.tape = tape
        self.policy = policy
        self.priorReviews = priorReviews
    }

    public func tape(for symbol: String) -> TapeFacts? { tape.first { $0.symbol == symbol } }
}

/// One tier's raw answer for a whole cycle (one batched call covering every proposal), untrusted.
public struct ReviewerAnswer: Codable, Sendable, Equatable {
    public var verdicts: [ReviewerVerdict]
    /// "offline", "cache", "replay" or a provider name.
    public var source: String
    public var model: String
    /// sha256 of the prompt template used (empty when none).
    public var promptHash: String
    /// The raw text the reviewer returned (for the ledger and replay).
    public var rawAnswer: String?
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUsd: Double
    /// Set when the tier failed (timeout, invalid output...). The tier's failure mode then applies.
    public var failure: String?

    public init(verdicts: [ReviewerVerdict], source: String, model: String, promptHash: String = "",
                rawAnswer: String? = nil, inputTokens: Int = 0, outputTokens: Int = 0, costUsd: Double = 0,
                failure: String? = nil) {
        self.verdicts = verdicts
        self.source = source
        self.model = model
        self.promptHash = promptHash
        self.rawAnswer = rawAnswer
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUsd = costUsd
        self.failure = failure
    }
}

/// A reviewer tier: M1 news, M2 tape or M3 governor. Offline and LLM-backed providers implement the same contract.
public protocol Reviewer: Sendable {
    var tier: ReviewerTier { get }
    /// Reviews all proposals of a cycle at once. Must not throw: failures are reported in `failure`.
    func review(_ context: ReviewContext) async -> ReviewerAnswer
}

/// Enforces the reviewer contract on an untrusted answer. This is where invariants 1 and 2 live.
public enum ReviewBounds {
    public struct Result: Sendable, Equatable {
        public var applied: [AppliedReview]
        public var violations: [ReviewerViolation]
    }

    /// - Unknown proposal ids, mismatched symbols and duplicates are dropped and recorded as violations.
    /// - Deltas are clamped to `±bound` (recorded); non-finite deltas count as 0 (recorded).
    /// - M3 may only veto: any delta it sends is ignored (recorded).
    /// - A proposal without a verdict, or every proposal when the tier failed, gets the failure mode:
    ///   `neutral` (no effect) or `veto`; either way the reason says so.
    public static func apply(_ answer: ReviewerAnswer, tier: ReviewerTier, proposals: [Proposal], bound: Double,
                             failureMode: FailureMode) -> Result {
        let b = abs(bound.isFinite ? bound : 0)
        var applied: [AppliedReview] = []
        var violations: [ReviewerViolation] = []
        var seen = Set<String>()
        let byId = Dictionary(proposals.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })

        if answer.failure == nil {
            for verdict in answer.verdicts {
                guard let proposal = byId[verdict.proposalId] else {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: verdict.proposalId,
                        detail: "verdict for unknown proposal '\(verdict.proposalId)'\(verdict.symbol.map { " (\($0))" } ?? "") ignored"))
                    continue
                }
                if let symbol = verdict.symbol, symbol != proposal.symbol {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: verdict.proposalId,
                        detail: "verdict names symbol \(symbol) but proposal \(proposal.id) is \(proposal.symbol): ignored"))
                    continue
                }
                guard seen.insert(proposal.id).inserted else {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "second verdict for proposal \(proposal.id) ignored"))
                    continue
                }
                var requested = verdict.delta ?? 0
                if !requested.isFinite {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "non-finite delta treated as 0"))
                    requested = 0
                }
                var delta = requested
                if tier == .m3, requested != 0 {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "M3 may only veto; delta \(Format.number(requested)) ignored"))
                    delta = 0
                }
                let clamped = abs(delta) > b
                if clamped {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "delta \(Format.number(delta)) clamped to ±\(Format.number(b))"))
                    delta = min(max(delta, -b), b)
                }
                applied.append(AppliedReview(reviewer: tier, source: answer.source, proposalId: proposal.id,
                                             requestedDelta: requested, delta: delta, clamped: clamped,
                                             veto: verdict.veto, reason: verdict.reason,
                                             violatedChecks: tier == .m3 ? verdict.violatedChecks : []))
            }
        }
        // Proposals without a usable verdict get the tier's failure mode, explicitly recorded.
        for proposal in proposals where !seen.contains(proposal.id) {
            let why = answer.failure ?? "no verdict for this proposal"
            applied.append(AppliedReview(reviewer: tier, source: answer.source, proposalId: proposal.id,
                                         requestedDelta: 0, delta: 0, clamped: false, veto: failureMode == .veto,
                                         reason: "\(why): failure mode \(failureMode.rawValue)"))
        }
        // Keep proposal order for stable output.
        let order = Dictionary(proposals.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        applied.sort { (order[$0.proposalId] ?? 0) < (order[$1.proposalId] ?? 0) }
        return Result(applied: applied, violations: violations)
    }
}
