import Foundation
import GRDB
import Testing
@testable import Ledger

// MARK: - Helpers

/// A fresh temporary directory, removed when the test ends.
struct TempDir: ~Copyable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ledger-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ components: String...) -> String {
        components.reduce(url) { $0.appendingPathComponent($1) }.path
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

struct Proposal: Codable, Equatable {
    var symbol: String
    var side: String
    var quantity: Double
    var note: String
}

func event(_ cycle: String, _ type: String, time: Int64, symbol: String? = nil, n: Int = 0) -> NewEvent {
    NewEvent(cycleId: cycle, type: type, time: time, symbol: symbol, payload: Data("{\"n\":\(n)}".utf8))
}

struct Counter: Decodable { var n: Int }

/// A plain second connection to the same file, bypassing the Ledger API.
func rawConnection(_ path: String) throws -> DatabaseQueue {
    try DatabaseQueue(path: path)
}

// MARK: - Round trip and storage

@Suite struct RoundTripTests {
    @Test func appendThenReadDecodesPayload() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        let proposal = Proposal(symbol: "BTC/USDT", side: "buy", quantity: 0.25, note: "a/b")
        let before = Date().timeIntervalSince1970
        let seq = try ledger.append(try NewEvent(cycleId: "c-1", type: "proposal", time: 1_700_000_000,
                                                  symbol: "BTC/USDT", encoding: proposal))
        let after = Date().timeIntervalSince1970

        let events = try ledger.events(cycleId: "c-1")
        #expect(events.count == 1)
        let stored = try #require(events.first)
        #expect(stored.seq == seq)
        #expect(stored.cycleId == "c-1")
        #expect(stored.type == "proposal")
        #expect(stored.time == 1_700_000_000)
        #expect(stored.symbol == "BTC/USDT")
        #expect(stored.recordedAt >= before - 0.001 && stored.recordedAt <= after + 0.001)
        #expect(try stored.decode(Proposal.self) == proposal)
        // Sorted keys, slashes not escaped.
        #expect(String(decoding: stored.payload, as: UTF8.self)
                == #"{"note":"a/b","quantity":0.25,"side":"buy","symbol":"BTC/USDT"}"#)
    }

    @Test func payloadIsStoredAsText() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let ledger = try Ledger(path: path)
        try ledger.append(event("c-1", "decision", time: 5, n: 7))
        let row = try rawConnection(path).read { db in
            try Row.fetchOne(db, sql: "SELECT typeof(payload) AS t, payload FROM events")
        }
        let found = try #require(row)
        #expect(found["t"] as String == "text")
        #expect(found["payload"] as String == #"{"n":7}"#)
    }

    @Test func nilSymbolRoundTrips() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append(event("c-1", "cycle_started", time: 1))
        let stored = try #require(try ledger.events(cycleId: "c-1").first)
        #expect(stored.symbol == nil)
        #expect(try stored.decode(Counter.self).n == 0)
    }

    @Test func decodeMismatchThrowsLedgerError() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append(event("c-1", "decision", time: 1))
        let stored = try #require(try ledger.events(cycleId: "c-1").first)
        let error = #expect(throws: LedgerError.self) { try stored.decode(Proposal.self) }
        #expect(error?.operation.contains("decision") == true)
    }

    @Test func eventsOfOneCycleInSeqOrder() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append([event("c-a", "cycle_started", time: 1, n: 1), event("c-b", "cycle_started", time: 1, n: 2)])
        try ledger.append(event("c-a", "decision", time: 1, n: 3))
        try ledger.append(event("c-a", "cycle_finished", time: 1, n: 4))
        let events = try ledger.events(cycleId: "c-a")
        #expect(events.map(\.type) == ["cycle_started", "decision", "cycle_finished"])
        #expect(events.map(\.seq) == events.map(\.seq).sorted())
        #expect(try ledger.events(cycleId: "c-missing").isEmpty)
    }

    @Test func batchReturnsSeqsInOrder() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        let seqs = try ledger.append((1...5).map { event("c", "t", time: 1, n: $0) })
        #expect(seqs == [1, 2, 3, 4, 5])
        let stored = try ledger.events(cycleId: "c")
        #expect(try stored.map { try $0.decode(Counter.self).n } == [1, 2, 3, 4, 5])
        #expect(Set(stored.map(\.recordedAt)).count == 1)
        #expect(try ledger.append([]) == [])
        #expect(try ledger.count() == 5)
        #expect(try ledger.lastSeq() == 5)
    }
}

