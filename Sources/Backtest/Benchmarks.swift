import Execution
import Foundation
import Market
import Model

/// One symbol's share of an equal-weight benchmark, fed bar by bar (oldest first).
public protocol BenchmarkSleeve: Sendable {
    /// Feeds one bar: `time` is its open time.
    mutating func step(time: Int64, open: Double, close: Double)
    /// This sleeve's equity at the last close it saw.
    var equity: Double { get }
    /// Whether it held a position at that close.
    var inMarket: Bool { get }
    /// Fees paid so far.
    var feesPaid: Double { get }
    /// Closes what is still open (at the last close) and returns every closed trade.
    mutating func finish() -> [ClosedTrade]
}

/// Buy and hold: the sleeve's cash buys the symbol at the close of the first bar closing at or after
/// `firstClose`, paying one taker fee, and holds to the end (no exit fee: it is marked, not sold).
public struct HoldSleeve: BenchmarkSleeve {
    public let interval: Int64
    public let firstClose: Int64
    public let feeFraction: Double
    private var cash: Double
    private var units = 0.0
    private var lastClose = 0.0
    public private(set) var feesPaid = 0.0

    public init(cash: Double, interval: Int64, firstClose: Int64, feeFraction: Double) {
        self.cash = cash
        self.interval = interval
        self.firstClose = firstClose
        self.feeFraction = feeFraction
    }

    public mutating func step(time: Int64, open: Double, close: Double) {
        lastClose = close
        if units == 0, cash > 0, close > 0, time + interval >= firstClose {
            feesPaid = cash * feeFraction
            units = (cash - feesPaid) / close
            cash = 0
        }
    }

    public var equity: Double { cash + units * lastClose }
    public var inMarket: Bool { units > 0 }
    public mutating func finish() -> [ClosedTrade] { [] }
}

/// The `ema_cross` reference strategy on one symbol, as a benchmark sleeve.
public struct EMACrossSleeve: BenchmarkSleeve {
    private var engine: EMACrossEngine
    private var lastClose = 0.0

    /// `firstClose` is the first decision time (bar close) that may trade.
    public init(parameters: EMACrossParameters, symbol: String, interval: Int64, firstClose: Int64) {
        engine = EMACrossEngine(parameters: parameters, symbol: symbol, interval: interval,
                                tradeFrom: firstClose == .min ? .min : firstClose - interval)
    }

    public mutating func step(time: Int64, open: Double, close: Double) {
        engine.step(time: time, open: open, close: close)
        lastClose = close
    }

    public var equity: Double { engine.account.cashUsd + (engine.account.positions.first?.quantity ?? 0) * lastClose }
    public var inMarket: Bool { !engine.account.positions.isEmpty }
    public var feesPaid: Double { engine.account.feesUsd }

    public mutating func finish() -> [ClosedTrade] {
        _ = engine.finish()
        return engine.account.closedTrades
    }
}

/// An equal-weight book of sleeves, one per symbol, whose summed equity is recorded at every decision time into
/// the same `MetricsAccumulator` the strategy's run uses, so every figure is computed the same way.
public struct BenchmarkBook<Sleeve: BenchmarkSleeve>: Sendable {
    public private(set) var sleeves: [Sleeve]
    private var metrics: MetricsAccumulator

    public init(sleeves: [Sleeve], initialEquity: Double, interval: Int64) {
        self.sleeves = sleeves
        self.metrics = MetricsAccumulator(initialEquity: initialEquity, interval: interval)
    }

    /// Feeds one bar of sleeve `index`'s symbol.
    @inline(__always)
    public mutating func step(_ index: Int, time: Int64, open: Double, close: Double) {
        sleeves[index].step(time: time, open: open, close: close)
    }

    /// Records the book's equity at decision time `time` (after every bar closing by then was stepped).
    @inline(__always)
    public mutating func record(time: Int64) {
        var equity = 0.0
        var inMarket = false
        for s in sleeves {
            equity += s.equity
            inMarket = inMarket || s.inMarket
        }
        metrics.record(time: time, equity: equity, inMarket: inMarket)
    }

    /// Closes every sleeve and returns the book as a run named `label`.
    public mutating func finish(label: String) -> BacktestRun {
        var trades: [ClosedTrade] = []
        for i in sleeves.indices { trades += sleeves[i].finish() }
        if metrics.bars > 0 { metrics.replaceLast(equity: sleeves.reduce(0) { $0 + $1.equity }) }
        trades.sort { ($0.exitTime, $0.symbol) < ($1.exitTime, $1.symbol) }
        let fees = sleeves.reduce(0) { $0 + $1.feesPaid }
        return BacktestRun(label: label, metrics: metrics.finish(trades: trades, feesPaid: fees, fundingPaid: 0),
                           trades: trades.map(BacktestTrade.init), equityCurve: metrics.curve)
    }

