// The ledger side of `agent serve`: the JSON API and the data behind the pages, read from a read-only
// ledger with the same decoders as `agent audit` and `agent show`.

import Config
import Engine
import Execution
import Foundation
import Ledger
import Model
import Review
import Risk
import Serve

/// `/api/status`: what an operator looks at first.
struct OperatorStatus: Codable, Sendable, Equatable {
    struct KillSwitchState: Codable, Sendable, Equatable {
        var on: Bool
        @Nullable var reason: String?
    }

    struct LastCycle: Codable, Sendable, Equatable {
        var cycleId: String
        var timestamp: String
        var status: CycleStatus
        /// The no-trade reason, the error, or why it halted.
        @Nullable var reason: String?
    }

    struct AISpend: Codable, Sendable, Equatable {
        /// Cost of the cycles recorded since 00:00 UTC.
        var todayUsd: Double
        var callsToday: Int
        @Nullable var maxCostPerDayUsd: Double?
        @Nullable var maxCostPerCycleUsd: Double?
        @Nullable var maxCallsPerHour: Int?
        /// The budget left after the last cycle (null when every tier is offline).
        @Nullable var remaining: BudgetStatus?
    }

    @Nullable var mode: Mode?
    @Nullable var exchange: Exchange?
    var killSwitch: KillSwitchState
    /// The kill switch is on, or the last cycle halted.
    var halted: Bool
    /// The circuit breakers that tripped in the last cycle.
    var circuitBreakers: [BreakerTrip]
    @Nullable var lastCycle: LastCycle?
    @Nullable var portfolio: CycleSummary.PortfolioSummary?
    var aiSpend: AISpend
    var lastSeq: Int64
}

/// `/api/positions` rows: the open positions (PAPER book, or the LIVE book in LIVE) with their protective levels.
struct PositionView: Codable, Sendable, Equatable {
    var symbol: String
    var side: Side
    var quantity: Double
    var entryPrice: Double
    var entryTime: String
    @Nullable var markPrice: Double?
    var stopPrice: Double
    /// The take-profit rungs not yet taken (signals.yaml `exits.ladder`).
    var takeProfitPrices: [Double]
    @Nullable var unrealizedPnlUsd: Double?
}

/// `/api/trades` rows: fills, newest first.
struct TradeView: Codable, Sendable, Equatable {
    var seq: Int64
    var cycleId: String
    var time: String
    var symbol: String
    var side: String
    var quantity: Double
    var price: Double
    /// `entry`, `stop_loss`, `take_profit_1`, ... (PAPER), or the LIVE order's purpose.
    var reason: String
    @Nullable var feeUsd: Double?
    var mode: Mode
}

struct EquityView: Codable, Sendable, Equatable {
    var time: String
    var unixTime: Int64
    var equityUsd: Double
    @Nullable var cashUsd: Double?
    var openPositions: Int
}

struct CyclePage: Codable, Sendable, Equatable {
    var cycles: [CycleSummary]
    /// Pass as `before` for the next (older) page; null at the end.
    @Nullable var nextBefore: Int64?
}

/// Reads everything the dashboard shows. One instance per server; every call is a fresh ledger read.
struct DashboardData: Sendable {
    let ledger: Ledger
    let dataDir: String
    let config: LoadedConfig?
    /// The equity curve and the AI spend per day, folded as events are appended (see ``DashboardFolds``).
    let folds = DashboardFolds()

    func latestSummary() throws -> (LedgerEvent, CycleSummary)? {
        for event in try ledger.events(kinds: [.cycleFinished], beforeSeq: nil, limit: 5) {
            if let summary = try? event.value(.cycleFinished) { return (event, summary) }
        }
        return nil
    }

    func status() throws -> OperatorStatus {
        let kill = KillSwitch(dataDir: dataDir).status()
        let latest = try latestSummary()
        var breakers: [BreakerTrip] = []
        var reason = latest?.1.noTradeReason ?? latest?.1.error
        if let (event, _) = latest {
            for e in try ledger.events(cycleId: event.cycleId) {
                if e.kind == .circuitBreaker, let trip = try? e.value(.circuitBreaker) { breakers.append(trip) }
                if e.kind == .halted, reason == nil { reason = (try? e.value(.halted))?.reason }
            }
        }
        let day = UTC.now() - UTC.now().mod(86_400)
        let (todayUsd, callsToday) = try folds.spend(ledger, since: day)
        let budget = config?.policy.aiBudget
        let last = latest.map { event, s in
            OperatorStatus.LastCycle(cycleId: event.cycleId, timestamp: s.timestamp, status: s.status, reason: reason)
        }
        return OperatorStatus(
            mode: latest?.1.mode ?? config?.app.mode, exchange: latest?.1.exchange ?? config?.app.exchange,
            killSwitch: .init(on: kill.isOn, reason: kill.reason), halted: kill.isOn || latest?.1.status == .halted,
            circuitBreakers: breakers, lastCycle: last, portfolio: latest?.1.portfolio,
            aiSpend: .init(todayUsd: Format.round(todayUsd, 6), callsToday: callsToday, maxCostPerDayUsd: budget?.maxCostPerDayUsd,
                           maxCostPerCycleUsd: budget?.maxCostPerCycleUsd, maxCallsPerHour: budget?.maxCallsPerHour,
                           remaining: latest?.1.review.remaining),
            lastSeq: try ledger.lastSeq())
    }

