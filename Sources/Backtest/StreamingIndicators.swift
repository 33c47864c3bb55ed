import Pipeline

/// Streaming kernels with the same conventions as `Indicators` (TA-Lib): feed one bar at a time; `value` is
/// nil until the warm-up is complete, then equals the array version at the same index.

/// Simple moving average over the last `period` values.
public struct SMAState: Sendable {
    public let period: Int
    private var window: [Double]
    private var next = 0
    private var count = 0
    private var sum = 0.0
    public private(set) var value: Double?

    public init(period: Int) {
        self.period = max(period, 1)
        self.window = Array(repeating: 0, count: max(period, 1))
    }

    @discardableResult
    public mutating func update(_ x: Double) -> Double? {
        if count == period { sum -= window[next] } else { count += 1 }
        window[next] = x
        sum += x
        next = next + 1 == period ? 0 : next + 1
        value = count == period ? sum / Double(period) : nil
        return value
    }
}

/// RSI with Wilder smoothing, seeded with the mean gain and loss of the first `period` changes.
public struct RSIState: Sendable {
    public let period: Int
    private var previous: Double?
    private var changes = 0
    private var gain = 0.0
    private var loss = 0.0
    public private(set) var value: Double?

    public init(period: Int) { self.period = max(period, 1) }

    @discardableResult
    public mutating func update(_ close: Double) -> Double? {
        defer { previous = close }
        guard let p = previous else { return nil }
        let change = close - p
        let nm1 = Double(period - 1), reciprocal = 1 / Double(period)
        changes += 1
        if changes <= period {
            if change > 0 { gain += change } else { loss -= change }
            guard changes == period else { return nil }
            gain *= reciprocal
            loss *= reciprocal
        } else {
            gain = Indicators.Step.rsi(gain, max(change, 0), nMinusOne: nm1, reciprocal: reciprocal)
            loss = Indicators.Step.rsi(loss, max(-change, 0), nMinusOne: nm1, reciprocal: reciprocal)
        }
        value = Indicators.rsiValue(gain: gain, loss: loss)
        return value
    }
}

/// ATR with Wilder smoothing, seeded with the mean true range of bars 1...period (bar 0 has no prior close).
public struct ATRState: Sendable {
    public let period: Int
    private var previousClose: Double?
    private var ranges = 0
    private var sum = 0.0
    public private(set) var value: Double?

    public init(period: Int) { self.period = max(period, 1) }

    @discardableResult
    public mutating func update(high: Double, low: Double, close: Double) -> Double? {
        defer { previousClose = close }
        guard let pc = previousClose else { return nil }
        let tr = max(high - low, abs(high - pc), abs(low - pc))
        ranges += 1
        if let v = value {
            let (keep, add) = Indicators.Step.atrWeights(period: period)
            value = Indicators.Step.atr(v, tr, keep: keep, add: add)
        } else {
            sum += tr
            if ranges == period { value = sum / Double(period) }
        }
        return value
    }
}
