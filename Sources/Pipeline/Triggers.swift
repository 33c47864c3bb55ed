import Config
import Model

private let fmt = Format.number

/// A signal that fired but was filtered out (e.g. crowded funding), kept for the audit trail.
public struct SuppressedTrigger: Codable, Sendable, Equatable {
    public var trigger: Trigger
    public var reason: String
}

public struct TriggerScan: Codable, Sendable, Equatable {
    public var triggers: [Trigger]
    public var suppressed: [SuppressedTrigger]
}

/// Deterministic signals on candles of any bar length (windows are in hours, converted to bars). Thresholds come from signals.yaml, scaled per regime.
public enum TriggerEngine {
    /// `downtrend`: also the mirrored DOWNTREND setups (pullback and breakdown in a downtrend), and shorts filtered
    /// on crowded negative funding; the cycle turns it on with `rules.allow_shorts`.
    public static func scan(_ config: TriggersConfig, regime: Regime, symbols: [SymbolSnapshot], downtrend: Bool = false) -> TriggerScan {
        let m = config.regimeThresholdMultiplier.value(for: regime)
        var fired: [Trigger] = []
        var suppressed: [SuppressedTrigger] = []
        for tape in symbols {
            for trigger in detect(config, multiplier: m, tape: tape, downtrend: downtrend) {
                if trigger.direction == .up, let funding = tape.fundingRate, funding > config.funding.maxLongFundingRate {
                    suppressed.append(SuppressedTrigger(
                        trigger: trigger,
                        reason: "funding \(fmt(funding * 100))% per 8h > \(fmt(config.funding.maxLongFundingRate * 100))%: crowded longs"))
                } else if downtrend, trigger.direction == .down, let funding = tape.fundingRate, funding < -config.funding.maxLongFundingRate {
                    suppressed.append(SuppressedTrigger(
                        trigger: trigger,
                        reason: "funding \(fmt(funding * 100))% per 8h < -\(fmt(config.funding.maxLongFundingRate * 100))%: crowded shorts"))
                } else {
                    fired.append(trigger)
                }
            }
        }
        fired.sort { $0.strength != $1.strength ? $0.strength > $1.strength : ($0.symbol, $0.kind.rawValue) < ($1.symbol, $1.kind.rawValue) }
        return TriggerScan(triggers: fired, suppressed: suppressed)
    }

    /// 0 at the threshold, rising to 1 at twice the threshold.
    static func strength(_ value: Double, threshold: Double) -> Double {
        guard threshold > 0 else { return 1 }
        return min(max(0.3 + 0.7 * (value / threshold - 1), 0), 1)
    }

    /// All signals on one symbol.
    public static func detect(_ config: TriggersConfig, multiplier m: Double, tape: SymbolSnapshot, downtrend: Bool = false) -> [Trigger] {
        let candles = tape.candles
        guard candles.count >= 30, let last = candles.last else { return [] }
        let symbol = tape.symbol
        var out: [Trigger] = []

        let volumeBars = tape.bars(hours: config.volumeSpike.lookbackHours)
        if config.volumeSpike.enabled, candles.count > volumeBars, let average = tape.priorMeanVolume(bars: volumeBars) {
            let threshold = config.volumeSpike.ratio * m
            if average > 0 {
                let ratio = last.volume / average
                if ratio >= threshold {
                    out.append(Trigger(symbol: symbol, kind: .volumeSpike, direction: last.close >= last.open ? .up : .down,
                                       strength: strength(ratio, threshold: threshold),
                                       detail: .later("volume \(fmt(ratio))x the \(config.volumeSpike.lookbackHours)h average"),
                                       metrics: ["volume_ratio": ratio, "threshold": threshold]))
                }
            }
        }

        let breakoutBars = tape.bars(hours: config.breakout.lookbackHours)
        if config.breakout.enabled, candles.count > breakoutBars, let prior = tape.priorRange(bars: breakoutBars) {
            let high = prior.high, low = prior.low
            let clearance = config.breakout.minClearancePct * m
            let above = (last.close - high) / high * 100
            let below = (low - last.close) / low * 100
            if above >= clearance {
                out.append(Trigger(symbol: symbol, kind: .breakout, direction: .up,
                                   strength: strength(above, threshold: max(clearance, 0.01)),
                                   detail: .later("close \(fmt(above))% above the \(config.breakout.lookbackHours)h high"),
                                   metrics: ["clearance_pct": above, "prior_high": high]))
            } else if below >= clearance {
                out.append(Trigger(symbol: symbol, kind: .breakout, direction: .down,
                                   strength: strength(below, threshold: max(clearance, 0.01)),
                                   detail: .later("close \(fmt(below))% below the \(config.breakout.lookbackHours)h low"),
                                   metrics: ["clearance_pct": below, "prior_low": low]))
            }
        }

        if config.reversal.enabled, let rsi = tape.newestRSI(period: config.reversal.rsiPeriod, recentBars: tape.bars(hours: 6)) {
            let minRSI = rsi.lowest, lastRSI = rsi.newest
            let oversold = config.reversal.oversold / m
            let low24 = tape.lowestLow(bars: tape.bars(hours: 24)) ?? last.low
            let bounce = (last.close - low24) / low24 * 100
            let previous = candles[candles.count - 2]
            if minRSI <= oversold, bounce >= config.reversal.minBouncePct * m, last.close > previous.close {
                out.append(Trigger(symbol: symbol, kind: .reversal, direction: .up,
                                   strength: strength(bounce, threshold: config.reversal.minBouncePct * m),
                                   detail: .later("RSI \(fmt(minRSI)) recovered to \(fmt(lastRSI)), +\(fmt(bounce))% off the 24h low"),
                                   metrics: ["rsi_min": minRSI, "rsi": lastRSI, "bounce_pct": bounce]))
            }
        }

        if config.momentum.enabled, let c24 = tape.changePct(hours: 24), let c4 = tape.changePct(hours: 4) {
            let threshold = config.momentum.change24hPct * m
            let confirm = config.momentum.change4hPct * m
            if c24 >= threshold, c4 >= confirm {
                out.append(Trigger(symbol: symbol, kind: .momentum, direction: .up, strength: strength(c24, threshold: threshold),
                                   detail: .later("Momentum up (+\(fmt(c24))% in 24h, +\(fmt(c4))% in 4h)"),
                                   metrics: ["change_24h_pct": c24, "change_4h_pct": c4]))
            } else if c24 <= -threshold, c4 <= -confirm {
                out.append(Trigger(symbol: symbol, kind: .momentum, direction: .down, strength: strength(-c24, threshold: threshold),
                                   detail: .later("Momentum down (\(fmt(c24))% in 24h, \(fmt(c4))% in 4h)"),
                                   metrics: ["change_24h_pct": c24, "change_4h_pct": c4]))
            }
        }

        if config.priceMove.enabled, let c1 = tape.changePct(hours: 1) {
            let threshold = config.priceMove.change1hPct * m
            if abs(c1) >= threshold {
                out.append(Trigger(symbol: symbol, kind: .priceMove, direction: c1 > 0 ? .up : .down,
                                   strength: strength(abs(c1), threshold: threshold),
                                   detail: .later("price \(c1 > 0 ? "+" : "")\(fmt(c1))% in 1h"),
                                   metrics: ["change_1h_pct": c1]))
            }
        }

        if config.trend.enabled {
            out.append(contentsOf: trendSignals(config.trend, multiplier: m, tape: tape, downtrend: downtrend))
        }
        return out
    }

