import Config
import Foundation
import Model

// PAPER trading: a fill model over the tape, a paper account, and protective exits. Pure and deterministic:
// the same events in the same order always rebuild the same account, which is how PAPER survives restarts.

// Costs come from `PaperConfig` (app.yaml `paper`), exits from `ExitsConfig` (signals.yaml `exits`).

/// One simulated execution.
public struct PaperFill: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var tier: Tier
    public var side: Side
    public var quantity: Double
    public var price: Double
    public var feeUsd: Double
    /// "taker" or "maker".
    public var liquidity: String
    public var time: Int64
    /// "entry", "stop_loss", "take_profit_1"..., "trailing_stop", "time_stop".
    public var reason: String
    /// True when less than the requested quantity filled.
    public var partial: Bool
    /// For entries: the protective distances, so the position can be rebuilt from the fill alone.
    public var stopLossPct: Double?
    public var takeProfitPct: Double?
    /// For entries: the leverage the position is held at (the intent's). nil (fills recorded before it was carried,
    /// LIVE fills, adoptions): 1.
    public var leverage: Double?

    public init(clientOrderId: String, symbol: String, tier: Tier, side: Side, quantity: Double, price: Double,
                feeUsd: Double, liquidity: String, time: Int64, reason: String, partial: Bool = false,
                stopLossPct: Double? = nil, takeProfitPct: Double? = nil, leverage: Double? = nil) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.tier = tier
        self.side = side
        self.quantity = quantity
        self.price = price
        self.feeUsd = feeUsd
        self.liquidity = liquidity
        self.time = time
        self.reason = reason
        self.partial = partial
        self.stopLossPct = stopLossPct
        self.takeProfitPct = takeProfitPct
        self.leverage = leverage
    }

    public var notionalUsd: Double { quantity * price }
}

/// The fill model: market orders at the touch plus size-dependent slippage; limit orders only when traded through.
public enum PaperFillModel {
    public struct MarketFill: Sendable, Equatable {
        public var quantity: Double
        public var price: Double
        public var feeUsd: Double
        public var slippageBps: Double
        public var partial: Bool
    }

    /// A market order for `notionalUsd` against a book with `depthUsd` within 20 bps on the side it takes.
    /// Buys pay the ask plus slippage, sells receive the bid minus slippage; slippage is
    /// `base + impact * notional / depth` bps. Past `maxDepthMultiple * depth` the rest does not fill.
    public static func market(side: Side, notionalUsd: Double, bid: Double, ask: Double, depthUsd: Double,
                              settings: PaperConfig) -> MarketFill? {
        guard notionalUsd > 0, bid > 0, ask >= bid, notionalUsd.isFinite else { return nil }
        let capacity = max(depthUsd, 0) * settings.maxDepthMultiple
        let filledNotional = capacity > 0 ? min(notionalUsd, capacity) : 0
        guard filledNotional > 0 else { return nil }
        let slippageBps = settings.baseSlippageBps + settings.impactBpsAtDepth * filledNotional / max(depthUsd, 1)
        let touch = side == .buy ? ask : bid
        let price = side == .buy ? touch * (1 + slippageBps / 10_000) : touch * (1 - slippageBps / 10_000)
        let quantity = filledNotional / price
        return MarketFill(quantity: quantity, price: price, feeUsd: filledNotional * settings.takerFeeBps / 10_000,
                          slippageBps: slippageBps, partial: filledNotional < notionalUsd - 1e-9)
    }

    /// A resting limit order fills at its price only if the bar traded through it (strictly beyond), as maker;
    /// at most `maxFraction` of the bar's volume.
    public static func limit(side: Side, quantity: Double, limit: Double, bar: Candle, settings: PaperConfig,
                             maxFraction: Double = 0.1) -> (quantity: Double, feeUsd: Double)? {
        let tradedThrough = side == .buy ? bar.low < limit : bar.high > limit
        guard tradedThrough, quantity > 0 else { return nil }
        let filled = min(quantity, bar.volume * maxFraction)
        guard filled > 0 else { return nil }
        return (filled, filled * limit * settings.makerFeeBps / 10_000)
    }
}

