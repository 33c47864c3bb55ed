import Engine
import Execution
import Foundation
import Market
import Model

/// One closed trade (a round trip, or the part of a position one exit took off).
public struct BacktestTrade: Codable, Sendable, Equatable {
    public var symbol: String
    /// The entry side: BUY (long) or SELL (short).
    public var side: Side
    public var entryTime: Int64
    public var exitTime: Int64
    public var entryPrice: Double
    public var exitPrice: Double
    /// Quantity in base units.
    public var size: Double
    /// Entry fees (pro rata) plus the exit fee.
    public var fees: Double
    /// Net of fees (funding is accounted for on the account, not per trade).
    public var pnl: Double
    /// What closed it (`stop_loss`, `take_profit_1`, `trailing_stop`, `time_stop`, `flatten`, `end_of_data`, ...).
    public var exitReason: String

    /// From the paper account's closed trade.
    public init(_ t: ClosedTrade) {
        symbol = t.symbol
        side = t.side
        entryTime = t.entryTime
        exitTime = t.exitTime
        entryPrice = t.entryPrice
        exitPrice = t.exitPrice
        size = t.quantity
        fees = t.feesUsd
        pnl = t.pnlUsd
        exitReason = t.exitReason
    }
}

/// What a data file contributed, with its gaps and duplicate bars (reported, never filled).
public struct DataNote: Codable, Sendable, Equatable {
    public var source: String
    public var symbol: String
    public var candles: Int
    public var first: String?
    public var last: String?
    public var gaps: Int
    public var missingBars: Int
    public var duplicateBars: Int
    /// The first few gaps, e.g. `2018-01-05T00:00:00Z..2018-01-05T03:00:00Z (2 bars)`.
    public var gapExamples: [String]

    init(source: String, symbol: String, candles: Int, first: String?, last: String?, gaps: Int, missingBars: Int,
         duplicateBars: Int, gapExamples: [String]) {
        self.source = source
        self.symbol = symbol
        self.candles = candles
        self.first = first
        self.last = last
        self.gaps = gaps
        self.missingBars = missingBars
        self.duplicateBars = duplicateBars
        self.gapExamples = gapExamples
    }
}

/// The outcome of one run: metrics, trades and a chartable equity curve.
public struct BacktestRun: Codable, Sendable, Equatable {
    /// `pipeline`, `pipeline (rules only)` or `ema_cross(8,21)`.
    public var label: String
    public var metrics: BacktestMetrics
    public var trades: [BacktestTrade]
    /// Decimated to about 1,000 points.
    public var equityCurve: [EquityPoint]
    /// Pipeline runs: how many cycles ran, proposed, and were approved.
    public var cycles: Int?
    public var proposals: Int?
    public var approved: Int?
    /// Pipeline runs: policy checks that rejected proposals, with counts.
    public var violatedChecks: [String: Int]?
    /// Pipeline runs: reviewer vetoes by tier.
    public var vetoes: [String: Int]?
    /// Pipeline runs: cycles in which a symbol was left out of the universe, by symbol and reason.
    public var universeExclusions: [String: Int]?
    /// Reviewer sources used (`offline`, `replay`, a provider), and AI spend.
    public var reviewerSource: String?
    public var reviewCostUsd: Double?

    public init(label: String, metrics: BacktestMetrics, trades: [BacktestTrade], equityCurve: [EquityPoint], cycles: Int? = nil,
                proposals: Int? = nil, approved: Int? = nil, violatedChecks: [String: Int]? = nil, vetoes: [String: Int]? = nil,
                universeExclusions: [String: Int]? = nil, reviewerSource: String? = nil, reviewCostUsd: Double? = nil) {
        self.label = label
        self.metrics = metrics
        self.trades = trades
        self.equityCurve = equityCurve
        self.cycles = cycles
        self.proposals = proposals
        self.approved = approved
        self.violatedChecks = violatedChecks
        self.vetoes = vetoes
        self.universeExclusions = universeExclusions
        self.reviewerSource = reviewerSource
        self.reviewCostUsd = reviewCostUsd
    }
}

/// The whole backtest answer printed by `agent backtest --json`.
public struct BacktestReport: Codable, Sendable, Equatable {
    public var strategy: String
    public var symbols: [String]
    public var timeframe: String
    public var from: String
    public var to: String
    public var data: [DataNote]
    /// Fee, slippage and funding settings used.
    public var costs: [String: String]
    /// The main run (with reviewers when they are on).
    public var run: BacktestRun
    /// Rules only, side by side, when reviewers are on.
    public var rulesOnly: BacktestRun?
    /// What could not be done (e.g. no connector candle store), so nothing is silently skipped.
    public var notes: [String]
    /// Close prices per symbol for the report's price chart and buy-and-hold line (absent in older reports).
    public var prices: [PriceLine]?

    public init(strategy: String, symbols: [String], timeframe: String, from: String, to: String, data: [DataNote],
                costs: [String: String], run: BacktestRun, rulesOnly: BacktestRun?, notes: [String]) {
        self.strategy = strategy
        self.symbols = symbols
        self.timeframe = timeframe
        self.from = from
        self.to = to
        self.data = data
        self.costs = costs
        self.run = run
        self.rulesOnly = rulesOnly
        self.notes = notes
    }
}

extension DataNote {
    /// Summarises a series' extent, gaps and duplicates.
    public static func of(_ s: CandleSeries) -> DataNote { of(s.summary) }
}

/// A symbol's close prices, decimated to about `maxPoints`, for the report's charts.
public struct PriceLine: Codable, Sendable, Equatable {
    public var symbol: String
    public var times: [Int64]
    public var closes: [Double]

    public init(symbol: String, times: [Int64], closes: [Double]) {
        self.symbol = symbol
        self.times = times
        self.closes = closes
    }

    public init(_ s: CandleSeries, maxPoints: Int = 1_000) {
        let step = max(1, s.candles.count / max(maxPoints, 1))
        var picked = Swift.stride(from: 0, to: s.candles.count, by: step).map { s.candles[$0] }
        if let last = s.candles.last, picked.last?.time != last.time { picked.append(last) }
        self.init(symbol: s.symbol, times: picked.map(\.time), closes: picked.map(\.close))
    }

    /// The last close at or before `time` (the first close before the line starts).
    public func close(at time: Int64) -> Double? {
        guard !times.isEmpty else { return nil }
        var lo = 0, hi = times.count - 1
        if time < times[0] { return closes[0] }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if times[mid] <= time { lo = mid } else { hi = mid - 1 }
        }
        return closes[lo]
    }
}
