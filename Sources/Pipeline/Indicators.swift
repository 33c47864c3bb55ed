import Foundation
import Model

/// Technical indicators shared by triggers, rules, reviewers and backtests.
///
/// Conventions follow TA-Lib, which traders compare against: the output is aligned with the input, and
/// every index before the warm-up is complete is `nil`.
/// - EMA: seeded with the SMA of its first `period` values, then `alpha = 2 / (period + 1)`.
/// - RSI and ATR: Wilder smoothing (`alpha = 1 / period`) seeded with the simple mean of the first
///   `period` changes / true ranges; both need one prior bar, so their first value is at index `period`.
/// - Rolling high/low include the current bar.
public enum Indicators {
    /// Simple moving average.
    public static func sma(_ values: [Double], period: Int) -> [Double?] {
        guard period > 0 else { return Array(repeating: nil, count: values.count) }
        var out = [Double?](repeating: nil, count: values.count)
        var sum = 0.0
        for i in values.indices {
            sum += values[i]
            if i >= period { sum -= values[i - period] }
            if i >= period - 1 { out[i] = sum / Double(period) }
        }
        return out
    }

    /// Exponential moving average, SMA-seeded.
    public static func ema(_ values: [Double], period: Int) -> [Double?] {
        var out = [Double?](repeating: nil, count: values.count)
        var state = EMAState(period: period)
        for i in values.indices { out[i] = state.update(values[i]) }
        return out
    }

    /// Relative strength index with Wilder smoothing.
    public static func rsi(_ closes: [Double], period: Int) -> [Double?] {
        var out = [Double?](repeating: nil, count: closes.count)
        guard period > 0, closes.count > period else { return out }
        var gain = 0.0, loss = 0.0
        for i in 1...period {
            let change = closes[i] - closes[i - 1]
            if change > 0 { gain += change } else { loss -= change }
        }
        gain /= Double(period)
        loss /= Double(period)
        out[period] = rsiValue(gain: gain, loss: loss)
        let n = Double(period)
        var i = period + 1
        while i < closes.count {
            let change = closes[i] - closes[i - 1]
            gain = (gain * (n - 1) + max(change, 0)) / n
            loss = (loss * (n - 1) + max(-change, 0)) / n
            out[i] = rsiValue(gain: gain, loss: loss)
            i += 1
        }
        return out
    }

    private static func rsiValue(gain: Double, loss: Double) -> Double {
        if loss == 0 { return gain == 0 ? 50 : 100 }
        return 100 - 100 / (1 + gain / loss)
    }

    /// True range of bar `i` (needs bar `i - 1`).
    public static func trueRange(_ candles: [Candle], at i: Int) -> Double {
        let c = candles[i], prevClose = candles[i - 1].close
        return max(c.high - c.low, abs(c.high - prevClose), abs(c.low - prevClose))
    }

    /// Average true range with Wilder smoothing.
    public static func atr(_ candles: [Candle], period: Int) -> [Double?] {
        var out = [Double?](repeating: nil, count: candles.count)
        guard period > 0, candles.count > period else { return out }
        var sum = 0.0
        for i in 1...period { sum += trueRange(candles, at: i) }
        var value = sum / Double(period)
        out[period] = value
        let n = Double(period)
        var i = period + 1
        while i < candles.count {
            value = (value * (n - 1) + trueRange(candles, at: i)) / n
            out[i] = value
            i += 1
        }
        return out
    }

    /// Highest value of the last `period` values, the current one included.
    public static func rollingHigh(_ values: [Double], period: Int) -> [Double?] {
        rolling(values, period: period, supersedes: >=)
    }

    /// Lowest value of the last `period` values, the current one included.
    public static func rollingLow(_ values: [Double], period: Int) -> [Double?] {
        rolling(values, period: period, supersedes: <=)
    }

    /// `supersedes(new, old)`: the newer value makes the older one irrelevant for every later window.
    private static func rolling(_ values: [Double], period: Int, supersedes: (Double, Double) -> Bool) -> [Double?] {
        var out = [Double?](repeating: nil, count: values.count)
        guard period > 0 else { return out }
        // Monotonic deque of indices: O(n) overall.
        var deque: [Int] = []
        deque.reserveCapacity(period + 1)
        var head = 0
        for i in values.indices {
            while deque.count > head, let last = deque.last, supersedes(values[i], values[last]) {
                deque.removeLast()
            }
            deque.append(i)
            if deque[head] <= i - period { head += 1 }
            if i >= period - 1 { out[i] = values[deque[head]] }
            if head > 1024 {
                deque.removeFirst(head)
                head = 0
            }
        }
        return out
    }

    /// Annualised volatility in percent from the log returns of the last `bars` bars of length `interval`.
    public static func annualizedVolatilityPct(_ closes: [Double], bars: Int, interval: BarInterval) -> Double? {
        guard bars >= 2, closes.count > bars else { return nil }
        let window = closes.suffix(bars + 1)
        var returns: [Double] = []
        returns.reserveCapacity(bars)
        var previous: Double?
        for close in window {
            if let p = previous, p > 0, close > 0 { returns.append(log(close / p)) }
            previous = close
        }
        guard returns.count >= 2 else { return nil }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let variance = returns.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(returns.count - 1)
        return variance.squareRoot() * interval.perYear.squareRoot() * 100
    }
}

/// Streaming EMA with the SMA seed: feed values one at a time; `nil` until `period` values were seen.
public struct EMAState: Sendable {
    public let period: Int
    private let alpha: Double
    private var count = 0
    private var sum = 0.0
    public private(set) var value: Double?

    public init(period: Int) {
        self.period = max(period, 1)
        self.alpha = 2.0 / Double(max(period, 1) + 1)
    }

    @discardableResult
    public mutating func update(_ x: Double) -> Double? {
        if let v = value {
            let next = v + alpha * (x - v)
            value = next
            return next
        }
        count += 1
        sum += x
        if count == period { value = sum / Double(period) }
        return value
    }
}
