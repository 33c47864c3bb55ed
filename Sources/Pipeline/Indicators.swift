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
    /// An output array of `count` values written by `body` through a raw buffer (no per-element bounds checks,
    /// no nil pre-fill); `body` must write every index.
    @inline(__always)
    private static func output(_ count: Int, _ body: (UnsafeMutableBufferPointer<Double?>) -> Void) -> [Double?] {
        [Double?](unsafeUninitializedCapacity: count) { buffer, initialized in
            body(buffer)
            initialized = count
        }
    }

    /// Simple moving average.
    public static func sma(_ values: [Double], period: Int) -> [Double?] {
        guard period > 0 else { return Array(repeating: nil, count: values.count) }
        return values.withUnsafeBufferPointer { v in
            output(v.count) { out in
                var sum = 0.0
                let n = Double(period)
                for i in 0..<v.count {
                    sum += v[i]
                    if i >= period { sum -= v[i - period] }
                    out.initializeElement(at: i, to: i >= period - 1 ? sum / n : nil)
                }
            }
        }
    }

    /// Exponential moving average, SMA-seeded (the same arithmetic as `EMAState`).
    public static func ema(_ values: [Double], period: Int) -> [Double?] {
        let p = max(period, 1)
        let alpha = 2.0 / Double(p + 1)
        return values.withUnsafeBufferPointer { v in
            output(v.count) { out in
                var sum = 0.0
                let warm = min(p - 1, v.count)
                for i in 0..<warm {
                    sum += v[i]
                    out.initializeElement(at: i, to: nil)
                }
                guard v.count >= p else { return }
                sum += v[p - 1]
                var value = sum / Double(p)
                out.initializeElement(at: p - 1, to: value)
                var i = p
                while i < v.count {
                    value = value + alpha * (v[i] - value)
                    out.initializeElement(at: i, to: value)
                    i += 1
                }
            }
        }
    }

    /// Relative strength index with Wilder smoothing.
    public static func rsi(_ closes: [Double], period: Int) -> [Double?] {
        guard period > 0, closes.count > period else { return [Double?](repeating: nil, count: closes.count) }
        return closes.withUnsafeBufferPointer { c in
            output(c.count) { out in
                var gain = 0.0, loss = 0.0
                out.initializeElement(at: 0, to: nil)
                for i in 1...period {
                    let change = c[i] - c[i - 1]
                    if change > 0 { gain += change } else { loss -= change }
                    if i < period { out.initializeElement(at: i, to: nil) }
                }
                gain /= Double(period)
                loss /= Double(period)
                out.initializeElement(at: period, to: rsiValue(gain: gain, loss: loss))
                let n = Double(period)
                var i = period + 1
                while i < c.count {
                    let change = c[i] - c[i - 1]
                    gain = (gain * (n - 1) + max(change, 0)) / n
                    loss = (loss * (n - 1) + max(-change, 0)) / n
                    out.initializeElement(at: i, to: rsiValue(gain: gain, loss: loss))
                    i += 1
                }
            }
        }
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
        guard period > 0, candles.count > period else { return [Double?](repeating: nil, count: candles.count) }
        return candles.withUnsafeBufferPointer { c in
            @inline(__always) func range(_ i: Int) -> Double {
                let bar = c[i], prevClose = c[i - 1].close
                return max(bar.high - bar.low, abs(bar.high - prevClose), abs(bar.low - prevClose))
            }
            return output(c.count) { out in
                var sum = 0.0
                out.initializeElement(at: 0, to: nil)
                for i in 1...period {
                    sum += range(i)
                    if i < period { out.initializeElement(at: i, to: nil) }
                }
                var value = sum / Double(period)
                out.initializeElement(at: period, to: value)
                let n = Double(period)
                var i = period + 1
                while i < c.count {
                    value = (value * (n - 1) + range(i)) / n
                    out.initializeElement(at: i, to: value)
                    i += 1
                }
            }
        }
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
    @inline(__always)
    private static func rolling(_ values: [Double], period: Int, supersedes: (Double, Double) -> Bool) -> [Double?] {
        guard period > 0 else { return [Double?](repeating: nil, count: values.count) }
        // Monotonic deque of indices in a ring of `period + 1` slots: O(n) overall, no allocation per value.
        let slots = period + 1
        let ring = UnsafeMutablePointer<Int>.allocate(capacity: slots)
        defer { ring.deallocate() }
        return values.withUnsafeBufferPointer { v in
            output(v.count) { out in
                var head = 0, count = 0
                for i in 0..<v.count {
                    let x = v[i]
                    while count > 0 {
                        let lastSlot = (head + count - 1) % slots
                        guard supersedes(x, v[ring[lastSlot]]) else { break }
                        count -= 1
                    }
                    ring[(head + count) % slots] = i
                    count += 1
                    if ring[head] <= i - period {
                        head = head + 1 == slots ? 0 : head + 1
                        count -= 1
                    }
                    out.initializeElement(at: i, to: i >= period - 1 ? v[ring[head]] : nil)
                }
            }
        }
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
