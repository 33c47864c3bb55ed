import Config
import Execution
import Model

/// The execution steps every backtest shares, on top of the PAPER core (`PaperFillModel`, `PaperAccount`).
public enum BacktestFills {
    /// A market entry at a bar's open: the quote is the open ± half the spread, then the PAPER fill model adds
    /// slippage and the taker fee. Nil when nothing fills (no depth, zero size).
    public static func entry(symbol: String, tier: Tier, side: Side, notionalUsd: Double, open: Double, time: Int64,
                             spreadBps: Double, depthUsd: Double, settings: PaperConfig, orderId: String,
                             stopLossPct: Double? = nil, takeProfitPct: Double? = nil) -> PaperFill? {
        let half = spreadBps / 20_000
        guard let m = PaperFillModel.market(side: side, notionalUsd: notionalUsd, bid: open * (1 - half),
                                            ask: open * (1 + half), depthUsd: depthUsd, settings: settings) else { return nil }
        return PaperFill(clientOrderId: orderId, symbol: symbol, tier: tier, side: side, quantity: m.quantity, price: m.price,
                         feeUsd: m.feeUsd, liquidity: "taker", time: time, reason: "entry", partial: m.partial,
                         stopLossPct: stopLossPct, takeProfitPct: takeProfitPct)
    }

    /// Closes `quantity` of a position at `touch` (the open, a level, or a close) less the base slippage and
    /// half the spread, with the taker fee — the exit manager's convention.
    public static func exit(_ position: PaperPosition, quantity: Double, touch: Double, time: Int64, spreadBps: Double,
                            settings: PaperConfig, reason: String) -> PaperFill {
        let long = position.side == .buy
        let cost = spreadBps / 20_000 + settings.baseSlippageBps / 10_000
        let price = long ? touch * (1 - cost) : touch * (1 + cost)
        let q = min(quantity, position.quantity)
        return PaperFill(clientOrderId: "bt-\(time)-\(reason)-\(position.symbol)", symbol: position.symbol, tier: position.tier,
                         side: long ? .sell : .buy, quantity: q, price: price,
                         feeUsd: q * price * settings.takerFeeBps / 10_000, liquidity: "taker", time: time, reason: reason)
    }

    /// Funding settled in `(after, through]` on every open position with a schedule, on the notional at `mark`:
    /// longs pay `rate × notional` (receive when negative), shorts the opposite.
    public static func fund(_ account: inout PaperAccount, schedules: [String: FundingSchedule], marks: [String: Double],
                            after: Int64, through: Int64) {
        for position in account.positions {
            guard let schedule = schedules[position.symbol], let mark = marks[position.symbol] else { continue }
            for s in schedule.settlements(after: after, through: through) {
                let notional = position.quantity * mark
                account.applyFunding(symbol: position.symbol, paymentUsd: s.rate * notional * (position.side == .buy ? 1 : -1))
            }
        }
    }
}

/// A fixed list of orders replayed through the same fills, funding, accounting and metrics as the pipeline:
/// for checking the engine's P&L against a hand calculation, or replaying trades decided elsewhere.
public enum FixedTradesBacktest {
    /// One round trip: enter at the open of the bar at `entryTime`, exit at the open of the bar at `exitTime`.
    public struct Order: Sendable, Equatable {
        public var side: Side
        public var quantity: Double
        public var entryTime: Int64
        public var exitTime: Int64

        public init(side: Side, quantity: Double, entryTime: Int64, exitTime: Int64) {
            self.side = side
            self.quantity = quantity
            self.entryTime = entryTime
            self.exitTime = exitTime
        }
    }

    /// Runs `orders` over `candles` of one symbol. Depth is unlimited (no partial fills); `settings` gives
    /// the taker fee, base slippage and impact; funding comes from `funding`.
    public static func run(candles: [Candle], symbol: String, orders: [Order], settings: PaperConfig,
                           spreadBps: Double = 0, funding: FundingSchedule? = nil, initialEquity: Double = 10_000,
                           interval: Int64 = 3_600) -> BacktestRun {
        var account = PaperAccount(cashUsd: initialEquity)
        var metrics = MetricsAccumulator(initialEquity: initialEquity, interval: interval)
        let schedules = funding.map { [symbol: $0] } ?? [:]
        for bar in candles {
            for order in orders where order.exitTime == bar.time {
                if let p = account.position(symbol) {
                    account.apply(BacktestFills.exit(p, quantity: order.quantity, touch: bar.open, time: bar.time,
                                                     spreadBps: spreadBps, settings: settings, reason: "exit"))
                }
            }
            for order in orders where order.entryTime == bar.time {
                let half = spreadBps / 20_000
                let touch = order.side == .buy ? bar.open * (1 + half) : bar.open * (1 - half)
                let slip = settings.baseSlippageBps / 10_000
                let notional = order.quantity * touch * (order.side == .buy ? 1 + slip : 1 - slip)
                if let fill = BacktestFills.entry(symbol: symbol, tier: .core, side: order.side, notionalUsd: notional,
                                                  open: bar.open, time: bar.time, spreadBps: spreadBps,
                                                  depthUsd: .greatestFiniteMagnitude, settings: settings,
                                                  orderId: "fixed-\(bar.time)") {
                    account.apply(fill)
                }
            }
            BacktestFills.fund(&account, schedules: schedules, marks: [symbol: bar.close], after: bar.time,
                               through: bar.time + interval)
            metrics.record(time: bar.time + interval, equity: account.equity(marks: [symbol: bar.close]),
                           inMarket: !account.positions.isEmpty)
        }
        let trades = account.closedTrades
        return BacktestRun(label: "fixed trades", metrics: metrics.finish(trades: trades, feesPaid: account.feesUsd,
                                                                           fundingPaid: account.fundingUsd),
                           trades: trades.map(BacktestTrade.init), equityCurve: metrics.curve)
    }
}
