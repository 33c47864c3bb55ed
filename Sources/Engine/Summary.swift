import Config
import Execution
import Model
import Review
import Risk

/// The `--once` JSON summary (DESIGN.md section 5). Field names are snake_case and stable; fields are only added.
public struct CycleSummary: Codable, Sendable, Equatable {
    public var cycleId: String
    public var timestamp: String
    public var mode: Mode
    public var exchange: Exchange
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
    /// PAPER: protective exits filled this cycle (stops, take-profits, trailing and time stops, flattens).
    @AddedList public var exits: [PaperFill] = []
    /// Circuit breakers that halted this cycle.
    @AddedList package var circuitBreakers: [BreakerTrip] = []
    /// What the between-cycle guard did since the last cycle (streams open with `--interval`; bars in a backtest).
    @AddedList package var guardActions: [GuardAction] = []
    /// Venue stream messages received since the last cycle, per kind (empty without streams). `/metrics` sums them
    /// into `agent_stream_messages_total{kind}`.
    @AddedList public var streamMessages: [StreamMessageCount] = []
    public var portfolio: PortfolioSummary
    public var timingsMs: Timings
    public var configHash: String
    public var policyHash: String
    /// Set when status is ERROR.
    @Nullable public var error: String?
    /// The share (0...1) of the venue's per-minute request budget used at the end of the cycle, as the venue's last
    /// answer reported; null for `sim` and file replays. `/metrics` shows it as `agent_venue_weight_used`.
    @Nullable public var venueWeightUsed: Double?

    public struct TopTrigger: Codable, Sendable, Equatable {
        public var symbol: String
        public var kind: TriggerKind
        public var direction: Direction
        public var strength: Double

        package init(symbol: String, kind: TriggerKind, direction: Direction, strength: Double) {
            self.symbol = symbol
            self.kind = kind
            self.direction = direction
            self.strength = strength
        }
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

        package init(proposalId: String, symbol: String, side: Side, sizePct: Double, conviction: Double, reason: String, stopLossPct: Double, takeProfitPct: Double) {
            self.proposalId = proposalId
            self.symbol = symbol
            self.side = side
            self.sizePct = sizePct
            self.conviction = conviction
            self.reason = reason
            self.stopLossPct = stopLossPct
            self.takeProfitPct = takeProfitPct
        }
    }

    public struct ReviewSummary: Codable, Sendable, Equatable {
        public var reviewer: ReviewerTier
        public var source: String
        public var delta: Double
        public var veto: Bool
        public var reason: String
        public var violatedChecks: [String]
        public var clamped: Bool

        package init(reviewer: ReviewerTier, source: String, delta: Double, veto: Bool, reason: String, violatedChecks: [String], clamped: Bool) {
            self.reviewer = reviewer
            self.source = source
            self.delta = delta
            self.veto = veto
            self.reason = reason
            self.violatedChecks = violatedChecks
            self.clamped = clamped
        }
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
        /// The checks M3 believed violated, next to the policy engine's own `violated_checks` (which decide).
        public var reviewerViolatedChecks: [String] = []

        package init(proposalId: String, symbol: String, baseConviction: Double, reviews: [ReviewSummary], finalConviction: Double, approved: Bool, vetoedBy: [ReviewerTier], violatedChecks: [String], sizePct: Double, reviewerViolatedChecks: [String] = []) {
            self.proposalId = proposalId
            self.symbol = symbol
            self.baseConviction = baseConviction
            self.reviews = reviews
            self.finalConviction = finalConviction
            self.approved = approved
            self.vetoedBy = vetoedBy
            self.violatedChecks = violatedChecks
            self.sizePct = sizePct
            self.reviewerViolatedChecks = reviewerViolatedChecks
        }
    }

