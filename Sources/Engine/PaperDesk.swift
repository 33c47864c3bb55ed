import Config
import Execution
import Ledger
import Market
import Model
import Pipeline
import Risk

/// A mark-to-market point recorded at the end of every PAPER and LIVE cycle; P&L windows and drawdown come from these.
package struct EquityPoint: Codable, Sendable, Equatable {
    package var equityUsd: Double
    package var cashUsd: Double
    package var openPositions: Int
    package var marks: [SymbolPrice]
    /// The mode whose book this marks (nil in ledgers written before it was recorded: PAPER).
    package var mode: Mode?

    package init(equityUsd: Double, cashUsd: Double, openPositions: Int, marks: [SymbolPrice], mode: Mode? = nil) {
        self.equityUsd = equityUsd
        self.cashUsd = cashUsd
        self.openPositions = openPositions
        self.marks = marks
        self.mode = mode
    }
}

package struct SymbolPrice: Codable, Sendable, Equatable {
    package var symbol: String
    package var price: Double

    package init(symbol: String, price: Double) {
        self.symbol = symbol
        self.price = price
    }
}

/// A funding settlement on a perpetual-style position (positive = paid by us).
package struct FundingPayment: Codable, Sendable, Equatable {
    package var symbol: String
    package var settlementTime: Int64
    package var rate: Double
    package var notionalUsd: Double
    package var paymentUsd: Double

    package init(symbol: String, settlementTime: Int64, rate: Double, notionalUsd: Double, paymentUsd: Double) {
        self.symbol = symbol
        self.settlementTime = settlementTime
        self.rate = rate
        self.notionalUsd = notionalUsd
        self.paymentUsd = paymentUsd
    }
}

