import Config
import Foundation
import Model

private let fmt = Format.number

/// What the strategy's sizing and leverage rules read about the account. The cycle builds it from its own book, so
/// a backtest, PAPER and LIVE size from the same facts.
public struct AccountFacts: Sendable, Equatable {
    /// From peak equity, in percent (0 at a new high).
    public var drawdownPct: Double
    /// Whether the most recent closed trade lost money.
    public var lastTradeLost: Bool
    /// Return of each of the last closed trades on its entry notional (0.02 = +2%), oldest first.
    public var tradeReturns: [Double]

    public init(drawdownPct: Double, lastTradeLost: Bool, tradeReturns: [Double]) {
        self.drawdownPct = drawdownPct
        self.lastTradeLost = lastTradeLost
        self.tradeReturns = tradeReturns
    }

    public static let flat = AccountFacts(drawdownPct: 0, lastTradeLost: false, tradeReturns: [])
}

/// Everything the rules need beyond `rules:` to apply the strategy features of `signals.yaml`.
public struct StrategyContext: Sendable {
    public var strategy: StrategyConfig
    public var trend: TrendConfig
    public var funding: FundingFilterConfig
    public var account: AccountFacts

    public init(strategy: StrategyConfig, trend: TrendConfig, funding: FundingFilterConfig, account: AccountFacts) {
        self.strategy = strategy
        self.trend = trend
        self.funding = funding
        self.account = account
    }

    public init(_ signals: SignalsConfig, account: AccountFacts) {
        self.init(strategy: signals.strategy, trend: signals.triggers.trend, funding: signals.triggers.funding, account: account)
    }
}

/// The trend of a longer timeframe, from the cycle's own bars resampled inside (complete UTC buckets only).
public struct HigherTimeframeTrend: Sendable, Equatable {
    /// Up or down; nil when the EMAs disagree with the close, or there are too few complete bars.
    public var direction: Direction?
    public var bars: Int
    public var fast: Double?
    public var slow: Double?
    public var close: Double?

    public static func measure(_ config: HigherTimeframeConfig, tape: SymbolSnapshot) -> HigherTimeframeTrend {
        guard let interval = BarInterval(config.timeframe),
              let bars = BarInterval.resample(tape.candles, base: tape.interval.seconds, to: interval.seconds) else {
            return HigherTimeframeTrend(direction: nil, bars: 0)
        }
        let closes = bars.map(\.close)
        guard closes.count >= config.slowEma, let fast = Indicators.emaLine(closes, period: config.fastEma).last,
              let slow = Indicators.emaLine(closes, period: config.slowEma).last, let close = closes.last else {
            return HigherTimeframeTrend(direction: nil, bars: closes.count)
        }
        let direction: Direction? = fast > slow && close > slow ? .up : fast < slow && close < slow ? .down : nil
        return HigherTimeframeTrend(direction: direction, bars: closes.count, fast: fast, slow: slow, close: close)
    }

    public init(direction: Direction?, bars: Int, fast: Double? = nil, slow: Double? = nil, close: Double? = nil) {
        self.direction = direction
        self.bars = bars
        self.fast = fast
        self.slow = slow
        self.close = close
    }

    public var text: String {
        guard let fast, let slow else { return "higher timeframe: \(bars) complete bars, too few for its EMAs" }
        return "higher timeframe \(direction?.rawValue ?? "flat") (EMA \(fmt(fast)) vs \(fmt(slow)), \(bars) bars)"
    }
}

