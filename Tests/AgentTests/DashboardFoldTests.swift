@testable import Agent
import Foundation
import Ledger
import Model
import TestSupport
import Testing

/// The overview's equity curve and AI spend are folded as events arrive, and always equal what a fresh read of
/// the whole ledger gives: after more cycles, and after a quarantine.
@Suite struct DashboardFoldTests {
    @Test func theFoldedCurveAndSpendEqualAFreshRead() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, mode: .paper)
        let path = data + "/agent.sqlite"
        for t in PaperCycleTests.times.prefix(4) { _ = await runner.run(at: t) }
        let kept = DashboardData(ledger: try Ledger.openReadOnly(path: path), dataDir: data, config: nil)
        func fresh() throws -> DashboardData { DashboardData(ledger: try Ledger.openReadOnly(path: path), dataDir: data, config: nil) }
        let first = try kept.equity()
        #expect(first.count == 4)
        #expect(try first == fresh().equity())

        // More cycles: the kept fold reads only what is new, and still equals a fresh read.
        for t in PaperCycleTests.times.dropFirst(4).prefix(6) { _ = await runner.run(at: t) }
        let later = try kept.equity()
        #expect(later.count == 10)
        #expect(try later == fresh().equity())
        #expect(try kept.equity(limit: 3) == Array(later.suffix(3)))
        #expect(try kept.status() == fresh().status())

        // A quarantined mark leaves the curve, as it leaves every other read.
        let writer = try Ledger(path: path)
        let mark = try #require(try writer.events(kinds: [.equity]).dropFirst(2).first)
        _ = try writer.quarantine(seq: mark.seq, reason: "test", cycleId: "c-q", time: PaperCycleTests.times[10])
        let after = try kept.equity()
        #expect(after.count == 9)
        #expect(!after.contains { $0.unixTime == mark.time })
        #expect(try after == fresh().equity())
    }
}
