import Foundation
import Model

/// Technical indicators shared by triggers, rules, reviewers and backtests.
///
/// Conventions follow TA-Lib, which traders compare against: the output is aligned with the input, and
/// every index before the warm-up is complete is `nil` (array forms) or NaN (`IndicatorLine`, buffer kernels).
/// - EMA: seeded with the SMA of its first `period` values, then `alpha = 2 / (period + 1)`.
/// - RSI and ATR: Wilder smoothing (`alpha = 1 / period`) seeded with the simple mean of the first
///   `period` changes / true ranges; both need one prior bar, so their first value is at index `period`.
/// - Rolling high/low include the current bar.
///
/// The arithmetic is TA-Lib 0.6's, operation for operation (`Step`), so the values are bit-identical to its C:
/// the EMA step is one fused multiply-add, the ATR step `fma(atr, (n-1)/n, tr * (1 - (n-1)/n))`, the RSI step
/// `(avg * (n-1) + move) * (1/n)` and its value `100 * (gain / (gain + loss))`, and the SMA drops the oldest
/// value before adding the newest. One difference, kept on purpose: a window where nothing moved has RSI 50
/// (TA-Lib says 0, which would read as deeply oversold).
public enum Indicators {
    /// One step of each recurrence, shared by the line kernels, the streaming states and the tape readings, so
    /// that every form of an indicator gives the same bits.
    public enum Step {
        /// `value + alpha * (x - value)`, rounded once.
        @inline(__always)
        public static func ema(_ value: Double, _ x: Double, alpha: Double) -> Double { value.addingProduct(x - value, alpha) }

        /// The Wilder ATR step with `keep = (n - 1) / n` and `add = 1 - keep`.
        @inline(__always)
        public static func atr(_ value: Double, _ range: Double, keep: Double, add: Double) -> Double {
            (range * add).addingProduct(value, keep)
        }

        /// The ATR weights for `period`: `keep = (n - 1) / n`, `add = 1 - keep`.
        @inline(__always)
        public static func atrWeights(period: Int) -> (keep: Double, add: Double) {
            let keep = Double(period - 1) / Double(period)
            return (keep, 1 - keep)
        }

        /// The Wilder RSI smoothing step of a mean gain or loss: `(average * (n - 1) + move) * (1 / n)`.
        @inline(__always)
        public static func rsi(_ average: Double, _ move: Double, nMinusOne: Double, reciprocal: Double) -> Double {
            (average * nMinusOne + move) * reciprocal
        }
    }

    // MARK: - Array forms (nil during the warm-up)

    /// Simple moving average.
    public static func sma(_ values: [Double], period: Int) -> [Double?] { smaLine(values, period: period).optionals }

    /// Exponential moving average, SMA-seeded (the same arithmetic as `EMAState`).
    public static func ema(_ values: [Double], period: Int) -> [Double?] { emaLine(values, period: period).optionals }

    /// Relative strength index with Wilder smoothing.
    public static func rsi(_ closes: [Double], period: Int) -> [Double?] { rsiLine(closes, period: period).optionals }

    /// Average true range with Wilder smoothing.
    public static func atr(_ candles: [Candle], period: Int) -> [Double?] { atrLine(candles, period: period).optionals }

    /// Highest value of the last `period` values, the current one included.
    public static func rollingHigh(_ values: [Double], period: Int) -> [Double?] {
        rollingHighLine(values, period: period).optionals
    }

    /// Lowest value of the last `period` values, the current one included.
    public static func rollingLow(_ values: [Double], period: Int) -> [Double?] {
        rollingLowLine(values, period: period).optionals
    }

    /// True range of bar `i` (needs bar `i - 1`).
    public static func trueRange(_ candles: [Candle], at i: Int) -> Double {
        let c = candles[i], prevClose = candles[i - 1].close
        return max(c.high - c.low, abs(c.high - prevClose), abs(c.low - prevClose))
    }

    // MARK: - Lines (NaN during the warm-up, no optional per value)

