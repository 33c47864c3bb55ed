import Config
import Foundation
import Ledger
import Model

/// Portfolio state is never stored: it is the `Portfolio` projection of the store's events. This is the
/// one-shot form for commands that read a ledger without running a cycle.
///
/// In DRY_RUN there are no fills, so equity stays at the starting equity and no position opens, but the
/// orders DRY_RUN would have placed count as trades for the frequency checks. Only orders of the same mode
/// count: a DRY_RUN history never limits PAPER or LIVE.
public enum StateProjection {
    public static let tradeWindow = Portfolio.tradeWindow

    package static func rebuild(ledger: any EventStore, mode: Mode, now: Int64, startingEquity: Double) throws -> PortfolioState {
        let (portfolio, _) = try Portfolio.rebuild(store: ledger, mode: mode, startingEquity: mode == .live ? nil : startingEquity,
                                                   history: .any)
        return portfolio.state(now: now, marks: [:])
    }
}

/// The portfolio's snapshots in the ledger (`Ledger.snapshot(named:)`): one per mode, taken by the cycle runner
/// every ``interval`` events, so that a process start replays only the events after the last one instead of the
/// ledger from seq 0. A snapshot is a cache, never the truth: one that does not decode, fails its checksum, is of
/// another format version, mode or starting equity, ends beyond the ledger, or predates a quarantine of an event
/// it covers, is ignored and the ledger is replayed in full.
package enum PortfolioSnapshots {
    /// Events between two snapshots: a start replays at most this many (plus one cycle), whatever the ledger's size.
    package static let interval: Int64 = 256

    package static func name(_ mode: Mode) -> String { "portfolio.\(mode.rawValue)" }

    /// Why a stored snapshot was not used (nil: none stored).
    package enum Rejection: Error, Equatable, Sendable {
        /// `shorterHistory`: it kept fewer closed trades than the reader needs.
        case checksum, undecodable, version(Int), otherBook, beyondLedger, quarantinedSince, shorterHistory
    }

    /// The portfolio of the latest valid snapshot and its seq, or why there is none.
    package static func load(ledger: Ledger, mode: Mode, startingEquity: Double?,
                             history: TradeHistory = .any) throws -> Result<(Portfolio, Int64), Rejection>? {
        guard let stored = try ledger.snapshot(named: name(mode)) else { return nil }
        guard stored.isIntact else { return .failure(.checksum) }
        guard let s = try? JSONCoding.decoder().decode(PortfolioSnapshot.self, from: stored.body) else { return .failure(.undecodable) }
        guard s.version == PortfolioSnapshot.currentVersion else { return .failure(.version(s.version)) }
        guard s.mode == mode, s.startingEquity == startingEquity, s.seq == stored.seq else { return .failure(.otherBook) }
        guard s.seq <= (try ledger.lastSeq()) else { return .failure(.beyondLedger) }
        guard try ledger.quarantinedSeqs().filter({ $0 <= s.seq }).sorted() == s.quarantined.filter({ $0 <= s.seq }) else {
            return .failure(.quarantinedSince)
        }
        var portfolio = Portfolio(restoring: s)
        switch history {
        case .any: break
        case .all:
            guard s.account.tradeHistoryLimit == nil else { return .failure(.shorterHistory) }
        case .latest(let n):
            if let kept = s.account.tradeHistoryLimit, kept < n { return .failure(.shorterHistory) }
            portfolio.account.tradeHistoryLimit = n
            portfolio.account.keepLatestTrades(n)
        }
        return .success((portfolio, s.seq))
    }

    /// Saves `portfolio` as of `seq` (which must be the last seq it reflects).
    package static func save(_ portfolio: Portfolio, seq: Int64, ledger: Ledger) throws {
        let snapshot = portfolio.snapshot(seq: seq, quarantined: try ledger.quarantinedSeqs())
        try ledger.save(StoredSnapshot(name: name(portfolio.mode), seq: seq, body: try JSONCoding.encoder().encode(snapshot)))
    }
}

extension Portfolio {
    /// The portfolio from the store: from the ledger's valid snapshot and the events after it, else (a memory
    /// store, no snapshot, or one not to be trusted) by replaying every event. Returns the last seq it reflects.
    package static func rebuild(store: any EventStore, mode: Mode, startingEquity: Double?,
                                history: TradeHistory = .any) throws -> (Portfolio, Int64) {
        if let ledger = store as? Ledger, case .success(var (portfolio, seq))? = try PortfolioSnapshots.load(
            ledger: ledger, mode: mode, startingEquity: startingEquity, history: history) {
            seq = try portfolio.catchUp(store: store, after: seq)
            return (portfolio, seq)
        }
        return try replay(store: store, mode: mode, startingEquity: startingEquity, history: history)
    }

    /// Every portfolio event of the store from seq 0: the definition a snapshot plus its tail must equal.
    package static func replay(store: any EventStore, mode: Mode, startingEquity: Double?,
                               history: TradeHistory = .all) throws -> (Portfolio, Int64) {
        var p = Portfolio(mode: mode, startingEquity: startingEquity, history: history)
        let seq = try p.catchUp(store: store, after: 0)
        return (p, seq)
    }
}

/// How many closed trades a rebuilt portfolio keeps. Positions, cash, equity marks, the loss streak and the loss
/// times never depend on it; only the list of closed trades does.
package enum TradeHistory: Sendable, Equatable {
    /// Every closed trade: a backtest's report, `agent trades`.
    case all
    /// The latest `n`: a running book keeps what its rules read, so that its memory and its snapshots stay flat
    /// however long the ledger grows.
    case latest(Int)
    /// Whatever the saved snapshot kept (all, on a full replay): readers of positions, cash and equity.
    case any

    /// The account's limit for a fresh book.
    package var limit: Int? {
        if case .latest(let n) = self { return max(n, 1) }
        return nil
    }

    /// A running book's history under `signals`: the Kelly cap's lookback, the most closed trades any rule reads
    /// (the others read the last trade, the loss streak and the loss times, which are kept apart).
    package static func running(_ signals: SignalsConfig) -> TradeHistory {
        .latest(max(signals.strategy.sizing.kellyLookbackTrades, 1))
    }
}
