import Config
import Execution
import Foundation
import Market
import Model
import Pipeline

/// Parameters of the reference strategy `ema_cross`.
public struct EMACrossParameters: Codable, Sendable, Equatable {
    public var fast: Int
    public var slow: Int
    /// Commission as a fraction of notional, charged on both legs (0.0006 = 6 bps).
    public var commission: Double
    /// Slippage beyond the open on both legs, in basis points (0 = fill exactly at the open).
    public var slippageBps: Double
    /// Fixed quantity per trade in base units; nil = all equity (notional = cash / (1 + commission)).
    public var fixedQuantity: Double?
    public var initialEquity: Double

    public init(fast: Int = 8, slow: Int = 21, commission: Double = 0.0006, slippageBps: Double = 0,
                fixedQuantity: Double? = nil, initialEquity: Double = 10_000) {
        self.fast = fast
        self.slow = slow
        self.commission = commission
        self.slippageBps = slippageBps
        self.fixedQuantity = fixedQuantity
        self.initialEquity = initialEquity
    }

    /// The paper fill settings these parameters mean: taker fee = commission, fixed slippage, no impact.
    public var paperSettings: PaperConfig {
        PaperConfig(takerFeeBps: commission * 10_000, makerFeeBps: commission * 10_000,
                      baseSlippageBps: slippageBps, impactBpsAtDepth: 0, maxDepthMultiple: 1)
    }
}

/// A crossover seen at a bar's close, and the order it placed for the next bar's open.
public struct EMACrossSignal: Sendable, Equatable {
    /// Close time of the bar whose close made the cross.
    public var time: Int64
    public var side: Side
}

/// The reference strategy as a streaming engine, long only on one symbol: enter when EMA(fast) crosses above
/// EMA(slow) at a bar's close, exit when it crosses below; orders fill at the next bar's open. It bypasses
/// Universe, Triggers, Rules and reviewers, but fills, fees and accounting are the paper account's
/// (`PaperFillModel`, `PaperAccount`) and the metrics are `MetricsAccumulator`'s.
///
/// A cross needs both EMAs on the previous and the current bar (TA-Lib warm-up: no value before `period`
/// closes), and `previous fast - slow <= 0 < current` (above) or `previous >= 0 > current` (below).
/// Bars opening before `tradeFrom` only warm the indicators up. A position still open at the end is closed at
/// the last close (`finish`).
public struct EMACrossEngine: Sendable {
    public let parameters: EMACrossParameters
    public let symbol: String
    public let interval: Int64
    public let tradeFrom: Int64
    private let settings: PaperConfig
    private let slipUp: Double
    private let slipDown: Double
    private var fast: EMAState
    private var slow: EMAState
    private var previousDiff = Double.nan
    private var pending: Side?
    private var held = 0.0
    private var lastClose = 0.0
    private var lastTime: Int64 = 0
    public private(set) var account: PaperAccount
    public private(set) var metrics: MetricsAccumulator
    /// Every cross acted on (kept for explanations and look-ahead tests).
    public private(set) var signals: [EMACrossSignal] = []

    /// A fresh engine; `tradeFrom` is the first bar open time that may trade (earlier bars warm up).
    public init(parameters: EMACrossParameters, symbol: String, interval: Int64 = 3_600, tradeFrom: Int64 = .min,
                maxCurvePoints: Int = 1_000) {
        self.parameters = parameters
        self.symbol = symbol
        self.interval = interval
        self.tradeFrom = tradeFrom
        self.settings = parameters.paperSettings
        self.slipUp = 1 + parameters.slippageBps / 10_000
        self.slipDown = 1 - parameters.slippageBps / 10_000
        self.fast = EMAState(period: parameters.fast)
        self.slow = EMAState(period: parameters.slow)
        self.account = PaperAccount(cashUsd: parameters.initialEquity)
        self.metrics = MetricsAccumulator(initialEquity: parameters.initialEquity, interval: interval,
                                          maxCurvePoints: maxCurvePoints)
    }