/// An open paper position with its protection.
public struct PaperPosition: Codable, Sendable, Equatable {
    public var symbol: String
    public var tier: Tier
    public var side: Side
    public var quantity: Double
    public var initialQuantity: Double
    public var entryPrice: Double
    public var entryTime: Int64
    public var stopPrice: Double
    /// Price distance from entry to the initial stop (1R).
    public var initialRisk: Double
    public var rungsTaken: Int
    public var highWater: Double
    public var entryNotionalUsd: Double
    /// Open time of the last bar whose prices were checked against the protection (nil: none yet).
    public var managedThrough: Int64?
    /// The entries that built the position, with what is left of each (an add-on is a leg of its own).
    public var legs: [EntryLeg] = []
    /// Isolated at this leverage: the margin book holds a wallet of `quantity * entryPrice / leverage` for it. An
    /// add-on posts its own margin at its own leverage, so this is the position's notional over the margin posted.
    public var leverage: Double = 1

    /// Signed P&L per unit at `price`.
    func pnlPerUnit(at price: Double) -> Double { side == .buy ? price - entryPrice : entryPrice - price }
}

extension PaperPosition {
    enum CodingKeys: String, CodingKey {
        case symbol, tier, side, quantity, initialQuantity, entryPrice, entryTime, stopPrice, initialRisk, rungsTaken, highWater,
             entryNotionalUsd, managedThrough, legs, leverage
    }

    /// Positions saved before the leverage was kept (older snapshots) read as 1x.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(symbol: try c.decode(String.self, forKey: .symbol), tier: try c.decode(Tier.self, forKey: .tier),
                  side: try c.decode(Side.self, forKey: .side), quantity: try c.decode(Double.self, forKey: .quantity),
                  initialQuantity: try c.decode(Double.self, forKey: .initialQuantity),
                  entryPrice: try c.decode(Double.self, forKey: .entryPrice), entryTime: try c.decode(Int64.self, forKey: .entryTime),
                  stopPrice: try c.decode(Double.self, forKey: .stopPrice), initialRisk: try c.decode(Double.self, forKey: .initialRisk),
                  rungsTaken: try c.decode(Int.self, forKey: .rungsTaken), highWater: try c.decode(Double.self, forKey: .highWater),
                  entryNotionalUsd: try c.decode(Double.self, forKey: .entryNotionalUsd),
                  managedThrough: try c.decodeIfPresent(Int64.self, forKey: .managedThrough),
                  legs: try c.decodeIfPresent([EntryLeg].self, forKey: .legs) ?? [],
                  leverage: try c.decodeIfPresent(Double.self, forKey: .leverage) ?? 1)
    }
}

/// One entry fill of a position: its own time and price, and how much of it is still open.
public struct EntryLeg: Codable, Sendable, Equatable {
    public var time: Int64
    public var price: Double
    public var quantity: Double
}

/// A closed round trip (for streaks, win rate and the trade list).
public struct ClosedTrade: Codable, Sendable, Equatable {
    public var symbol: String
    public var side: Side
    public var entryTime: Int64
    public var exitTime: Int64
    public var entryPrice: Double
    public var exitPrice: Double
    public var quantity: Double
    public var feesUsd: Double
    public var pnlUsd: Double
    /// What closed it: `stop_loss`, `take_profit_1`..., `trailing_stop`, `time_stop`, `flatten`, `liquidation`,
    /// `end_of_data`, or a LIVE order purpose.
    public var exitReason: String

    /// A closed trade (the account makes these; backtest metrics and tests build them too).
    public init(symbol: String, side: Side, entryTime: Int64, exitTime: Int64, entryPrice: Double, exitPrice: Double,
                quantity: Double, feesUsd: Double, pnlUsd: Double, exitReason: String = "") {
        self.symbol = symbol
        self.side = side
        self.entryTime = entryTime
        self.exitTime = exitTime
        self.entryPrice = entryPrice
        self.exitPrice = exitPrice
        self.quantity = quantity
        self.feesUsd = feesUsd
        self.pnlUsd = pnlUsd
        self.exitReason = exitReason
    }
}