    /// Newest first; `status` filters, `before` is the `next_before` of the previous page.
    func cycles(status: CycleStatus?, limit: Int, before: Int64?) throws -> CyclePage {
        var out: [CycleSummary] = []
        var cursor = before
        while out.count < limit {
            let page = try ledger.events(kinds: [.cycleFinished], beforeSeq: cursor, limit: max(limit * 2, 50))
            if page.isEmpty { break }
            for event in page {
                cursor = event.seq
                guard let s = try? event.value(.cycleFinished), status == nil || s.status == status else { continue }
                out.append(s)
                if out.count == limit { break }
            }
        }
        let more = try cursor.map { try !ledger.events(kinds: [.cycleFinished], beforeSeq: $0, limit: 1).isEmpty } ?? false
        return CyclePage(cycles: out, nextBefore: more ? cursor : nil)
    }

    /// A full cycle id, a unique prefix, or `last`.
    func resolveCycle(_ id: String) throws -> String? {
        if id == "last" { return try latestSummary()?.0.cycleId }
        let matches = try ledger.cycleIds(matching: id, limit: 2)
        if matches.contains(id) { return id }
        return matches.count == 1 ? matches[0] : nil
    }

    /// The open positions of the mode the ledger was last run in, from the one portfolio every mode rebuilds
    /// (PAPER fills, or the LIVE book reconciliation keeps), with the stop and the exit ladder's untaken rungs.
    func positions() throws -> [PositionView] {
        let ladder = config?.signals.exits.ladder ?? ExitsConfig().ladder
        let mode = try latestSummary()?.1.mode ?? config?.app.mode ?? .paper
        let starting = mode == .live ? nil : (config?.app.portfolio.startingEquityUsd ?? 10_000)
        let (book, _) = try Portfolio.rebuild(store: ledger, mode: mode, startingEquity: starting, history: .any)
        return book.account.positions.map { p in
            let direction = p.side == .buy ? 1.0 : -1.0
            let targets = ladder.dropFirst(p.rungsTaken).map { p.entryPrice + direction * $0.r * p.initialRisk }
            let mark = book.marks[p.symbol]
            return PositionView(symbol: p.symbol, side: p.side, quantity: p.quantity, entryPrice: p.entryPrice,
                                entryTime: UTC.iso8601(p.entryTime), markPrice: mark, stopPrice: p.stopPrice,
                                takeProfitPrices: targets.map { Format.round($0, 8) },
                                unrealizedPnlUsd: mark.map { Format.round(direction * ($0 - p.entryPrice) * p.quantity, 4) })
        }
    }

    func trades(limit: Int) throws -> [TradeView] {
        try ledger.events(kinds: [.paperFill, .liveFill], beforeSeq: nil, limit: limit).compactMap { e in
            if e.kind == .paperFill, let f = try? e.value(.paperFill) {
                return TradeView(seq: e.seq, cycleId: e.cycleId, time: UTC.iso8601(f.time), symbol: f.symbol, side: f.side.rawValue,
                                 quantity: f.quantity, price: f.price, reason: f.reason, feeUsd: f.feeUsd, mode: .paper)
            }
            if let f = try? e.value(.liveFill) {
                return TradeView(seq: e.seq, cycleId: e.cycleId, time: UTC.iso8601(f.time), symbol: f.symbol, side: f.side.rawValue,
                                 quantity: Dec.double(f.quantity), price: Dec.double(f.price), reason: f.purpose.rawValue, feeUsd: nil, mode: .live)
            }
            return nil
        }
    }

    /// PAPER/LIVE equity points; in DRY_RUN (no book) the summaries' portfolio equity. Oldest first.
    func equity(limit: Int = DashboardFolds.kept) throws -> [EquityView] {
        if limit <= DashboardFolds.kept { return try folds.equity(ledger, limit: limit) }
        let points = try ledger.events(kinds: [.equity], beforeSeq: nil, limit: limit).reversed().compactMap { e -> EquityView? in
            guard let p = try? e.value(.equity) else { return nil }
            return EquityView(time: UTC.iso8601(e.time), unixTime: e.time, equityUsd: p.equityUsd, cashUsd: p.cashUsd,
                              openPositions: p.openPositions)
        }
        if !points.isEmpty { return Array(points) }
        return try ledger.events(kinds: [.cycleFinished], beforeSeq: nil, limit: limit).reversed().compactMap { e in
            guard let s = try? e.value(.cycleFinished) else { return nil }
            return EquityView(time: s.timestamp, unixTime: e.time, equityUsd: s.portfolio.equityUsd, cashUsd: s.portfolio.cashUsd,
                              openPositions: s.portfolio.openPositions)
        }
    }