    public static func smaLine(_ values: [Double], period: Int) -> IndicatorLine {
        values.withUnsafeBufferPointer { v in line(v.count) { sma(v, period: period, into: $0) } }
    }

    public static func emaLine(_ values: [Double], period: Int) -> IndicatorLine {
        values.withUnsafeBufferPointer { v in line(v.count) { ema(v, period: period, into: $0) } }
    }

    public static func rsiLine(_ closes: [Double], period: Int) -> IndicatorLine {
        closes.withUnsafeBufferPointer { c in line(c.count) { rsi(c, period: period, into: $0) } }
    }

    public static func atrLine(_ candles: [Candle], period: Int) -> IndicatorLine {
        candles.withUnsafeBufferPointer { c in
            line(c.count) { out in
                wilderATR(count: c.count, period: period, into: out) { i in
                    let bar = c[i], prevClose = c[i - 1].close
                    return max(max(bar.high - bar.low, abs(bar.high - prevClose)), abs(bar.low - prevClose))
                }
            }
        }
    }

    /// ATR from separate high, low and close columns (all of one length).
    public static func atrLine(high: [Double], low: [Double], close: [Double], period: Int) -> IndicatorLine {
        high.withUnsafeBufferPointer { h in
            low.withUnsafeBufferPointer { l in
                close.withUnsafeBufferPointer { c in line(c.count) { atr(high: h, low: l, close: c, period: period, into: $0) } }
            }
        }
    }

    public static func rollingHighLine(_ values: [Double], period: Int) -> IndicatorLine {
        values.withUnsafeBufferPointer { v in line(v.count) { rollingHigh(v, period: period, into: $0) } }
    }

    public static func rollingLowLine(_ values: [Double], period: Int) -> IndicatorLine {
        values.withUnsafeBufferPointer { v in line(v.count) { rollingLow(v, period: period, into: $0) } }
    }