    /// EMA(fast)/EMA(slow) trend with ATR: pullback entries near the fast EMA and breakouts in an uptrend.
    static func trendSignals(_ config: TrendConfig, multiplier m: Double, tape: SymbolSnapshot, downtrend: Bool = false) -> [Trigger] {
        guard let fast = tape.newestEMA(period: config.fastEma),
              let slow = tape.newestEMA(period: config.slowEma),
              let atr = tape.newestATR(period: config.atrPeriod),
              atr > 0, let last = tape.candles.last else { return [] }
        if downtrend, fast < slow, last.close < slow {
            return downtrendSignals(config, multiplier: m, tape: tape, fast: fast, slow: slow, atr: atr)
        }
        guard fast > slow, last.close > slow else { return [] }
        let symbol = tape.symbol
        let separation = (fast - slow) / atr
        var out: [Trigger] = []
        let metrics = ["ema_fast": fast, "ema_slow": slow, "atr": atr, "separation_atr": separation]
        let pullbackBand = config.pullbackAtr * atr / m
        if last.low <= fast + pullbackBand, last.close > fast {
            out.append(Trigger(symbol: symbol, kind: .trendPullback, direction: .up,
                               strength: min(max(separation / 2, 0), 1),
                               detail: .later("uptrend (EMA\(config.fastEma) > EMA\(config.slowEma) by \(fmt(separation)) ATR), pullback to EMA\(config.fastEma) held"),
                               metrics: metrics))
        }
        let breakoutBars = tape.bars(hours: config.breakoutLookbackHours)
        if tape.candles.count > breakoutBars, let high = tape.priorRange(bars: breakoutBars)?.high {
            if last.close > high {
                out.append(Trigger(symbol: symbol, kind: .trendBreakout, direction: .up,
                                   strength: min(max((last.close - high) / atr + separation / 4, 0), 1),
                                   detail: .later("uptrend breakout above the \(config.breakoutLookbackHours)h high"),
                                   metrics: metrics.merging(["prior_high": high]) { a, _ in a }))
            }
        }
        return out
    }
}

extension TriggerEngine {
    /// The mirror of the uptrend setups: a rally to the fast EMA that failed (pullback), and a close below the
    /// low of `breakout_lookback_hours` (breakdown), both while EMA(fast) < EMA(slow) and the close is below EMA(slow).
    static func downtrendSignals(_ config: TrendConfig, multiplier m: Double, tape: SymbolSnapshot,
                                 fast: Double, slow: Double, atr: Double) -> [Trigger] {
        guard let last = tape.candles.last else { return [] }
        let symbol = tape.symbol
        let separation = (slow - fast) / atr
        var out: [Trigger] = []
        let metrics = ["ema_fast": fast, "ema_slow": slow, "atr": atr, "separation_atr": separation]
        let pullbackBand = config.pullbackAtr * atr / m
        if last.high >= fast - pullbackBand, last.close < fast {
            out.append(Trigger(symbol: symbol, kind: .trendPullback, direction: .down,
                               strength: min(max(separation / 2, 0), 1),
                               detail: .later("downtrend (EMA\(config.fastEma) < EMA\(config.slowEma) by \(fmt(separation)) ATR), rally to EMA\(config.fastEma) failed"),
                               metrics: metrics))
        }
        let breakoutBars = tape.bars(hours: config.breakoutLookbackHours)
        if tape.candles.count > breakoutBars, let low = tape.priorRange(bars: breakoutBars)?.low {
            if last.close < low {
                out.append(Trigger(symbol: symbol, kind: .trendBreakout, direction: .down,
                                   strength: min(max((low - last.close) / atr + separation / 4, 0), 1),
                                   detail: .later("downtrend breakdown below the \(config.breakoutLookbackHours)h low"),
                                   metrics: metrics.merging(["prior_low": low]) { a, _ in a }))
            }
        }
        return out
    }
}

extension EventType where Payload == TriggerScan {
    public static var triggers: Self { Self(.triggers) }
}
