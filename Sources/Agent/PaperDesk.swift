import Config
import Execution
import Ledger
import Model
import Pipeline

/// A mark-to-market point recorded at the end of every PAPER cycle; P&L windows and drawdown come from these.
struct EquityPoint: Codable, Sendable, Equatable {
    var equityUsd: Double
    var cashUsd: Double
    var openPositions: Int
    var marks: [SymbolPrice]
}

struct SymbolPrice: Codable, Sendable, Equatable {
    var symbol: String
    var price: Double
}

/// A funding settlement on a perpetual-style position (positive = paid by us).
struct FundingPayment: Codable, Sendable, Equatable {
    var symbol: String
    var settlementTime: Int64
    var rate: Double
    var notionalUsd: Double
    var paymentUsd: Double
}

/// What PAPER position management produced this cycle, in the order to record it.
enum PaperEvent: Sendable, Equatable {
    case fill(PaperFill)
    case funding(FundingPayment)
    case protection(ProtectionUpdate)

    func newEvent(cycleId: String, time: Int64) throws -> NewEvent {
        switch self {
        case .fill(let f): try NewEvent.json(cycleId, "paper_fill", time, symbol: f.symbol, f)
        case .funding(let f): try NewEvent.json(cycleId, "paper_funding", time, symbol: f.symbol, f)
        case .protection(let u): try NewEvent.json(cycleId, "protection_update", time, symbol: u.symbol, u)
        }
    }
}

/// The PAPER book, rebuilt from ledger events in order: the same events always give the same book, so a
/// restarted paper bot continues exactly where it was.
struct PaperBook: Sendable {
    static let eventTypes = ["paper_fill", "paper_funding", "protection_update", "equity"]

    var startingEquity: Double
    var account: PaperAccount
    /// Recorded equity points, oldest first.
    var equity: [(time: Int64, equityUsd: Double)] = []
    /// The latest recorded price per symbol.
    var marks: [String: Double] = [:]

    init(startingEquity: Double) {
        self.startingEquity = startingEquity
        self.account = PaperAccount(cashUsd: startingEquity)
    }

    static func rebuild(ledger: Ledger, startingEquity: Double) throws -> PaperBook {
        var book = PaperBook(startingEquity: startingEquity)
        try ledger.forEach(types: eventTypes) { try book.apply($0) }
        return book
    }

    mutating func apply(_ event: LedgerEvent) throws {
        switch event.type {
        case "paper_fill": apply(.fill(try event.value(PaperFill.self)))
        case "paper_funding": apply(.funding(try event.value(FundingPayment.self)))
        case "protection_update": apply(.protection(try event.value(ProtectionUpdate.self)))
        case "equity":
            let point = try event.value(EquityPoint.self)
            equity.append((event.time, point.equityUsd))
            for m in point.marks { marks[m.symbol] = m.price }
        default: break
        }
    }

    mutating func apply(_ event: PaperEvent) {
        switch event {
        case .fill(let f):
            account.apply(f)
            marks[f.symbol] = f.price
        case .funding(let f): account.applyFunding(symbol: f.symbol, paymentUsd: f.paymentUsd)
        case .protection(let u): account.update(u)
        }
    }

    func equityUsd(marks fresh: [String: Double] = [:]) -> Double {
        account.equity(marks: marks.merging(fresh) { _, new in new })
    }

    func point(marks fresh: [String: Double]) -> EquityPoint {
        let all = marks.merging(fresh) { _, new in new }
        return EquityPoint(equityUsd: equityUsd(marks: fresh), cashUsd: account.cashUsd, openPositions: account.positions.count,
                           marks: account.positions.map { SymbolPrice(symbol: $0.symbol, price: all[$0.symbol] ?? $0.entryPrice) })
    }

    /// Equity as of `time`: the last point recorded before it, else the starting equity.
    func equity(before time: Int64) -> Double {
        equity.last { $0.time < time }?.equityUsd ?? startingEquity
    }