    /// Runs the book over loaded series on `clock` (sorted decision times): before each decision time, every
    /// bar closing by then is fed to its symbol's sleeve (sleeve `i` trades `series[i]`).
    public static func run(series: [CandleSeries], clock: [Int64], sleeves: [Sleeve], initialEquity: Double,
                           label: String) -> BacktestRun {
        let interval = series.first?.interval ?? 3_600
        var book = BenchmarkBook(sleeves: sleeves, initialEquity: initialEquity, interval: interval)
        var next = Array(repeating: 0, count: series.count)
        for time in clock {
            for (i, s) in series.enumerated() {
                while next[i] < s.candles.count, s.candles[next[i]].time + interval <= time {
                    let c = s.candles[next[i]]
                    book.step(i, time: c.time, open: c.open, close: c.close)
                    next[i] += 1
                }
            }
            book.record(time: time)
        }
        return book.finish(label: label)
    }
}

/// The benchmarks every backtest report shows beside the strategy.
public enum Benchmarks {
    /// Bar closes of `series` in `[from, to]`, sorted: the decision times of a pipeline backtest.
    public static func decisionTimes(series: [CandleSeries], from: Int64?, to: Int64?) -> [Int64] {
        let interval = series.first?.interval ?? 3_600
        var closes = Array(Set(series.flatMap { $0.candles.map { $0.time + interval } })).sorted()
        if let to { closes.removeAll { $0 > to } }
        if let from { closes.removeAll { $0 < from } }
        return closes
    }

    /// Buy and hold of `series`, equal weight: `initialEquity / n` per symbol, bought at the first decision time
    /// (or at the symbol's first close after it) with one taker fee of `feeFraction`.
    public static func buyAndHold(series: [CandleSeries], clock: [Int64], initialEquity: Double,
                                  feeFraction: Double) -> BacktestRun {
        let interval = series.first?.interval ?? 3_600
        let share = initialEquity / Double(max(series.count, 1))
        let sleeves = series.map { _ in
            HoldSleeve(cash: share, interval: interval, firstClose: clock.first ?? .min, feeFraction: feeFraction)
        }
        return BenchmarkBook.run(series: series, clock: clock, sleeves: sleeves, initialEquity: initialEquity,
                                 label: "buy and hold")
    }

    /// `ema_cross(fast, slow)` on every symbol, equal weight (`parameters.initialEquity` is replaced by the share).
    public static func emaCross(series: [CandleSeries], clock: [Int64], initialEquity: Double,
                                parameters: EMACrossParameters) -> BacktestRun {
        let interval = series.first?.interval ?? 3_600
        var p = parameters
        p.initialEquity = initialEquity / Double(max(series.count, 1))
        let sleeves = series.map {
            EMACrossSleeve(parameters: p, symbol: $0.symbol, interval: interval, firstClose: clock.first ?? .min)
        }
        return BenchmarkBook.run(series: series, clock: clock, sleeves: sleeves, initialEquity: initialEquity,
                                 label: "ema_cross(\(p.fast),\(p.slow)) reference")
    }
}

/// What a benchmark line stands for.
public enum BenchmarkRole: String, Codable, Sendable, Equatable {
    /// The backtested strategy itself.
    case strategy
    /// The same pipeline without reviewers.
    case rulesOnly = "rules_only"
    /// The `ema_cross` reference strategy on the same data.
    case emaCross = "ema_cross"
    /// Buy and hold of the same symbols, equal weight.
    case buyAndHold = "buy_and_hold"
}

/// One row of the benchmark table: the headline figures of a run and its excess over buy and hold.
public struct BenchmarkLine: Codable, Sendable, Equatable {
    public var label: String
    public var role: BenchmarkRole
    public var totalReturn: Double
    public var cagr: Double?
    public var sharpe: Double?
    public var sortino: Double?
    public var maxDrawdown: Double
    public var exposure: Double
    public var trades: Int
    /// Total return minus buy and hold's (nil without a buy-and-hold line).
    public var excessReturn: Double?
    /// CAGR minus buy and hold's.
    public var excessCagr: Double?

    public init(_ run: BacktestRun, role: BenchmarkRole, hold: BacktestMetrics?) {
        let m = run.metrics
        label = run.label
        self.role = role
        totalReturn = m.totalReturn
        cagr = m.cagr
        sharpe = m.sharpe
        sortino = m.sortino
        maxDrawdown = m.maxDrawdown
        exposure = m.exposure
        trades = m.trades
        excessReturn = hold.map { m.totalReturn - $0.totalReturn }
        excessCagr = hold.flatMap { h in m.cagr.flatMap { c in h.cagr.map { c - $0 } } }
    }
}

extension BacktestReport {
    /// Attaches the benchmark runs and fills `benchmarks`: the strategy, the rules-only shadow (when reviewers
    /// ran), the `ema_cross` reference and buy and hold, in that order.
    public mutating func attachBenchmarks(buyAndHold: BacktestRun?, reference: BacktestRun?) {
        self.buyAndHold = buyAndHold
        self.reference = reference
        let hold = buyAndHold?.metrics
        var lines = [BenchmarkLine(run, role: .strategy, hold: hold)]
        if let rulesOnly { lines.append(BenchmarkLine(rulesOnly, role: .rulesOnly, hold: hold)) }
        if let reference { lines.append(BenchmarkLine(reference, role: .emaCross, hold: hold)) }
        if let buyAndHold { lines.append(BenchmarkLine(buyAndHold, role: .buyAndHold, hold: hold)) }
        benchmarks = lines
    }
}
