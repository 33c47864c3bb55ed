/// Values that flow through one decision cycle: triggers, proposals, reviews, policy checks, decisions.
///
/// JSON uses snake_case field names everywhere (the `--once` summary and the ledger share these encodings).

public enum Mode: String, Codable, Sendable, CaseIterable {
    case dryRun = "DRY_RUN"
    case paper = "PAPER"
    case live = "LIVE"
}

/// The three universe tiers. Raw values are the names used in YAML and JSON.
public enum Tier: String, Codable, Sendable, CaseIterable, Comparable {
    case core = "tier_1_core"
    case rotational = "tier_2_rotational"
    case eventDriven = "tier_3_event_driven"

    public static func < (lhs: Tier, rhs: Tier) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}

public enum Side: String, Codable, Sendable {
    case buy = "BUY"
    case sell = "SELL"
}

public enum Regime: String, Codable, Sendable, CaseIterable {
    case bull, chop, bear, crash
}

public enum TriggerKind: String, Codable, Sendable, CaseIterable {
    case volumeSpike = "volume_spike"
    case breakout
    case reversal
    case momentum
    case priceMove = "price_move"
    case trendPullback = "trend_pullback"
    case trendBreakout = "trend_breakout"
}

public enum Direction: String, Codable, Sendable {
    case up, down
}

/// A deterministic signal on one symbol's candles.
public struct Trigger: Codable, Sendable, Equatable {
    public var symbol: String
    public var kind: TriggerKind
    public var direction: Direction
    /// 0...1, how far past its threshold the signal is.
    public var strength: Double
    /// Human-readable evidence, e.g. "volume 3.4x the 24h average" (formatted when read).
    public var detail: String {
        get { evidence.text }
        set { evidence = Explanation(newValue) }
    }
    public var evidence: Explanation
    /// The numbers behind the signal (name -> value), for audits.
    public var metrics: [String: Double]

    enum CodingKeys: String, CodingKey {
        case symbol, kind, direction, strength, evidence = "detail", metrics
    }

    public init(symbol: String, kind: TriggerKind, direction: Direction, strength: Double,
                detail: Explanation, metrics: [String: Double] = [:]) {
        self.symbol = symbol
        self.kind = kind
        self.direction = direction
        self.strength = strength
        self.evidence = detail
        self.metrics = metrics
    }

    public init(symbol: String, kind: TriggerKind, direction: Direction, strength: Double,
                detail: String, metrics: [String: Double] = [:]) {
        self.init(symbol: symbol, kind: kind, direction: direction, strength: strength, detail: Explanation(detail), metrics: metrics)
    }
}

/// One named contribution to a proposal's conviction.
public struct ConvictionComponent: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double
    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}

/// A trade idea. Only the Rules stage creates these; reviewers and policy may only shrink or reject them.
public struct Proposal: Codable, Sendable, Equatable {
    public var id: String
    public var symbol: String
    public var tier: Tier
    public var side: Side
    /// Position size as a percentage of equity.
    public var sizePct: Double
    /// 1 for spot.
    public var leverage: Double
    /// 0...1, the sum of its components clamped to that range.
    public var conviction: Double
    public var components: [ConvictionComponent]
    public var stopLossPct: Double
    public var takeProfitPct: Double
    /// Why the rules proposed it: its triggers' evidence (formatted when read).
    public var reason: String {
        get { rationale.text }
        set { rationale = Explanation(newValue) }
    }
    public var rationale: Explanation
    public var triggers: [TriggerKind]
    /// The price the proposal was made at (last close).
    public var referencePrice: Double

    enum CodingKeys: String, CodingKey {
        case id, symbol, tier, side, sizePct, leverage, conviction, components, stopLossPct, takeProfitPct,
             rationale = "reason", triggers, referencePrice
    }

    public init(id: String, symbol: String, tier: Tier, side: Side, sizePct: Double, leverage: Double = 1, conviction: Double,
                components: [ConvictionComponent], stopLossPct: Double, takeProfitPct: Double,
                reason: String, triggers: [TriggerKind], referencePrice: Double) {
        self.init(id: id, symbol: symbol, tier: tier, side: side, sizePct: sizePct, leverage: leverage, conviction: conviction,
                  components: components, stopLossPct: stopLossPct, takeProfitPct: takeProfitPct,
                  rationale: Explanation(reason), triggers: triggers, referencePrice: referencePrice)
    }

