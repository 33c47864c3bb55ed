import Engine
import Execution
import Foundation

/// One point of an equity curve: equity at a bar's close, and the drawdown from the running peak then.
public struct EquityPoint: Codable, Sendable, Equatable {
    /// Unix seconds (the bar's close).
    public var time: Int64
    public var equity: Double
    /// Fraction below the running peak (0.1 = 10% under water), computed at full resolution.
    public var drawdown: Double

    public init(time: Int64, equity: Double, drawdown: Double) {
        self.time = time
        self.equity = equity
        self.drawdown = drawdown
    }
}

/// Performance figures of a run. Ratios are fractions (0.12 = 12%) unless the name says `pct`.
///
/// Conventions (also in the report): returns are per bar (simple returns of equity at bar closes);
/// Sharpe = mean / sample standard deviation × √(bars per year), risk-free rate 0; Sortino = mean / downside
/// deviation × √(bars per year), where the downside deviation is √(Σ min(r, 0)² / n); CAGR uses
/// 365-day years over the span from the first to the last equity point; max drawdown is the largest fall from
/// a running peak; exposure is the share of bars that closed with a position open; profit factor is gross
/// profit / gross loss (nil without a losing trade); win rate counts trades with pnl > 0.
public struct BacktestMetrics: Codable, Sendable, Equatable {
    public var initialEquity: Double
    public var finalEquity: Double
    public var totalReturn: Double
    public var cagr: Double?
    public var maxDrawdown: Double
    public var sharpe: Double?
    public var sortino: Double?
    public var winRate: Double?
    public var profitFactor: Double?
    public var averageWin: Double?
    public var averageLoss: Double?
    public var exposure: Double
    public var trades: Int
    public var averageHoldingHours: Double?
    public var feesPaid: Double
    /// Positive = paid, negative = received.
    public var fundingPaid: Double
    public var bars: Int
}

/// Streams equity points into the metrics; keeps a bounded, evenly decimated copy of the curve for charts.
public struct MetricsAccumulator: Sendable {
    public let initialEquity: Double
    public let periodsPerYear: Double
    /// At most about this many points are kept for the chart (2x before halving).
    public let maxCurvePoints: Int
    public private(set) var bars = 0
    private var lastEquity: Double
    private var peak: Double
    private var maxDrawdown = 0.0
    private var returns = 0
    private var mean = 0.0
    private var m2 = 0.0
    private var downsideSquares = 0.0
    private var inMarketBars = 0
    private var firstTime: Int64?
    private var lastTime: Int64 = 0
    private var stride = 1
    private var lastReturnBase = 0.0
    private var peakBeforeLast = 0.0
    private var maxDrawdownBeforeLast = 0.0
    private(set) public var curve: [EquityPoint] = []

    /// Starts at `initialEquity` (the equity before the first bar) with bars of `interval` seconds.
    public init(initialEquity: Double, interval: Int64, maxCurvePoints: Int = 1_000) {
        self.initialEquity = initialEquity
        self.lastEquity = initialEquity
        self.peak = initialEquity
        self.periodsPerYear = 365 * 86_400 / Double(max(interval, 1))
        self.maxCurvePoints = max(maxCurvePoints, 2)
    }

    /// Records the equity at a bar's close (`time`), and whether a position was open at that close.
    @inline(__always)
    public mutating func record(time: Int64, equity: Double, inMarket: Bool) {
        if firstTime == nil { firstTime = time }
        lastTime = time
        lastReturnBase = lastEquity
        peakBeforeLast = peak
        maxDrawdownBeforeLast = maxDrawdown
        let r = lastEquity != 0 ? equity / lastEquity - 1 : 0
        returns += 1
        let delta = r - mean
        mean += delta / Double(returns)
        m2 += delta * (r - mean)
        if r < 0 { downsideSquares += r * r }
        lastEquity = equity
        if equity > peak { peak = equity }
        let dd = peak > 0 ? (peak - equity) / peak : 0
        if dd > maxDrawdown { maxDrawdown = dd }
        if inMarket { inMarketBars += 1 }
        if bars % stride == 0 {
            curve.append(EquityPoint(time: time, equity: equity, drawdown: dd))
            if curve.count >= 2 * maxCurvePoints {
                curve = curve.enumerated().compactMap { $0.offset % 2 == 0 ? $0.element : nil }
                stride *= 2
            }
        }
        bars += 1
    }