// MARK: - Sequence, durability, atomicity

@Suite struct SequenceTests {
    @Test func seqIsMonotonicAcrossReopen() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        var seen: [Int64] = []
        do {
            let ledger = try Ledger(path: path)
            seen += try ledger.append((0..<3).map { event("c-1", "t", time: 1, n: $0) })
        }
        let reopened = try Ledger(path: path)
        #expect(try reopened.lastSeq() == 3)
        seen.append(try reopened.append(event("c-2", "t", time: 2)))
        #expect(seen == [1, 2, 3, 4])
    }

    @Test func seqNeverReusedEvenIfLastRowDisappears() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        do {
            let ledger = try Ledger(path: path)
            try ledger.append((0..<3).map { event("c-1", "t", time: 1, n: $0) })
        }
        // Bypass the append-only guard on purpose to prove AUTOINCREMENT never hands out seq 3 again.
        try rawConnection(path).write { db in
            try db.execute(sql: "DROP TRIGGER events_no_delete")
            try db.execute(sql: "DELETE FROM events WHERE seq = 3")
        }
        let reopened = try Ledger(path: path)
        #expect(try reopened.lastSeq() == 2)
        #expect(try reopened.append(event("c-2", "t", time: 2)) == 4)
    }

    @Test func reopenPersistsEventsAndMeta() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let original: [LedgerEvent]
        do {
            let ledger = try Ledger(path: path)
            try ledger.append([event("c-1", "cycle_started", time: 10, n: 1),
                               event("c-1", "decision", time: 10, symbol: "ETH/USDT", n: 2)])
            try ledger.setMeta("reconciled_seq", "2")
            original = try ledger.events()
        }
        let reopened = try Ledger(path: path)
        #expect(try reopened.events() == original)
        #expect(original.count == 2)
        #expect(try reopened.meta("reconciled_seq") == "2")
    }

    @Test func invalidJSONRejectsWholeBatch() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let ledger = try Ledger(path: path)
        try ledger.append(event("c-0", "t", time: 1))
        let bad = NewEvent(cycleId: "c-1", type: "review", time: 2, payload: Data("{\"raw\": oops".utf8))
        let error = #expect(throws: LedgerError.self) {
            try ledger.append([event("c-1", "proposal", time: 2), bad, event("c-1", "decision", time: 2)])
        }
        #expect(error?.path == path)
        #expect(error?.message.contains("not valid JSON") == true)
        #expect(error?.operation.contains("review") == true)
        #expect(try ledger.count() == 1)
        #expect(try ledger.events(cycleId: "c-1").isEmpty)
    }

    @Test func invalidUTF8RejectsWholeBatch() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        let bad = NewEvent(cycleId: "c-1", type: "review", time: 2, payload: Data([0x22, 0xFF, 0xFE, 0x22]))
        let error = #expect(throws: LedgerError.self) {
            try ledger.append([event("c-1", "proposal", time: 2), bad])
        }
        #expect(error?.message.contains("UTF-8") == true)
        #expect(try ledger.count() == 0)
    }

    @Test func sqliteFailureMidBatchRollsBackEverything() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let ledger = try Ledger(path: path)
        try ledger.append(event("c-0", "t", time: 1))
        // Make SQLite itself fail on the third insert of the batch.
        try rawConnection(path).write { db in
            try db.execute(sql: """
                CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.type = 'boom'
                BEGIN SELECT RAISE(ABORT, 'boom refused'); END
                """)
        }
        let error = #expect(throws: LedgerError.self) {
            try ledger.append([event("c-1", "a", time: 2), event("c-1", "b", time: 2), event("c-1", "boom", time: 2)])
        }
        #expect(error?.message.contains("boom refused") == true)
        #expect(error?.path == path)
        #expect(try ledger.count() == 1)
        #expect(try ledger.events(cycleId: "c-1").isEmpty)
        // The ledger keeps working after the failed batch.
        #expect(try ledger.append(event("c-2", "ok", time: 3)) > 1)
        #expect(try ledger.count() == 2)
    }

    @Test func concurrentAppendsAllLandWithUniqueSeqs() async throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        let tasks = 8
        let perTask = 40
        let results = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var seqs: [Int64] = []
                    for i in 0..<perTask {
                        if i % 4 == 0 {
                            seqs += try ledger.append([event("c-\(task)", "batch", time: Int64(i), n: i),
                                                       event("c-\(task)", "batch", time: Int64(i), n: i)])
                        } else {
                            seqs.append(try ledger.append(event("c-\(task)", "single", time: Int64(i), n: i)))
                        }
                    }
                    return seqs
                }
            }
            var all: [[Int64]] = []
            for try await seqs in group { all.append(seqs) }
            return all
        }
        let expectedPerTask = perTask + perTask / 4
        for seqs in results {
            #expect(seqs.count == expectedPerTask)
            #expect(seqs == seqs.sorted())
        }
        let all = results.flatMap { $0 }
        let total = tasks * expectedPerTask
        #expect(Set(all).count == total)
        #expect(Set(all) == Set((1...Int64(total))))
        #expect(try ledger.count() == total)
        for task in 0..<tasks {
            #expect(try ledger.events(cycleId: "c-\(task)").count == expectedPerTask)
        }
    }
}