/// The paper account: cash, positions, realised P&L, fees and funding. Rebuilt by applying fills in order.
public struct PaperAccount: Codable, Sendable, Equatable {
    public var cashUsd: Double
    public var positions: [PaperPosition] = []
    public var realizedPnlUsd: Double = 0
    public var feesUsd: Double = 0
    public var fundingUsd: Double = 0
    /// One per exit, at the position's average entry: what metrics count. With a ``tradeHistoryLimit``, only the
    /// latest that many.
    public var closedTrades: [ClosedTrade] = []
    /// The same exits split over the entries that built each position (pro rata), each with its own entry time and
    /// price: the trade list as it happened. Quantities, fees and P&L add up to `closedTrades` exactly. With a
    /// ``tradeHistoryLimit``, only the latest that many legs.
    public var tradeLegs: [ClosedTrade] = []
    /// How many closed trades (and legs) the account keeps; nil keeps all of them (a backtest, whose report lists
    /// every trade). A long-running book keeps what its rules read, so its memory and snapshot stay flat in history.
    public var tradeHistoryLimit: Int?
    /// Closed trades ever recorded, kept or not.
    public private(set) var closedTradeTotal = 0
    /// The trailing run of losing closed trades and the latest exit among them (the loss-streak breaker's input),
    /// counted as trades close, so that it does not depend on how many are kept.
    public private(set) var lossStreak = 0
    public private(set) var lossStreakLastExit: Int64?
    /// Fees of the open part of each position, charged to the trade when it closes.
    private var openFees: [String: Double] = [:]

    public init(cashUsd: Double) {
        self.cashUsd = cashUsd
    }

    public func position(_ symbol: String) -> PaperPosition? { positions.first { $0.symbol == symbol } }

    /// Cash plus the marked value of every position (longs own the asset; shorts owe it).
    public func equity(marks: [String: Double]) -> Double {
        positions.reduce(cashUsd) { total, p in
            let mark = marks[p.symbol] ?? p.entryPrice
            return total + (p.side == .buy ? p.quantity * mark : p.quantity * (2 * p.entryPrice - mark))
        }
    }

    /// Applies one fill: an entry opens or adds to a position; anything else reduces it.
    public mutating func apply(_ fill: PaperFill) {
        feesUsd += fill.feeUsd
        cashUsd -= fill.feeUsd
        if fill.reason == "entry" {
            let cost = fill.quantity * fill.price
            cashUsd -= cost  // shorts post the notional as collateral in this simple model
            let leverage = Self.leverage(of: fill)
            if let i = positions.firstIndex(where: { $0.symbol == fill.symbol }) {
                var p = positions[i]
                // Each entry posts its own margin (notional / its leverage), as an add-on to an isolated position does.
                let margin = p.quantity * p.entryPrice / p.leverage + cost / leverage
                if margin > 0 { p.leverage = (p.quantity * p.entryPrice + cost) / margin }
                let total = p.quantity + fill.quantity
                p.entryPrice = (p.entryPrice * p.quantity + fill.price * fill.quantity) / total
                p.quantity = total
                p.initialQuantity += fill.quantity
                p.entryNotionalUsd += cost
                p.legs.append(EntryLeg(time: fill.time, price: fill.price, quantity: fill.quantity))
                positions[i] = p
            } else {
                let stopPct = fill.stopLossPct ?? 10
                let stop = fill.side == .buy ? fill.price * (1 - stopPct / 100) : fill.price * (1 + stopPct / 100)
                positions.append(PaperPosition(symbol: fill.symbol, tier: fill.tier, side: fill.side, quantity: fill.quantity,
                                               initialQuantity: fill.quantity, entryPrice: fill.price, entryTime: fill.time,
                                               stopPrice: stop, initialRisk: abs(fill.price - stop), rungsTaken: 0,
                                               highWater: fill.price, entryNotionalUsd: cost, managedThrough: nil,
                                               legs: [EntryLeg(time: fill.time, price: fill.price, quantity: fill.quantity)],
                                               leverage: leverage))
            }
            openFees[fill.symbol, default: 0] += fill.feeUsd
            return
        }
        guard let i = positions.firstIndex(where: { $0.symbol == fill.symbol }) else { return }
        var p = positions[i]
        let qty = min(fill.quantity, p.quantity)
        let pnl = p.pnlPerUnit(at: fill.price) * qty
        // Return the collateral (entry notional of the part closed) plus its P&L.
        cashUsd += p.entryPrice * qty + pnl
        realizedPnlUsd += pnl
        let share = p.quantity > 0 ? qty / p.quantity : 1
        let entryFees = (openFees[p.symbol] ?? 0) * share
        openFees[p.symbol] = (openFees[p.symbol] ?? 0) - entryFees
        let trade = ClosedTrade(symbol: p.symbol, side: p.side, entryTime: p.entryTime, exitTime: fill.time,
                                entryPrice: p.entryPrice, exitPrice: fill.price, quantity: qty,
                                feesUsd: entryFees + fill.feeUsd, pnlUsd: pnl - entryFees - fill.feeUsd, exitReason: fill.reason)
        record(trade, legs: Self.split(trade, of: &p, exitPrice: fill.price))
        p.quantity -= qty
        if p.quantity <= p.initialQuantity * 1e-9 {
            positions.remove(at: i)
            openFees[p.symbol] = nil
        } else {
            positions[i] = p
        }
    }