    public struct ReviewSpend: Codable, Sendable, Equatable {
        /// HTTP calls to LLM providers this cycle (repair retries included).
        public var calls: Int
        public var cacheHits: Int
        public var costUsd: Double
        public var budgetUsd: Double
        /// The budget fallback taken: `skip` or `no_trade` (null when none).
        @Nullable public var fallback: String?
        /// Reviewer answers that broke the contract (unknown proposals, clamped deltas...).
        public var reviewerViolations: Int
        /// Tokens counted against the budget (reported usage, or the floor/worst case when it was implausible).
        public var inputTokens: Int = 0
        public var outputTokens: Int = 0
        /// What produced each tier's answer: llm, cache, replay, fallback, budget_skip, offline or no_news
        /// (cycles recorded before these values show the provider name here).
        public var sources: [String: String] = [:]
        /// The provider family of each LLM tier (openai, anthropic, openai_compatible); offline tiers absent.
        public var providers: [String: String] = [:]
        /// Set when the budget skipped M3: the `reviewers.m3.on_skip` that applied (veto or allow).
        @Nullable public var m3OnSkip: String?
        /// Tiers whose answer failed (timeout, invalid output...) and the failure mode applied.
        public var failures: [String: String] = [:]
        /// The budget left after this cycle (null when every tier is offline).
        @Nullable public var remaining: BudgetStatus?
        /// How the reviewers changed the rules-only outcome (the shadow decision).
        @Nullable public var shadow: ShadowOutcome.Counts?

        package init(calls: Int, cacheHits: Int, costUsd: Double, budgetUsd: Double, fallback: String?, reviewerViolations: Int) {
            self.calls = calls
            self.cacheHits = cacheHits
            self.costUsd = costUsd
            self.budgetUsd = budgetUsd
            self.fallback = fallback
            self.reviewerViolations = reviewerViolations
        }

        package init(_ outcome: ReviewOutcome, budget: AIBudget) {
            self.init(calls: outcome.calls, cacheHits: outcome.cacheHits, costUsd: Format.round(outcome.costUsd, 6),
                      budgetUsd: outcome.budgetUsd, fallback: outcome.fallback, reviewerViolations: outcome.violations.count)
            inputTokens = outcome.inputTokens
            outputTokens = outcome.outputTokens
            sources = Dictionary(outcome.tiers.map { ($0.reviewer.rawValue, $0.answer.source) }, uniquingKeysWith: { a, _ in a })
            providers = Dictionary(outcome.tiers.compactMap { t in t.answer.provider.map { (t.reviewer.rawValue, $0) } },
                                   uniquingKeysWith: { a, _ in a })
            m3OnSkip = outcome.m3OnSkip
            failures = Dictionary(outcome.tiers.compactMap { t in t.answer.failure.map { (t.reviewer.rawValue, $0) } },
                                  uniquingKeysWith: { a, _ in a })
            remaining = outcome.budget
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            calls = try c.decode(Int.self, forKey: .calls)
            cacheHits = try c.decode(Int.self, forKey: .cacheHits)
            costUsd = try c.decode(Double.self, forKey: .costUsd)
            budgetUsd = try c.decode(Double.self, forKey: .budgetUsd)
            _fallback = try c.decode(Nullable<String>.self, forKey: .fallback)
            reviewerViolations = try c.decode(Int.self, forKey: .reviewerViolations)
            inputTokens = try c.decodeIfPresent(Int.self, forKey: .inputTokens) ?? 0
            outputTokens = try c.decodeIfPresent(Int.self, forKey: .outputTokens) ?? 0
            sources = try c.decodeIfPresent([String: String].self, forKey: .sources) ?? [:]
            failures = try c.decodeIfPresent([String: String].self, forKey: .failures) ?? [:]
            providers = try c.decodeIfPresent([String: String].self, forKey: .providers) ?? [:]
            _m3OnSkip = try c.decode(Nullable<String>.self, forKey: .m3OnSkip)
            _remaining = try c.decode(Nullable<BudgetStatus>.self, forKey: .remaining)
            _shadow = try c.decode(Nullable<ShadowOutcome.Counts>.self, forKey: .shadow)
        }
    }

