@testable import Agent
@testable import Engine
import Execution
import Foundation
import Ledger
import Model
import TestSupport
import Testing

/// A process start rebuilds the portfolio from the ledger's snapshot and the events after it, never from seq 0;
/// that is always exactly what a full replay gives, and a snapshot that cannot be trusted is ignored.
@Suite struct PortfolioSnapshotTests {
    /// The closed trades a running book keeps under the test config (what the cycle runner asks for).
    static func running() throws -> TradeHistory { .running(try Fixtures.defaults([]).signals) }

    static func replayed(_ ledger: Ledger, _ mode: Mode = .paper) throws -> PortfolioSnapshot {
        let (p, seq) = try Portfolio.replay(store: ledger, mode: mode, startingEquity: 10_000, history: try running())
        return p.snapshot(seq: seq, quarantined: try ledger.quarantinedSeqs())
    }

    static func rebuilt(_ ledger: Ledger, _ mode: Mode = .paper) throws -> PortfolioSnapshot {
        let (p, seq) = try Portfolio.rebuild(store: ledger, mode: mode, startingEquity: 10_000, history: try running())
        return p.snapshot(seq: seq, quarantined: try ledger.quarantinedSeqs())
    }

    static func fill(_ id: String, _ side: Side, _ price: Double, _ time: Int64, _ reason: String,
                     symbol: String = "BTC-USD") -> PortfolioEvent {
        .fill(PaperFill(clientOrderId: id, symbol: symbol, tier: .core, side: side, quantity: 0.01, price: price, feeUsd: 0.1,
                        liquidity: "taker", time: time, reason: reason, stopLossPct: reason == "entry" ? 5 : nil))
    }

    /// `count` round trips an hour apart; `lost(k)` says whether the k-th loses.
    static func roundTrips(_ p: inout Portfolio, _ count: Int, from t: Int64, lost: (Int) -> Bool) {
        for k in 0..<count {
            let at = t + Int64(k) * 7_200
            p.apply(fill("e\(k)", .buy, 90_000, at, "entry"))
            p.apply(fill("x\(k)", .sell, lost(k) ? 89_000 : 91_000, at + 3_600, lost(k) ? "stop_loss" : "take_profit"))
        }
    }

    /// What the breakers read (loss streak, losses in the window) is the same after a restore: the loss times
    /// are saved with the snapshot.
    @Test func aRestoredPortfolioGivesTheBreakersTheSameState() {
        var p = Portfolio(mode: .paper, startingEquity: 10_000)
        let t: Int64 = 1_795_212_000
        Self.roundTrips(&p, 3, from: t) { _ in true }
        let now = t + 8 * 3_600
        let restored = Portfolio(restoring: p.snapshot(seq: 6, quarantined: []))
        #expect(p.state(now: now, marks: [:]).lossTimes.count == 3)
        #expect(restored.state(now: now, marks: [:]) == p.state(now: now, marks: [:]))
    }

    /// A running book keeps only the latest closed trades its rules read, and decides exactly as a book that keeps
    /// them all (a backtest's): the loss streak, the last loss, the losses in the window and the Kelly returns agree,
    /// even for a losing streak longer than the trades kept.
    @Test func aRunningBookKeepsTheTradesItsRulesReadAndDecidesAsAFullOne() {
        var kept = Portfolio(mode: .paper, startingEquity: 10_000, history: .latest(5))
        var all = Portfolio(mode: .paper, startingEquity: 10_000)
        let t: Int64 = 1_795_212_000
        // 30 trades: wins and losses mixed, then a losing streak of 9 (longer than the 5 kept).
        let lost: (Int) -> Bool = { k in k >= 21 || k % 3 == 0 }
        Self.roundTrips(&kept, 30, from: t, lost: lost)
        Self.roundTrips(&all, 30, from: t, lost: lost)
        #expect(kept.account.closedTrades.count == 5)
        #expect(kept.account.tradeLegs.count == 5)
        #expect(kept.account.closedTradeTotal == 30)
        #expect(all.account.closedTrades.count == 30)
        for hours in [0, 5, 24, 24 * 8] {
            let now = t + 30 * 7_200 + Int64(hours) * 3_600
            let a = kept.state(now: now, marks: [:]), b = all.state(now: now, marks: [:])
            #expect(a == b, "at +\(hours) h")
            #expect(a.consecutiveLosses == 9)
            #expect(kept.accountFacts(a, returnsOf: 5) == all.accountFacts(b, returnsOf: 5))
        }
        #expect(kept.account.equity(marks: [:]) == all.account.equity(marks: [:]))
    }