    /// Feeds one bar (oldest first): fills the pending order at its open, then reads the cross at its close.
    @inline(__always)
    public mutating func step(time: Int64, open: Double, close: Double) {
        let active = time >= tradeFrom
        if let side = pending {
            pending = nil
            fill(side, at: open, time: time)
        }
        let f = fast.update(close)
        let s = slow.update(close)
        if let f, let s {
            let diff = f - s
            if active, !previousDiff.isNaN {
                if held == 0, previousDiff <= 0, diff > 0 {
                    pending = .buy
                    signals.append(EMACrossSignal(time: time + interval, side: .buy))
                } else if held > 0, previousDiff >= 0, diff < 0 {
                    pending = .sell
                    signals.append(EMACrossSignal(time: time + interval, side: .sell))
                }
            }
            previousDiff = diff
        }
        lastClose = close
        lastTime = time
        if active {
            metrics.record(time: time + interval, equity: account.cashUsd + held * close, inMarket: held > 0)
        }
    }

    private mutating func fill(_ side: Side, at open: Double, time: Int64) {
        if side == .buy {
            let notional = parameters.fixedQuantity.map { $0 * open * slipUp }
                ?? account.cashUsd / (1 + parameters.commission)
            guard let m = PaperFillModel.market(side: .buy, notionalUsd: notional, bid: open, ask: open,
                                                depthUsd: .greatestFiniteMagnitude, settings: settings) else { return }
            account.apply(PaperFill(clientOrderId: "ema-\(time)-entry", symbol: symbol, tier: .core, side: .buy,
                                    quantity: m.quantity, price: m.price, feeUsd: m.feeUsd, liquidity: "taker",
                                    time: time, reason: "entry", stopLossPct: 100))
        } else {
            exit(at: open * slipDown, time: time, reason: "signal")
        }
        held = account.positions.first?.quantity ?? 0
    }

    private mutating func exit(at price: Double, time: Int64, reason: String) {
        guard held > 0 else { return }
        account.apply(PaperFill(clientOrderId: "ema-\(time)-\(reason)", symbol: symbol, tier: .core, side: .sell,
                                quantity: held, price: price, feeUsd: held * price * settings.takerFeeBps / 10_000,
                                liquidity: "taker", time: time, reason: reason))
        held = account.positions.first?.quantity ?? 0
    }

    /// Closes what is still open at the last close (reason `end_of_data`) and returns the run.
    public mutating func finish() -> BacktestRun {
        if held > 0 {
            exit(at: lastClose * slipDown, time: lastTime + interval, reason: "end_of_data")
            // The final equity point already marked the position at this close; re-mark after the exit fee.
            metrics.replaceLast(equity: account.cashUsd)
        }
        let trades = account.closedTrades
        return BacktestRun(label: "ema_cross(\(parameters.fast),\(parameters.slow))",
                           metrics: metrics.finish(trades: trades, feesPaid: account.feesUsd, fundingPaid: account.fundingUsd),
                           trades: trades.map(BacktestTrade.init), equityCurve: metrics.curve)
    }

    /// Runs over `candles` (oldest first) with bars opening in `[from, to)` trading; earlier bars warm up.
    /// `maxCurvePoints` bounds the kept equity curve (`MetricsAccumulator.everyBar` keeps every bar, as walk-forward stitching needs).
    public static func run(candles: [Candle], symbol: String, parameters: EMACrossParameters, interval: Int64 = 3_600,
                           from: Int64? = nil, to: Int64? = nil,
                           maxCurvePoints: Int = 1_000) -> (run: BacktestRun, signals: [EMACrossSignal]) {
        var engine = EMACrossEngine(parameters: parameters, symbol: symbol, interval: interval, tradeFrom: from ?? .min,
                                    maxCurvePoints: maxCurvePoints)
        let end = to ?? .max
        for c in candles where c.time + interval <= end {
            engine.step(time: c.time, open: c.open, close: c.close)
        }
        let run = engine.finish()
        return (run, engine.signals)
    }
}

extension MetricsAccumulator {
    /// Replaces the equity of the last recorded point (used when a final exit fee lands on the last close).
    public mutating func replaceLast(equity: Double) {
        overrideLast(equity)
    }
}