// MARK: - Queries

@Suite struct QueryTests {
    /// seq 1..8:
    /// 1 c-1 cycle_started t=100 -
    /// 2 c-1 decision     t=100 BTC
    /// 3 c-1 decision     t=100 ETH
    /// 4 c-2 cycle_started t=200 -
    /// 5 c-2 decision     t=200 BTC
    /// 6 c-2 order_intent t=200 BTC
    /// 7 c-3 decision     t=300 ETH
    /// 8 c-3 cycle_finished t=300 -
    func seeded(_ dir: borrowing TempDir) throws -> Ledger {
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append([
            event("c-1", "cycle_started", time: 100, n: 1),
            event("c-1", "decision", time: 100, symbol: "BTC", n: 2),
            event("c-1", "decision", time: 100, symbol: "ETH", n: 3),
            event("c-2", "cycle_started", time: 200, n: 4),
            event("c-2", "decision", time: 200, symbol: "BTC", n: 5),
            event("c-2", "order_intent", time: 200, symbol: "BTC", n: 6),
            event("c-3", "decision", time: 300, symbol: "ETH", n: 7),
            event("c-3", "cycle_finished", time: 300, n: 8),
        ])
        return ledger
    }

    @Test func noFilterReturnsAllInSeqOrder() throws {
        let dir = try TempDir()
        let ledger = try seeded(dir)
        #expect(try ledger.events().map(\.seq) == Array(1...8))
    }

    @Test func filterByTypes() throws {
        let dir = try TempDir()
        let ledger = try seeded(dir)
        #expect(try ledger.events(types: ["decision"]).map(\.seq) == [2, 3, 5, 7])
        #expect(try ledger.events(types: ["cycle_started", "cycle_finished"]).map(\.seq) == [1, 4, 8])
        #expect(try ledger.events(types: []).isEmpty)
        #expect(try ledger.events(types: ["nothing"]).isEmpty)
    }

    @Test func filterBySinceSymbolAfterSeq() throws {
        let dir = try TempDir()
        let ledger = try seeded(dir)
        #expect(try ledger.events(since: 200).map(\.seq) == [4, 5, 6, 7, 8])
        #expect(try ledger.events(since: 301).isEmpty)
        #expect(try ledger.events(symbol: "BTC").map(\.seq) == [2, 5, 6])
        #expect(try ledger.events(afterSeq: 6).map(\.seq) == [7, 8])
        #expect(try ledger.events(types: ["decision"], since: 200, symbol: "ETH").map(\.seq) == [7])
        #expect(try ledger.events(types: ["decision"], afterSeq: 3).map(\.seq) == [5, 7])
    }

