import Model

// The typed configuration. Property names are camelCase; the YAML keys are their snake_case forms.
// Every file is merged over its embedded default (see Defaults.swift), so every key has a value and an
// unknown key in a user's file is an error with its position.

// MARK: - config/app.yaml

public struct AppConfig: Codable, Sendable, Equatable {
    public var mode: Mode
    public var exchange: Exchange
    public var loop: LoopConfig
    public var portfolio: PortfolioConfig
    public var sim: SimConfig
    public var logging: LoggingConfig
    /// Costs of simulated orders in PAPER mode (and backtests).
    public var paper: PaperConfig
    public var reviewers: ReviewersConfig
    public var prices: PriceTable
    public var reviewCache: ReviewCacheConfig
    public var news: NewsConfig
    /// Connection settings of the real venues (`--exchange coinbase|binance`).
    public var venues: VenuesConfig
    /// The venue WebSocket streams kept open between cycles by `--interval`.
    public var streams: StreamsConfig
    /// Operator alerts to Slack, Discord, Telegram or a webhook.
    public var alerts: AlertsConfig
}

/// How the venue streams stay alive between cycles.
public struct StreamsConfig: Codable, Sendable, Equatable {
    /// Open the venue's streams between `--interval` cycles (PAPER and LIVE on coinbase or binance).
    public var enabled: Bool
    /// A ping this often; no pong closes the connection.
    public var pingSeconds: Double
    /// No message for this long: the connection is stalled, dropped and reopened.
    public var stallSeconds: Double
    /// Reconnect backoff: the first wait, doubled per failed attempt up to the maximum, with jitter.
    public var backoffInitialMs: Int
    public var backoffMaxSeconds: Double
    /// Binance user-data stream keepalive (`PUT /fapi/v1/listenKey`); the venue expires a key after 60 minutes.
    public var listenKeyKeepaliveMinutes: Double
    /// While a stream is down, the REST fallback reads the venue this often.
    public var restPollSeconds: Double
}

/// Where the real venues are and how the connectors pace themselves.
public struct VenuesConfig: Codable, Sendable, Equatable {
    public var coinbase: CoinbaseVenueConfig
    public var binance: BinanceVenueConfig
}

/// Coinbase Advanced Trade (spot). Keys come from the environment only.
public struct CoinbaseVenueConfig: Codable, Sendable, Equatable {
    /// Production `https://api.coinbase.com/api/v3/brokerage`, the sandbox, or a local server.
    public var baseUrl: String
    /// WebSocket feed: production `wss://advanced-trade-ws.coinbase.com`, or a local server.
    public var wsBaseUrl: String
    /// Per-request time limit.
    public var timeoutSeconds: Double
    /// Retries after 429s, connection failures and read timeouts.
    public var maxRetries: Int
}

/// Binance USD-M perpetual futures. Keys come from the environment only.
public struct BinanceVenueConfig: Codable, Sendable, Equatable {
    /// Production `https://fapi.binance.com`, demo `https://demo-fapi.binance.com`, or a local server.
    public var baseUrl: String
    /// WebSocket streams, routed below it by `/public`, `/market` and `/private`: production `wss://fstream.binance.com`.
    public var wsBaseUrl: String
    /// The quote asset our `-USD` symbols map to: USDT or USDC.
    public var quote: String
    /// `recvWindow` of signed requests, in milliseconds.
    public var recvWindowMs: Int
    public var timeoutSeconds: Double
    public var maxRetries: Int
    /// REQUEST_WEIGHT per minute; the connector waits for the next minute at `slowdown_fraction` of it.
    public var weightLimitPerMinute: Int
    public var slowdownFraction: Double
}

public struct PaperConfig: Codable, Sendable, Equatable {
    public var takerFeeBps: Double
    public var makerFeeBps: Double
    /// Slippage of the smallest market order beyond the touch.
    public var baseSlippageBps: Double
    /// Extra slippage when an order's notional equals the depth within 20 bps (linear in notional / depth).
    public var impactBpsAtDepth: Double
    /// A market order larger than this multiple of the depth fills partially.
    public var maxDepthMultiple: Double