/// Manages PAPER positions each cycle: protective exits over the bars since each position was last checked,
/// and funding on perpetual-style symbols at every 8h settlement crossed.
package enum PaperDesk {
    package static let fundingInterval: Int64 = 8 * 3_600

    /// Closes every position at market (bid for longs, ask for shorts, with the fill model's slippage and fees).
    package static func flatten(_ book: Portfolio, snapshot: MarketSnapshot, settings: PaperConfig, time: Int64, reason: String) -> [PortfolioEvent] {
        book.account.positions.compactMap { p in
            let tape = snapshot.symbol(p.symbol)
            let mark = tape?.last ?? book.marks[p.symbol] ?? p.entryPrice
            let side: Side = p.side == .buy ? .sell : .buy
            let depth = (side == .sell ? tape?.bidDepthUSD : tape?.askDepthUSD) ?? p.quantity * mark
            return exit(p, quantity: p.quantity, bid: tape?.bid ?? mark, ask: tape?.ask ?? mark, depthUsd: depth, settings: settings,
                        time: time, reason: reason, tag: "flatten")
        }
    }

    /// The between-cycle guard's margin action on the paper book: half (`reduce`) or all (`close`) of the position,
    /// at market at the mark that tripped it (reason `margin_reduce` or `margin_close`; the `guard_action` record
    /// before it says why).
    package static func guardExit(_ book: Portfolio, _ action: GuardAction, settings: PaperConfig, time: Int64) -> [PortfolioEvent] {
        guard action.action == .reduce || action.action == .close, let symbol = action.symbol,
              let p = book.account.positions.first(where: { $0.symbol == symbol }) else { return [] }
        let mark = action.price ?? book.marks[symbol] ?? p.entryPrice
        let quantity = action.action == .close ? p.quantity : p.quantity / 2
        return exit(p, quantity: quantity, bid: mark, ask: mark, depthUsd: quantity * mark, settings: settings, time: time,
                    reason: "\(action.rule.rawValue)_\(action.action.rawValue)", tag: "guard-\(action.action.rawValue)").map { [$0] } ?? []
    }

    /// `quantity` of `p` closed at market; a closing order is never capped by the book's depth.
    private static func exit(_ p: PaperPosition, quantity: Double, bid: Double, ask: Double, depthUsd: Double, settings: PaperConfig,
                             time: Int64, reason: String, tag: String) -> PortfolioEvent? {
        let side: Side = p.side == .buy ? .sell : .buy
        var closing = settings
        closing.maxDepthMultiple = .greatestFiniteMagnitude
        guard let fill = PaperFillModel.market(side: side, notionalUsd: quantity * (side == .sell ? bid : ask), bid: bid, ask: ask,
                                               depthUsd: max(depthUsd, 1), settings: closing) else { return nil }
        return .fill(PaperFill(clientOrderId: "paper-\(p.symbol)-\(time)-\(tag)", symbol: p.symbol, tier: p.tier, side: side,
                               quantity: quantity, price: fill.price, feeUsd: quantity * fill.price * settings.takerFeeBps / 10_000,
                               liquidity: "taker", time: time, reason: reason))
    }

    /// Exits over the bars since each position was last checked: liquidation (a position above 1x, on a book with a
    /// margin rule), the stop, the take-profit ladder, breakeven and ATR trailing, the time stop; and funding at every
    /// 8h settlement crossed.
    package static func manage(_ book: Portfolio, snapshot: MarketSnapshot, now: Int64, plan: ExitsConfig, settings: PaperConfig,
                       atrPeriod: Int, liquidation: PaperMarginRule? = nil) -> [PortfolioEvent] {
        var events: [PortfolioEvent] = []
        for position in book.account.positions where !book.unmanaged.contains(position.symbol) {
            guard let tape = snapshot.symbol(position.symbol) else { continue }
            let interval = tape.interval.seconds
            let checkedFrom = position.managedThrough.map { $0 + interval } ?? position.entryTime
            let bars = tape.candles.filter { $0.time >= checkedFrom && $0.time >= position.entryTime }
            guard !bars.isEmpty else { continue }
            // Funding settlements crossed by these bars, while the position was open.
            if let rate = tape.fundingRate, let last = bars.last {
                let end = last.time + interval
                var settlement = (checkedFrom / fundingInterval + 1) * fundingInterval
                while settlement <= end {
                    let notional = position.quantity * tape.last
                    let payment = notional * rate * (position.side == .buy ? 1 : -1)
                    events.append(.funding(FundingPayment(symbol: position.symbol, settlementTime: settlement, rate: rate,
                                                          notionalUsd: notional, paymentUsd: payment)))
                    settlement += fundingInterval
                }
            }
            if let liquidation, let fill = liquidated(position, bars: bars, interval: interval, liquidation: liquidation, settings: settings) {
                events.append(.fill(fill))
                continue
            }
            let atr = tape.newestATR(period: atrPeriod)
            let outcome = ExitManager.manage(position, bars: bars, interval: tape.interval, atr: atr, plan: plan, settings: settings, now: now)
            events += outcome.fills.map(PortfolioEvent.fill)
            if let update = outcome.update { events.append(.protection(update)) }
        }
        return events
    }

    /// The liquidation fill when one of `bars` reached the position's isolated liquidation price at its own leverage.
    package static func liquidated(_ position: PaperPosition, bars: [Candle], interval: Int64, liquidation: PaperMarginRule,
                           settings: PaperConfig) -> PaperFill? {
        guard position.leverage > 1,
              let lp = liquidationPrice(position, liquidation: liquidation),
              let bar = bars.first(where: { position.side == .buy ? $0.low <= lp : $0.high >= lp }) else { return nil }
        let price = position.side == .buy ? min(lp, bar.open) : max(lp, bar.open)
        return PaperFill(clientOrderId: "paper-\(position.symbol)-\(bar.time)-liquidation", symbol: position.symbol,
                         tier: position.tier, side: position.side == .buy ? .sell : .buy, quantity: position.quantity, price: price,
                         feeUsd: position.quantity * price * settings.takerFeeBps / 10_000, liquidity: "taker",
                         time: bar.time + interval, reason: "liquidation")
    }

    /// Where the position is liquidated: isolated at its own leverage, with the margin of what is still held (a rung
    /// taken releases its share), as the margin book counts it.
    package static func liquidationPrice(_ position: PaperPosition, liquidation: PaperMarginRule) -> Double? {
        BinanceLiquidation.isolatedPrice(quantity: position.side == .buy ? position.quantity : -position.quantity,
                                         entryPrice: position.entryPrice,
                                         walletBalance: position.quantity * position.entryPrice / position.leverage,
                                         brackets: liquidation.brackets(for: position.symbol))
    }
}

extension EventType where Payload == EquityPoint {
    package static var equity: Self { Self(.equity) }
}

extension EventType where Payload == FundingPayment {
    package static var paperFunding: Self { Self(.paperFunding) }
}
