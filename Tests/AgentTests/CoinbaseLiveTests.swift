@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// Coinbase spot LIVE at Binance's level: reconciliation against the strict fake (balances follow the orders, a
/// resting stop holds its coins), what a person does while the agent is down, and every fault the venue produces
/// on the order path.
@Suite struct CoinbaseLiveReconcileTests {
    static let entryId = LiveRig.entryId
    static let stopId = LiveRig.stopId
    static let reconcileTime = RestartRig.entryTime + 3_600

    func entered() async throws -> (RestartRig, FakeCoinbaseVenue, LiveDesk) {
        let rig = try RestartRig(.coinbase)
        let fake = try #require(rig.coinbase)
        let desk = try rig.desk()
        try await rig.enter(desk)
        #expect(fake.holding("ETH") == 0.0333)
        return (rig, fake, desk)
    }

    func reconcile(_ rig: RestartRig, act: Bool = true) async throws -> ReconcileReport {
        try await rig.desk().reconcile(cycleId: "c-20260101T010000Z-0c0d", time: Self.reconcileTime, act: act)
    }

    @Test func aCleanBookReconcilesWithoutFindings() async throws {
        let (rig, fake, _) = try await entered()
        let report = try await reconcile(rig)
        #expect(report.discrepancies.isEmpty, "\(report.discrepancies)")
        #expect(report.positions == [.init(symbol: "ETH-USD", ledgerQuantity: 0.0333, venueQuantity: 0.0333, managed: true, stops: [Self.stopId])])
        #expect(fake.clientIds == [Self.entryId, Self.stopId])           // nothing new sent
        #expect(try rig.violations() == [])
    }

    @Test func aPositionSoldByHandIsCorrectedAndNothingIsSent() async throws {
        let (rig, fake, _) = try await entered()
        fake.cancelByHand(Self.stopId)                                    // the stop held the coins: cancelled first
        fake.setHolding("ETH", 0)
        let report = try await reconcile(rig)
        #expect(report.discrepancies.map(\.kind) == [.orderCancelled, .positionClosed])
        #expect(!report.requiresManualReview)
        #expect(try LiveBook.rebuild(ledger: rig.ledger).positions.isEmpty)
        #expect(fake.clientIds == [Self.entryId, Self.stopId])
        #expect(try rig.violations() == [])
    }

    @Test func coinsBoughtByHandRequireReviewAndTheAckProtectsThem() async throws {
        let rig = try RestartRig(.coinbase)
        let fake = try #require(rig.coinbase)
        fake.setHolding("SOL", 2)
        let compare = try await reconcile(rig, act: false)
        #expect(compare.requiresManualReview)
        #expect(try rig.ledger.count() == 0)                              // compare-only records nothing
        let report = try await reconcile(rig)
        #expect(report.discrepancies.first { $0.kind == .unknownPosition }?.critical == true)
        let ack = try await rig.desk().acknowledge(cycleId: "r-ack", time: Self.reconcileTime + 60, stopLossPct: { _ in 12 })
        #expect(ack.adoptedPositions.map(\.symbol) == ["SOL-USD"])
        // One stop-limit sell for all 2 SOL, 12% under the venue's price, and nothing bought or sold.
        let stop = try #require(fake.clientIds.first.flatMap(fake.order))
        #expect(fake.clientIds.count == 1 && stop["kind"] == "stop_limit_stop_limit_gtc" && stop["side"] == "SELL" && stop["size"] == "2")
        #expect(abs((Double(stop["stop"] ?? "") ?? 0) - 132) < 0.02)
        #expect(fake.holding("SOL") == 2)
        let after = try await reconcile(rig)
        #expect(!after.requiresManualReview && after.discrepancies.isEmpty, "\(after.discrepancies)")
    }

    @Test func aStopCancelledByHandIsRecordedAndReplaced() async throws {
        let (rig, fake, _) = try await entered()
        fake.cancelByHand(Self.stopId)
        let report = try await reconcile(rig)
        #expect(report.discrepancies.map(\.kind) == [.orderCancelled, .positionWithoutStop])
        #expect(report.requiresManualReview)
        let replacement = ClientOrderId.derived(from: Self.entryId, suffix: "sl2")
        #expect(fake.order(replacement)?["status"] == "OPEN" && fake.order(replacement)?["size"] == "0.0333")
        #expect(try rig.violations() == [])
    }

    @Test func aStopThatFilledWhileTheAgentWasDownIsRecordedAndTheBookFollows() async throws {
        let (rig, fake, _) = try await entered()
        fake.executeStop(Self.stopId, quantity: 0.01, finish: false)
        let report = try await reconcile(rig)
        #expect(report.discrepancies.isEmpty, "\(report.discrepancies)")
        #expect(report.positions.first?.ledgerQuantity == 0.0233 && report.positions.first?.venueQuantity == 0.0233)
        let fills = try rig.ledger.events(types: ["live_fill"]).map { try $0.value(LiveFill.self) }
        #expect(fills.last?.purpose == .stop && fills.last?.quantity == 0.01)
        fake.executeStop(Self.stopId, quantity: 0.0233, finish: true)
        let second = try await reconcile(rig)
        #expect(second.discrepancies.isEmpty, "\(second.discrepancies)")
        #expect(try LiveBook.rebuild(ledger: rig.ledger).positions.isEmpty)
        #expect(try rig.violations() == [])
    }