    /// A line of `count` values written by `kernel`, which writes every index and returns the first defined one.
    @inline(__always)
    private static func line(_ count: Int, _ kernel: (UnsafeMutableBufferPointer<Double>) -> Int) -> IndicatorLine {
        var start = count
        let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            IndicatorLine.adviseHugePages(buffer)
            start = kernel(buffer)
            initialized = count
        }
        return IndicatorLine(values: values, start: start)
    }

    // MARK: - Kernels into a buffer
    //
    // Each writes `output[i]` for every index of its input (`output.count` must equal it), NaN before the first
    // defined value, and returns that first index (TA-Lib's lookback; `count` when there is none). One pass,
    // no allocation, the arithmetic of the streaming states (`EMAState`, `RSIState`, `ATRState`) operation for
    // operation, so the values are bit-identical to them.

    @inline(__always)
    private static func none(_ output: UnsafeMutableBufferPointer<Double>) -> Int {
        output.update(repeating: .nan)
        return output.count
    }

    /// Simple moving average: a running sum, first value at `period - 1`.
    public static func sma(_ v: UnsafeBufferPointer<Double>, period: Int,
                           into out: UnsafeMutableBufferPointer<Double>) -> Int {
        let count = v.count
        guard period > 0, count >= period else { return none(out) }
        let n = Double(period)
        var sum = 0.0
        for i in 0..<(period - 1) {
            sum += v[i]
            out[i] = .nan
        }
        sum += v[period - 1]
        out[period - 1] = sum / n
        var i = period
        while i < count {
            sum -= v[i - period]
            sum += v[i]
            out[i] = sum / n
            i += 1
        }
        return period - 1
    }

    /// Exponential moving average seeded with the SMA of the first `period` values, `alpha = 2 / (period + 1)`.
    public static func ema(_ v: UnsafeBufferPointer<Double>, period: Int,
                           into out: UnsafeMutableBufferPointer<Double>) -> Int {
        let p = max(period, 1)
        let count = v.count
        guard count >= p else { return none(out) }
        let alpha = 2.0 / Double(p + 1)
        var sum = 0.0
        for i in 0..<(p - 1) {
            sum += v[i]
            out[i] = .nan
        }
        sum += v[p - 1]
        var value = sum / Double(p)
        out[p - 1] = value
        var i = p
        while i < count {
            value = Step.ema(value, v[i], alpha: alpha)
            out[i] = value
            i += 1
        }
        return p - 1
    }

    /// RSI with Wilder smoothing seeded with the mean gain and loss of the first `period` changes; first value
    /// at `period`. 50 when nothing moved, 100 when nothing fell.
    public static func rsi(_ c: UnsafeBufferPointer<Double>, period: Int,
                           into out: UnsafeMutableBufferPointer<Double>) -> Int {
        let count = c.count
        guard period > 0, count > period else { return none(out) }
        let nm1 = Double(period - 1), reciprocal = 1 / Double(period)
        var gain = 0.0, loss = 0.0
        out[0] = .nan
        for i in 1...period {
            let change = c[i] - c[i - 1]
            if change > 0 { gain += change } else { loss -= change }
            if i < period { out[i] = .nan }
        }
        gain *= reciprocal
        loss *= reciprocal
        out[period] = rsiValue(gain: gain, loss: loss)
        var i = period + 1
        while i < count {
            let change = c[i] - c[i - 1]
            gain = Step.rsi(gain, max(change, 0), nMinusOne: nm1, reciprocal: reciprocal)
            loss = Step.rsi(loss, max(-change, 0), nMinusOne: nm1, reciprocal: reciprocal)
            out[i] = rsiValue(gain: gain, loss: loss)
            i += 1
        }
        return period
    }

    @inline(__always)
    public static func rsiValue(gain: Double, loss: Double) -> Double {
        let total = gain + loss
        return total > 0 ? 100 * (gain / total) : 50
    }

    /// ATR from high, low and close columns: Wilder smoothing seeded with the mean true range of bars
    /// 1...period (bar 0 has no prior close); first value at `period`.
    public static func atr(high h: UnsafeBufferPointer<Double>, low l: UnsafeBufferPointer<Double>,
                           close c: UnsafeBufferPointer<Double>, period: Int,
                           into out: UnsafeMutableBufferPointer<Double>) -> Int {
        let count = min(h.count, l.count, c.count)
        return wilderATR(count: count, period: period, into: out) { i in
            let hi = h[i], lo = l[i], prevClose = c[i - 1]
            return max(max(hi - lo, abs(hi - prevClose)), abs(lo - prevClose))
        }
    }

    @inline(__always)
    private static func wilderATR(count: Int, period: Int, into out: UnsafeMutableBufferPointer<Double>,
                                  range: (Int) -> Double) -> Int {
        guard period > 0, count > period else { return none(out) }
        let (keep, add) = Step.atrWeights(period: period)
        var sum = 0.0
        out[0] = .nan
        for i in 1...period {
            sum += range(i)
            if i < period { out[i] = .nan }
        }
        var value = sum / Double(period)
        out[period] = value
        var i = period + 1
        while i < count {
            value = Step.atr(value, range(i), keep: keep, add: add)
            out[i] = value
            i += 1
        }
        if out.count > count { out.extracting(count...).update(repeating: .nan) }
        return period
    }

    /// Highest of the last `period` values, the current one included; first value at `period - 1`.
    public static func rollingHigh(_ v: UnsafeBufferPointer<Double>, period: Int,
                                   into out: UnsafeMutableBufferPointer<Double>) -> Int {
        rollingExtreme(v, period: period, into: out) { a, b in a > b ? a : b }
    }

    /// Lowest of the last `period` values, the current one included; first value at `period - 1`.
    public static func rollingLow(_ v: UnsafeBufferPointer<Double>, period: Int,
                                  into out: UnsafeMutableBufferPointer<Double>) -> Int {
        rollingExtreme(v, period: period, into: out) { a, b in a < b ? a : b }
    }

    /// The van Herk / Gil-Werman scheme: the input is cut into blocks of `period`; a window ending at `i` is
    /// the tail of the previous block (suffix extremes, kept in a `period`-slot scratch) and the head of `i`'s
    /// block (a running prefix extreme). Three comparisons per value whatever the period, no branch on the data;
    /// `a > b ? a : b` is one `maxsd` (Swift's `max` is a compare and a blend, for its NaN order).
    @inline(__always)
    private static func rollingExtreme(_ v: UnsafeBufferPointer<Double>, period p: Int,
                                       into out: UnsafeMutableBufferPointer<Double>,
                                       pick: (Double, Double) -> Double) -> Int {
        let count = v.count
        guard p > 0, count >= p else { return none(out) }
        var extreme = v[0]
        for i in 0..<(p - 1) {
            out[i] = .nan
            extreme = pick(extreme, v[i])
        }
        out[p - 1] = pick(extreme, v[p - 1])
        guard p > 1 else {
            for i in 1..<count { out[i] = v[i] }
            return 0
        }
        let suffix = UnsafeMutableBufferPointer<Double>.allocate(capacity: p)
        defer { suffix.deallocate() }
        var blockStart = p
        while blockStart < count {
            // suffix[t] = extreme of v[blockStart - p + t ..< blockStart], for t in 1..<p.
            // The running extreme stays in a register (reading `suffix[t + 1]` back would wait on the store).
            let previous = blockStart &- p
            var tail = v[blockStart &- 1]
            suffix[p - 1] = tail
            var t = p &- 2
            while t >= 1 {
                tail = pick(v[previous &+ t], tail)
                suffix[t] = tail
                t &-= 1
            }
            // Window ending at i = blockStart + k: v[previous + k + 1 ..< blockStart] then v[blockStart ... i].
            // The block's last window is the block itself (no tail).
            let blockLast = blockStart &+ p &- 1
            var head = v[blockStart]
            out[blockStart] = pick(suffix[1], head)
            var i = blockStart &+ 1
            let tailed = min(blockLast, count)
            while i < tailed {
                head = pick(head, v[i])
                out[i] = pick(suffix[i &- blockStart &+ 1], head)
                i &+= 1
            }
            if blockLast < count { out[blockLast] = pick(head, v[blockLast]) }
            blockStart += p
        }
        return p - 1
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
            let next = Indicators.Step.ema(v, x, alpha: alpha)
            value = next
            return next
        }
        count += 1
        sum += x
        if count == period { value = sum / Double(period) }
        return value
    }
}