    /// Defaults are those of `config/app.yaml`.
    public init(takerFeeBps: Double = 6, makerFeeBps: Double = 2, baseSlippageBps: Double = 1,
                impactBpsAtDepth: Double = 20, maxDepthMultiple: Double = 1) {
        self.takerFeeBps = takerFeeBps
        self.makerFeeBps = makerFeeBps
        self.baseSlippageBps = baseSlippageBps
        self.impactBpsAtDepth = impactBpsAtDepth
        self.maxDepthMultiple = maxDepthMultiple
    }
}

public struct LoopConfig: Codable, Sendable, Equatable {
    /// Minutes between cycles for `--interval` runs without a value.
    public var intervalMinutes: Double
    /// Hours of 1h candles fetched per symbol each cycle.
    public var historyHours: Int
}

public struct PortfolioConfig: Codable, Sendable, Equatable {
    public var startingEquityUsd: Double
}

public struct SimConfig: Codable, Sendable, Equatable {
    public var seed: UInt64
    /// OHLCV CSV files to replay instead of the synthetic market (e.g. ../shared/data/coinbase_btcusd_1h.csv).
    public var csv: [CSVSource]
    /// Symbols to replay from the candle store (`agent data download` fills it) instead of the synthetic market.
    public var stored: [StoredSource]
}

/// One symbol of the candle store to replay.
public struct StoredSource: Codable, Sendable, Equatable {
    public var symbol: String
    /// The exchange whose stored bars to read; absent = the one holding the symbol (an error when several do).
    public var exchange: String?
    /// The bar length (`1m` ... `1d`); a finer stored bar length is resampled to it. Absent = 1h.
    public var timeframe: String?

    public init(symbol: String, exchange: String? = nil, timeframe: String? = nil) {
        self.symbol = symbol
        self.exchange = exchange
        self.timeframe = timeframe
    }
}

public struct CSVSource: Codable, Sendable, Equatable {
    public var path: String
    /// The symbol the file's candles belong to; empty = from the file.
    public var symbol: String
    /// The bar length (`1m` ... `1d`, e.g. `4h`); absent = inferred from the file's spacing.
    public var timeframe: String?

    public init(path: String, symbol: String = "", timeframe: String? = nil) {
        self.path = path
        self.symbol = symbol
        self.timeframe = timeframe
    }
}

public struct LoggingConfig: Codable, Sendable, Equatable {
    public var level: String
}

public struct ReviewersConfig: Codable, Sendable, Equatable {
    public var m1: ReviewerConfig
    public var m2: ReviewerConfig
    public var m3: ReviewerConfig

    public func config(for tier: ReviewerTier) -> ReviewerConfig {
        switch tier {
        case .m1: m1
        case .m2: m2
        case .m3: m3
        }
    }
}

public struct ReviewerConfig: Codable, Sendable, Equatable {
    /// `offline` (deterministic, no network), `openai`, `anthropic` or `openai_compatible` (local servers).
    public var provider: String
    public var model: String
    /// Empty = the provider's default base URL.
    public var baseUrl: String
    /// The name of the environment variable holding the API key (never the key); empty = no key.
    public var apiKeyEnv: String
    /// Output token cap per call; also the output half of the worst-case cost reserved before a call.
    public var maxTokens: Int
    public var temperature: Double
    /// Limit for the whole HTTP transfer, seconds.
    public var timeoutSeconds: Double
    public var connectTimeoutSeconds: Double
    /// HTTP attempts per call including the first (429/5xx/529 are retried with backoff, 4xx never).
    public var maxAttempts: Int

    /// An offline reviewer config (the default).
    public init(provider: String = "offline", model: String = "offline-v1", baseUrl: String = "", apiKeyEnv: String = "",
                maxTokens: Int = 1024, temperature: Double = 0, timeoutSeconds: Double = 30,
                connectTimeoutSeconds: Double = 5, maxAttempts: Int = 3) {
        self.provider = provider
        self.model = model
        self.baseUrl = baseUrl
        self.apiKeyEnv = apiKeyEnv
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maxAttempts = maxAttempts
    }
}

/// The review cache (app.yaml `review_cache`).
public struct ReviewCacheConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var ttlMinutes: Double
    /// Proposal and tape numbers are rounded to this many decimals in the cache key.
    public var roundDecimals: Int
    public init(enabled: Bool, ttlMinutes: Double, roundDecimals: Int) {
        self.enabled = enabled
        self.ttlMinutes = ttlMinutes
        self.roundDecimals = roundDecimals
    }
}

