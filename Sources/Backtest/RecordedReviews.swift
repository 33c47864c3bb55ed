import Config
import Model
import Review

/// Reviews recorded in the ledger by earlier live or paper cycles, for `--reviewers replay`.
///
/// Point in time: the backtest cycle at `t` may use only a recorded cycle whose decision time lies in
/// `(t - interval, t]`. Recorded verdicts name that cycle's proposal ids, so they are matched to the backtest's
/// proposals by symbol and side; a proposal with no recorded verdict gets a neutral one labelled as such.
public struct RecordedReviews: Sendable {
    /// One recorded cycle: its time, its proposals (id -> symbol and side) and each tier's answer.
    public struct Cycle: Sendable {
        public var time: Int64
        public var proposals: [String: (symbol: String, side: Side)]
        public var answers: [ReviewerTier: ReviewerAnswer]

        public init(time: Int64, proposals: [String: (symbol: String, side: Side)], answers: [ReviewerTier: ReviewerAnswer]) {
            self.time = time
            self.proposals = proposals
            self.answers = answers
        }
    }

    /// Recorded cycles, sorted by time.
    public let cycles: [Cycle]
    public let interval: Int64

    public init(cycles: [Cycle], interval: Int64 = 3_600) {
        self.cycles = cycles.sorted { $0.time < $1.time }
        self.interval = interval
    }

    /// The latest recorded cycle in `(time - interval, time]`.
    public func cycle(at time: Int64) -> Cycle? {
        var lo = 0, hi = cycles.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if cycles[mid].time <= time { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, cycles[lo - 1].time > time - interval else { return nil }
        return cycles[lo - 1]
    }

    /// A board of three reviewers answering from these records.
    public func board(policy: PolicyConfig) -> ReviewBoard {
        ReviewBoard(reviewers: ReviewerTier.allCases.map { RecordedReviewer(tier: $0, records: self) }, policy: policy)
    }
}

/// Answers a tier from `RecordedReviews`, never calling anyone.
public struct RecordedReviewer: Reviewer {
    public let tier: ReviewerTier
    public let records: RecordedReviews

    public init(tier: ReviewerTier, records: RecordedReviews) {
        self.tier = tier
        self.records = records
    }

    public func review(_ context: ReviewContext) async -> ReviewerAnswer {
        let cycle = records.cycle(at: context.time)
        let answer = cycle?.answers[tier]
        let verdicts = context.proposals.map { p -> ReviewerVerdict in
            if let cycle, let answer,
               let recorded = answer.verdicts.first(where: { v in
                   cycle.proposals[v.proposalId].map { $0.symbol == p.symbol && $0.side == p.side } ?? false
               }) {
                var v = recorded
                v.proposalId = p.id
                v.symbol = p.symbol
                v.citedNewsIds = nil
                v.reason = "recorded at \(cycle.time): " + v.reason
                return v
            }
            return ReviewerVerdict(proposalId: p.id, symbol: p.symbol, delta: 0, veto: false,
                                   reason: "no recorded \(tier.rawValue) review for \(p.symbol) at this time (replay): neutral")
        }
        return ReviewerAnswer(verdicts: verdicts, source: "replay", model: answer?.model ?? "replay",
                              promptHash: answer?.promptHash ?? "")
    }
}