/// An indicator's output aligned with its input, as TA-Lib returns it: `values[i]` holds the indicator from
/// `start` on (TA-Lib's lookback) and NaN during the warm-up before it. One `Double` per value, no optional.
public struct IndicatorLine: Sendable {
    public var values: [Double]
    /// The first index with a value (`values.count` when there is none).
    public var start: Int

    public init(values: [Double], start: Int) {
        self.values = values
        self.start = start
    }

    public var count: Int { values.count }

    /// The value at `i`, nil during the warm-up.
    public subscript(i: Int) -> Double? { i >= start ? values[i] : nil }

    /// The newest value, nil when the warm-up is not complete.
    public var last: Double? { values.count > start ? values[values.count - 1] : nil }

    /// The values with the warm-up as nil (the array forms' shape).
    public var optionals: [Double?] {
        let values = self.values, start = self.start
        return [Double?](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            for i in 0..<values.count { buffer.initializeElement(at: i, to: i >= start ? values[i] : nil) }
            initialized = values.count
        }
    }

    /// Asks for transparent huge pages on a large fresh output buffer (as numpy does for the arrays TA-Lib
    /// writes), so that filling it takes one page fault per 2 MiB instead of per 4 KiB. Only the 2 MiB-aligned
    /// interior is advised; a hint, ignored where unsupported.
    static func adviseHugePages(_ buffer: UnsafeMutableBufferPointer<Double>) {
        #if os(Linux)
        let bytes = buffer.count * MemoryLayout<Double>.stride
        guard bytes >= 1 << 22, let base = buffer.baseAddress else { return }
        let huge = 1 << 21
        let address = Int(bitPattern: base)
        let first = (address + huge - 1) & ~(huge - 1), end = (address + bytes) & ~(huge - 1)
        guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(start, end - first, Int32(MADV_HUGEPAGE))
        #endif
    }
}