    /// An entry's leverage: its own, at least 1 (1 when it carries none).
    static func leverage(of fill: PaperFill) -> Double {
        guard let l = fill.leverage, l.isFinite else { return 1 }
        return max(l, 1)
    }

    /// Sets a position's size to what the venue holds (LIVE reconciliation); 0 removes it. The part removed leaves
    /// at its entry price: the venue's own fills for it are unknown.
    public mutating func correct(symbol: String, quantity: Double) {
        guard let i = positions.firstIndex(where: { $0.symbol == symbol }) else { return }
        if quantity <= positions[i].initialQuantity * 1e-9 || quantity <= 0 {
            cashUsd += positions[i].entryPrice * positions[i].quantity
            positions.remove(at: i)
            openFees[symbol] = nil
            return
        }
        cashUsd += positions[i].entryPrice * (positions[i].quantity - quantity)
        let keep = positions[i].quantity > 0 ? quantity / positions[i].quantity : 1
        for l in positions[i].legs.indices { positions[i].legs[l].quantity *= keep }
        positions[i].quantity = quantity
        positions[i].initialQuantity = max(positions[i].initialQuantity, quantity)
    }

    private mutating func record(_ trade: ClosedTrade, legs: [ClosedTrade]) {
        closedTrades.append(trade)
        tradeLegs += legs
        closedTradeTotal += 1
        if trade.pnlUsd < 0 {
            lossStreak += 1
            lossStreakLastExit = max(lossStreakLastExit ?? trade.exitTime, trade.exitTime)
        } else {
            lossStreak = 0
            lossStreakLastExit = nil
        }
        if let limit = tradeHistoryLimit { keepLatestTrades(limit) }
    }

    /// Drops all but the latest `limit` closed trades and legs.
    public mutating func keepLatestTrades(_ limit: Int) {
        if closedTrades.count > limit { closedTrades.removeFirst(closedTrades.count - max(limit, 0)) }
        if tradeLegs.count > limit { tradeLegs.removeFirst(tradeLegs.count - max(limit, 0)) }
    }

    /// Takes over a position the venue holds that the agent did not open (LIVE `reconcile --ack`).
    public mutating func adopt(symbol: String, side: Side, quantity: Double, price: Double, time: Int64) {
        guard quantity > 0, position(symbol) == nil else { return }
        cashUsd -= quantity * price
        positions.append(PaperPosition(symbol: symbol, tier: .eventDriven, side: side, quantity: quantity, initialQuantity: quantity,
                                       entryPrice: price, entryTime: time, stopPrice: 0, initialRisk: 0, rungsTaken: 0,
                                       highWater: price, entryNotionalUsd: quantity * price, managedThrough: nil,
                                       legs: [EntryLeg(time: time, price: price, quantity: quantity)]))
    }

