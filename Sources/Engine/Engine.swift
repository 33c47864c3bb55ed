import Config
import Execution
import Foundation
import Ledger
import Model
import Risk

/// How a mode keeps its positions. The cycle is the same in every mode; only this differs:
/// - DRY_RUN holds nothing;
/// - PAPER (and every backtest) fills on the tape and manages exits on the cycle's bars;
/// - LIVE reconciles with the venue before deciding, and keeps the same exits as reduce-only orders on it.
package protocol PositionDesk: Sendable {
    /// Before the cycle decides: LIVE reconciliation (the venue is the truth for sizes and balances). Returns why new
    /// entries must stop (manual review), or nil. Events it records directly in the store are picked up by the
    /// journal's catch-up.
    func synchronize(cycleId: String, time: Int64) async throws -> String?
    /// After execution: exits on the cycle's market (stops, ladder, trailing, time stop, funding).
    func manageExits(snapshot: MarketSnapshot, journal: inout CycleJournal) async throws -> [PaperFill]
    /// A kill-switch trip with `flatten_on_kill`: cancel our working orders and close every position reduce-only.
    func flatten(snapshot: MarketSnapshot, journal: inout CycleJournal, reason: String) async throws -> [PaperFill]
}

/// DRY_RUN: nothing is ever held.
package struct NoPositions: PositionDesk {
    package func synchronize(cycleId: String, time: Int64) async throws -> String? { nil }
    package func manageExits(snapshot: MarketSnapshot, journal: inout CycleJournal) async throws -> [PaperFill] { [] }
    package func flatten(snapshot: MarketSnapshot, journal: inout CycleJournal, reason: String) async throws -> [PaperFill] { [] }

    package init() {
    }
}

/// PAPER and backtests: exits are simulated fills on the cycle's bars, recorded as portfolio events.
package struct PaperPositions: PositionDesk {
    package var exits: ExitsConfig
    package var costs: PaperConfig
    package var atrPeriod: Int
    /// The book's margin rule, which prices liquidations (nil: a book without margin, nothing is liquidated).
    package var liquidation: PaperMarginRule?

    package func synchronize(cycleId: String, time: Int64) async throws -> String? { nil }

    package func manageExits(snapshot: MarketSnapshot, journal: inout CycleJournal) async throws -> [PaperFill] {
        let events = PaperDesk.manage(journal.portfolio, snapshot: snapshot, now: journal.time, plan: exits, settings: costs,
                                      atrPeriod: atrPeriod, liquidation: liquidation)
        try journal.record(events)
        return events.compactMap { if case .fill(let f) = $0 { f } else { nil } }
    }

    package func flatten(snapshot: MarketSnapshot, journal: inout CycleJournal, reason: String) async throws -> [PaperFill] {
        let events = PaperDesk.flatten(journal.portfolio, snapshot: snapshot, settings: costs, time: journal.time, reason: reason)
        try journal.record(events)
        return events.compactMap { if case .fill(let f) = $0 { f } else { nil } }
    }

    package init(exits: ExitsConfig, costs: PaperConfig, atrPeriod: Int, liquidation: PaperMarginRule? = nil) {
        self.exits = exits
        self.costs = costs
        self.atrPeriod = atrPeriod
        self.liquidation = liquidation
    }
}

/// The kill switch as the cycle sees it: the data dir's file in PAPER and LIVE, a flag in a backtest.
package protocol KillSwitchControl: Sendable {
    func status() -> KillSwitch.Status
    func turnOn(reason: String, at time: Int64) throws
    func turnOff() throws
}

extension KillSwitch: KillSwitchControl {}

/// A backtest's kill switch: a drawdown trip turns it on for the rest of the run, as the file would.
package final class SimulatedKillSwitch: KillSwitchControl, @unchecked Sendable {
    private let lock = NSLock()
    private var reason: String?

    package init() {}

    package func status() -> KillSwitch.Status {
        lock.withLock { KillSwitch.Status(isOn: reason != nil, reason: reason.map { "kill switch is on: \($0)" }) }
    }

    package func turnOn(reason: String, at time: Int64) throws {
        lock.withLock { self.reason = "\(reason) (since \(UTC.iso8601(time)))" }
    }

    package func turnOff() throws {
        lock.withLock { reason = nil }
    }
}