    public init(id: String, symbol: String, tier: Tier, side: Side, sizePct: Double, leverage: Double = 1, conviction: Double,
                components: [ConvictionComponent], stopLossPct: Double, takeProfitPct: Double,
                rationale: Explanation, triggers: [TriggerKind], referencePrice: Double) {
        self.id = id
        self.symbol = symbol
        self.tier = tier
        self.side = side
        self.sizePct = sizePct
        self.leverage = leverage
        self.conviction = conviction
        self.components = components
        self.stopLossPct = stopLossPct
        self.takeProfitPct = takeProfitPct
        self.rationale = rationale
        self.triggers = triggers
        self.referencePrice = referencePrice
    }
}

public enum ReviewerTier: String, Codable, Sendable, CaseIterable {
    case m1 = "M1"
    case m2 = "M2"
    case m3 = "M3"
}

/// What a reviewer answered about one proposal, before any bound is applied. May come from an LLM: untrusted.
public struct ReviewerVerdict: Codable, Sendable, Equatable {
    public var proposalId: String
    public var symbol: String?
    public var delta: Double?
    public var veto: Bool
    public var reason: String
    /// M3 only: checks it believes are violated.
    public var violatedChecks: [String]
    /// M1 only: ids of the news items given to it that support this verdict (required for a positive delta).
    public var citedNewsIds: [String]?
    /// M1 only: the news risk it sees on the proposal's symbol.
    public var newsRisk: NewsRiskLevel?

    public init(proposalId: String, symbol: String? = nil, delta: Double? = nil, veto: Bool = false,
                reason: String = "", violatedChecks: [String] = [], citedNewsIds: [String]? = nil,
                newsRisk: NewsRiskLevel? = nil) {
        self.proposalId = proposalId
        self.symbol = symbol
        self.delta = delta
        self.veto = veto
        self.reason = reason
        self.violatedChecks = violatedChecks
        self.citedNewsIds = citedNewsIds
        self.newsRisk = newsRisk
    }
}

/// M1's news risk rating of a symbol. HIGH blocks new entries for a while, then decays to MEDIUM, then LOW.
public enum NewsRiskLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"

    public static func < (lhs: NewsRiskLevel, rhs: NewsRiskLevel) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}

/// One news item from an allow-listed feed, as stored in the ledger and shown to M1.
public struct NewsItem: Codable, Sendable, Equatable {
    /// Stable id: `n-` + 16 hex of a hash of source + guid (or source + title when there is no guid).
    public var id: String
    /// The feed's configured name.
    public var source: String
    public var title: String
    public var link: String?
    /// Publication time, Unix seconds (the fetch time when the feed gives none).
    public var published: Int64
    /// Universe symbols the title or summary mentions (by ticker or name).
    public var symbols: [String]
    public var summary: String?

    public init(id: String, source: String, title: String, link: String?, published: Int64, symbols: [String],
                summary: String? = nil) {
        self.id = id
        self.source = source
        self.title = title
        self.link = link
        self.published = published
        self.symbols = symbols
        self.summary = summary
    }
}

/// A reviewer's verdict after bounds were enforced: what actually affected the proposal.
public struct AppliedReview: Codable, Sendable, Equatable {
    public var reviewer: ReviewerTier
    /// "offline", "cache", "replay", or a provider name.
    public var source: String
    public var proposalId: String
    public var requestedDelta: Double
    public var delta: Double
    public var clamped: Bool
    public var veto: Bool
    public var reason: String
    public var violatedChecks: [String]

    public init(reviewer: ReviewerTier, source: String, proposalId: String, requestedDelta: Double,
                delta: Double, clamped: Bool, veto: Bool, reason: String, violatedChecks: [String] = []) {
        self.reviewer = reviewer
        self.source = source
        self.proposalId = proposalId
        self.requestedDelta = requestedDelta
        self.delta = delta
        self.clamped = clamped
        self.veto = veto
        self.reason = reason
        self.violatedChecks = violatedChecks
    }
}