/// News ingestion for M1 (app.yaml `news`).
public struct NewsConfig: Codable, Sendable, Equatable {
    /// The allow-list: only these feeds are ever fetched.
    public var feeds: [NewsFeedConfig]
    public var pollIntervalMinutes: Double
    public var maxAgeHours: Double
    public var maxItemsPerProposal: Int
    public var timeoutSeconds: Double
}

public struct NewsFeedConfig: Codable, Sendable, Equatable {
    public var name: String
    public var url: String
    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }
}

/// A dated price table for LLM calls, in USD per million tokens.
public struct PriceTable: Codable, Sendable, Equatable {
    public var asOf: String
    public var models: [String: ModelPrice]
}

public struct ModelPrice: Codable, Sendable, Equatable {
    public var inputPerMtok: Double
    public var outputPerMtok: Double
    public init(inputPerMtok: Double, outputPerMtok: Double) {
        self.inputPerMtok = inputPerMtok
        self.outputPerMtok = outputPerMtok
    }
}

// MARK: - config/universe.yaml

public struct UniverseConfig: Codable, Sendable, Equatable {
    public var tiers: TiersConfig
    public var neverTrade: [String]
    /// Named groups of correlated symbols; `cluster_limit` caps exposure per cluster.
    public var clusters: [String: [String]]
    public var regimes: RegimeRulesConfig

    /// The tier a symbol belongs to, if any.
    public func tier(of symbol: String) -> Tier? {
        Tier.allCases.first { tiers.config(for: $0).symbols.contains(symbol) }
    }

    /// The clusters a symbol belongs to.
    public func clusters(of symbol: String) -> [String] {
        clusters.keys.sorted().filter { clusters[$0]?.contains(symbol) ?? false }
    }
}

public struct TiersConfig: Codable, Sendable, Equatable {
    public var tier1Core: TierConfig
    public var tier2Rotational: TierConfig
    public var tier3EventDriven: TierConfig

    public func config(for tier: Tier) -> TierConfig {
        switch tier {
        case .core: tier1Core
        case .rotational: tier2Rotational
        case .eventDriven: tier3EventDriven
        }
    }
}

public struct TierConfig: Codable, Sendable, Equatable {
    public var symbols: [String]
    /// Proposal size for this tier before the regime multiplier, % of equity.
    public var baseSizePct: Double
    public var min24hVolumeUsd: Double
    public var maxSpreadBps: Double
    /// Minimum USD within 20 bps on the thinner side of the book.
    public var minDepthUsd: Double
    /// Stop-loss and take-profit distances for proposals in this tier, % of entry.
    public var stopLossPct: Double
    public var takeProfitPct: Double
}

public struct RegimeRulesConfig: Codable, Sendable, Equatable {
    public var bull: RegimeRule
    public var chop: RegimeRule
    public var bear: RegimeRule
    public var crash: RegimeRule

    public func rule(for regime: Regime) -> RegimeRule {
        switch regime {
        case .bull: bull
        case .chop: chop
        case .bear: bear
        case .crash: crash
        }
    }
}

public struct RegimeRule: Codable, Sendable, Equatable {
    /// Multiplies every tier's base size in this regime (regime-dependent max size).
    public var sizeMultiplier: Double
    /// Tiers eligible in this regime.
    public var tiers: [Tier]
}

// MARK: - config/signals.yaml

public struct SignalsConfig: Codable, Sendable, Equatable {
    public var regime: RegimeDetectionConfig
    public var triggers: TriggersConfig
    public var rules: RulesConfig
    /// How open positions are protected and taken off (PAPER, and LIVE's managed exits).
    public var exits: ExitsConfig
    /// The strategy features on top of the triggers: multi-timeframe trend gate, composite scorer, risk-based and
    /// Kelly-capped sizing, drawdown-aware leverage. All bounded by policy.yaml, which decides last.
    public var strategy: StrategyConfig
}

public struct StrategyConfig: Codable, Sendable, Equatable {
    public var higherTimeframe: HigherTimeframeConfig
    /// How a proposal's conviction is scored.
    public var scorer: ScorerKind
    public var composite: CompositeWeights
    public var sizing: SizingConfig
    public var leverage: LeverageRuleConfig
}