    public struct PortfolioSummary: Codable, Sendable, Equatable {
        public var equityUsd: Double
        public var openPositions: Int
        /// PAPER/LIVE only (null in DRY_RUN): cash, realised P&L, fees and funding paid so far.
        @Nullable public var cashUsd: Double? = nil
        @Nullable public var realizedPnlUsd: Double? = nil
        @Nullable public var feesUsd: Double? = nil
        @Nullable public var fundingUsd: Double? = nil

        package init(equityUsd: Double, openPositions: Int) {
            self.equityUsd = equityUsd
            self.openPositions = openPositions
        }
    }

    public struct Timings: Codable, Sendable, Equatable {
        public var universe: Double = 0
        public var triggers: Double = 0
        public var rules: Double = 0
        public var review: Double = 0
        public var risk: Double = 0
        public var execution: Double = 0
        public var total: Double = 0

        package init(universe: Double = 0, triggers: Double = 0, rules: Double = 0, review: Double = 0, risk: Double = 0, execution: Double = 0, total: Double = 0) {
            self.universe = universe
            self.triggers = triggers
            self.rules = rules
            self.review = review
            self.risk = risk
            self.execution = execution
            self.total = total
        }
    }

    package init(cycleId: String, timestamp: String, mode: Mode, exchange: Exchange, status: CycleStatus, regime: Regime? = nil, universeSize: Int, universeBreakdown: [String: Int], triggersDetected: Int, topTriggers: [TopTrigger], proposalsGenerated: Int, proposalsApproved: Int, baseTrades: [BaseTrade], decisions: [DecisionSummary], violatedChecks: [String], noTradeReason: String? = nil, review: ReviewSpend, executedTrades: [OrderIntent], dryRunOrders: [OrderIntent], exits: [PaperFill] = [], circuitBreakers: [BreakerTrip] = [], portfolio: PortfolioSummary, timingsMs: Timings, configHash: String, policyHash: String, error: String? = nil) {
        self.cycleId = cycleId
        self.timestamp = timestamp
        self.mode = mode
        self.exchange = exchange
        self.status = status
        self.regime = regime
        self.universeSize = universeSize
        self.universeBreakdown = universeBreakdown
        self.triggersDetected = triggersDetected
        self.topTriggers = topTriggers
        self.proposalsGenerated = proposalsGenerated
        self.proposalsApproved = proposalsApproved
        self.baseTrades = baseTrades
        self.decisions = decisions
        self.violatedChecks = violatedChecks
        self.noTradeReason = noTradeReason
        self.review = review
        self.executedTrades = executedTrades
        self.dryRunOrders = dryRunOrders
        self.exits = exits
        self.circuitBreakers = circuitBreakers
        self.portfolio = portfolio
        self.timingsMs = timingsMs
        self.configHash = configHash
        self.policyHash = policyHash
        self.error = error
    }
}

package extension CycleSummary.DecisionSummary {
    package init(_ d: Decision) {
        self.init(proposalId: d.proposalId, symbol: d.symbol, baseConviction: Format.round(d.baseConviction),
                  reviews: d.reviews.map {
                      CycleSummary.ReviewSummary(reviewer: $0.reviewer, source: $0.source, delta: Format.round($0.delta),
                                                 veto: $0.veto, reason: $0.reason, violatedChecks: $0.violatedChecks,
                                                 clamped: $0.clamped)
                  },
                  finalConviction: Format.round(d.finalConviction), approved: d.approved, vetoedBy: d.vetoedBy,
                  violatedChecks: d.violatedChecks, sizePct: Format.round(d.sizePct),
                  reviewerViolatedChecks: Array(Set(d.reviews.filter { $0.reviewer == .m3 }.flatMap(\.violatedChecks))).sorted())
    }
}

extension EventType where Payload == CycleSummary {
    public static var cycleFinished: Self { Self(.cycleFinished) }
}
