@testable import Agent
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Model
import TestSupport
import Testing

/// The LIVE book a process keeps between calls (folding only the events appended since) is the full replay.
@Suite struct LiveBookKeptTests {
    /// Every field of the book, in a fixed order (dictionaries and sets sorted).
    static func canonical(_ b: LiveBook) -> [String] {
        [b.orderIds.joined(separator: ","), b.reviewReasons.joined(separator: ","), b.adoptedOrders.sorted().joined(separator: ","),
         b.fundingIds.sorted().joined(separator: ","), "\(String(describing: b.lastFundingTime))",
         b.equity.map { "\($0.time):\($0.equityUsd)" }.joined(separator: ",")]
            + b.orders.keys.sorted().map { "\($0): \(String(describing: b.orders[$0]))" }
            + b.positions.keys.sorted().map { "\($0): \(String(describing: b.positions[$0]))" }
    }

    @Test func theKeptBookPlusNewEventsIsTheFullReplay() async throws {
        let rig = try RestartRig(.coinbase)
        try await rig.enter(rig.desk(timeout: 5))
        let first = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(Self.canonical(first) == Self.canonical(try LiveBook.replay(ledger: rig.ledger)))
        #expect(first.orders[LiveRig.entryId]?.result?.status == .filled)

        let intent = LiveOrderIntent(clientOrderId: "ag-kept-p9", symbol: "ETH-USD", side: .buy, kind: "market", quantity: 0.03,
                                     reduceOnly: false, purpose: .entry, tier: .core, stopLossPct: 5, reason: "test")
        let seq = try rig.ledger.append(NewEvent.json(LiveRig.cycle, .liveOrderIntent, 2, symbol: "ETH-USD", intent))
        // Appended through another ledger object on the same file: the kept book still sees it.
        let other = try Ledger(path: rig.ledger.path)
        try other.append(NewEvent.json(LiveRig.cycle, .reviewRequired, 3, ReviewRequired(reasons: ["by hand"])))
        let second = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(second.orders["ag-kept-p9"] != nil && second.reviewReasons == ["by hand"])
        #expect(Self.canonical(second) == Self.canonical(try LiveBook.replay(ledger: rig.ledger)))

        // A quarantine of an event already folded in: the next book is replayed in full without it.
        try rig.ledger.quarantine(seq: seq, reason: "test", cycleId: LiveRig.cycle, time: 4)
        let third = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(third.orders["ag-kept-p9"] == nil)
        #expect(Self.canonical(third) == Self.canonical(try LiveBook.replay(ledger: rig.ledger)))
    }
}