/// The trend of a longer timeframe, resampled inside from the cycle's own bars, gating entries: longs only while it
/// is up, shorts only while it is down.
public struct HigherTimeframeConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    /// `1d`, `12h`, `4h`...: a whole multiple of the cycle's bars.
    public var timeframe: String
    public var fastEma: Int
    public var slowEma: Int
}

public enum ScorerKind: String, Codable, Sendable, CaseIterable {
    /// base + strength of the strongest trigger + confluence + regime adjustment.
    case triggers
    /// The weighted composite of trend, volatility, entry quality and funding (+ regime adjustment).
    case composite
}

/// Weights of the composite score; each component is 0...1.
public struct CompositeWeights: Codable, Sendable, Equatable {
    public var trend: Double
    public var volatility: Double
    public var entryQuality: Double
    public var funding: Double
    /// Annualised volatility at or below which the volatility component is 1 (above: target / volatility).
    public var targetVolatilityPct: Double
}

public enum SizingMode: String, Codable, Sendable, CaseIterable {
    /// The tier's base_size_pct times the regime's size multiplier.
    case tier
    /// Size such that the distance to the stop times the size is `risk_per_trade_pct` of equity.
    case risk
}

public struct SizingConfig: Codable, Sendable, Equatable {
    public var mode: SizingMode
    public var riskPerTradePct: Double
    /// Cap the size at this fraction of the Kelly size measured on the last closed trades; 0 = no cap.
    public var kellyFraction: Double
    public var kellyLookbackTrades: Int
    /// Below this many closed trades the cap does not apply yet.
    public var kellyMinTrades: Int
    /// The size when the measured Kelly is zero or negative, so the strategy keeps measuring (% of equity).
    public var kellyFloorPct: Double
}

/// Leverage of a proposal: `rules.leverage` at most, lowered by volatility, by drawdown and after a loss; never
/// below 1. The policy's `max_leverage` and `min_liquidation_distance` checks still decide.
public struct LeverageRuleConfig: Codable, Sendable, Equatable {
    /// Leverage = target / annualised volatility (rounded down), when above 0.
    public var targetVolatilityPct: Double
    /// Above this drawdown from peak equity, at most `drawdown_max_leverage`.
    public var drawdownPct: Double
    public var drawdownMaxLeverage: Double
    /// After a losing trade, this much less.
    public var afterLossStep: Double
}

public struct RegimeDetectionConfig: Codable, Sendable, Equatable {
    /// The symbol whose trend and volatility define the regime.
    public var benchmark: String
    public var trendLookbackHours: Int
    public var bullTrendPct: Double
    public var bearTrendPct: Double
    /// A 24h drop at least this large (negative %) is a crash...
    public var crashChange24hPct: Double
    /// ...and so is annualised volatility above this (%) with a falling trend.
    public var crashVolatilityPct: Double
}

public struct TriggersConfig: Codable, Sendable, Equatable {
    public var volumeSpike: VolumeSpikeConfig
    public var breakout: BreakoutConfig
    public var reversal: ReversalConfig
    public var momentum: MomentumConfig
    public var priceMove: PriceMoveConfig
    public var trend: TrendConfig
    public var funding: FundingFilterConfig
    /// Thresholds are multiplied by this in each regime (harder to trigger in bad markets).
    public var regimeThresholdMultiplier: RegimeMultipliers
}

public struct RegimeMultipliers: Codable, Sendable, Equatable {
    public var bull: Double
    public var chop: Double
    public var bear: Double
    public var crash: Double

    public func value(for regime: Regime) -> Double {
        switch regime {
        case .bull: bull
        case .chop: chop
        case .bear: bear
        case .crash: crash
        }
    }
}

public struct VolumeSpikeConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    /// Last hour's volume over the average of the previous `lookback_hours`.
    public var ratio: Double
    public var lookbackHours: Int
}

public struct BreakoutConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var lookbackHours: Int
    /// The close must clear the prior high by at least this %.
    public var minClearancePct: Double
}

public struct ReversalConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var rsiPeriod: Int
    public var oversold: Double
    /// The last close must bounce at least this % off the 24h low.
    public var minBouncePct: Double
}

public struct MomentumConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var change24hPct: Double
    /// The move must be confirmed over 4h in the same direction by at least this %.
    public var change4hPct: Double
}

public struct PriceMoveConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var change1hPct: Double
}

