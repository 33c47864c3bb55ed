import Config
import Engine
import Execution
import Foundation
import Ledger
import Market
import Model

extension BenchCommand {
    /// A temporary ledger, removed by the caller's `defer`.
    static func temporaryLedger() throws -> (ledger: Ledger, dir: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(UUID().uuidString)").path
        return (try Ledger(path: (dir as NSString).appendingPathComponent("agent.sqlite")), dir)
    }

    /// The best (shortest) of `repeats` timed runs after `warmup` untimed ones, in seconds.
    func best(_ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        for _ in 0..<warmup { try body() }
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = clock.now
            try body()
            best = min(best, Self.seconds(clock.now - start))
        }
        return best
    }

    /// `agent audit` beside a plain SQLite GROUP BY over the same events, in the same run: a ledger of
    /// `--audit-cycles` DRY_RUN cycles (three real cycles on the sim venue with offline reviewers, their events
    /// appended again under new cycle ids), audited from the index, and by decoding every event as before it.
    func auditBench() async throws -> BenchResult {
        let (ledger, dir) = try Self.temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = try simDryRunRunner(dir: dir, ledger: ledger)
        let t0: Int64 = 1_790_000_000
        for i in 0..<3 { _ = await runner.run(at: t0 + Int64(i) * 3_600) }
        var template: [[LedgerEvent]] = []
        for id in try ledger.cycleIds(limit: 3).reversed() { template.append(try ledger.events(cycleId: id)) }
        var cycles = template.count
        var batch: [NewEvent] = []
        while cycles < auditCycles {
            for event in template[cycles % template.count] {
                batch.append(NewEvent(cycleId: "c-bench-\(cycles)", type: event.type, time: event.time + Int64(cycles) * 3_600,
                                      symbol: event.symbol, payload: event.payload))
            }
            cycles += 1
            if batch.count >= 5_000 { try ledger.append(batch); batch = [] }
        }
        if !batch.isEmpty { try ledger.append(batch) }

        let tally = try ledger.typeTally(types: Auditor.eventTypes)
        let audited = tally.values.reduce(0) { $0 + $1.events }
        let raw = try best { _ = try ledger.typeTally(types: Auditor.eventTypes) }
        let countOnly = try best { _ = try ledger.typeTally(types: Auditor.eventTypes, readingPayloads: false) }
        var fromIndex: AuditReport?, fromEvents: AuditReport?
        let index = try best { fromIndex = try Auditor.report(ledger: ledger, since: nil, check: nil, from: .index) }
        let events = try best { fromEvents = try Auditor.report(ledger: ledger, since: nil, check: nil, from: .events) }
        guard let fromIndex, fromIndex == fromEvents else { throw CLIError.failed("audit bench: the index and the events disagree") }
        return BenchResult(name: "audit", items: audited, unit: "events", seconds: index, perSecond: Double(audited) / index,
                           details: ["raw_sqlite_group_by_seconds": raw, "raw_sqlite_events_per_second": Double(audited) / raw,
                                     "audit_index_seconds": index, "audit_index_events_per_second": Double(audited) / index,
                                     "audit_index_to_raw_ratio": index / raw,
                                     "raw_sqlite_count_from_type_index_seconds": countOnly,
                                     "audit_index_to_count_from_type_index_ratio": index / countOnly,
                                     "audit_decode_every_event_seconds": events,
                                     "audit_decode_every_event_events_per_second": Double(audited) / events,
                                     "cycles": Double(cycles), "ledger_events": Double(try ledger.count()),
                                     "violated_checks": Double(fromIndex.violatedChecks.count)],
                           note: "\(cycles) DRY_RUN cycles on sim (3 real, replayed under new ids): Auditor.report from the audit index, beside `SELECT type, COUNT(*), SUM(LENGTH(payload)) FROM events WHERE type IN (the audit's kinds) GROUP BY type` and beside decoding every event (the path before the index); best of \(repeats)")
    }

    /// The portfolio a process start rebuilds, at ledgers of 100, 1k and 10k PAPER cycles (`--rebuild-cycles`):
    /// from the last snapshot plus the events after it (what a start does now), beside a replay from seq 0
    /// (what it did before). Each cycle records what a PAPER cycle does: a start, the universe, a summary, an equity
    /// mark, protection updates, and now and then an entry, its order, an exit or funding.
    func rebuildBench() throws -> BenchResult {
        let (ledger, dir) = try Self.temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoints = Set(rebuildCycleCounts)
        let last = rebuildCycleCounts.max() ?? 0
        // The history a running book keeps under the shipped signals.yaml (the Kelly cap's lookback).
        let history = TradeHistory.running(try ConfigLoader().load().signals)
        var book = Portfolio(mode: .paper, startingEquity: 10_000, history: history)
        var snapshotSeq: Int64 = 0
        var details: [String: Double] = [:]
        let t0: Int64 = 1_790_000_000
        let symbols = ["BTC-USD", "ETH-USD", "SOL-USD"]
        let noise = Data(#"{"note":"a cycle's other records, kept for the audit and the trail","symbols":["BTC-USD","ETH-USD","SOL-USD"]}"#.utf8)
        var pending: [NewEvent] = []
        var applied: [PortfolioEvent] = []
        for cycle in 1...max(last, 1) {
            let t = t0 + Int64(cycle) * 3_600
            let id = "c-bench-\(cycle)"
            let symbol = symbols[cycle % symbols.count]
            let price = 100 + Double(cycle % 17)
            var events: [PortfolioEvent] = []
            if cycle % 6 == 1 {
                let order = OrderIntent(clientOrderId: "ag-\(cycle)", cycleId: id, proposalId: "p1", symbol: symbol, side: .buy, sizePct: 2,
                                        notionalUsd: 200, quantity: 2, price: price, stopLossPct: 5, takeProfitPct: 10, mode: .paper, status: .filled)
                events.append(.order(order, time: t))
                events.append(.fill(PaperFill(clientOrderId: order.clientOrderId, symbol: symbol, tier: .core, side: .buy, quantity: 2, price: price,
                                              feeUsd: 0.12, liquidity: "taker", time: t, reason: "entry", stopLossPct: 5)))
            }
            for p in book.account.positions {
                events.append(.protection(ProtectionUpdate(symbol: p.symbol, stopPrice: p.stopPrice * 1.001, highWater: max(p.highWater, price),
                                                           rungsTaken: p.rungsTaken, managedThrough: t, reason: "trail")))
                if cycle % 6 == 4 {
                    events.append(.fill(PaperFill(clientOrderId: "ag-exit-\(cycle)-\(p.symbol)", symbol: p.symbol, tier: p.tier, side: .sell,
                                                  quantity: p.quantity, price: price * (cycle % 12 == 4 ? 0.97 : 1.04), feeUsd: 0.12,
                                                  liquidity: "taker", time: t, reason: "stop_loss")))
                }
                if cycle % 8 == 0 {
                    events.append(.funding(FundingPayment(symbol: p.symbol, settlementTime: t, rate: 0.0001, notionalUsd: 200, paymentUsd: 0.02)))
                }
            }
            var scratch = book
            for e in events { scratch.apply(e) }
            events.append(.equity(scratch.point(marks: [symbol: price]), time: t))
            pending.append(NewEvent(cycleId: id, kind: .cycleStarted, time: t, payload: noise))
            pending.append(NewEvent(cycleId: id, kind: .universe, time: t, payload: noise))
            pending += try events.map { NewEvent(cycleId: id, kind: $0.kind, time: t, symbol: $0.symbol, payload: try $0.payload()) }
            pending.append(NewEvent(cycleId: id, kind: .triggers, time: t, payload: noise))
            pending.append(NewEvent(cycleId: id, kind: .cycleFinished, time: t, payload: noise))
            applied += events
            // Appended in blocks of about `interval` events (one synced transaction per cycle would take minutes for
            // 10k), with the snapshot taken as the cycle runner takes it, once `interval` events passed. A checkpoint
            // appends what is pending without a snapshot, so the rebuild there also replays a tail.
            let boundary = pending.count >= Int(PortfolioSnapshots.interval)
            if boundary || checkpoints.contains(cycle) {
                try ledger.append(pending)
                pending = []
                for e in applied { book.apply(e) }
                applied = []
                let seq = try ledger.lastSeq()
                if boundary, seq - snapshotSeq >= PortfolioSnapshots.interval || snapshotSeq == 0 {
                    try PortfolioSnapshots.save(book, seq: seq, ledger: ledger)
                    snapshotSeq = seq
                }
            }
            guard checkpoints.contains(cycle) else { continue }
            let full = try best { _ = try Portfolio.replay(store: ledger, mode: .paper, startingEquity: 10_000, history: history) }
            let fromSnapshot = try best { _ = try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: 10_000, history: history) }
            let (a, seqA) = try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: 10_000, history: history)
            let (b, seqB) = try Portfolio.replay(store: ledger, mode: .paper, startingEquity: 10_000, history: history)
            guard a.snapshot(seq: seqA, quarantined: []) == b.snapshot(seq: seqB, quarantined: []) else {
                throw CLIError.failed("rebuild bench: snapshot plus tail differs from the full replay at \(cycle) cycles")
            }
            let load = try best { _ = try PortfolioSnapshots.load(ledger: ledger, mode: .paper, startingEquity: 10_000, history: history) }
            details["snapshot_load_ms_at_\(cycle)_cycles"] = load * 1_000
            details["snapshot_kib_at_\(cycle)_cycles"] = Double(try ledger.snapshot(named: PortfolioSnapshots.name(.paper))?.body.count ?? 0) / 1_024
            details["closed_trades_at_\(cycle)_cycles"] = Double(a.account.closedTradeTotal)
            details["closed_trades_kept_at_\(cycle)_cycles"] = Double(a.account.closedTrades.count)
            details["rebuild_ms_at_\(cycle)_cycles"] = fromSnapshot * 1_000
            details["full_replay_ms_at_\(cycle)_cycles"] = full * 1_000
            details["ledger_events_at_\(cycle)_cycles"] = Double(try ledger.count())
            details["tail_events_at_\(cycle)_cycles"] = Double(try ledger.lastSeq() - snapshotSeq)
        }
        let smallest = rebuildCycleCounts.min() ?? last
        if let low = details["rebuild_ms_at_\(smallest)_cycles"], let high = details["rebuild_ms_at_\(last)_cycles"] {
            details["rebuild_largest_to_smallest_ratio"] = high / low
        }
        let seconds = (details["rebuild_ms_at_\(last)_cycles"] ?? 0) / 1_000
        return BenchResult(name: "state_rebuild", items: last, unit: "cycles", seconds: seconds, perSecond: seconds > 0 ? 1 / seconds : 0,
                           details: details,
                           note: "PAPER portfolio rebuilt at process start: last snapshot (every \(PortfolioSnapshots.interval) events) plus its tail, beside a replay from seq 0, at \(rebuildCycleCounts.map(String.init).joined(separator: ", ")) cycles in one ledger (an entry every 6 cycles, so closed trades grow with the ledger; the book keeps the latest \(history.limit ?? 0) closed trades, what the shipped rules read); snapshot_load is reading and decoding the snapshot alone, the rest of the rebuild is the tail; best of \(repeats); per second = starts per second at the largest ledger")
    }
}
