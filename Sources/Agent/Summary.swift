import Model
import Review

/// The `--once` JSON summary (DESIGN.md section 5). Field names are snake_case and stable; fields are only added.
public struct CycleSummary: Codable, Sendable, Equatable {
    public var cycleId: String
    public var timestamp: String
    public var mode: Mode
    public var exchange: String
    public var status: CycleStatus
    @Nullable public var regime: Regime?
    public var universeSize: Int
    public var universeBreakdown: [String: Int]
    public var triggersDetected: Int
    public var topTriggers: [TopTrigger]
    public var proposalsGenerated: Int
    public var proposalsApproved: Int
    public var baseTrades: [BaseTrade]
    public var decisions: [DecisionSummary]
    /// Every policy check violated by any proposal this cycle, sorted.
    public var violatedChecks: [String]
    @Nullable public var noTradeReason: String?
    public var review: ReviewSpend
    /// Orders placed (PAPER/LIVE). Empty in DRY_RUN: see `dry_run_orders`.
    public var executedTrades: [OrderIntent]
    /// What DRY_RUN would have placed.
    public var dryRunOrders: [OrderIntent]
    public var portfolio: PortfolioSummary
    public var timingsMs: Timings
    public var configHash: String
    public var policyHash: String
    /// Set when status is ERROR.
    @Nullable public var error: String?

    public struct TopTrigger: Codable, Sendable, Equatable {
        public var symbol: String
        public var kind: TriggerKind
        public var direction: Direction
        public var strength: Double
    }

    public struct BaseTrade: Codable, Sendable, Equatable {
        public var proposalId: String
        public var symbol: String
        public var side: Side
        public var sizePct: Double
        public var conviction: Double
        public var reason: String
        public var stopLossPct: Double
        public var takeProfitPct: Double
    }

    public struct ReviewSummary: Codable, Sendable, Equatable {
        public var reviewer: ReviewerTier
        public var source: String
        public var delta: Double
        public var veto: Bool
        public var reason: String
        public var violatedChecks: [String]
        public var clamped: Bool
    }

    public struct DecisionSummary: Codable, Sendable, Equatable {
        public var proposalId: String
        public var symbol: String
        public var baseConviction: Double
        public var reviews: [ReviewSummary]
        public var finalConviction: Double
        public var approved: Bool
        public var vetoedBy: [ReviewerTier]
        public var violatedChecks: [String]
        public var sizePct: Double
    }

    public struct ReviewSpend: Codable, Sendable, Equatable {
        public var calls: Int
        public var cacheHits: Int
        public var costUsd: Double
        public var budgetUsd: Double
        @Nullable public var fallback: String?
        /// Reviewer answers that broke the contract (unknown proposals, clamped deltas...).
        public var reviewerViolations: Int
    }

    public struct PortfolioSummary: Codable, Sendable, Equatable {
        public var equityUsd: Double
        public var openPositions: Int
    }

    public struct Timings: Codable, Sendable, Equatable {
        public var universe: Double = 0
        public var triggers: Double = 0
        public var rules: Double = 0
        public var review: Double = 0
        public var risk: Double = 0
        public var execution: Double = 0
        public var total: Double = 0
    }
}

extension CycleSummary.DecisionSummary {
    init(_ d: Decision) {
        self.init(proposalId: d.proposalId, symbol: d.symbol, baseConviction: Format.round(d.baseConviction),
                  reviews: d.reviews.map {
                      CycleSummary.ReviewSummary(reviewer: $0.reviewer, source: $0.source, delta: Format.round($0.delta),
                                                 veto: $0.veto, reason: $0.reason, violatedChecks: $0.violatedChecks,
                                                 clamped: $0.clamped)
                  },
                  finalConviction: Format.round(d.finalConviction), approved: d.approved, vetoedBy: d.vetoedBy,
                  violatedChecks: d.violatedChecks, sizePct: Format.round(d.sizePct))
    }
}