/// The composite score `trend + volatility + entry quality + funding`, each component 0...1 times its weight.
public enum CompositeScore {
    public static func components(_ weights: CompositeWeights, trend: TrendConfig, funding: FundingFilterConfig,
                                  side: Side, strongest: Double, tape: SymbolSnapshot) -> [ConvictionComponent] {
        var trendScore = 0.0
        if let fast = tape.newestEMA(period: trend.fastEma), let slow = tape.newestEMA(period: trend.slowEma),
           let atr = tape.newestATR(period: trend.atrPeriod), atr > 0 {
            let separation = (fast - slow) / atr * (side == .buy ? 1 : -1)
            trendScore = min(max(separation / 2, 0), 1)
        }
        let volatility = tape.annualizedVolatilityPct(bars: tape.bars(hours: 168))
            ?? tape.annualizedVolatilityPct(bars: tape.candles.count - 1)
        let volatilityScore = volatility.map { $0 <= weights.targetVolatilityPct ? 1 : weights.targetVolatilityPct / $0 } ?? 0.5
        // Funding the trade's side pays is bad: 0.5 at zero, 0 at the crowded limit, 1 at its mirror.
        var fundingScore = 0.5
        if let rate = tape.fundingRate, funding.maxLongFundingRate > 0 {
            let paid = side == .buy ? rate : -rate
            fundingScore = min(max(0.5 - 0.5 * paid / funding.maxLongFundingRate, 0), 1)
        }
        return [
            ConvictionComponent(name: "trend", value: weights.trend * trendScore),
            ConvictionComponent(name: "volatility", value: weights.volatility * volatilityScore),
            ConvictionComponent(name: "entry_quality", value: weights.entryQuality * min(max(strongest, 0), 1)),
            ConvictionComponent(name: "funding", value: weights.funding * fundingScore),
        ]
    }
}

/// The size of a proposal, % of equity (notional), before the policy's caps cut it.
public enum PositionSizing {
    public struct Sized: Sendable, Equatable {
        public var sizePct: Double
        public var note: String
    }

    /// `tierSizePct` is the tier's base size times the regime multiplier (sizing mode `tier`).
    public static func size(_ config: SizingConfig, tierSizePct: Double, stopLossPct: Double, account: AccountFacts) -> Sized {
        var size = tierSizePct
        var notes: [String] = []
        if config.mode == .risk, stopLossPct > 0 {
            size = config.riskPerTradePct / stopLossPct * 100
            notes.append("size \(fmt(size))% = risk \(fmt(config.riskPerTradePct))% / stop \(fmt(stopLossPct))%")
        }
        if let cap = kellyCapPct(config, account: account), cap < size {
            notes.append("Kelly cap \(fmt(cap))% (\(fmt(config.kellyFraction)) x Kelly of the last \(min(account.tradeReturns.count, config.kellyLookbackTrades)) trades)")
            size = cap
        }
        return Sized(sizePct: size, note: notes.joined(separator: "; "))
    }

    /// `fraction` x the Kelly size measured on the last trades: f* = W - (1 - W) / (average win / average loss) is the
    /// share of equity to lose on a losing trade, so the notional is f* / average loss. Nil when off or too few trades;
    /// the floor when f* is not positive.
    public static func kellyCapPct(_ config: SizingConfig, account: AccountFacts) -> Double? {
        guard config.kellyFraction > 0 else { return nil }
        let recent = account.tradeReturns.suffix(config.kellyLookbackTrades).filter(\.isFinite)
        guard recent.count >= config.kellyMinTrades, !recent.isEmpty else { return nil }
        let wins = recent.filter { $0 > 0 }
        let losses = recent.filter { $0 <= 0 }
        guard !losses.isEmpty else { return nil }
        let averageLoss = -losses.reduce(0, +) / Double(losses.count)
        guard averageLoss > 0 else { return nil }
        guard !wins.isEmpty else { return config.kellyFloorPct }
        let averageWin = wins.reduce(0, +) / Double(wins.count)
        let winRate = Double(wins.count) / Double(recent.count)
        let kelly = winRate - (1 - winRate) / (averageWin / averageLoss)
        guard kelly > 0 else { return config.kellyFloorPct }
        return max(config.kellyFraction * kelly / averageLoss * 100, config.kellyFloorPct)
    }
}

/// Leverage of a proposal: the ceiling (`rules.leverage`), lowered by volatility, drawdown and a losing last trade;
/// never below 1. The policy's max_leverage and min_liquidation_distance checks still decide.
public enum LeverageRule {
    public static func leverage(_ config: LeverageRuleConfig, ceiling: Double, volatilityPct: Double?,
                                account: AccountFacts) -> Double {
        var leverage = max(ceiling, 1)
        if config.targetVolatilityPct > 0, let volatilityPct, volatilityPct > 0 {
            leverage = min(leverage, max((config.targetVolatilityPct / volatilityPct).rounded(.down), 1))
        }
        if account.drawdownPct > config.drawdownPct {
            leverage = min(leverage, config.drawdownMaxLeverage)
        }
        if account.lastTradeLost {
            leverage -= config.afterLossStep
        }
        return max(leverage, 1)
    }
}
