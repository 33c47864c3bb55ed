import Foundation
import Testing
@testable import Ledger

/// Damaged, empty and read-only ledgers, and quarantining one malformed event.
@Suite struct LedgerSafetyTests {
    @Test func aQuarantinedEventIsSkippedByEveryReadingCall() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append([event("c1", "paper_fill", time: 1, n: 1), event("c1", "paper_fill", time: 2, n: 2),
                           event("c1", "paper_fill", time: 3, n: 3)])
        let q = try ledger.quarantine(seq: 2, reason: "malformed payload", cycleId: "manual-1", time: 4)
        #expect(q == 4)
        var streamed: [Int64] = []
        try ledger.forEach(types: ["paper_fill"]) { streamed.append($0.seq) }
        #expect(streamed == [1, 3])
        #expect(try ledger.events(types: ["paper_fill"]).map(\.seq) == [1, 3])
        #expect(try ledger.events(cycleId: "c1").map(\.seq) == [1, 3])
        // The record itself is an ordinary, auditable event; the quarantined one is still there, unchanged.
        #expect(try ledger.events(types: [Ledger.quarantineType]).map(\.seq) == [4])
        #expect(try ledger.event(seq: 2)?.payload == Data("{\"n\":2}".utf8))
        #expect(try ledger.quarantines() == [Ledger.Quarantine(seq: 2, reason: "malformed payload")])
    }

    @Test func quarantineRefusesUnknownAndRepeatedSeqs() throws {
        let dir = try TempDir()
        let ledger = try Ledger(path: dir.path("agent.sqlite"))
        try ledger.append(event("c1", "decision", time: 1))
        #expect(throws: LedgerError.self) { try ledger.quarantine(seq: 9, reason: "x", cycleId: "m", time: 1) }
        try ledger.quarantine(seq: 1, reason: "x", cycleId: "m", time: 1)
        #expect(throws: LedgerError.self) { try ledger.quarantine(seq: 1, reason: "again", cycleId: "m", time: 1) }
        #expect(throws: LedgerError.self) { try ledger.quarantine(seq: 2, reason: "the record", cycleId: "m", time: 1) }
    }

    @Test func aZeroByteFileIsNotAFreshLedger() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        FileManager.default.createFile(atPath: path, contents: Data())
        #expect(throws: LedgerError.self) { try Ledger(path: path) }
        #expect(throws: LedgerError.self) { try Ledger(readingAt: path) }
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0)
    }

    @Test func readingNeverCreatesOrChangesAFile() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        #expect(throws: LedgerError.self) { try Ledger(readingAt: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
        do {
            let writer = try Ledger(path: path)
            try writer.append(event("c1", "decision", time: 1))
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = try Ledger(readingAt: path)
        #expect(try reader.count() == 1)
        #expect(throws: LedgerError.self) { try reader.append(event("c2", "decision", time: 2)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func quickCheckFindsADamagedFile() throws {
        let dir = try TempDir()
        let path = dir.path("agent.sqlite")
        do {
            let writer = try Ledger(path: path)
            for i in 0..<400 { try writer.append(event("c\(i)", "decision", time: Int64(i), symbol: "BTC-USD", n: i)) }
            #expect(try writer.quickCheck().isEmpty)
        }
        // Scribble over the pages after the first: the header stays valid, the b-trees do not.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 4_096 * 2)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4_096 * 4))
        try handle.close()
        let damaged = Result { try Ledger(path: path).quickCheck() }
        switch damaged {
        case .success(let findings): #expect(!findings.isEmpty)
        case .failure(let error): #expect(error is LedgerError)
        }
    }
}