public struct TrendConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var fastEma: Int
    public var slowEma: Int
    public var atrPeriod: Int
    /// A pullback entry: price within this many ATRs of the fast EMA in an uptrend.
    public var pullbackAtr: Double
    /// A trend breakout: close above the high of this many hours in an uptrend.
    public var breakoutLookbackHours: Int
}

public struct FundingFilterConfig: Codable, Sendable, Equatable {
    /// Longs on perpetual-style symbols are skipped when funding per 8h is above this (crowded longs).
    public var maxLongFundingRate: Double
}

public struct ExitsConfig: Codable, Sendable, Equatable {
    /// Take-profit ladder: at `r` times the initial risk (entry to stop), sell `fraction` of the initial size.
    public var ladder: [LadderRung]
    /// After the first rung, the stop trails the highest price by this many ATRs (never loosens).
    public var trailingAtr: Double
    /// Close what is left after this many hours.
    public var timeStopHours: Double

    /// Defaults are those of `config/signals.yaml`.
    public init(ladder: [LadderRung] = [LadderRung(r: 1, fraction: 0.25), LadderRung(r: 2, fraction: 0.25),
                                        LadderRung(r: 3, fraction: 0.25)],
                trailingAtr: Double = 2, timeStopHours: Double = 72) {
        self.ladder = ladder
        self.trailingAtr = trailingAtr
        self.timeStopHours = timeStopHours
    }
}

public struct LadderRung: Codable, Sendable, Equatable {
    public var r: Double
    public var fraction: Double

    public init(r: Double, fraction: Double) {
        self.r = r
        self.fraction = fraction
    }
}

public struct RulesConfig: Codable, Sendable, Equatable {
    /// Triggers weaker than this are ignored.
    public var minTriggerStrength: Double
    /// At most this many proposals per cycle, highest conviction first.
    public var maxProposals: Int
    public var baseConviction: Double
    /// Conviction added per unit of the strongest trigger's strength.
    public var strengthWeight: Double
    /// Conviction added per extra distinct trigger on the same symbol.
    public var confluenceBonus: Double
    public var regimeAdjustment: RegimeMultipliers
    /// Whether rules may propose SELL (short) entries. Spot venues: false.
    public var allowShorts: Bool
    /// Leverage of proposals (1 = spot).
    public var leverage: Double
}

// MARK: - policy/policy.yaml

public struct PolicyConfig: Codable, Sendable, Equatable {
    public var risk: RiskLimits
    public var reviewers: ReviewerPolicy
    public var circuitBreakers: CircuitBreakerLimits
    public var aiBudget: AIBudget
    public var execution: ExecutionPolicy
    /// Binance USD-M guard: margin ratio and liquidation distance limits, enforced every LIVE cycle.
    public var futures: FuturesPolicy
}

public struct RiskLimits: Codable, Sendable, Equatable {
    public var dailyStopLossPct: Double
    public var weeklyStopLossPct: Double
    public var maxDrawdownPct: Double
    public var maxTradesPerDay: Int
    public var maxTradesPerHour: Int
    public var minSecondsBetweenTrades: Int
    public var consecutiveLossCooldown: LossCooldown
    public var maxOpenPositions: Int
    public var maxPositionPct: TierLimits
    public var maxTotalAtRiskPct: Double
    public var maxPerAssetPct: Double
    /// Max exposure per cluster, % of equity.
    public var clusterLimitPct: Double
    public var minConviction: Double
    public var minCombinedConviction: Double
    public var maxSpreadBps: Double
    public var min24hVolumeUsd: Double
    public var maxLeverage: Double
    public var perSymbolCooldownMinutes: Int
    /// When a size exceeds a cap (position, asset, total, cluster): cut it to fit (true) or reject (false).
    public var cutToCaps: Bool
    /// A size cut below this is rejected instead.
    public var minSizePct: Double
}

public struct CircuitBreakerLimits: Codable, Sendable, Equatable {
    /// Losing trades within 24h that start a cooldown.
    public var maxLosses24h: Int
    public var losses24hCooldownMinutes: Int
    /// Market data whose newest closed bar is older than this is stale: no new entries.
    public var maxDataAgeMinutes: Int
    /// When the drawdown breaker turns the kill switch on, also close every position.
    public var flattenOnKill: Bool
    /// Between cycles: a move of `pct` within `seconds` halts new entries (and with `flatten` closes positions).
    public var flashMove: FlashMoveLimit
    /// Streams down this long between cycles: no new entries until they are back.
    public var streamLostSeconds: Double
    /// What else a lost stream does: `hold` (keep positions under their resting stops) or `flatten`.
    public var onStreamLost: StreamLostAction
}