    /// `24h`, `7d`, an ISO 8601 time, or nil for the whole ledger.
    static func cutoff(_ since: String?) -> Int64?? {
        guard let since, !since.isEmpty else { return .some(nil) }
        if let span = UTC.duration(since) { return .some(UTC.now() - span) }
        if let t = UTC.parse(since) { return .some(t) }
        return .none
    }

    func audit(since: Int64?) throws -> AuditReport { try Auditor.report(ledger: ledger, since: since, check: nil) }

    /// Violated policy checks per hour bucket (by recording time), for the audit chart.
    func violationsOverTime(since: Int64?, buckets: Int = 48) throws -> [(time: Int64, count: Int)] {
        var counts: [Int64: Int] = [:]
        let start = since ?? 0
        try ledger.forEach(kinds: [.policyEvaluation]) { e in
            guard e.recordedAt >= Double(start), let d = try? e.value(.policyEvaluation), !d.violatedChecks.isEmpty else { return }
            counts[e.time - e.time.mod(3_600), default: 0] += d.violatedChecks.count
        }
        var series = counts.sorted { $0.key < $1.key }.suffix(buckets).map { (time: $0.key, count: $0.value) }
        // A line needs two points: a lone hour is drawn rising from the empty hour before it.
        if series.count == 1, let only = series.first { series.insert((only.time - 3_600, 0), at: 0) }
        return series
    }

    /// Turns the kill switch on (never off) and records who did it: the dashboard's one write.
    func killSwitchOn(reason: String) throws {
        let now = UTC.now()
        let note = reason.isEmpty ? "from the dashboard" : "from the dashboard: \(reason)"
        try KillSwitch(dataDir: dataDir).turnOn(reason: note, at: now)
        let writer = try Ledger(path: ledger.path)
        try writer.append(NewEvent.json("manual-\(UTC.compact(now))", .killSwitch, now, CycleNote(reason: "on (web) \(note)")))
    }
}

/// What the overview reads on every render, folded from the events as they are appended: the equity curve (the
/// last ``kept`` equity marks, or cycle summaries where there are none, as in DRY_RUN) and the AI spend per UTC
/// day. A render then decodes only the events since the last one, instead of the last 2,000 summaries. A
/// quarantine changes what the ledger shows, so a new one starts the fold again.
final class DashboardFolds: @unchecked Sendable {
    static let kept = 2_000
    private let lock = NSLock()
    private var cursor: Int64 = 0
    private var quarantined: Set<Int64> = []
    private var marks: [EquityView] = []
    private var summaries: [EquityView] = []
    private var spendByDay: [Int64: (usd: Double, calls: Int)] = [:]

    /// The last `limit` points, oldest first: equity marks, or cycle summaries when the ledger has no marks.
    func equity(_ ledger: Ledger, limit: Int) throws -> [EquityView] {
        try lock.withLock {
            try catchUp(ledger)
            return Array((marks.isEmpty ? summaries : marks).suffix(max(limit, 0)))
        }
    }

    /// AI cost and calls of the cycles recorded at or after `day` (a UTC day's start).
    func spend(_ ledger: Ledger, since day: Int64) throws -> (usd: Double, calls: Int) {
        try lock.withLock {
            try catchUp(ledger)
            return spendByDay.filter { $0.key >= day }.values.reduce((0.0, 0)) { ($0.0 + $1.usd, $0.1 + $1.calls) }
        }
    }

    private func catchUp(_ ledger: Ledger) throws {
        let now = try ledger.quarantinedSeqs()
        if now != quarantined {
            quarantined = now
            cursor = 0
            marks = []
            summaries = []
            spendByDay = [:]
        }
        let end = try ledger.lastSeq()
        guard end > cursor else { return }
        try ledger.forEach(afterSeq: cursor, kinds: [.equity, .cycleFinished]) { e in
            cursor = max(cursor, e.seq)
            if e.kind == .equity, let p = try? e.value(.equity) {
                Self.append(EquityView(time: UTC.iso8601(e.time), unixTime: e.time, equityUsd: p.equityUsd, cashUsd: p.cashUsd,
                                       openPositions: p.openPositions), to: &marks)
            } else if e.kind == .cycleFinished, let s = try? e.value(.cycleFinished) {
                Self.append(EquityView(time: s.timestamp, unixTime: e.time, equityUsd: s.portfolio.equityUsd,
                                       cashUsd: s.portfolio.cashUsd, openPositions: s.portfolio.openPositions), to: &summaries)
                let day = e.time - e.time.mod(86_400)
                let before = spendByDay[day] ?? (0, 0)
                spendByDay[day] = (before.usd + s.review.costUsd, before.calls + s.review.calls)
            }
        }
        cursor = max(cursor, end)
    }

    private static func append(_ point: EquityView, to points: inout [EquityView]) {
        points.append(point)
        if points.count > kept + kept / 4 { points.removeFirst(points.count - kept) }
    }
}