/// A cycle's writes to its store, and the portfolio they move. Portfolio events are applied as they are recorded,
/// so the in-memory state never differs from the store; events that others appended meanwhile (LIVE's order
/// sender, another command) are read back in seq order before anything new is applied.
package struct CycleJournal {
    package let store: any EventStore
    package let cycleId: String
    package let time: Int64
    package var portfolio: Portfolio
    /// The last seq reflected in `portfolio`.
    package var seq: Int64

    /// Records a non-portfolio event; its payload is built only when the store keeps the kind.
    package mutating func record<T: Encodable>(_ type: EventType<T>, symbol: String? = nil, _ value: @autoclosure () -> T) throws {
        guard store.keeps(type.kind) else { return }
        try append([NewEvent.json(cycleId, type, time, symbol: symbol, value())])
    }

    /// Records several events of one kind in one write.
    package mutating func record<T: Encodable>(_ type: EventType<T>, each values: [T], symbol: (T) -> String?) throws {
        guard store.keeps(type.kind), !values.isEmpty else { return }
        try append(values.map { try NewEvent.json(cycleId, type, time, symbol: symbol($0), $0) })
    }

    /// Records portfolio events and applies them.
    package mutating func record(_ events: [PortfolioEvent]) throws {
        let kept = try events.filter { store.keeps($0.kind) }.map {
            NewEvent(cycleId: cycleId, kind: $0.kind, time: time, symbol: $0.symbol, payload: try $0.payload())
        }
        if !kept.isEmpty { try append(kept) }
        for e in events { portfolio.apply(e) }
    }

    /// Applies what others appended since `seq`.
    package mutating func catchUp() throws {
        seq = try portfolio.catchUp(store: store, after: seq)
    }

    private mutating func append(_ events: [NewEvent]) throws {
        let seqs = try store.append(events)
        if let first = seqs.first, first > seq + 1 {
            // Someone else wrote between our last event and these: apply theirs first, in order.
            let before = seq
            try store.forEach(afterSeq: before, kinds: Portfolio.eventKinds) { e in
                if e.seq < first { try portfolio.apply(e) }
            }
        }
        if let last = seqs.last { seq = last }
    }

    package init(store: any EventStore, cycleId: String, time: Int64, portfolio: Portfolio, seq: Int64) {
        self.store = store
        self.cycleId = cycleId
        self.time = time
        self.portfolio = portfolio
        self.seq = seq
    }
}

/// The portfolio a runner carries from cycle to cycle, with the last seq it reflects. Rebuilt from the store the
/// first time; after that each cycle only reads what others appended.
package final class PortfolioKeeper: @unchecked Sendable {
    private let lock = NSLock()
    private var held: (Portfolio, Int64)?

    package init() {}

    package func take(store: any EventStore, mode: Mode, startingEquity: Double?, history: TradeHistory) throws -> (Portfolio, Int64) {
        if let held = lock.withLock({ held }) { return held }
        return try Portfolio.rebuild(store: store, mode: mode, startingEquity: startingEquity, history: history)
    }

    package func put(_ portfolio: Portfolio, seq: Int64) {
        lock.withLock { held = (portfolio, seq) }
    }

    package var current: Portfolio? { lock.withLock { held?.0 } }

    /// The seq of the ledger's portfolio snapshot, once looked up or saved.
    private var snapshotSeq: Int64?

    /// Saves the held portfolio as the ledger's snapshot when ``PortfolioSnapshots/interval`` events passed since
    /// the last one (nothing for a memory store or a read-only ledger). Returns whether it saved.
    @discardableResult
    package func snapshotIfDue(store: any EventStore) throws -> Bool {
        guard let ledger = store as? Ledger, !ledger.isReadOnly, let (portfolio, seq) = lock.withLock({ held }) else { return false }
        let last = try lock.withLock { snapshotSeq } ?? ledger.snapshot(named: PortfolioSnapshots.name(portfolio.mode))?.seq ?? 0
        lock.withLock { snapshotSeq = last }
        guard seq - last >= PortfolioSnapshots.interval || (last == 0 && seq > 0) else { return false }
        try PortfolioSnapshots.save(portfolio, seq: seq, ledger: ledger)
        lock.withLock { snapshotSeq = seq }
        return true
    }
}
