@testable import Agent
import Config
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// A LIVE desk and executor against the fake Binance venue on 127.0.0.1, with freshly generated keys.
struct LiveRig {
    let fake: FakeBinanceVenue
    let venue: BinanceFutures
    let ledger: Ledger
    let desk: LiveDesk
    static let cycle = "c-20260101T000000Z-0a1b"

    static func randomHex(_ bytes: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    static let defaultSettings = LiveSettings(leverage: 1, marginType: .isolated, stopLimitOffsetPct: 0.5,
                                              futures: FuturesThresholds(reduceMarginRatio: 0.70, closeMarginRatio: 0.85,
                                                                         minLiquidationDistancePct: 20))

    init(settings: LiveSettings = LiveRig.defaultSettings) throws {
        let key = Self.randomHex(16), secret = Self.randomHex(32)
        fake = try FakeBinanceVenue(seedPosition: false, apiKey: key, secret: secret)
        venue = BinanceFutures(settings: BinanceSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 1, timeout: 5)),
                               credentials: BinanceCredentials(apiKey: key, secret: secret))
        ledger = try Ledger(path: Fixtures.tempDir("agent-live") + "/agent.sqlite")
        desk = LiveDesk(venue: venue, ledger: ledger, settings: settings)
    }

    static func intent(symbol: String = "ETH-USD", notional: Double = 100, proposal: String = "p1", stopLossPct: Double = 5,
                       leverage: Double = 1) -> OrderIntent {
        OrderIntent(clientOrderId: ClientOrderId.make(cycleId: cycle, proposalId: proposal), cycleId: cycle, proposalId: proposal,
                    symbol: symbol, side: .buy, sizePct: 1, notionalUsd: notional, quantity: 0, price: 3000,
                    stopLossPct: stopLossPct, takeProfitPct: 10, mode: .live, status: .intended, leverage: leverage)
    }

    /// A filled 0.03 ETH long with its stop.
    func enter(_ intent: OrderIntent = LiveRig.intent(), halted: String? = nil) async throws -> ExecutionOutcome {
        let executor = desk.executor(haltReason: { halted })
        return try await executor.execute(intent, tier: .core, quote: MarketQuote(bid: 2999, ask: 3000, depthUsd: 1e6), time: 1_767_225_600)
    }

    var types: [String] { (try? ledger.events().map(\.type)) ?? [] }

    func book() throws -> LiveBook { try LiveBook.rebuild(ledger: ledger) }

    func reconcile(act: Bool = true) async throws -> ReconcileReport {
        try await desk.reconcile(cycleId: "c-20260101T010000Z-0c0d", time: 1_767_229_200, act: act)
    }

    static var entryId: String { ClientOrderId.make(cycleId: cycle, proposalId: "p1") }
    static var stopId: String { ClientOrderId.derived(from: entryId, suffix: "sl") }
}

@Suite(.serialized) struct LiveDeskTests {
    @Test func entrySetsMarginAndLeverageThenSendsEntryThenAReduceOnlyStopLedgerFirst() async throws {
        let rig = try LiveRig()
        let outcome = try await rig.enter()
        #expect(outcome.order.status == .filled)
        #expect(outcome.order.quantity == 0.03)                       // 100 USD / 3000 rounded DOWN to the 0.01 step
        #expect(rig.fake.positionAmount("ETHUSDT") == 0.03)
        // Leverage and margin type before the entry; the stop is a reduce-only conditional algo order.
        let paths = rig.fake.requests.filter { $0.method == "POST" }.map(\.pathWithoutQuery)
        #expect(paths == ["/fapi/v1/marginType", "/fapi/v1/leverage", "/fapi/v1/order", "/fapi/v1/algoOrder"])
        let stop = try #require(rig.fake.order(LiveRig.stopId))
        #expect(stop["type"] == "STOP_MARKET" && stop["reduceOnly"] == "true" && stop["origQty"] == "0.03" && stop["side"] == "SELL")
        #expect(stop["triggerPrice"] == "2850")
        #expect(rig.fake.requests("/fapi/v1/leverage").first?.text.contains("leverage=1") == true)
        // Ledger first: every order's intent precedes its result.
        #expect(rig.types == ["live_setting", "live_order_intent", "live_order_result", "live_fill", "live_order_intent", "live_order_result"])
        let book = try rig.book()
        #expect(book.positions["ETH-USD"]?.quantity == 0.03)
        #expect(book.stops(on: "ETH-USD").map(\.intent.clientOrderId) == [LiveRig.stopId])
    }