    @Test func aSizeChangedByHandIsCorrectedAndTheStopResizedAfterCancellingTheOldOne() async throws {
        let (rig, fake, _) = try await entered()
        fake.setHolding("ETH", 0.05)
        let report = try await reconcile(rig)
        #expect(report.discrepancies.map(\.kind) == [.sizeMismatch, .stopResized])
        #expect(!report.requiresManualReview)
        #expect(fake.order(Self.stopId)?["status"] == "CANCELLED")
        #expect(fake.order(ClientOrderId.derived(from: Self.entryId, suffix: "sl2"))?["size"] == "0.05")
        #expect(try rig.violations() == [])
    }

    @Test func anIntendedOrderTheVenueNeverReceivedIsRecordedNotFoundAndNeverSent() async throws {
        let rig = try RestartRig(.coinbase)
        let intent = LiveOrderIntent(clientOrderId: "ag-crashed-p9", symbol: "ETH-USD", side: .buy, kind: "market", quantity: 0.03,
                                     reduceOnly: false, purpose: .entry, tier: .core, stopLossPct: 5, reason: "test")
        try rig.ledger.append(NewEvent.json(LiveRig.cycle, .liveOrderIntent, 1, symbol: "ETH-USD", intent))
        let report = try await reconcile(rig)
        #expect(!report.requiresManualReview)
        #expect(try LiveBook.rebuild(ledger: rig.ledger).orders["ag-crashed-p9"]?.result?.status == .notFound)
        #expect(rig.coinbase?.orderRequests(clientId: "ag-crashed-p9") == 0)
    }
}

/// Every fault on the Coinbase order path ends in a known outcome, one order per client id, and a protected (or
/// closed) position.
@Suite struct CoinbaseLiveFaultTests {
    /// Enters with `fault` injected into the next `POST /orders` (the entry) and checks the invariants.
    func enter(with fault: VenueFault?, timeout: Double = 5, skew: Double = 0) async throws -> (RestartRig, FakeCoinbaseVenue, LiveBook) {
        let rig = try RestartRig(.coinbase)
        let fake = try #require(rig.coinbase)
        fake.setSkew(seconds: skew)
        if let fault { fake.faults.inject(fault, path: "/orders", method: "POST") }
        try await rig.enter(rig.desk(timeout: timeout))
        let book = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(try rig.violations() == [], "\(String(describing: fault))")
        #expect(fake.clientIds == [LiveRig.entryId, LiveRig.stopId], "\(String(describing: fault))")
        #expect(book.orders[LiveRig.entryId]?.result?.status == .filled, "\(String(describing: fault))")
        return (rig, fake, book)
    }

    @Test func aRateLimitedOrderIsRetriedAfterTheWait() async throws {
        let (_, fake, _) = try await enter(with: .tooManyRequests(retryAfter: 0))
        #expect(fake.orderRequests(clientId: LiveRig.entryId) == 2)
    }

    /// 503 with nothing executed, or after executing: either way re-submitting the same client id yields one order.
    @Test(arguments: [VenueFault.serviceUnavailable, .unknownErrorAfterExecuting, .droppedAfterExecuting, .garbledAfterExecuting])
    func anUnknownOutcomeEndsInOneFilledAndProtectedOrder(_ fault: VenueFault) async throws {
        let (_, fake, book) = try await enter(with: fault)
        #expect(fake.orderCount == 2)
        #expect(book.orders[LiveRig.stopId]?.isLive == true)
    }

    @Test func aTimedOutOrderIsResubmittedWithTheSameIdAndPlacedOnce() async throws {
        let (_, fake, _) = try await enter(with: .slowAnswer(seconds: 1.5), timeout: 0.5)
        #expect(fake.orderRequests(clientId: LiveRig.entryId) == 2)
        #expect(fake.orderCount == 2)
    }

    /// Issue 10 item 5: with the venue's clock 4 s behind, every private call failed ("nbf is in the future").
    @Test func aSkewedVenueClockDoesNotStopTrading() async throws {
        let (_, fake, _) = try await enter(with: nil, skew: -4)
        #expect(fake.refusedTokens.isEmpty, "\(fake.refusedTokens)")
    }

    @Test func aRefusedStopClosesThePositionAndRaisesTheAlarm() async throws {
        let rig = try RestartRig(.coinbase)
        let fake = try #require(rig.coinbase)
        fake.refuseStops(1)
        try await rig.enter(rig.desk())
        #expect(fake.holding("ETH") == 0)
        let types = try rig.ledger.events().map(\.type)
        #expect(types.contains("protection_alarm") && types.contains("review_required"))
        let book = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(book.requiresManualReview && book.positions.isEmpty)
        #expect(book.orders[ClientOrderId.derived(from: LiveRig.entryId, suffix: "cl")]?.result?.status == .filled)
        #expect(try rig.violations() == [])
    }
}
