import Foundation
import Model

/// The newest indicator values of one tape, read straight from its candles.
///
/// A cycle needs only the last value of each indicator (and, for RSI, the last few), so these walk the window once
/// and allocate nothing: no column of closes, no output line. The arithmetic is the line kernels' (`Indicators`),
/// operation for operation, so each value is bit-identical to the last value of the matching line; the
/// `TapeReadingTests` hold them to it.
extension SymbolSnapshot {
    /// EMA(`period`) of the closes at the newest bar, SMA-seeded over the window's first `period` closes.
    public func newestEMA(period: Int) -> Double? {
        let p = max(period, 1), count = candles.count
        guard count >= p else { return nil }
        return candles.withUnsafeBufferPointer { c in
            let alpha = 2.0 / Double(p + 1)
            var sum = 0.0
            for i in 0..<p { sum += c[i].close }
            var value = sum / Double(p)
            var i = p
            while i < count {
                value = Indicators.Step.ema(value, c[i].close, alpha: alpha)
                i += 1
            }
            return value
        }
    }

    /// Wilder ATR(`period`) at the newest bar.
    public func newestATR(period: Int) -> Double? {
        let count = candles.count
        guard period > 0, count > period else { return nil }
        return candles.withUnsafeBufferPointer { c in
            @inline(__always) func range(_ i: Int) -> Double {
                let bar = c[i], prevClose = c[i - 1].close
                return max(max(bar.high - bar.low, abs(bar.high - prevClose)), abs(bar.low - prevClose))
            }
            let (keep, add) = Indicators.Step.atrWeights(period: period)
            var sum = 0.0
            for i in 1...period { sum += range(i) }
            var value = sum / Double(period)
            var i = period + 1
            while i < count {
                value = Indicators.Step.atr(value, range(i), keep: keep, add: add)
                i += 1
            }
            return value
        }
    }

    /// Wilder RSI(`period`) of the closes: its newest value and the lowest of its values over the last `recentBars`
    /// bars (the newest included; only bars past the warm-up count).
    public func newestRSI(period: Int, recentBars: Int) -> (lowest: Double, newest: Double)? {
        let count = candles.count
        guard period > 0, count > period else { return nil }
        return candles.withUnsafeBufferPointer { c in
            let nm1 = Double(period - 1), reciprocal = 1 / Double(period)
            var gain = 0.0, loss = 0.0
            for i in 1...period {
                let change = c[i].close - c[i - 1].close
                if change > 0 { gain += change } else { loss -= change }
            }
            gain *= reciprocal
            loss *= reciprocal
            let from = max(period, count - recentBars)
            var value = Indicators.rsiValue(gain: gain, loss: loss)
            var lowest = Double.infinity
            if period >= from { lowest = value }
            var i = period + 1
            while i < count {
                let change = c[i].close - c[i - 1].close
                gain = Indicators.Step.rsi(gain, max(change, 0), nMinusOne: nm1, reciprocal: reciprocal)
                loss = Indicators.Step.rsi(loss, max(-change, 0), nMinusOne: nm1, reciprocal: reciprocal)
                value = Indicators.rsiValue(gain: gain, loss: loss)
                if i >= from, value < lowest { lowest = value }
                i += 1
            }
            return lowest.isFinite ? (lowest, value) : nil
        }
    }

    /// The highest high and lowest low of the `bars` bars before the newest one (fewer when the window is shorter).
    public func priorRange(bars: Int) -> (high: Double, low: Double)? {
        let end = candles.count - 1
        let start = max(end - bars, 0)
        guard end > start else { return nil }
        var high = -Double.infinity, low = Double.infinity
        for i in start..<end {
            let bar = candles[i]
            if bar.high > high { high = bar.high }
            if bar.low < low { low = bar.low }
        }
        return (high, low)
    }

    /// The lowest low of the last `bars` bars, the newest included.
    public func lowestLow(bars: Int) -> Double? {
        guard bars > 0, !candles.isEmpty else { return nil }
        var low = Double.infinity
        for bar in candles.suffix(bars) where bar.low < low { low = bar.low }
        return low
    }

    /// Mean volume of the `bars` bars before the newest one.
    public func priorMeanVolume(bars: Int) -> Double? {
        let end = candles.count - 1
        let start = max(end - bars, 0)
        guard end > start else { return nil }
        var sum = 0.0
        for i in start..<end { sum += candles[i].volume }
        return sum / Double(end - start)
    }

    /// Annualised volatility in percent from the log returns of the last `bars` bars (see
    /// `Indicators.annualizedVolatilityPct`, whose value this is).
    public func annualizedVolatilityPct(bars: Int) -> Double? {
        let count = candles.count
        guard bars >= 2, count > bars else { return nil }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: bars) { returns in
            var n = 0
            var previous = candles[count - bars - 1].close
            for i in (count - bars)..<count {
                let close = candles[i].close
                if previous > 0, close > 0 {
                    returns[n] = log(close / previous)
                    n += 1
                }
                previous = close
            }
            guard n >= 2 else { return nil }
            var total = 0.0
            for k in 0..<n { total += returns[k] }
            let mean = total / Double(n)
            var squares = 0.0
            for k in 0..<n { squares += (returns[k] - mean) * (returns[k] - mean) }
            let variance = squares / Double(n - 1)
            return variance.squareRoot() * interval.perYear.squareRoot() * 100
        }
    }
}