    @Test func theKillSwitchStopsAnEntryAtTheLastMoment() async throws {
        let rig = try LiveRig()
        let outcome = try await rig.enter(halted: "kill switch is on")
        #expect(outcome.order.status == .halted)
        #expect(rig.fake.requests("/fapi/v1/order").isEmpty)
    }

    @Test func anUnknown503OnAnOrderThatWentThroughIsLookedUpNotResent() async throws {
        let rig = try LiveRig()
        rig.fake.faults.inject(.unknownErrorAfterExecuting, path: "/fapi/v1/order", method: "POST")
        let outcome = try await rig.enter()
        #expect(outcome.order.status == .filled)
        #expect(rig.fake.orderRequests(clientId: LiveRig.entryId) == 1)
        #expect(rig.fake.positionAmount("ETHUSDT") == 0.03)
        #expect(rig.fake.order(LiveRig.stopId) != nil)
        let result = try #require(try rig.ledger.events(types: ["live_order_result"]).first?.value(LiveOrderResult.self))
        #expect(result.status == .filled && result.filledQuantity == 0.03)
    }

    @Test func aStopThatCannotBePlacedClosesThePositionAndRaisesTheAlarm() async throws {
        let rig = try LiveRig()
        rig.fake.faults.inject(.unknownErrorWithoutExecuting, path: "/fapi/v1/algoOrder", method: "POST", times: 3)
        let outcome = try await rig.enter()
        #expect(outcome.order.status == .filled)
        #expect(rig.fake.positionAmount("ETHUSDT") == 0)             // closed reduce-only
        let close = try #require(rig.fake.order(ClientOrderId.derived(from: LiveRig.entryId, suffix: "cl")))
        #expect(close["reduceOnly"] == "true" && close["side"] == "SELL")
        #expect(rig.types.contains("protection_alarm"))
        #expect(try rig.book().requiresManualReview)
    }

    @Test func entriesBelowTheLiquidationDistanceAreRefusedWithTheRealBrackets() async throws {
        // 5x isolated with the fake's 0.4% first bracket: liquidation ~19.7% below the entry.
        var settings = LiveRig.defaultSettings
        settings.leverage = 5
        let refused = try LiveRig(settings: settings)
        #expect(try await refused.enter(LiveRig.intent(leverage: 5)).order.status == .refusedLiquidationDistance)
        #expect(refused.fake.requests("/fapi/v1/order").isEmpty && refused.fake.requests("/fapi/v1/leverage").isEmpty)
        settings.futures.minLiquidationDistancePct = 19
        let allowed = try LiveRig(settings: settings)
        #expect(try await allowed.enter(LiveRig.intent(leverage: 5)).order.status == .filled)
        #expect(allowed.fake.requests("/fapi/v1/leverage").first?.text.contains("leverage=5") == true)
    }

    /// The entry sets its own intent's leverage, not the policy's maximum: rounded down to a whole number, never above
    /// `risk.max_leverage`; the liquidation check and the recorded setting use the same number. At the policy's 5x
    /// the same entry would be refused (liquidation ~19.7% away, below the minimum of 20%).
    @Test func anEntrySetsItsIntentsLeverageRoundedDownAndCappedByThePolicy() async throws {
        var settings = LiveRig.defaultSettings
        settings.leverage = 5
        let rig = try LiveRig(settings: settings)
        #expect(try await rig.enter(LiveRig.intent(leverage: 2.9)).order.status == .filled)
        let posted = rig.fake.requests("/fapi/v1/leverage").map(\.text)
        #expect(posted.count == 1 && posted.allSatisfy { $0.contains("leverage=2&") || $0.hasSuffix("leverage=2") }, "\(posted)")
        let recorded = try rig.ledger.events(types: ["live_setting"]).map { try $0.value(LiveSetting.self) }
        #expect(recorded.map(\.leverage) == [2])
        #expect(settings.venueLeverage(for: 9) == 5 && settings.venueLeverage(for: 0.5) == 1 && settings.venueLeverage(for: .nan) == 1)
        // Above the cap the venue gets the cap (the policy already refuses such a proposal by max_leverage): at 9x the
        // entry would be refused (liquidation ~10.7% away), at the 5x cap it passes a minimum of 19%.
        settings.futures.minLiquidationDistancePct = 19
        let capped = try LiveRig(settings: settings)
        #expect(try await capped.enter(LiveRig.intent(leverage: 9)).order.status == .filled)
        #expect(capped.fake.requests("/fapi/v1/leverage").map(\.text).allSatisfy { $0.contains("leverage=5") })
    }