    /// The policy's view of the book.
    func portfolioState(now: Int64, marks fresh: [String: Double], trades: [TradeRecord]) -> PortfolioState {
        let current = equityUsd(marks: fresh)
        let all = marks.merging(fresh) { _, new in new }
        let day = now - now.mod(86_400)
        let daysSinceEpoch = day / 86_400
        let monday = (daysSinceEpoch - (daysSinceEpoch + 3).mod(7)) * 86_400  // 1970-01-01 was a Thursday
        let peak = equity.map(\.equityUsd).reduce(max(startingEquity, current), max)
        var losses = 0
        var lastLoss: Int64?
        for trade in account.closedTrades.reversed() {
            guard trade.pnlUsd < 0 else { break }
            losses += 1
            lastLoss = max(lastLoss ?? trade.exitTime, trade.exitTime)
        }
        let positions = account.positions.map { p in
            OpenPosition(symbol: p.symbol, tier: p.tier, side: p.side,
                         sizePct: current > 0 ? p.quantity * (all[p.symbol] ?? p.entryPrice) / current * 100 : 0,
                         openedAt: p.entryTime)
        }
        var state = PortfolioState(equityUsd: current, peakEquityUsd: peak, dayStartEquityUsd: equity(before: day),
                                   weekStartEquityUsd: equity(before: monday), openPositions: positions, recentTrades: trades,
                                   consecutiveLosses: losses, lastLossTime: lastLoss)
        state.lossTimes = account.closedTrades.filter { $0.pnlUsd < 0 && $0.exitTime > now - StateProjection.tradeWindow }.map(\.exitTime)
        return state
    }
}

/// Manages PAPER positions each cycle: protective exits over the bars since each position was last checked,
/// and funding on perpetual-style symbols at every 8h settlement crossed.
enum PaperDesk {
    static let fundingInterval: Int64 = 8 * 3_600

    /// Closes every position at market (bid for longs, ask for shorts, with the fill model's slippage and fees).
    static func flatten(_ book: PaperBook, snapshot: MarketSnapshot, settings: PaperConfig, time: Int64, reason: String) -> [PaperEvent] {
        book.account.positions.compactMap { p in
            let tape = snapshot.symbol(p.symbol)
            let mark = tape?.last ?? book.marks[p.symbol] ?? p.entryPrice
            let bid = tape?.bid ?? mark, ask = tape?.ask ?? mark
            let side: Side = p.side == .buy ? .sell : .buy
            let depth = (side == .sell ? tape?.bidDepthUSD : tape?.askDepthUSD) ?? p.quantity * mark
            // Closing must close everything: the depth cap does not apply to a flatten.
            var closing = settings
            closing.maxDepthMultiple = .greatestFiniteMagnitude
            guard let fill = PaperFillModel.market(side: side, notionalUsd: p.quantity * (side == .sell ? bid : ask), bid: bid, ask: ask,
                                                   depthUsd: max(depth, 1), settings: closing) else { return nil }
            return .fill(PaperFill(clientOrderId: "paper-\(p.symbol)-\(time)-flatten", symbol: p.symbol, tier: p.tier, side: side,
                                   quantity: p.quantity, price: fill.price, feeUsd: p.quantity * fill.price * settings.takerFeeBps / 10_000,
                                   liquidity: "taker", time: time, reason: reason))
        }
    }

    static func manage(_ book: PaperBook, snapshot: MarketSnapshot, now: Int64, plan: ExitsConfig, settings: PaperConfig,
                       atrPeriod: Int) -> [PaperEvent] {
        var events: [PaperEvent] = []
        for position in book.account.positions {
            guard let tape = snapshot.symbol(position.symbol) else { continue }
            let checkedFrom = position.managedThrough.map { $0 + 3_600 } ?? position.entryTime
            let bars = tape.candles.filter { $0.time >= checkedFrom && $0.time >= position.entryTime }
            guard !bars.isEmpty else { continue }
            // Funding settlements crossed by these bars, while the position was open.
            if let rate = tape.fundingRate, let last = bars.last {
                let end = last.time + 3_600
                var settlement = (checkedFrom / fundingInterval + 1) * fundingInterval
                while settlement <= end {
                    let notional = position.quantity * tape.last
                    let payment = notional * rate * (position.side == .buy ? 1 : -1)
                    events.append(.funding(FundingPayment(symbol: position.symbol, settlementTime: settlement, rate: rate,
                                                          notionalUsd: notional, paymentUsd: payment)))
                    settlement += fundingInterval
                }
            }
            let atr = Indicators.atr(tape.candles, period: atrPeriod).last ?? nil
            let outcome = ExitManager.manage(position, bars: bars, atr: atr, plan: plan, settings: settings, now: now)
            events += outcome.fills.map(PaperEvent.fill)
            if let update = outcome.update { events.append(.protection(update)) }
        }
        return events
    }
}
