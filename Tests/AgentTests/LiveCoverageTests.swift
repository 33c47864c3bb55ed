@testable import Agent
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
        #expect(report.discrepancies.contains { $0.kind == .stopShortfall }, "\(report.discrepancies)")
        let stops = try rig.book().stops(on: "ETH-USD").filter(\.isLive)
        let covered = stops.reduce(0.0) { $0 + (Double(rig.fake.order($1.intent.clientOrderId)?["origQty"] ?? "") ?? 0) }
        #expect(LiveDesk.same(covered, held), "stops cover \(covered) of \(held)")
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
        // A second reconciliation finds nothing more to do.
        let again = try await rig.reconcile()
        #expect(!again.discrepancies.contains { $0.kind == .stopShortfall || $0.kind == .positionWithoutStop })
    }

    /// Resting take-profits may never add up to more than the position: after a size changed by hand, the rungs
    /// beyond what is held are cancelled, the farthest first, and the stop is resized.
    @Test func takeProfitsBeyondThePositionAreCancelledFarthestFirst() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        let sender = LiveOrderSender(venue: rig.venue, recorder: rig.desk.recorder)
        let rungs = (1...3).map { ClientOrderId.derived(from: LiveRig.entryId, suffix: "tp\($0)") }
        for (i, id) in rungs.enumerated() {
            _ = try await sender.send(LiveProtection.takeProfitRequest(symbol: "ETH-USD", positionSign: 1, quantity: 0.01,
                                                                       target: 3_100 + 100 * Double(i), clientOrderId: id),
                                      purpose: .takeProfit, parent: LiveRig.entryId, reason: "rung \(i + 1)", rung: i,
                                      cycleId: LiveRig.cycle, time: 1_767_225_700)
        }
        // Nothing to report while the rungs fit the position.
        #expect(!(try await rig.reconcile(act: false)).discrepancies.contains { $0.kind == .takeProfitOversized })
        // A person sells 0.02 ETH by hand: the three 0.01 rungs now exceed the 0.01 held.
        rig.fake.setPosition("ETHUSDT", amount: 0.01, entry: 3_000)
        let report = try await rig.reconcile()
        #expect(report.discrepancies.contains { $0.kind == .takeProfitOversized }, "\(report.discrepancies)")
        #expect(rig.fake.order(rungs[2])?["status"] == "CANCELED" && rig.fake.order(rungs[1])?["status"] == "CANCELED")
        #expect(rig.fake.order(rungs[0])?["status"] == "NEW")
        let resting = try rig.book().orders.values.filter { $0.intent.purpose == .takeProfit && $0.isLive }
        #expect(LiveDesk.same(resting.reduce(0) { $0 + $1.unfilled }, 0.01))
        let again = try await rig.reconcile()
        #expect(!again.discrepancies.contains { $0.kind == .takeProfitOversized })
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
        #expect(outcome.order.status == .filled, "\(outcome.order.status)")
        let entry = try #require(try rig.book().orders[LiveRig.entryId]?.result)
        #expect(entry.status == .filled && entry.source == "lookup")
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

/// The exit policy on Coinbase spot: a stop-limit holds the coins it sells, so the moved stop replaces the old one
/// after cancelling it (never two at once), and the time stop closes what is left. The ladder: `CoinbaseLadderTests`.
@Suite(.serialized) struct CoinbaseExitTests {
    struct Rig {
        let fake: FakeCoinbaseVenue
        let ledger: Ledger
        let desk: LiveDesk