    // MARK: Reconciliation

    @Test func aCleanBookReconcilesWithoutFindings() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        let report = try await rig.reconcile()
        #expect(report.discrepancies.isEmpty)
        #expect(!report.requiresManualReview)
        #expect(report.positions == [.init(symbol: "ETH-USD", ledgerQuantity: 0.03, venueQuantity: 0.03, managed: true, stops: [LiveRig.stopId])])
        #expect(rig.fake.clientIds == [LiveRig.entryId, LiveRig.stopId])      // nothing new sent
    }

    @Test func aPositionClosedByHandIsCorrectedAndItsStopCancelled() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        rig.fake.setPosition("ETHUSDT", amount: 0, entry: 0)
        let report = try await rig.reconcile()
        #expect(report.discrepancies.map(\.kind) == [.positionClosed])
        #expect(!report.requiresManualReview)
        #expect(try rig.book().positions.isEmpty)
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
        let types = rig.types
        #expect(types.contains("manual_intervention") && types.contains("live_position_correction"))
        let cancel = try #require(types.firstIndex(of: "live_cancel"))
        #expect(types[(cancel + 1)...].contains("live_order_result"))
    }

    @Test func aPositionOpenedByHandRequiresReviewUntilAcknowledged() async throws {
        let rig = try LiveRig()
        rig.fake.setPosition("SOLUSDT", amount: 2, entry: 150)
        let compare = try await rig.reconcile(act: false)
        #expect(compare.requiresManualReview)                        // what would be flagged...
        #expect(rig.types.isEmpty)                                   // ...but compare-only records nothing
        let report = try await rig.reconcile()
        #expect(report.requiresManualReview)
        #expect(report.discrepancies.first { $0.kind == .unknownPosition }?.critical == true)
        #expect(rig.types.contains("review_required"))
        let ack = try await rig.desk.acknowledge(cycleId: "r-ack", time: 1_767_229_300, stopLossPct: { _ in 12 })
        #expect(ack.adoptedPositions.map(\.symbol) == ["SOL-USD"])
        let after = try await rig.reconcile()
        #expect(!after.requiresManualReview)
        #expect(after.discrepancies.isEmpty)
        // Adopting protects: one reduce-only stop for the whole position at the tier's distance, and nothing else.
        let sent = rig.fake.requests("/fapi/v1/algoOrder", method: "POST")
        #expect(sent.count == 1)
        let stop = try #require(rig.book().stops(on: "SOL-USD").first { $0.isLive })
        let onVenue = try #require(rig.fake.order(stop.intent.clientOrderId))
        #expect(onVenue["type"] == "STOP_MARKET" && onVenue["reduceOnly"] == "true" && onVenue["origQty"] == "2")
        #expect(abs((Double(onVenue["triggerPrice"] ?? "") ?? 0) - 132) < 0.02)
        #expect(rig.fake.requests("/fapi/v1/order", method: "POST").isEmpty)        // never trades what it did not open
        #expect(rig.fake.positionAmount("SOLUSDT") == 2)
    }

    @Test func aStopCancelledByHandIsRecordedAndReplaced() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        rig.fake.cancelByHand(LiveRig.stopId)
        let report = try await rig.reconcile()
        #expect(report.discrepancies.map(\.kind) == [.orderCancelled, .positionWithoutStop])
        #expect(report.requiresManualReview)
        let replacement = ClientOrderId.derived(from: LiveRig.entryId, suffix: "sl2")
        #expect(rig.fake.order(replacement)?["status"] == "NEW")
        #expect(rig.fake.order(replacement)?["origQty"] == "0.03")
        #expect(try rig.book().stops(on: "ETH-USD").map(\.intent.clientOrderId) == [replacement])
    }

    @Test func aPartialStopFillDuringDowntimeIsRecordedAndTheBookFollowsTheVenue() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        rig.fake.executeAlgo(LiveRig.stopId, quantity: 0.01, finish: false)
        let report = try await rig.reconcile()
        #expect(report.discrepancies.isEmpty)
        #expect(report.positions.first?.ledgerQuantity == 0.02 && report.positions.first?.venueQuantity == 0.02)
        let fills = try rig.ledger.events(types: ["live_fill"]).map { try $0.value(LiveFill.self) }
        #expect(fills.last?.purpose == .stop && fills.last?.quantity == 0.01)
        // The stop then finishes: the position is gone on both sides.
        rig.fake.executeAlgo(LiveRig.stopId, quantity: 0.02, finish: true)
        let second = try await rig.reconcile()
        #expect(second.discrepancies.isEmpty)
        #expect(try rig.book().positions.isEmpty)
    }

    @Test func aSizeMismatchIsCorrectedToTheVenueAndTheStopResized() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        rig.fake.setPosition("ETHUSDT", amount: 0.05, entry: 3000)
        let report = try await rig.reconcile()
        #expect(report.discrepancies.map(\.kind) == [.sizeMismatch, .stopResized])
        #expect(!report.requiresManualReview)
        #expect(try rig.book().positions["ETH-USD"]?.quantity == 0.05)
        #expect(rig.fake.order(ClientOrderId.derived(from: LiveRig.entryId, suffix: "sl2"))?["origQty"] == "0.05")
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
    }

    @Test func anIntendedOrderTheVenueNeverReceivedIsRecordedNotFoundAndNeverResent() async throws {
        let rig = try LiveRig()
        let intent = LiveOrderIntent(clientOrderId: "ag-crashed-p9", symbol: "ETH-USD", side: .buy, kind: "market", quantity: 0.03,
                                     reduceOnly: false, purpose: .entry, tier: .core, stopLossPct: 5, reason: "test")
        try rig.ledger.append(NewEvent.json(LiveRig.cycle, .liveOrderIntent, 1, symbol: "ETH-USD", intent))
        let report = try await rig.reconcile()
        #expect(!report.requiresManualReview)
        #expect(try rig.book().orders["ag-crashed-p9"]?.result?.status == OrderStatus.notFound)
        #expect(rig.fake.orderRequests(clientId: "ag-crashed-p9") == 0)
    }

    // MARK: Futures guard and funding

    @Test func theGuardReducesAboveTheReduceRatioAndClosesAboveTheCloseRatio() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        // 0.03 ETH at 3000: maintenance 90 x 0.4% = 0.36 USDT. Margin 0.5 -> ratio 0.72: reduce by half.
        rig.fake.setIsolatedMargin("ETHUSDT", 0.5)
        let reduce = try await rig.reconcile()
        #expect(reduce.futuresRisk.first?.action == .reduce)
        #expect(rig.fake.positionAmount("ETHUSDT") == 0.02)          // half of 0.03 rounds down to 0.01 on the 0.01 step
        // Margin 0.4 -> 0.24 / 0.4 = 0.6 now: nothing more.
        rig.fake.setIsolatedMargin("ETHUSDT", 0.4)
        #expect(try await rig.reconcile().futuresRisk.first?.action == FuturesRisk.Action.none)
        // Margin 0.25 -> 0.96: close, and its stop is cancelled.
        rig.fake.setIsolatedMargin("ETHUSDT", 0.25)
        let close = try await rig.reconcile()
        #expect(close.futuresRisk.first?.action == .close)
        #expect(rig.fake.positionAmount("ETHUSDT") == 0)
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
        #expect(try rig.book().positions.isEmpty)
        #expect(rig.types.filter { $0 == "futures_risk" }.count == 3)
    }

    @Test func fundingPaymentsAreRecordedOnce() async throws {
        let rig = try LiveRig()
        rig.fake.addFunding("ETHUSDT", amount: -0.012, timeMs: 1_767_196_800_000, tranId: 77)
        _ = try await rig.reconcile()
        _ = try await rig.reconcile()
        let funding = try rig.ledger.events(types: ["live_funding"]).map { try $0.value(LiveFunding.self) }
        #expect(funding == [LiveFunding(symbol: "ETH-USD", amount: -0.012, asset: "USDT", settlementTime: 1_767_196_800, transactionId: "77")])
    }

    @Test func flattenCancelsStopsAndClosesPositionsLedgerFirst() async throws {
        let rig = try LiveRig()
        _ = try await rig.enter()
        let results = try await rig.desk.flatten(cycleId: "k-flatten", time: 1_767_229_400, reason: "test")
        #expect(results.map(\.status) == [.filled])
        #expect(rig.fake.positionAmount("ETHUSDT") == 0)
        #expect(rig.fake.order(LiveRig.stopId)?["status"] == "CANCELED")
        #expect(Array(rig.types.suffix(5)) == ["live_cancel", "live_order_result", "live_order_intent", "live_order_result", "live_fill"])
        #expect(try rig.book().positions.isEmpty && rig.book().liveOrders.isEmpty)
    }
}