    /// `trade` (an exit of the whole position's average) as one row per entry leg, each leg giving up the same share;
    /// a single-leg position gives `trade` itself.
    static func split(_ trade: ClosedTrade, of p: inout PaperPosition, exitPrice: Double) -> [ClosedTrade] {
        let open = p.legs.reduce(0) { $0 + $1.quantity }
        guard p.legs.count > 1, open > 0 else {
            if !p.legs.isEmpty { p.legs[0].quantity = max(0, p.legs[0].quantity - trade.quantity) }
            return [trade]
        }
        let share = trade.quantity / open
        var rows: [ClosedTrade] = []
        for i in p.legs.indices where p.legs[i].quantity > 0 {
            let leg = p.legs[i]
            let q = leg.quantity * share
            let weight = leg.quantity / open
            let gross = (p.side == .buy ? exitPrice - leg.price : leg.price - exitPrice) * q
            rows.append(ClosedTrade(symbol: trade.symbol, side: trade.side, entryTime: leg.time, exitTime: trade.exitTime,
                                    entryPrice: leg.price, exitPrice: exitPrice, quantity: q, feesUsd: trade.feesUsd * weight,
                                    pnlUsd: gross - trade.feesUsd * weight, exitReason: trade.exitReason))
            p.legs[i].quantity -= q
        }
        return rows
    }

    /// Applies a funding payment (positive = paid by us).
    public mutating func applyFunding(symbol: String, paymentUsd: Double) {
        fundingUsd += paymentUsd
        cashUsd -= paymentUsd
    }

    /// Replaces a position's protection state (stop, trailing high, rungs taken).
    public mutating func update(_ update: ProtectionUpdate) {
        guard let i = positions.firstIndex(where: { $0.symbol == update.symbol }) else { return }
        positions[i].stopPrice = update.stopPrice
        positions[i].highWater = update.highWater
        positions[i].rungsTaken = update.rungsTaken
        positions[i].managedThrough = update.managedThrough
    }
}

/// A change of a position's protection, recorded so restarts resume with the same stops.
public struct ProtectionUpdate: Codable, Sendable, Equatable {
    public var symbol: String
    public var stopPrice: Double
    public var highWater: Double
    public var rungsTaken: Int
    public var managedThrough: Int64
    public var reason: String

    public init(symbol: String, stopPrice: Double, highWater: Double, rungsTaken: Int, managedThrough: Int64, reason: String) {
        self.symbol = symbol
        self.stopPrice = stopPrice
        self.highWater = highWater
        self.rungsTaken = rungsTaken
        self.managedThrough = managedThrough
        self.reason = reason
    }
}

/// Decides protective exits for one position over the bars since it was last managed.
public enum ExitManager {
    /// The trailing rule, shared by simulated exits and LIVE (where the venue executes the stop and the rungs): the
    /// high-water mark follows the bar, and after the first rung the stop trails it by `trailing_atr` ATRs. The stop
    /// never loosens. Returns whether anything changed.
    @discardableResult
    public static func trail(_ p: inout PaperPosition, bar: Candle, atr: Double?, plan: ExitsConfig) -> Bool {
        let long = p.side == .buy
        var changed = false
        let extreme = long ? max(p.highWater, bar.high) : min(p.highWater, bar.low)
        if extreme != p.highWater {
            p.highWater = extreme
            changed = true
        }
        if p.rungsTaken > 0, let atr, atr > 0 {
            let trail = long ? p.highWater - plan.trailingAtr * atr : p.highWater + plan.trailingAtr * atr
            if long ? trail > p.stopPrice : trail < p.stopPrice {
                p.stopPrice = trail
                changed = true
            }
        }
        return changed
    }

    /// The price of ladder rung `index` (0-based): `r` times the initial risk beyond the entry.
    public static func target(_ p: PaperPosition, rung index: Int, plan: ExitsConfig) -> Double? {
        guard index < plan.ladder.count, p.initialRisk > 0 else { return nil }
        let r = plan.ladder[index].r
        return p.side == .buy ? p.entryPrice + r * p.initialRisk : p.entryPrice - r * p.initialRisk
    }