/// A reviewer answer that broke the contract (unknown proposal, wrong symbol, out-of-range delta...).
public struct ReviewerViolation: Codable, Sendable, Equatable {
    public var reviewer: ReviewerTier
    public var proposalId: String?
    public var detail: String
    public init(reviewer: ReviewerTier, proposalId: String?, detail: String) {
        self.reviewer = reviewer
        self.proposalId = proposalId
        self.detail = detail
    }
}

/// One named policy check on one proposal (or on the cycle), with the numbers compared.
public struct CheckResult: Codable, Sendable, Equatable {
    public var name: String
    public var passed: Bool
    /// The observed value, when the check compares numbers.
    public var value: Double?
    /// The limit it was compared against.
    public var limit: Double?
    /// The comparison in words (formatted when read).
    public var detail: String {
        get { explanation.text }
        set { explanation = Explanation(newValue) }
    }
    public var explanation: Explanation

    enum CodingKeys: String, CodingKey {
        case name, passed, value, limit, explanation = "detail"
    }

    public init(name: String, passed: Bool, value: Double? = nil, limit: Double? = nil, detail: Explanation) {
        self.name = name
        self.passed = passed
        self.value = value
        self.limit = limit
        self.explanation = detail
    }

    public init(name: String, passed: Bool, value: Double? = nil, limit: Double? = nil, detail: String) {
        self.init(name: name, passed: passed, value: value, limit: limit, detail: Explanation(detail))
    }
}

/// The final word on one proposal.
public struct Decision: Codable, Sendable, Equatable {
    public var proposalId: String
    public var symbol: String
    public var side: Side
    public var baseConviction: Double
    public var reviews: [AppliedReview]
    public var finalConviction: Double
    public var approved: Bool
    /// Reviewers that vetoed it (a veto can only reject, never approve).
    public var vetoedBy: [ReviewerTier]
    /// Policy checks the proposal violated (only the policy engine's; M3's opinion is in its review).
    public var violatedChecks: [String]
    public var checks: [CheckResult]
    /// Size after policy caps (0 when rejected). Never above `proposedSizePct`.
    public var sizePct: Double
    public var proposedSizePct: Double

    public init(proposalId: String, symbol: String, side: Side, baseConviction: Double, reviews: [AppliedReview],
                finalConviction: Double, approved: Bool, vetoedBy: [ReviewerTier], violatedChecks: [String],
                checks: [CheckResult], sizePct: Double, proposedSizePct: Double) {
        self.proposalId = proposalId
        self.symbol = symbol
        self.side = side
        self.baseConviction = baseConviction
        self.reviews = reviews
        self.finalConviction = finalConviction
        self.approved = approved
        self.vetoedBy = vetoedBy
        self.violatedChecks = violatedChecks
        self.checks = checks
        self.sizePct = sizePct
        self.proposedSizePct = proposedSizePct
    }
}

public enum CycleStatus: String, Codable, Sendable, CaseIterable {
    case approvedDryRun = "APPROVED_DRY_RUN"
    case executed = "EXECUTED"
    case noTrade = "NO_TRADE"
    case noOpportunities = "NO_OPPORTUNITIES"
    case halted = "HALTED"
    case error = "ERROR"
}

/// What became of an approved entry (`executed_trades[].status` in the summary, `order_result` in the ledger).
public enum OrderIntentStatus: Codable, Sendable, Equatable, Hashable {
    /// Recorded before it is sent.
    case intended
    /// DRY_RUN: what would have been placed.
    case simulated
    case filled
    case partiallyFilled
    /// LIVE: accepted and resting, nothing filled yet.
    case open
    case rejected
    /// The kill switch was on when it was about to be sent.
    case halted
    /// LIVE: the venue's answer was lost; looked up by client id before anything else is sent.
    case unknown
    /// The symbol already has a position on the other side.
    case refusedOppositePosition
    /// Binance: the estimated liquidation price is closer than `futures.min_liquidation_distance_pct`.
    case refusedLiquidationDistance
    /// Binance applied more leverage than asked (the value it applied).
    case refusedLeverage(Int)

    /// Whether the order traded (or, in DRY_RUN, would have).
    public var traded: Bool { self == .simulated || self == .filled || self == .partiallyFilled }