/// The guard's arithmetic at its thresholds (strictly above acts; at the threshold does not).
@Suite struct FuturesGuardThresholdTests {
    // MMR 0.5 and cum 0 keep the arithmetic exact: notional 14 -> maintenance 7.
    let brackets = [LeverageBracket(bracket: 1, initialLeverage: 2, notionalFloor: 0, notionalCap: 1e9, maintMarginRatio: 0.5, cum: 0)]
    let limits = FuturesThresholds(reduceMarginRatio: 0.70, closeMarginRatio: 0.85, minLiquidationDistancePct: 20)

    func position(notional: Double, margin: Double) -> VenuePosition {
        VenuePosition(symbol: "ETH-USD", quantity: 1, entryPrice: Decimal(notional), markPrice: Decimal(notional), unrealizedPnl: 0,
                      leverage: 1, marginType: .isolated, liquidationPrice: 0, isolatedMargin: Decimal(margin))
    }

    @Test func reduceStartsAboveSeventyPercent() {
        #expect(FuturesGuard.evaluate(position(notional: 14, margin: 10), brackets: brackets, thresholds: limits).marginRatio == 0.7)
        #expect(FuturesGuard.evaluate(position(notional: 14, margin: 10), brackets: brackets, thresholds: limits).action == .none)
        #expect(FuturesGuard.evaluate(position(notional: 14, margin: 9.99), brackets: brackets, thresholds: limits).action == .reduce)
    }

