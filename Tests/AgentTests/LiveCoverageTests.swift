import Execution
import Foundation
import Ledger
import Market
import Model
import TestSupport
import Testing
@testable import Agent

/// Issue 10's holes, each reproduced first: stop coverage after an add-on crash, a result and its fill written
/// together, a garbled answer to an order, and a Coinbase unknown product.
@Suite(.serialized) struct LiveCoverageTests {
    /// An add-on entry whose fill was recorded but whose stop was never sent (the process died between them): the
    /// venue holds twice what the stops cover. Reconciliation must see the shortfall and replace the stop for the
    /// whole position.
    @Test func aStopCoveringOnlyPartOfThePositionIsReplacedForTheFullSize() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        let first = try rig.book().positions["ETH-USD"]?.quantity ?? 0
        #expect(first > 0)
        // The add-on: sent ledger first like any entry, filled, but no stop (the crash point after_fill).
        let addOn = ClientOrderId.make(cycleId: LiveRig.cycle, proposalId: "p2")
        let sender = LiveOrderSender(venue: rig.venue, recorder: rig.desk.recorder)
        _ = try await sender.send(OrderRequest(symbol: "ETH-USD", side: .buy, kind: .market, quantity: Dec.from(first),
                                               clientOrderId: addOn, referencePrice: 3000),
                                  purpose: .entry, parent: nil, tier: .core, stopLossPct: 5, reason: "add-on",
                                  cycleId: LiveRig.cycle, time: 1_767_225_700)
        let held = rig.fake.positionAmount("ETHUSDT")
        #expect(LiveDesk.same(held, 2 * first))
        let report = try await rig.reconcile()
        #expect(report.discrepancies.contains { $0.kind == "stop_shortfall" }, "\(report.discrepancies)")
        let stops = try rig.book().stops(on: "ETH-USD").filter(\.isLive)
        let covered = stops.reduce(0.0) { $0 + (Double(rig.fake.order($1.intent.clientOrderId)?["origQty"] ?? "") ?? 0) }
        #expect(LiveDesk.same(covered, held), "stops cover \(covered) of \(held)")
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
        // A second reconciliation finds nothing more to do.
        let again = try await rig.reconcile()
        #expect(!again.discrepancies.contains { $0.kind == "stop_shortfall" || $0.kind == "position_without_stop" })
    }

    /// A FILLED result and its fill are one write: no crash can separate them.
    @Test func anOrdersResultAndItsFillAreRecordedTogether() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        let events = try rig.ledger.events()
        for (i, e) in events.enumerated() where e.type == "live_fill" {
            let result = events[i - 1]
            #expect(result.type == "live_order_result" && result.seq == e.seq - 1)
            #expect(result.recordedAt == e.recordedAt, "written in separate transactions")
        }
        #expect(events.contains { $0.type == "live_fill" })
    }

    /// A 2xx answer we cannot read is an unknown outcome: the order is looked up by client id and, found filled,
    /// protected — never recorded as FAILED while the venue holds the position.
    @Test func aGarbledAnswerToAnOrderIsLookedUpNotTakenAsNothing() async throws {
        let rig = try LiveRig()
        rig.fake.faults.inject(.garbledAfterExecuting, path: "/fapi/v1/order", method: "POST")
        let outcome = try await rig.enter()
        #expect(outcome.order.status == "filled", "\(outcome.order.status)")
        let entry = try #require(try rig.book().orders[LiveRig.entryId]?.result)
        #expect(entry.status == "FILLED" && entry.source == "lookup")
        #expect(rig.fake.orderRequests(clientId: LiveRig.entryId) == 1)
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "NEW")
    }

    @Test func aCoinbaseUnknownProductIsNotALostOrder() {
        let body = Data(#"{"error":"NOT_FOUND","message":"ProductID could not be found"}"#.utf8)
        #expect(Coinbase.mapError(status: 404, body: body, operation: "GET /products/FOO-USD", idempotent: true).reason == .unknownProduct)
        #expect(Coinbase.mapError(status: 404, body: Data(#"{"error":"NOT_FOUND","message":"order not found"}"#.utf8),
                                  operation: "GET /orders", idempotent: true).reason == .unknownOrder)
    }
}