public struct FlashMoveLimit: Codable, Sendable, Equatable {
    public var pct: Double
    public var seconds: Double
    public var action: FlashMoveAction
}

public enum FlashMoveAction: String, Codable, Sendable, CaseIterable {
    /// No new entries.
    case halt
    /// No new entries, and every position closed reduce-only.
    case flatten
}

public enum StreamLostAction: String, Codable, Sendable, CaseIterable {
    case hold
    case flatten
}

public struct LossCooldown: Codable, Sendable, Equatable {
    public var losses: Int
    public var cooldownMinutes: Int
}

public struct TierLimits: Codable, Sendable, Equatable {
    public var tier1Core: Double
    public var tier2Rotational: Double
    public var tier3EventDriven: Double

    public func value(for tier: Tier) -> Double {
        switch tier {
        case .core: tier1Core
        case .rotational: tier2Rotational
        case .eventDriven: tier3EventDriven
        }
    }
}

public struct ReviewerPolicy: Codable, Sendable, Equatable {
    /// The most any one reviewer can move conviction, up or down.
    public var deltaBound: Double
    public var m2: TapeLimits
    /// What a tier's failure (bad answer, timeout) means: `neutral` (no effect) or `veto`.
    public var failureMode: FailureModes
    /// How M1's news risk flags decay.
    public var newsRisk: NewsRiskPolicy
    /// The governor's settings (`reviewers.m3`).
    public var m3: GovernorPolicy
}

/// `policy.yaml` `reviewers.m3`.
public struct GovernorPolicy: Codable, Sendable, Equatable {
    /// What a budget-skipped M3 means: `veto` (no trade without the governor) or `allow` (rules only).
    public var onSkip: GovernorSkip
}

public enum GovernorSkip: String, Codable, Sendable, CaseIterable {
    case veto, allow
}

/// HIGH blocks new entries on the symbol for `highRiskBlockHours`, then is MEDIUM for `mediumRiskHours`, then LOW.
public struct NewsRiskPolicy: Codable, Sendable, Equatable {
    public var highRiskBlockHours: Double
    public var mediumRiskHours: Double
}

public struct TapeLimits: Codable, Sendable, Equatable {
    public var maxSpreadBps: Double
    public var parabolicMovePct: Double
    /// Depth below this (USD within 20 bps) is thin.
    public var thinDepthUsd: Double
}

public enum FailureMode: String, Codable, Sendable, CaseIterable {
    case neutral, veto
}

public struct FailureModes: Codable, Sendable, Equatable {
    public var m1: FailureMode
    public var m2: FailureMode
    public var m3: FailureMode
}

public enum BudgetFallback: String, Codable, Sendable, CaseIterable {
    case skip
    case noTrade = "no_trade"
}

public struct AIBudget: Codable, Sendable, Equatable {
    public var maxCostPerCycleUsd: Double
    public var maxCallsPerHour: Int
    public var maxCostPerDayUsd: Double
    public var onBudgetExhausted: BudgetFallback
}

public struct ExecutionPolicy: Codable, Sendable, Equatable {
    /// LIVE trading also needs this to be true (besides the mode, --confirm-live and keys).
    public var allowLive: Bool
    /// Binance margin type set before every entry: `isolated` or `cross`.
    public var marginType: String
    /// Coinbase protective stop-limit: the limit price sits this far (%) beyond the stop price.
    public var stopLimitOffsetPct: Double
}

/// `policy.yaml` `futures`: the liquidation guard for Binance USD-M positions.
public struct FuturesPolicy: Codable, Sendable, Equatable {
    /// Margin ratio (maintenance margin / margin balance) above which half of a position is closed.
    public var reduceMarginRatio: Double
    /// Margin ratio above which a position is closed.
    public var closeMarginRatio: Double
    /// New entries need their estimated liquidation price at least this far away, % of the price
    /// (policy check `min_liquidation_distance`, then again at execution with the venue's real brackets).
    public var minLiquidationDistancePct: Double
    /// Maintenance margin rate assumed by the policy check (the executor uses the symbol's real brackets).
    public var maintenanceMarginRate: Double
}