    @Test func closeStartsAboveEightyFivePercent() {
        #expect(FuturesGuard.evaluate(position(notional: 17, margin: 10), brackets: brackets, thresholds: limits).action == .reduce)
        #expect(FuturesGuard.evaluate(position(notional: 17, margin: 9.99), brackets: brackets, thresholds: limits).action == .close)
    }

    @Test func entryDistanceComesFromTheBrackets() {
        let real = [LeverageBracket(bracket: 1, initialLeverage: 125, notionalFloor: 0, notionalCap: 50_000, maintMarginRatio: 0.004, cum: 0)]
        // Unlevered longs cannot be liquidated; 5x is liquidated 1 - 0.8 / 0.996 below the entry.
        #expect(FuturesGuard.entryLiquidationDistancePct(quantity: 1, price: 3000, leverage: 1, brackets: real) == nil)
        let d = FuturesGuard.entryLiquidationDistancePct(quantity: 1, price: 3000, leverage: 5, brackets: real) ?? 0
        #expect(abs(d - (1 - 0.8 / 0.996) * 100) < 1e-9)
    }
}

/// LIVE on Coinbase spot: the entry's fill is read back by client id, and the protective stop is a stop-limit.
@Suite struct LiveCoinbaseTests {
    @Test func aSpotEntryIsProtectedByAStopLimitBelowTheFill() async throws {
        let fake = try FakeCoinbaseVenue()            // its P-256 key is generated per instance
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 1, timeout: 5)),
                             credentials: try CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, privateKey: fake.privateKeyPEM))
        let ledger = try Ledger(path: Fixtures.tempDir("agent-live-cb") + "/agent.sqlite")
        let desk = LiveDesk(venue: venue, ledger: ledger, settings: LiveRig.defaultSettings)
        let outcome = try await desk.executor(haltReason: { nil }).execute(
            LiveRig.intent(), tier: .core, quote: MarketQuote(bid: 2999, ask: 3000, depthUsd: 1e6), time: 1_767_225_600)
        #expect(outcome.order.status == .filled)
        #expect(outcome.order.quantity == 0.0333)                  // 100 / 3000 rounded down to the 0.0001 step
        let bodies = fake.requests("/orders", method: "POST").map { String(decoding: $0.body, as: UTF8.self) }
        #expect(bodies.count == 2)
        #expect(bodies.first?.contains("market_market_ioc") == true)
        let stop = bodies.last ?? ""
        #expect(stop.contains("stop_limit_stop_limit_gtc") && stop.contains(#""stop_price":"2850""#)
                && stop.contains(#""limit_price":"2835.75""#) && stop.contains("STOP_DIRECTION_STOP_DOWN") && stop.contains(#""side":"SELL""#))
        let book = try LiveBook.rebuild(ledger: ledger)
        #expect(book.positions["ETH-USD"]?.quantity == 0.0333)
        #expect(book.stops(on: "ETH-USD").count == 1)
    }
}