        /// `strict`: the fake's balances follow the trades and open sells hold their coins.
        init(strict: Bool = false) throws {
            fake = try FakeCoinbaseVenue()
            if strict { fake.fund(usd: 10_000) }
            let venue = Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 1, timeout: 5)),
                                 credentials: try CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, privateKey: fake.privateKeyPEM))
            ledger = try Ledger(path: Fixtures.tempDir("agent-live-cb-exits") + "/agent.sqlite")
            desk = LiveDesk(venue: venue, ledger: ledger, settings: LiveRig.defaultSettings)
        }

        /// A filled 0.0333 ETH long at 3000 with its stop-limit at 2850; returns the position as the portfolio sees it.
        func enter() async throws -> PaperPosition {
            _ = try await desk.executor(haltReason: { nil }).execute(
                LiveRig.intent(), tier: .core, quote: MarketQuote(bid: 2999, ask: 3000, depthUsd: 1e6), time: 1_767_225_600)
            let portfolio = try Portfolio.rebuild(store: ledger, mode: .live, startingEquity: nil).0
            return try #require(portfolio.account.position("ETH-USD"))
        }

        func snapshot(at time: Int64) -> MarketSnapshot {
            let bars = (0..<3).map { i in
                Candle(time: 1_767_225_600 + Int64(i) * 3_600, open: 3000, high: 3010, low: 2995, close: 3005, volume: 10)
            }
            return MarketSnapshot(time: time, symbols: [SymbolSnapshot(symbol: "ETH-USD", candles: bars, bid: 3004, ask: 3006,
                                                                       bidDepthUSD: 1e6, askDepthUSD: 1e6, volume24hUSD: 1e9)])
        }

        var orderBodies: [String] { fake.requests("/orders", method: "POST").map { String(decoding: $0.body, as: UTF8.self) } }
    }

    @Test func aMovedStopReplacesTheOldOneAfterCancellingIt() async throws {
        let rig = try Rig(strict: true)
        var position = try await rig.enter()
        #expect(rig.orderBodies.count == 2)
        // The first rung was taken: the policy's stop is at breakeven now.
        position.rungsTaken = 1
        position.stopPrice = ExitManager.breakeven(position)
        var plan = try Fixtures.defaults([]).signals.exits
        plan.ladder = []   // no rungs: the stop alone covers the position
        _ = try await rig.desk.manageExits(positions: [position], snapshot: rig.snapshot(at: 1_767_236_400), plan: plan,
                                           atrPeriod: 14, cycleId: "c-20260101T030000Z-0e0f", time: 1_767_236_400)
        let bodies = rig.orderBodies
        #expect(bodies.count == 3, "\(bodies)")
        let moved = bodies.last ?? ""
        #expect(moved.contains("stop_limit_stop_limit_gtc") && moved.contains(#""stop_price":"3000""#) && moved.contains("0.0333"))
        let book = try LiveBook.rebuild(ledger: rig.ledger)
        let stops = book.stops(on: "ETH-USD").filter(\.isLive)
        #expect(stops.count == 1 && stops.first?.intent.triggerPrice == 3000)
        // The old stop was cancelled before the new one was sent (it held the coins).
        let types = try rig.ledger.events().map(\.type)
        let cancel = try #require(types.lastIndex(of: "live_cancel"))
        let lastIntent = try #require(types.lastIndex(of: "live_order_intent"))
        #expect(cancel < lastIntent)
    }

    @Test func theTimeStopClosesWhatIsLeft() async throws {
        let rig = try Rig()
        let position = try await rig.enter()
        let plan = try Fixtures.defaults([]).signals.exits
        let late = position.entryTime + Int64(plan.timeStopHours * 3_600) + 60
        _ = try await rig.desk.manageExits(positions: [position], snapshot: rig.snapshot(at: late), plan: plan, atrPeriod: 14,
                                           cycleId: "c-20260104T000100Z-0a0a", time: late)
        let book = try LiveBook.rebuild(ledger: rig.ledger)
        #expect(book.stops(on: "ETH-USD").filter(\.isLive).isEmpty)
        let close = try #require(book.orders.values.first { $0.intent.purpose == .timeStop })
        #expect(close.intent.reduceOnly && close.intent.side == .sell && close.intent.quantity == 0.0333)
        #expect(book.positions["ETH-USD"] == nil, "still held: \(String(describing: book.positions["ETH-USD"]?.quantity))")
    }
}