    @Test func limitAndNewestFirst() throws {
        let dir = try TempDir()
        let ledger = try seeded(dir)
        #expect(try ledger.events(limit: 3).map(\.seq) == [1, 2, 3])
        #expect(try ledger.events(limit: 3, newestFirst: true).map(\.seq) == [8, 7, 6])
        #expect(try ledger.events(types: ["decision"], limit: 2, newestFirst: true).map(\.seq) == [7, 5])
        #expect(try ledger.events(newestFirst: true).map(\.seq) == Array((1...8).reversed()))
        #expect(try ledger.events(limit: 0).isEmpty)
        #expect(try ledger.events(symbol: "BTC", limit: 10).map(\.seq) == [2, 5, 6])
    }

    @Test func countAndLastSeq() throws {
        let dir = try TempDir()
        let empty = try Ledger(path: dir.path("empty.sqlite"))
        #expect(try empty.count() == 0)
        #expect(try empty.lastSeq() == 0)
        let ledger = try seeded(dir)
        #expect(try ledger.count() == 8)
        #expect(try ledger.lastSeq() == 8)
    }

    @Test func cycleIdsMostRecentFirst() throws {
        let dir = try TempDir()
        let ledger = try seeded(dir)
        #expect(try ledger.cycleIds() == ["c-3", "c-2", "c-1"])
        // A late event for c-1 makes it the most recent cycle.
        try ledger.append(event("c-1", "review", time: 100))
        #expect(try ledger.cycleIds() == ["c-1", "c-3", "c-2"])
        #expect(try ledger.cycleIds(limit: 2) == ["c-1", "c-3"])
        #expect(try ledger.cycleIds(since: 200) == ["c-3", "c-2"])
        #expect(try ledger.cycleIds(since: 1_000).isEmpty)
    }

    @Test func cycleIdsByPrefix() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        for id in ["c-20260101-0900", "c-20260101-1000", "c-20260102-0900", "x-20260101", "c_2026%", "C-20260101-1100"] {
            try ledger.append(event(id, "cycle_started", time: 1))
        }
        #expect(try ledger.cycleIds(matching: "c-20260101") == ["c-20260101-1000", "c-20260101-0900"])
        #expect(try ledger.cycleIds(matching: "c-2026") == ["c-20260102-0900", "c-20260101-1000", "c-20260101-0900"])
        #expect(try ledger.cycleIds(matching: "c-2026", limit: 1) == ["c-20260102-0900"])
        // No LIKE wildcards: `_` and `%` match themselves only.
        #expect(try ledger.cycleIds(matching: "c_") == ["c_2026%"])
        #expect(try ledger.cycleIds(matching: "c-2026%").isEmpty)
        #expect(try ledger.cycleIds(matching: "c-20260101-1000") == ["c-20260101-1000"])
        #expect(try ledger.cycleIds(matching: "nope").isEmpty)
    }
}

// MARK: - Streaming

@Suite struct StreamingTests {
    @Test func forEachStreamsTenThousandEventsInOrder() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        for batch in 0..<10 {
            try ledger.append((0..<1_000).map { i in
                event("c-\(batch)", i % 10 == 0 ? "decision" : "tick", time: Int64(batch), n: batch * 1_000 + i)
            })
        }
        var expected: Int64 = 0
        var payloadOK = true
        try ledger.forEach { event in
            expected += 1
            #expect(event.seq == expected)
            if (try? event.decode(Counter.self).n) != Int(event.seq) - 1 { payloadOK = false }
        }
        #expect(expected == 10_000)
        #expect(payloadOK)

        var decisions: [Int64] = []
        try ledger.forEach(afterSeq: 5_000, types: ["decision"]) { decisions.append($0.seq) }
        #expect(decisions.count == 500)
        #expect(decisions.first == 5_001)
        #expect(decisions == decisions.sorted())
        #expect(decisions.allSatisfy { ($0 - 1) % 10 == 0 })
    }

    struct Stop: Error, Equatable { var at: Int64 }

    @Test func bodyErrorStopsAndIsRethrownUnchanged() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append((0..<2_500).map { event("c", "t", time: 1, n: $0) })
        var calls = 0
        #expect(throws: Stop(at: 1_200)) {
            try ledger.forEach { event in
                calls += 1
                if event.seq == 1_200 { throw Stop(at: event.seq) }
            }
        }
        #expect(calls == 1_200)
    }

    @Test func bodyMayCallBackIntoLedger() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append((0..<3).map { event("c", "t", time: 1, n: $0) })
        var visited = 0
        try ledger.forEach { event in
            visited += 1
            // Reading and appending from inside the body must not deadlock; appended events are not
            // part of this stream.
            _ = try ledger.events(cycleId: event.cycleId)
            try ledger.append(NewEvent(cycleId: "derived", type: "x", time: 1, payload: Data("{}".utf8)))
        }
        #expect(visited == 3)
        #expect(try ledger.count() == 6)
    }
}

