@testable import Agent
import Foundation
import GRDB
import Ledger
import Model
import Policy
import Risk
import TestSupport
import Testing

/// `agent audit` from the audit index (GROUP BY over columns written at append time) says exactly what decoding
/// every event says, in text and JSON, for every filter; a ledger written before the index is read the old way
/// until a writer migrates it, and then the same again.
@Suite struct AuditIndexTests {
    /// A ledger with everything the audit counts: LLM cycles with vetoes, blocked shadows and violated checks, a
    /// breaker trip, a halt, an abandoned cycle, unreadable payloads and a quarantined evaluation.
    static func ledger() async throws -> (ledger: Ledger, path: String, split: Int64) {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        defer { server.stop() }
        let runner = try llmRunner(dataDir: data, server: server)
        _ = await runner.run(at: decisionTime)
        _ = await runner.run(at: decisionTime + 3_600)
        // The next events are recorded in a later wall-clock second, so `--since` can split the ledger.
        let split = Int64(Date().timeIntervalSince1970) + 1
        while Date().timeIntervalSince1970 < Double(split) { try await Task.sleep(for: .milliseconds(20)) }
        _ = await runner.run(at: decisionTime + 7_200)
        let ledger = try #require(runner.ledger)
        let t = decisionTime + 7_300
        try ledger.append([
            try NewEvent.json("c-extra", .circuitBreaker, t, BreakerTrip(breaker: "daily_loss", value: 3.5, limit: 3, detail: "day -3.5%", action: "halt")),
            try NewEvent.json("c-extra2", .circuitBreaker, t, BreakerTrip(breaker: "daily_loss", value: 4, limit: 3, detail: "day -4%", action: "halt")),
            try NewEvent.json("c-extra", .halted, t, CycleNote(reason: "kill switch")),
            try NewEvent.json("c-extra", .cycleAbandoned, t, CycleNote(reason: "killed")),
            NewEvent(cycleId: "c-extra", kind: .cycleFinished, time: t, payload: Data("{}".utf8)),
            NewEvent(cycleId: "c-extra", kind: .policyEvaluation, time: t, payload: Data(#"{"symbol":1}"#.utf8)),
            NewEvent(cycleId: "c-extra", kind: .shadow, time: t, payload: Data(#"{"entries":"none"}"#.utf8)),
            NewEvent(cycleId: "c-extra", kind: .review, time: t, payload: Data("[]".utf8)),
        ])
        let evaluation = try #require(try ledger.events(kinds: [.policyEvaluation]).first)
        try ledger.quarantine(seq: evaluation.seq, reason: "test", cycleId: "c-extra", time: t)
        return (ledger, (data as NSString).appendingPathComponent("agent.sqlite"), split)
    }

    /// Every filter the command takes, in both forms of output.
    static func expectSameAudit(_ ledger: Ledger, split: Int64, indexed: Ledger? = nil) throws {
        let checks = [nil] + PolicyEngine.checkNames
        var seen = 0
        for since in [nil, split - 86_400, split, split + 86_400] {
            for check in checks {
                let old = try Auditor.report(ledger: ledger, since: since, check: check, from: .events)
                let new = try Auditor.report(ledger: indexed ?? ledger, since: since, check: check, from: .index)
                #expect(new == old, "since \(since.map(String.init) ?? "-") check \(check ?? "-")")
                #expect(Auditor.text(new, check: check) == Auditor.text(old, check: check))
                #expect(try JSONCoding.string(new, pretty: true) == JSONCoding.string(old, pretty: true))
                if old.proposalsEvaluated > 0 { seen += 1 }
            }
        }
        #expect(seen > 3)
    }

    /// Turns the file back into a ledger of the version before the audit index and snapshots (schema v1 only).
    static func makeOld(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.inDatabase { db in
            for kind in ["cycle_finished", "policy_evaluation", "review", "shadow", "circuit_breaker"] {
                try db.execute(sql: "DROP TRIGGER audit_index_\(kind)")
            }
            for table in ["cycles", "evaluations", "checks", "reviews", "vetoes", "shadow", "breakers", "unreadable"] {
                try db.execute(sql: "DROP TABLE audit_\(table)")
            }
            try db.execute(sql: "DROP TABLE snapshots")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier != 'v1'")
        }
    }

    /// Runs one statement on a plain connection, bypassing the Ledger API.
    static func raw(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.inDatabase { db in try db.execute(sql: sql) }
    }

    @Test func theIndexSaysWhatEveryEventSays() async throws {
        let (ledger, path, split) = try await Self.ledger()
        let whole = try Auditor.report(ledger: ledger, since: nil, check: nil, from: .events)
        // The ledger exercises what the audit counts.
        #expect(whole.reviewerVetoes.first?.vetoes ?? 0 >= 3 && whole.shadow.blocked >= 3)
        #expect(!whole.violatedChecks.isEmpty && whole.circuitBreakers.first?.trips == 2 && whole.halts == 1)
        #expect(whole.unreadableEvents == 4 && whole.abandonedCycles == 1)
        #expect(try ledger.hasAuditIndex())
        try Self.expectSameAudit(ledger, split: split)
        // The append-only invariant stands with the index's triggers in place.
        #expect(throws: (any Error).self) { try Self.raw(path, "UPDATE events SET type = 'x' WHERE type = 'review'") }
        #expect(throws: (any Error).self) { try Self.raw(path, "DELETE FROM events WHERE type = 'review'") }
    }

    /// A ledger from before the index: a read-only opener reads every event (and writes nothing); the first
    /// writer backfills the index from the stored events, and the index then says the same.
    @Test func anOlderLedgerIsReadTheOldWayUntilAWriterIndexesIt() async throws {
        let (ledger, path, split) = try await Self.ledger()
        let expected = try Auditor.report(ledger: ledger, since: nil, check: nil, from: .events)
        try Self.makeOld(path)
        let reader = try Ledger(readingAt: path)
        #expect(try !reader.hasAuditIndex())
        #expect(try Auditor.report(ledger: reader, since: nil, check: nil) == expected)
        #expect(throws: (any Error).self) { try Auditor.report(ledger: reader, since: nil, check: nil, from: .index) }
        #expect(try !Ledger(readingAt: path).hasAuditIndex())

        let writer = try Ledger(path: path)
        #expect(try writer.hasAuditIndex() && reader.hasAuditIndex())
        try Self.expectSameAudit(reader, split: split, indexed: writer)
        // Events appended after the backfill are indexed by the triggers.
        try writer.append(try NewEvent.json("c-late", .circuitBreaker, decisionTime, BreakerTrip(breaker: "venue_disconnected", detail: "down", action: "halt")))
        try Self.expectSameAudit(writer, split: split)
    }
}