    /// The stop after a rung is taken: at least breakeven.
    public static func breakeven(_ p: PaperPosition) -> Double {
        p.side == .buy ? max(p.stopPrice, p.entryPrice) : min(p.stopPrice, p.entryPrice)
    }

    public struct Outcome: Sendable, Equatable {
        public var fills: [PaperFill]
        public var update: ProtectionUpdate?
    }

    /// Walks `bars` (oldest first, all after the position's last check) and returns the exits they trigger.
    /// Within a bar the stop is assumed hit before any target (the conservative order). Exits fill at the
    /// level, or at the bar's open when it gapped through, less `slippageBps`; fees are taker.
    public static func manage(_ position: PaperPosition, bars: [Candle], interval: BarInterval = .oneHour, atr: Double?,
                              plan: ExitsConfig, settings: PaperConfig, now: Int64) -> Outcome {
        var p = position
        var fills: [PaperFill] = []
        var changed = false
        let long = p.side == .buy
        /// Takes `qty` off at `touch` (less slippage, taker fee), as of the bar's close.
        func take(_ qty: Double, touch: Double, bar: Candle, reason: String) {
            let q = min(qty, p.quantity)
            guard q > 0 else { return }
            let price = long ? touch * (1 - settings.baseSlippageBps / 10_000) : touch * (1 + settings.baseSlippageBps / 10_000)
            fills.append(PaperFill(clientOrderId: "paper-\(p.symbol)-\(bar.time)-\(reason)", symbol: p.symbol, tier: p.tier,
                                   side: long ? .sell : .buy, quantity: q, price: price,
                                   feeUsd: q * price * settings.takerFeeBps / 10_000, liquidity: "taker",
                                   time: bar.time + interval.seconds, reason: reason))
            p.quantity -= q
        }
        /// The level, or the open when the bar gapped through it (worse for us).
        func level(_ level: Double, bar: Candle, adverse: Bool) -> Double {
            let gapped = long == adverse ? bar.open < level : bar.open > level
            return gapped ? bar.open : level
        }
        for bar in bars where p.quantity > 0 {
            // 1. The stop (initial or trailing), assumed hit before any target within the same bar.
            if long ? bar.low <= p.stopPrice : bar.high >= p.stopPrice {
                take(p.quantity, touch: level(p.stopPrice, bar: bar, adverse: true), bar: bar,
                     reason: p.rungsTaken > 0 ? "trailing_stop" : "stop_loss")
                break
            }
            // 2. Take-profit rungs; after the first, the stop is at least breakeven.
            while let target = target(p, rung: p.rungsTaken, plan: plan) {
                guard long ? bar.high >= target : bar.low <= target else { break }
                take(p.initialQuantity * plan.ladder[p.rungsTaken].fraction, touch: level(target, bar: bar, adverse: false), bar: bar,
                     reason: "take_profit_\(p.rungsTaken + 1)")
                p.rungsTaken += 1
                p.stopPrice = breakeven(p)
                changed = true
            }
            // 3. Trailing stop after the first rung: never loosens.
            if trail(&p, bar: bar, atr: atr, plan: plan) { changed = true }
        }
        // 4. Time stop at the last bar's close.
        if p.quantity > 0, let last = bars.last, Double(now - p.entryTime) >= plan.timeStopHours * 3_600 {
            take(p.quantity, touch: last.close, bar: last, reason: "time_stop")
        }
        // Whatever remains records how far it was checked (and any new protection), so a restart resumes here.
        let update = p.quantity > 0 && !bars.isEmpty
            ? ProtectionUpdate(symbol: p.symbol, stopPrice: p.stopPrice, highWater: p.highWater, rungsTaken: p.rungsTaken,
                               managedThrough: bars.last?.time ?? 0,
                               reason: p.rungsTaken > position.rungsTaken ? "take profit rung \(p.rungsTaken)"
                                   : (changed ? "trailing" : "checked"))
            : nil
        return Outcome(fills: fills, update: update)
    }
}

extension EventType where Payload == PaperFill {
    public static var paperFill: Self { Self(.paperFill) }
}

extension EventType where Payload == ProtectionUpdate {
    public static var protectionUpdate: Self { Self(.protectionUpdate) }
}