    /// Re-records the last point with `equity` (same time and exposure), undoing its first recording.
    mutating func overrideLast(_ equity: Double) {
        guard bars > 0 else { return }
        // Recompute the last return from the equity before it: undo Welford's last step.
        let previousEquity = lastReturnBase
        let oldR = previousEquity != 0 ? lastEquity / previousEquity - 1 : 0
        let newR = previousEquity != 0 ? equity / previousEquity - 1 : 0
        let n = Double(returns)
        let oldMean = returns > 1 ? (mean * n - oldR) / (n - 1) : 0
        m2 -= (oldR - oldMean) * (oldR - mean)
        mean = oldMean + (newR - oldMean) / n
        m2 += (newR - oldMean) * (newR - mean)
        if oldR < 0 { downsideSquares -= oldR * oldR }
        if newR < 0 { downsideSquares += newR * newR }
        lastEquity = equity
        peak = max(peakBeforeLast, equity)
        let dd = peak > 0 ? (peak - equity) / peak : 0
        maxDrawdown = max(maxDrawdownBeforeLast, dd)
        if let i = curve.indices.last, curve[i].time == lastTime {
            curve[i].equity = equity
            curve[i].drawdown = dd
        }
    }

    /// The metrics of everything recorded, with the closed trades and the account's fees and funding.
    public func finish(trades: [ClosedTrade], feesPaid: Double, fundingPaid: Double) -> BacktestMetrics {
        let total = initialEquity != 0 ? lastEquity / initialEquity - 1 : 0
        var cagr: Double?
        if let first = firstTime, lastTime > first, initialEquity > 0, lastEquity > 0 {
            let years = Double(lastTime - first) / (365 * 86_400)
            cagr = pow(lastEquity / initialEquity, 1 / years) - 1
        }
        var sharpe: Double?
        var sortino: Double?
        if returns >= 2 {
            let sd = (m2 / Double(returns - 1)).squareRoot()
            if sd > 0 { sharpe = mean / sd * periodsPerYear.squareRoot() }
            let dd = (downsideSquares / Double(returns)).squareRoot()
            if dd > 0 { sortino = mean / dd * periodsPerYear.squareRoot() }
        }
        let wins = trades.filter { $0.pnlUsd > 0 }
        let losses = trades.filter { $0.pnlUsd <= 0 }
        let grossWin = wins.reduce(0) { $0 + $1.pnlUsd }
        let grossLoss = -losses.reduce(0) { $0 + $1.pnlUsd }
        let holding = trades.reduce(0.0) { $0 + Double($1.exitTime - $1.entryTime) / 3_600 }
        return BacktestMetrics(
            initialEquity: initialEquity, finalEquity: lastEquity, totalReturn: total, cagr: cagr,
            maxDrawdown: maxDrawdown, sharpe: sharpe, sortino: sortino,
            winRate: trades.isEmpty ? nil : Double(wins.count) / Double(trades.count),
            profitFactor: grossLoss > 0 ? grossWin / grossLoss : nil,
            averageWin: wins.isEmpty ? nil : grossWin / Double(wins.count),
            averageLoss: losses.isEmpty ? nil : -grossLoss / Double(losses.count),
            exposure: bars > 0 ? Double(inMarketBars) / Double(bars) : 0,
            trades: trades.count,
            averageHoldingHours: trades.isEmpty ? nil : holding / Double(trades.count),
            feesPaid: feesPaid, fundingPaid: fundingPaid, bars: bars)
    }
}