    /// The snapshot of a running book stops growing with its history: 300 closed trades save no more than 30 do.
    @Test func aRunningBooksSnapshotStaysFlatInHistory() throws {
        func body(after trades: Int) throws -> Int {
            var p = Portfolio(mode: .paper, startingEquity: 10_000, history: .latest(10))
            Self.roundTrips(&p, trades, from: 1_795_212_000) { $0 % 4 == 0 }
            return try JSONCoding.encoder().encode(p.snapshot(seq: 1, quarantined: [])).count
        }
        let small = try body(after: 30), large = try body(after: 300)
        #expect(Double(large) <= Double(small) * 1.05, "30 trades: \(small) bytes, 300 trades: \(large) bytes")
    }

    /// A snapshot that kept fewer trades than a reader needs is not used for it: `agent trades` (every trade)
    /// replays the ledger in full, and a book that reads more than was kept does too.
    @Test func aSnapshotWithAShorterHistoryIsNotUsedForALongerOne() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, mode: .paper)
        for t in PaperCycleTests.times.prefix(8) { _ = await runner.run(at: t) }
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let kept = try #require(try Self.running().limit)
        if case .failure(let why)? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000, history: .all) {
            #expect(why == .shorterHistory)
        } else {
            Issue.record("a running book's snapshot must not stand for the whole history")
        }
        if case .failure(let why)? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000,
                                                                 history: .latest(kept + 1)) {
            #expect(why == .shorterHistory)
        } else {
            Issue.record("a snapshot that kept \(kept) trades cannot serve a reader of \(kept + 1)")
        }
        guard case .success((let shorter, _))? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000,
                                                                             history: .latest(1)) else {
            Issue.record("a snapshot serves a reader of fewer trades"); return
        }
        #expect(shorter.account.tradeHistoryLimit == 1)
        let (full, _) = try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: 10_000, history: .all)
        #expect(full.account.tradeHistoryLimit == nil)
        #expect(full.account.closedTrades.count == full.account.closedTradeTotal)
    }

    /// PAPER through the real cycle with snapshots taken as it goes; the process is killed in the middle of a
    /// cycle after a snapshot (a fill and a mark recorded, no summary), and a new process carries on from it.
    @Test func snapshotPlusTailIsTheFullReplayAcrossAKill() async throws {
        let data = Fixtures.tempDir()
        let path = data + "/agent.sqlite"
        let first = try makeRunner(dataDir: data, mode: .paper)
        for t in PaperCycleTests.times.prefix(12) { _ = await first.run(at: t) }
        let ledger = try Ledger(path: path)
        let saved = try #require(try ledger.snapshot(named: PortfolioSnapshots.name(.paper)))
        #expect(saved.seq > 0)
        let held = try #require(first.portfolio)
        #expect(try Self.rebuilt(ledger) == Self.replayed(ledger))
        #expect(try Self.replayed(ledger) == held.snapshot(seq: try ledger.lastSeq(), quarantined: []))

        // The kill: a cycle that started, filled an entry and marked the book, then died (no new snapshot).
        let t = PaperCycleTests.times[12]
        let fill = PaperFill(clientOrderId: "ag-killed-1", symbol: "BTC-USD", tier: .core, side: .buy, quantity: 0.01, price: 60_000,
                             feeUsd: 0.36, liquidity: "taker", time: t, reason: "entry", stopLossPct: 5)
        try ledger.append([
            NewEvent(cycleId: "c-killed", kind: .paperFill, time: t, symbol: "BTC-USD", payload: try PortfolioEvent.fill(fill).payload()),
            NewEvent(cycleId: "c-killed", kind: .equity, time: t, payload: try PortfolioEvent.equity(
                EquityPoint(equityUsd: 9_990, cashUsd: 9_000, openPositions: 1, marks: [SymbolPrice(symbol: "BTC-USD", price: 60_100)], mode: .paper),
                time: t).payload()),
        ])
        #expect(try ledger.snapshot(named: PortfolioSnapshots.name(.paper))?.seq == saved.seq)
        if case .success? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000) {} else {
            Issue.record("the snapshot before the kill should be used")
        }
        #expect(try Self.rebuilt(ledger) == Self.replayed(ledger))

        let second = try makeRunner(dataDir: data, mode: .paper)
        for t in PaperCycleTests.times.dropFirst(13) { _ = await second.run(at: t) }
        let after = try #require(second.portfolio)
        #expect(try Self.replayed(ledger) == after.snapshot(seq: try ledger.lastSeq(), quarantined: []))
        #expect(try Self.rebuilt(ledger) == Self.replayed(ledger))
        // Snapshots follow every `interval` events, so a start never replays more than that (plus a cycle).
        let latest = try #require(try ledger.snapshot(named: PortfolioSnapshots.name(.paper)))
        let last = try ledger.lastSeq()
        #expect(last - latest.seq < PortfolioSnapshots.interval + 200, "last \(last), snapshot \(latest.seq), first \(saved.seq)")
        #expect(latest.seq > saved.seq)
        #expect(!after.account.closedTrades.isEmpty)
        // The snapshot is of its own mode's book: DRY_RUN and LIVE start from a replay of their own.
        let live = try PortfolioSnapshots.load(ledger: ledger, mode: .live, startingEquity: nil)
        #expect(live == nil)
    }

    /// A corrupt, old-format, foreign or stale snapshot is never trusted: the rebuild replays the whole ledger.
    @Test func anUntrustworthySnapshotIsIgnored() async throws {
        let data = Fixtures.tempDir()
        let path = data + "/agent.sqlite"
        let runner = try makeRunner(dataDir: data, mode: .paper)
        for t in PaperCycleTests.times.prefix(8) { _ = await runner.run(at: t) }
        let ledger = try Ledger(path: path)
        let truth = try Self.replayed(ledger)
        let name = PortfolioSnapshots.name(.paper)
        let good = try #require(try ledger.snapshot(named: name))

        func expectIgnored(_ stored: StoredSnapshot, _ why: PortfolioSnapshots.Rejection, line: Int = #line) throws {
            try AuditIndexTests.raw(path, "DELETE FROM snapshots")
            try AuditIndexTests.raw(path, """
                INSERT INTO snapshots (name, seq, body, checksum, saved_at)
                VALUES ('\(name)', \(stored.seq), '\(String(decoding: stored.body, as: UTF8.self).replacingOccurrences(of: "'", with: "''"))', '\(stored.checksum)', 0)
                """)
            let loaded = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000)
            guard case .failure(let rejection)? = loaded else {
                Issue.record("line \(line): a snapshot that should be ignored was used"); return
            }
            #expect(rejection == why, "line \(line)")
            #expect(try Self.rebuilt(ledger) == truth, "line \(line)")
        }
        var snapshot = try JSONCoding.decoder().decode(PortfolioSnapshot.self, from: good.body)
        // A flipped digit: the checksum no longer matches.
        let body = String(decoding: good.body, as: UTF8.self)
        let flipped = body.replacingOccurrences(of: "\"cash_usd\":", with: "\"cash_usd\":1")
        #expect(flipped != body)
        var corrupt = StoredSnapshot(name: name, seq: good.seq, body: Data(flipped.utf8))
        corrupt.checksum = good.checksum
        try expectIgnored(corrupt, .checksum)
        try expectIgnored(StoredSnapshot(name: name, seq: good.seq, body: Data("{\"version\":1}".utf8)), .undecodable)
        snapshot.version = 0
        try expectIgnored(StoredSnapshot(name: name, seq: good.seq, body: try JSONCoding.encoder().encode(snapshot)), .version(0))
        snapshot.version = PortfolioSnapshot.currentVersion
        snapshot.startingEquity = 20_000
        try expectIgnored(StoredSnapshot(name: name, seq: good.seq, body: try JSONCoding.encoder().encode(snapshot)), .otherBook)
        snapshot.startingEquity = 10_000
        snapshot.seq = try ledger.lastSeq() + 10
        try expectIgnored(StoredSnapshot(name: name, seq: snapshot.seq, body: try JSONCoding.encoder().encode(snapshot)), .beyondLedger)
        #expect(throws: LedgerError.self) { try ledger.save(StoredSnapshot(name: name, seq: snapshot.seq, body: Data("{}".utf8))) }

        // A quarantine of an event the snapshot covers makes it stale.
        try AuditIndexTests.raw(path, "DELETE FROM snapshots")
        try ledger.save(good)
        let fill = try #require(try ledger.events(kinds: [.paperFill]).first { $0.seq <= good.seq })
        try ledger.quarantine(seq: fill.seq, reason: "test", cycleId: "c-q", time: PaperCycleTests.times[8])
        if case .failure(let why)? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000) {
            #expect(why == .quarantinedSince)
        } else {
            Issue.record("a snapshot older than a quarantine should be ignored")
        }
        #expect(try Self.rebuilt(ledger) == Self.replayed(ledger))
        #expect(try Self.replayed(ledger) != truth)

        // A read-only opener never writes one, and a ledger from before snapshots reads as having none.
        let reader = try Ledger(readingAt: path)
        #expect(throws: LedgerError.self) { try reader.save(good) }
        try AuditIndexTests.makeOld(path)
        let old = try Ledger(readingAt: path)
        #expect(try old.snapshot(named: name) == nil)
        #expect(try Self.rebuilt(old) == Self.replayed(old))
    }

    /// A snapshot keeps each position's leverage; a position, an entry fill and an order intent recorded before the
    /// leverage was carried still read (as 1x); a snapshot of the version before it is ignored, so a start replays the
    /// ledger instead of restoring positions without their leverage.
    @Test func aSnapshotKeepsThePositionsLeverageAndOldRecordsStillRead() throws {
        var p = Portfolio(mode: .paper, startingEquity: 10_000)
        let t: Int64 = 1_795_212_000
        p.apply(.fill(PaperFill(clientOrderId: "e1", symbol: "BTC-USD", tier: .core, side: .buy, quantity: 0.01, price: 90_000,
                                feeUsd: 0.1, liquidity: "taker", time: t, reason: "entry", stopLossPct: 5, leverage: 3)))
        #expect(p.account.position("BTC-USD")?.leverage == 3)
        let saved = p.snapshot(seq: 1, quarantined: [])
        let decoded = try JSONCoding.decoder().decode(PortfolioSnapshot.self, from: try JSONCoding.encoder().encode(saved))
        #expect(decoded == saved)
        #expect(Portfolio(restoring: decoded).account.position("BTC-USD")?.leverage == 3)

        func withoutLeverage<T: Codable>(_ value: T) throws -> Data {
            var object = try #require(try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(value)) as? [String: Any])
            #expect(object.removeValue(forKey: "leverage") != nil)
            return try JSONSerialization.data(withJSONObject: object)
        }
        let position = try #require(p.account.position("BTC-USD"))
        #expect(try JSONCoding.decoder().decode(PaperPosition.self, from: withoutLeverage(position)).leverage == 1)
        let fill = PaperFill(clientOrderId: "e2", symbol: "ETH-USD", tier: .core, side: .buy, quantity: 1, price: 3_000, feeUsd: 0,
                             liquidity: "taker", time: t, reason: "entry", stopLossPct: 5, leverage: 2)
        let oldFill = try JSONCoding.decoder().decode(PaperFill.self, from: withoutLeverage(fill))
        #expect(oldFill.leverage == nil)
        var account = PaperAccount(cashUsd: 10_000)
        account.apply(oldFill)
        #expect(account.position("ETH-USD")?.leverage == 1)
        let intent = OrderIntent(clientOrderId: "ag-1", cycleId: "c-1", proposalId: "p1", symbol: "BTC-USD", side: .buy, sizePct: 1,
                                 notionalUsd: 100, quantity: 0.001, price: 100_000, stopLossPct: 5, takeProfitPct: 10, mode: .paper,
                                 status: .filled, leverage: 4)
        #expect(try JSONCoding.decoder().decode(OrderIntent.self, from: try JSONCoding.encoder().encode(intent)).leverage == 4)
        #expect(try JSONCoding.decoder().decode(OrderIntent.self, from: withoutLeverage(intent)).leverage == 1)

        // A version-1 snapshot (positions without their leverage) is not restored.
        let data = Fixtures.tempDir()
        let ledger = try Ledger(path: data + "/agent.sqlite")
        _ = try ledger.append([try NewEvent.json("c-1", .paperFill, t, symbol: "BTC-USD", PaperFill(
            clientOrderId: "e1", symbol: "BTC-USD", tier: .core, side: .buy, quantity: 0.01, price: 90_000, feeUsd: 0.1,
            liquidity: "taker", time: t, reason: "entry", stopLossPct: 5, leverage: 3))])
        var old = p.snapshot(seq: 1, quarantined: [])
        old.version = 1
        try ledger.save(StoredSnapshot(name: PortfolioSnapshots.name(.paper), seq: 1, body: try JSONCoding.encoder().encode(old)))
        guard case .failure(.version(1))? = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000) else {
            Issue.record("a version-1 snapshot should be ignored"); return
        }
        #expect(try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: 10_000).0.account.position("BTC-USD")?.leverage == 3)
    }

}