// MARK: - Storage guarantees and errors

@Suite struct StorageTests {
    @Test func walAndFullSynchronous() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let ledger = try Ledger(path: path)
        #expect(try ledger.journalMode() == "wal")
        #expect(try ledger.writerSynchronous() == 2)
        try ledger.append(event("c", "t", time: 1))
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        // WAL is persistent in the file: a plain connection sees it too.
        #expect(try rawConnection(path).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }

    @Test func updateAndDeleteAreRejectedByTriggers() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        let ledger = try Ledger(path: path)
        try ledger.append([event("c", "decision", time: 1, n: 1), event("c", "decision", time: 1, n: 2)])
        let before = try ledger.events()
        let raw = try rawConnection(path)

        let update = #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "UPDATE events SET type = 'forged' WHERE seq = 1") }
        }
        #expect(update?.message == Ledger.appendOnlyMessage)
        let delete = #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "DELETE FROM events") }
        }
        #expect(delete?.message == Ledger.appendOnlyMessage)
        // REPLACE deletes without firing DELETE triggers; the insert guard catches it.
        let replace = #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "INSERT OR REPLACE INTO events (seq, cycle_id, type, time, recorded_at, payload) VALUES (1, 'c', 'forged', 1, 0, '{}')") }
        }
        #expect(replace?.message == Ledger.appendOnlyMessage)
        let upsert = #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "INSERT INTO events (seq, cycle_id, type, time, recorded_at, payload) VALUES (2, 'c', 'forged', 1, 0, '{}') ON CONFLICT(seq) DO UPDATE SET type = 'forged'") }
        }
        #expect(upsert?.message == Ledger.appendOnlyMessage)
        #expect(try ledger.events() == before)
        #expect(try ledger.count() == 2)
    }

    @Test func metaIsMutable() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        #expect(try ledger.meta("reconciled_seq") == nil)
        try ledger.setMeta("reconciled_seq", "10")
        #expect(try ledger.meta("reconciled_seq") == "10")
        try ledger.setMeta("reconciled_seq", "42")
        try ledger.setMeta("other", "x")
        #expect(try ledger.meta("reconciled_seq") == "42")
        #expect(try ledger.meta("other") == "x")
    }

    @Test func createsMissingDirectories() throws {
        let dir = try TempDir()
        let path = dir.path("data", "nested", "agent.sqlite")
        let ledger = try Ledger(path: path)
        #expect(ledger.path == path)
        try ledger.append(event("c", "t", time: 1))
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func migrationIsRecordedOnce() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        _ = try Ledger(path: path)
        _ = try Ledger(path: path)
        let migrations = try rawConnection(path).read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        #expect(migrations == ["v1", "v2-audit-index", "v3-snapshots"])
        let indexes = try rawConnection(path).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name")
        }
        #expect(indexes == ["events_cycle_seq", "events_symbol_time", "events_type_time"])
    }

    @Test func directoryUnderRegularFileGivesClearError() throws {
        let dir = try TempDir()
        let blocker = dir.path("not-a-dir")
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let path = dir.path("not-a-dir", "data", "agent.sqlite")
        let error = #expect(throws: LedgerError.self) { _ = try Ledger(path: path) }
        #expect(error?.path == path)
        #expect(error?.operation.contains("create directory") == true)
        #expect(error?.description.contains(path) == true)
        #expect(error?.message == "\(blocker) exists and is not a directory")
    }

    @Test func pathThatIsADirectoryGivesSQLiteError() throws {
        let dir = try TempDir()
        let path = dir.path("is-a-dir")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let error = #expect(throws: LedgerError.self) { _ = try Ledger(path: path) }
        #expect(error?.path == path)
        #expect(error?.operation == "open")
        #expect(error?.description.hasPrefix("ledger \(path): open: ") == true)
    }
}
