@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Model
import TestSupport
import Testing

/// PAPER through the real cycle on the sim market: fills, exits, funding, restarts.
@Suite struct PaperCycleTests {
    /// Decision times every 4 hours over 5 days from the pinned hour.
    static let times: [Int64] = (0..<30).map { decisionTime - 22 * 3_600 + Int64($0) * 4 * 3_600 }

    static let paperKinds = ["paper_fill", "paper_funding", "protection_update", "equity"]

    func book(_ dataDir: String) throws -> Portfolio {
        try Portfolio.rebuild(store: try Ledger(path: dataDir + "/agent.sqlite"), mode: .paper, startingEquity: 10_000).0
    }

    func equityMarks(_ dataDir: String) throws -> [Double] {
        try Ledger(path: dataDir + "/agent.sqlite").events(types: ["equity"]).map { try $0.value(EquityPoint.self).equityUsd }
    }

    @Test func entriesFillWithFeesAndTheBookIsMarked() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, mode: .paper)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.status == .executed)
        let filled = summary.executedTrades.filter { $0.status == "filled" }
        #expect(!filled.isEmpty)
        let fills = try runner.ledger!.events(cycleId: summary.cycleId).filter { $0.type == "paper_fill" }.map { try $0.value(PaperFill.self) }
        #expect(fills.count == filled.count)
        for fill in fills {
            #expect(abs(fill.feeUsd - fill.quantity * fill.price * 6 / 10_000) < 1e-9)   // taker 6 bps
            #expect(fill.reason == "entry")
        }
        let b = try book(data)
        #expect(b.account.positions.count == fills.count)
        #expect(abs(b.account.cashUsd - (10_000 - fills.reduce(0) { $0 + $1.notionalUsd + $1.feeUsd })) < 1e-6)
        #expect(summary.portfolio.openPositions == fills.count)
        #expect(summary.portfolio.cashUsd != nil)
        #expect(try equityMarks(data).count == 1)
    }

    /// Restarting continues exactly where it was: a run split across two runners (two processes' worth of
    /// state, rebuilt from the ledger) ends with the same book as an uninterrupted run.
    @Test func aRestartContinuesExactlyWhereItWas() async throws {
        let straight = Fixtures.tempDir(), split = Fixtures.tempDir()
        let one = try makeRunner(dataDir: straight, mode: .paper)
        for t in Self.times { _ = await one.run(at: t) }
        let first = try makeRunner(dataDir: split, mode: .paper)
        for t in Self.times.prefix(15) { _ = await first.run(at: t) }
        let second = try makeRunner(dataDir: split, mode: .paper)
        for t in Self.times.dropFirst(15) { _ = await second.run(at: t) }

        let a = try book(straight), b = try book(split)
        #expect(a.account == b.account)
        #expect(try equityMarks(straight) == equityMarks(split))
        // Over five days the protective exits did their job at least once.
        #expect(!a.account.closedTrades.isEmpty)
        let reasons = Set(try Ledger(path: straight + "/agent.sqlite").events(types: ["paper_fill"]).map { try $0.value(PaperFill.self).reason })
        #expect(reasons.contains("entry"))
        #expect(reasons.count > 1)
        #expect(a.account.fundingUsd != 0)   // perpetual-style symbols pay funding at 8h settlements
    }

    /// The kill switch stops entries, not protection: exits keep being managed.
    @Test func theKillSwitchStillManagesExits() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, mode: .paper)
        _ = await runner.run(at: Self.times[0])
        let opened = try book(data).account.positions.count
        #expect(opened > 0)
        try runner.killSwitch.turnOn(reason: "test", at: Self.times[0])
        var exits = 0
        for t in Self.times.dropFirst() {
            let s = await runner.run(at: t)
            #expect(s.status == .halted)
            #expect(s.executedTrades.isEmpty)
            exits += s.exits.count
        }
        #expect(exits > 0)
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let entries = try ledger.events(types: ["paper_fill"]).map { try $0.value(PaperFill.self) }.filter { $0.reason == "entry" }
        #expect(entries.allSatisfy { $0.time == Self.times[0] })
        #expect(try book(data).account.positions.count < opened)
    }

    @Test func paperPayloadsRoundTrip() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, mode: .paper)
        for t in Self.times.prefix(18) { _ = await runner.run(at: t) }
        let ledger = try Ledger(path: data + "/agent.sqlite")
        var seen = Set<String>()
        for e in try ledger.events(types: Self.paperKinds) {
            seen.insert(e.type)
            let data: Data
            switch e.type {
            case "paper_fill": data = try JSONCoding.encoder().encode(try e.value(PaperFill.self))
            case "paper_funding": data = try JSONCoding.encoder().encode(try e.value(FundingPayment.self))
            case "protection_update": data = try JSONCoding.encoder().encode(try e.value(ProtectionUpdate.self))
            default: data = try JSONCoding.encoder().encode(try e.value(EquityPoint.self))
            }
            #expect(data == e.payload, "\(e.type) does not round-trip")
        }
        #expect(seen == Set(Self.paperKinds))
    }
}
