import Config
import Execution
import Foundation
import Ledger
import Model
import Pipeline

/// The one portfolio state of every mode: cash, positions with their protection, realised P&L, fees, funding,
/// equity marks (peak, day and week starts), loss streaks and loss times, and the trades the frequency checks
/// count. It is rebuilt from events in seq order, the same way in a backtest, in PAPER and in LIVE; every breaker
/// and every policy check reads it through `state(now:marks:)`.
///
/// - PAPER and backtests: `paper_fill`, `paper_funding`, `protection_update`, `equity`, `order_result`.
/// - LIVE: `live_fill` (entries open, every other purpose reduces), `live_position_correction` and adopted
///   positions (the venue is the truth for sizes), `live_funding`, `live_equity` (the venue's balances), `equity`.
/// - DRY_RUN: only `order_result` (would-be orders count as trades; nothing fills).
///
/// Memory stays flat however long the ledger is: equity marks are folded into the peak and the day and week
/// starts, trades and loss times older than the frequency window are dropped, and a running book keeps only the
/// closed trades its rules read (``TradeHistory``); a backtest keeps them all for its report.
package struct Portfolio: Sendable {
    package static let eventKinds: [EventKind] = [.paperFill, .paperFunding, .protectionUpdate, .equity, .orderResult,
                                          .liveOrderIntent, .liveFill, .livePositionCorrection, .reviewAck, .liveFunding, .liveEquity]

    /// The kinds each mode's book is made of: a data dir used for PAPER and then LIVE keeps two separate books.
    package static func kinds(of mode: Mode) -> Set<EventKind> {
        switch mode {
        case .dryRun: [.orderResult]
        case .paper: [.paperFill, .paperFunding, .protectionUpdate, .equity, .orderResult]
        case .live: [.liveOrderIntent, .liveFill, .livePositionCorrection, .reviewAck, .liveFunding, .liveEquity, .equity,
                     .protectionUpdate, .orderResult]
        }
    }
    /// How far back trades count for the frequency checks.
    package static let tradeWindow: Int64 = 7 * 86_400

    package let mode: Mode
    /// The configured starting equity (nil in LIVE: the venue's first reading is the start).
    package let startingEquity: Double?
    package var account: PaperAccount
    /// The latest recorded price per symbol.
    package var marks: [String: Double] = [:]
    /// Trades within the window, oldest first.
    package private(set) var trades: [TradeRecord] = []
    package private(set) var peakEquity: Double?
    /// The exit times of the losing closed trades (partial exits included) within the frequency window of the
    /// latest, ascending: the breakers' "losses in the window" is a binary search here, flat in history.
    private var lossExitTimes: [Int64] = []
    private var lastPoint: (time: Int64, equityUsd: Double)?
    /// The equity of the last mark before the current UTC day (and ISO week) began, with the day (week) it belongs to.
    private var dayStart: (day: Int64, equityUsd: Double)?
    private var weekStart: (week: Int64, equityUsd: Double)?
    /// LIVE: the venue's balances at the last reconciliation.
    package private(set) var venue: LiveEquity?
    /// LIVE: what each entry was for, so its fill opens a position with the right tier and stop distance.
    private var entryIntents: [String: (tier: Tier?, stopLossPct: Double?)] = [:]
    private var countedEntries: Set<String> = []
    private var countedRungs: Set<String> = []
    /// Positions adopted at `reconcile --ack`: tracked, never traded by the agent.
    package private(set) var unmanaged: Set<String> = []

    package init(mode: Mode, startingEquity: Double?, history: TradeHistory = .all) {
        self.mode = mode
        self.startingEquity = startingEquity
        account = PaperAccount(cashUsd: startingEquity ?? 0)
        account.tradeHistoryLimit = history.limit
    }

    /// Applies every portfolio event of `store` after `seq`; returns the store's last seq.
    package mutating func catchUp(store: any EventStore, after seq: Int64) throws -> Int64 {
        let end = try store.lastSeq()
        guard end > seq else { return seq }
        try store.forEach(afterSeq: seq, kinds: Self.eventKinds) { try apply($0) }
        return end
    }

    package mutating func apply(_ event: LedgerEvent) throws {
        guard let kind = EventKind(rawValue: event.type), Self.kinds(of: mode).contains(kind) else { return }
        switch kind {
        case .paperFill: apply(.fill(try event.value(.paperFill)))
        case .paperFunding: apply(.funding(try event.value(.paperFunding)))
        case .protectionUpdate: apply(.protection(try event.value(.protectionUpdate)))
        case .equity:
            let point = try event.value(.equity)
            if (point.mode ?? .paper) == mode { apply(.equity(point, time: event.time)) }
        case .orderResult: apply(.order(try event.value(.orderResult), time: event.time))
        case .liveOrderIntent:
            let intent = try event.value(.liveOrderIntent)
            if intent.purpose == .entry { entryIntents[intent.clientOrderId] = (intent.tier, intent.stopLossPct) }
        case .liveFill: applyLive(try event.value(.liveFill), time: event.time)
        case .livePositionCorrection:
            let c = try event.value(.livePositionCorrection)
            account.correct(symbol: c.symbol, quantity: abs(c.to))
        case .reviewAck:
            for a in try event.value(.reviewAck).adoptedPositions {
                account.adopt(symbol: a.symbol, side: a.quantity >= 0 ? .buy : .sell, quantity: abs(a.quantity),
                              price: a.entryPrice, time: event.time)
                unmanaged.insert(a.symbol)
            }
        case .liveFunding:
            let f = try event.value(.liveFunding)
            account.applyFunding(symbol: f.symbol, paymentUsd: -f.amount)
        case .liveEquity: venue = try event.value(.liveEquity)
        default: break
        }
    }

    package mutating func apply(_ event: PortfolioEvent) {
        switch event {
        case .fill(let f):
            let closedBefore = account.closedTradeTotal
            account.apply(f)
            for trade in account.closedTrades.suffix(account.closedTradeTotal - closedBefore) where trade.pnlUsd < 0 {
                addLoss(at: trade.exitTime)
            }
            marks[f.symbol] = f.price
            if f.reason != "entry", account.position(f.symbol) == nil { unmanaged.remove(f.symbol) }
        case .funding(let f): account.applyFunding(symbol: f.symbol, paymentUsd: f.paymentUsd)
        case .protection(let u): account.update(u)
        case .equity(let point, let time): mark(point, time: time)
        case .order(let order, let time):
            // LIVE counts the venue's fills instead (`live_fill`), so a lost answer still counts once found.
            guard order.mode == mode, mode != .live, order.status.traded else { return }
            addTrade(TradeRecord(time: time, symbol: order.symbol, side: order.side))
        }
    }

    private mutating func applyLive(_ fill: LiveFill, time: Int64) {
        let side: Side = fill.side == .buy ? .buy : .sell
        let entry = fill.purpose == .entry
        if entry, countedEntries.insert(fill.clientOrderId).inserted {
            addTrade(TradeRecord(time: time, symbol: fill.symbol, side: side))
        }
        let intent = entryIntents[fill.clientOrderId]
        apply(.fill(PaperFill(clientOrderId: fill.clientOrderId, symbol: fill.symbol, tier: intent?.tier ?? .rotational,
                              side: side, quantity: Dec.double(fill.quantity), price: Dec.double(fill.price), feeUsd: 0, liquidity: "taker",
                              time: fill.time, reason: entry ? "entry" : fill.purpose.rawValue,
                              stopLossPct: entry ? intent?.stopLossPct ?? 10 : nil)))
        // A rung of the ladder filled on the venue: the same protection step as a simulated rung (breakeven next).
        if fill.purpose == .takeProfit, countedRungs.insert(fill.clientOrderId).inserted, let p = account.position(fill.symbol) {
            var next = p
            next.rungsTaken += 1
            account.update(ProtectionUpdate(symbol: p.symbol, stopPrice: ExitManager.breakeven(next), highWater: p.highWater,
                                            rungsTaken: next.rungsTaken, managedThrough: p.managedThrough ?? fill.time,
                                            reason: "take profit rung \(next.rungsTaken) filled on the venue"))
        }
    }

    private mutating func addLoss(at time: Int64) {
        var i = lossExitTimes.endIndex
        while i > lossExitTimes.startIndex, lossExitTimes[i - 1] > time { i -= 1 }
        lossExitTimes.insert(time, at: i)
        // Losses older than the window of the latest are never read again (as with `trades`).
        if let newest = lossExitTimes.last, let first = lossExitTimes.first, first <= newest - Self.tradeWindow {
            lossExitTimes.removeAll { $0 <= newest - Self.tradeWindow }
        }
    }

    /// The loss exit times in `(after, through]`, ascending.
    private func lossExits(after: Int64, through: Int64) -> [Int64] {
        /// The first index whose time is above `t`.
        func upper(_ t: Int64) -> Int {
            var lo = 0, hi = lossExitTimes.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if lossExitTimes[mid] <= t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        let from = upper(after), to = upper(through)
        return from < to ? Array(lossExitTimes[from..<to]) : []
    }

    private mutating func addTrade(_ trade: TradeRecord) {
        trades.append(trade)
        if let first = trades.first, first.time <= trade.time - Self.tradeWindow {
            trades.removeAll { $0.time <= trade.time - Self.tradeWindow }
        }
    }

    private mutating func mark(_ point: EquityPoint, time: Int64) {
        for m in point.marks { marks[m.symbol] = m.price }
        let day = Self.day(time), week = Self.week(time)
        if let last = lastPoint {
            if Self.day(last.time) != day { dayStart = (day, last.equityUsd) }
            if Self.week(last.time) != week { weekStart = (week, last.equityUsd) }
        }
        lastPoint = (time, point.equityUsd)
        peakEquity = max(peakEquity ?? point.equityUsd, point.equityUsd)
    }

    /// The UTC day and the ISO week (Monday 00:00) a time falls in, as whole days since the epoch.
    package static func day(_ t: Int64) -> Int64 { (t - t.mod(86_400)) / 86_400 }
    package static func week(_ t: Int64) -> Int64 { let d = day(t); return d - (d + 3).mod(7) }  // 1970-01-01 was a Thursday

    /// Equity at `marks` (fresher prices win over recorded ones). LIVE: the venue's equity, with spot holdings
    /// marked to the cycle's prices rather than their entry prices.
    package func equityUsd(marks fresh: [String: Double] = [:]) -> Double {
        equityUsd(allMarks: merged(fresh))
    }

    /// The recorded marks with this cycle's on top (no copy when there are no fresh ones).
    private func merged(_ fresh: [String: Double]) -> [String: Double] {
        fresh.isEmpty ? marks : marks.merging(fresh) { _, new in new }
    }

    private func equityUsd(allMarks all: [String: Double]) -> Double {
        if mode == .live, let venue {
            if venue.positionsMarked { return venue.equityUsd }
            return account.positions.reduce(venue.cashUsd ?? venue.equityUsd) { $0 + $1.quantity * (all[$1.symbol] ?? $1.entryPrice) }
        }
        return account.equity(marks: all)
    }

    /// The mark recorded at the end of a cycle.
    package func point(marks fresh: [String: Double]) -> EquityPoint {
        let all = merged(fresh)
        return EquityPoint(equityUsd: equityUsd(allMarks: all), cashUsd: mode == .live ? venue?.cashUsd ?? account.cashUsd : account.cashUsd,
                           openPositions: account.positions.count,
                           marks: account.positions.map { SymbolPrice(symbol: $0.symbol, price: all[$0.symbol] ?? $0.entryPrice) },
                           mode: mode)
    }

    /// What the strategy's sizing and leverage rules read: drawdown, the last trade's outcome and the returns of the
    /// last closed trades on their entry notional (the Kelly cap looks at no more than 1,000).
    /// `returnsOf`: how many of the latest closed trades' returns the rules read (the Kelly cap's lookback; 0 when
    /// it is off, so a cycle does not map trades nobody reads).
    package func accountFacts(_ state: PortfolioState, returnsOf count: Int) -> AccountFacts {
        let trades = account.closedTrades.suffix(max(count, 0))
        return AccountFacts(drawdownPct: state.drawdownPct, lastTradeLost: (account.closedTrades.last?.pnlUsd ?? 0) < 0,
                            tradeReturns: trades.map { t in
                                let notional = t.entryPrice * t.quantity
                                return notional > 0 ? t.pnlUsd / notional : 0
                            })
    }

    /// The policy's and the breakers' view at `now`.
    package func state(now: Int64, marks fresh: [String: Double]) -> PortfolioState {
        let all = merged(fresh)
        let current = equityUsd(allMarks: all)
        let start = startingEquity ?? lastPoint?.equityUsd ?? current
        /// The last mark before the period `key` began, else the start.
        func opening(_ key: Int64, of period: (Int64) -> Int64, recorded: (key: Int64, equityUsd: Double)?) -> Double {
            guard let last = lastPoint else { return start }
            let lastKey = period(last.time)
            if lastKey < key { return last.equityUsd }
            if lastKey == key, let recorded, recorded.key == key { return recorded.equityUsd }
            return start
        }
        let dayOpen = opening(Self.day(now), of: Self.day, recorded: dayStart.map { ($0.day, $0.equityUsd) })
        let weekOpen = opening(Self.week(now), of: Self.week, recorded: weekStart.map { ($0.week, $0.equityUsd) })
        let positions = account.positions.map { p in
            OpenPosition(symbol: p.symbol, tier: p.tier, side: p.side,
                         sizePct: current > 0 ? p.quantity * (all[p.symbol] ?? p.entryPrice) / current * 100 : 0,
                         openedAt: p.entryTime)
        }
        var state = PortfolioState(equityUsd: current, peakEquityUsd: max(peakEquity ?? start, start, current),
                                   dayStartEquityUsd: dayOpen, weekStartEquityUsd: weekOpen, openPositions: positions,
                                   recentTrades: trades.filter { $0.time > now - Self.tradeWindow && $0.time <= now },
                                   consecutiveLosses: account.lossStreak, lastLossTime: account.lossStreakLastExit)
        state.lossTimes = lossExits(after: now - Self.tradeWindow, through: now)
        return state
    }
}

/// What the cycle records about the portfolio, typed: the journal encodes it for the store and applies it to the
/// portfolio in one step, so the in-memory state never differs from what the store holds.
package enum PortfolioEvent: Sendable, Equatable {
    case fill(PaperFill)
    case funding(FundingPayment)
    case protection(ProtectionUpdate)
    case equity(EquityPoint, time: Int64)
    case order(OrderIntent, time: Int64)

    package var kind: EventKind {
        switch self {
        case .fill: .paperFill
        case .funding: .paperFunding
        case .protection: .protectionUpdate
        case .equity: .equity
        case .order: .orderResult
        }
    }

    package var symbol: String? {
        switch self {
        case .fill(let f): f.symbol
        case .funding(let f): f.symbol
        case .protection(let u): u.symbol
        case .equity: nil
        case .order(let o, _): o.symbol
        }
    }

    package func payload() throws -> Data {
        let e = JSONCoding.encoder()
        switch self {
        case .fill(let f): return try e.encode(f)
        case .funding(let f): return try e.encode(f)
        case .protection(let u): return try e.encode(u)
        case .equity(let p, _): return try e.encode(p)
        case .order(let o, _): return try e.encode(o)
        }
    }
}

/// Everything a `Portfolio` holds, as of a seq: what `PortfolioSnapshots` saves so that a process start replays
/// only the events after it. Restoring it and applying the later events gives exactly the full replay.
package struct PortfolioSnapshot: Codable, Sendable, Equatable {
    /// Bumped whenever the portfolio's fields or their meaning change: a snapshot of another version is ignored.
    package static let currentVersion = 2  // 2: positions keep their own leverage; loss times saved, trade history bounded

    package struct TimedEquity: Codable, Sendable, Equatable {
        package var time: Int64
        package var equityUsd: Double
    }

    package struct EntryIntent: Codable, Sendable, Equatable {
        package var tier: Tier?
        package var stopLossPct: Double?
    }

    package var version: Int
    /// The last event seq the state reflects.
    package var seq: Int64
    /// The seqs quarantined when it was taken (a later quarantine of an earlier event makes it stale).
    package var quarantined: [Int64]
    package var mode: Mode
    package var startingEquity: Double?
    package var account: PaperAccount
    package var marks: [String: Double]
    package var trades: [TradeRecord]
    package var lossExitTimes: [Int64]
    package var peakEquity: Double?
    package var lastPoint: TimedEquity?
    package var dayStart: TimedEquity?
    package var weekStart: TimedEquity?
    package var venue: LiveEquity?
    package var entryIntents: [String: EntryIntent]
    package var countedEntries: [String]
    package var countedRungs: [String]
    package var unmanaged: [String]
}

extension Portfolio {
    /// The portfolio's state as of `seq`.
    package func snapshot(seq: Int64, quarantined: Set<Int64>) -> PortfolioSnapshot {
        PortfolioSnapshot(
            version: PortfolioSnapshot.currentVersion, seq: seq, quarantined: quarantined.sorted(), mode: mode,
            startingEquity: startingEquity, account: account, marks: marks, trades: trades, lossExitTimes: lossExitTimes,
            peakEquity: peakEquity,
            lastPoint: lastPoint.map { .init(time: $0.time, equityUsd: $0.equityUsd) },
            dayStart: dayStart.map { .init(time: $0.day, equityUsd: $0.equityUsd) },
            weekStart: weekStart.map { .init(time: $0.week, equityUsd: $0.equityUsd) }, venue: venue,
            entryIntents: entryIntents.mapValues { .init(tier: $0.tier, stopLossPct: $0.stopLossPct) },
            countedEntries: countedEntries.sorted(), countedRungs: countedRungs.sorted(), unmanaged: unmanaged.sorted())
    }

    /// The portfolio a snapshot describes.
    package init(restoring s: PortfolioSnapshot) {
        self.init(mode: s.mode, startingEquity: s.startingEquity)
        account = s.account
        marks = s.marks
        trades = s.trades
        lossExitTimes = s.lossExitTimes
        peakEquity = s.peakEquity
        lastPoint = s.lastPoint.map { ($0.time, $0.equityUsd) }
        dayStart = s.dayStart.map { ($0.time, $0.equityUsd) }
        weekStart = s.weekStart.map { ($0.time, $0.equityUsd) }
        venue = s.venue
        entryIntents = s.entryIntents.mapValues { ($0.tier, $0.stopLossPct) }
        countedEntries = Set(s.countedEntries)
        countedRungs = Set(s.countedRungs)
        unmanaged = Set(s.unmanaged)
    }
}