    /// The text in JSON: `filled`, `partially_filled`, `refused_leverage_20`, ...
    public var rawValue: String {
        switch self {
        case .intended: "intended"
        case .simulated: "simulated"
        case .filled: "filled"
        case .partiallyFilled: "partially_filled"
        case .open: "open"
        case .rejected: "rejected"
        case .halted: "halted"
        case .unknown: "unknown"
        case .refusedOppositePosition: "refused_opposite_position"
        case .refusedLiquidationDistance: "refused_liquidation_distance"
        case .refusedLeverage(let applied): "refused_leverage_\(applied)"
        }
    }

    public init?(rawValue: String) {
        let fixed: [OrderIntentStatus] = [.intended, .simulated, .filled, .partiallyFilled, .open, .rejected, .halted, .unknown,
                                          .refusedOppositePosition, .refusedLiquidationDistance]
        if let match = fixed.first(where: { $0.rawValue == rawValue }) {
            self = match
        } else if rawValue.hasPrefix("refused_leverage_"), let applied = Int(rawValue.dropFirst("refused_leverage_".count)) {
            self = .refusedLeverage(applied)
        } else {
            return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = OrderIntentStatus(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown order status '\(text)'"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// An order the executor placed or, in DRY_RUN, would have placed.
public struct OrderIntent: Codable, Sendable, Equatable {
    /// Deterministic: derived from the cycle id and the proposal id, so a restart never duplicates it.
    public var clientOrderId: String
    public var cycleId: String
    public var proposalId: String
    public var symbol: String
    public var side: Side
    public var sizePct: Double
    public var notionalUsd: Double
    public var quantity: Double
    public var price: Double
    public var stopLossPct: Double
    public var takeProfitPct: Double
    public var mode: Mode
    /// `simulated` in DRY_RUN.
    public var status: OrderIntentStatus
    /// The leverage the position is held at: the proposal's, as the policy approved it (1 = unlevered; spot venues
    /// hold every position at 1). LIVE on Binance sets it before the entry; PAPER and backtests margin the position
    /// at it. Intents recorded before it was carried read as 1.
    public var leverage: Double

    enum CodingKeys: String, CodingKey {
        case clientOrderId, cycleId, proposalId, symbol, side, sizePct, notionalUsd, quantity, price, stopLossPct,
             takeProfitPct, mode, status, leverage
    }

    public init(clientOrderId: String, cycleId: String, proposalId: String, symbol: String, side: Side,
                sizePct: Double, notionalUsd: Double, quantity: Double, price: Double, stopLossPct: Double,
                takeProfitPct: Double, mode: Mode, status: OrderIntentStatus, leverage: Double = 1) {
        self.clientOrderId = clientOrderId
        self.cycleId = cycleId
        self.proposalId = proposalId
        self.symbol = symbol
        self.side = side
        self.sizePct = sizePct
        self.notionalUsd = notionalUsd
        self.quantity = quantity
        self.price = price
        self.stopLossPct = stopLossPct
        self.takeProfitPct = takeProfitPct
        self.mode = mode
        self.status = status
        self.leverage = leverage
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clientOrderId = try c.decode(String.self, forKey: .clientOrderId)
        cycleId = try c.decode(String.self, forKey: .cycleId)
        proposalId = try c.decode(String.self, forKey: .proposalId)
        symbol = try c.decode(String.self, forKey: .symbol)
        side = try c.decode(Side.self, forKey: .side)
        sizePct = try c.decode(Double.self, forKey: .sizePct)
        notionalUsd = try c.decode(Double.self, forKey: .notionalUsd)
        quantity = try c.decode(Double.self, forKey: .quantity)
        price = try c.decode(Double.self, forKey: .price)
        stopLossPct = try c.decode(Double.self, forKey: .stopLossPct)
        takeProfitPct = try c.decode(Double.self, forKey: .takeProfitPct)
        mode = try c.decode(Mode.self, forKey: .mode)
        status = try c.decode(OrderIntentStatus.self, forKey: .status)
        leverage = try c.decodeIfPresent(Double.self, forKey: .leverage) ?? 1
    }
}
