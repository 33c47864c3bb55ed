import Config
import Foundation
import Ledger
import LiveExecution
import Market
import Model
import Risk
import TestSupport
import Testing
import Venues
@testable import Agent
@testable import Engine

/// The between-cycle guard on its own: pure, fed prices and stream states.
@Suite struct BetweenCycleGuardTests {
    func guardFor(_ overrides: [String] = []) throws -> BetweenCycleGuard {
        BetweenCycleGuard(policy: try Fixtures.defaults(overrides).policy)
    }

    /// 1 BTC long at 50,000 isolated at 10x (5,000 margin), maintenance 0.4% of notional.
    func isolatedLong() -> (VenuePosition, [String: [LeverageBracket]]) {
        let p = VenuePosition(symbol: "BTC-USD", quantity: 1, entryPrice: 50_000, markPrice: 50_000, unrealizedPnl: 0, leverage: 10,
                              marginType: .isolated, liquidationPrice: 0, isolatedMargin: 5_000)
        let b = [LeverageBracket(bracket: 1, initialLeverage: 125, notionalFloor: 0, notionalCap: 1e9, maintMarginRatio: 0.004, cum: 0)]
        return (p, ["BTC-USD": b])
    }

    @Test func aMarkPathCrossingTheCloseRatioClosesThePosition() throws {
        var g = try guardFor()
        let (p, b) = isolatedLong()
        g.margin = FuturesMarginBook(positions: [p], brackets: b, walletBalance: 10_000,
                                     thresholds: FuturesThresholds(try Fixtures.defaults().policy.futures))
        // Ratio = 0.004 * mark / (5,000 + (mark - 50,000)): 0.36 at 45,500, 0.60 at 45,300, 0.90 at 45,200.
        #expect(g.observe(symbol: "BTC-USD", price: 45_500, timeMs: 1_000, isMark: true).isEmpty)
        #expect(g.observe(symbol: "BTC-USD", price: 45_300, timeMs: 2_000, isMark: true).isEmpty)
        let acted = g.observe(symbol: "BTC-USD", price: 45_200, timeMs: 3_000, isMark: true)
        #expect(acted.count == 1)
        #expect(acted.first?.rule == .margin && acted.first?.action == .close && acted.first?.symbol == "BTC-USD")
        #expect((acted.first?.value ?? 0) > 0.85)
        // Closed: no second action on the next mark.
        #expect(g.observe(symbol: "BTC-USD", price: 45_100, timeMs: 4_000, isMark: true).isEmpty)
    }

    @Test func aMarkAboveTheReduceRatioHalvesOnce() throws {
        var g = try guardFor()
        let (p, b) = isolatedLong()
        g.margin = FuturesMarginBook(positions: [p], brackets: b, walletBalance: 10_000,
                                     thresholds: FuturesThresholds(try Fixtures.defaults().policy.futures))
        // 0.72 at 45,250: above 0.70, below 0.85.
        let first = g.observe(symbol: "BTC-USD", price: 45_250, timeMs: 1_000, isMark: true)
        #expect(first.map(\.action) == [.reduce])
        #expect((g.margin as? FuturesMarginBook)?.positions["BTC-USD"]?.quantity == 0.5)
        #expect(g.observe(symbol: "BTC-USD", price: 45_240, timeMs: 2_000, isMark: true).isEmpty)
        // A trade price is not a mark: the margin rule ignores it.
        #expect(g.observe(symbol: "BTC-USD", price: 45_150, timeMs: 3_000, isMark: false).isEmpty)
    }

    @Test func aSixPercentMoveInThirtySecondsTripsTheFlashRule() throws {
        var g = try guardFor(["policy.circuit_breakers.flash_move.action=flatten"])
        #expect(g.observe(symbol: "ETH-USD", price: 3_000, timeMs: 0, isMark: false).isEmpty)
        #expect(g.observe(symbol: "ETH-USD", price: 2_950, timeMs: 15_000, isMark: false).isEmpty)
        let acted = g.observe(symbol: "ETH-USD", price: 2_820, timeMs: 30_000, isMark: false)
        #expect(acted.map(\.action) == [.flatten])
        #expect(acted.first?.detail.contains("ETH-USD moved down 6%") == true)
        #expect(g.haltReason?.contains("flash move") == true)
        // The same move does not act twice.
        #expect(g.observe(symbol: "ETH-USD", price: 2_800, timeMs: 31_000, isMark: false).isEmpty)
    }

    @Test func slowAndSmallMovesDoNotTrip() throws {
        var g = try guardFor()
        #expect(g.observe(symbol: "ETH-USD", price: 3_000, timeMs: 0, isMark: false).isEmpty)
        #expect(g.observe(symbol: "ETH-USD", price: 2_880, timeMs: 30_000, isMark: false).isEmpty)  // 4%
        // 7% but over 90 s: each 60 s window holds less than 5%.
        var h = try guardFor()
        for (i, price) in [3_000.0, 2_930, 2_860, 2_790].enumerated() {
            #expect(h.observe(symbol: "ETH-USD", price: price, timeMs: Int64(i) * 30_000 + 1, isMark: false).isEmpty)
        }
        #expect(h.haltReason == nil)
    }

    @Test func haltIsTheDefaultFlashAction() throws {
        var g = try guardFor()
        _ = g.observe(symbol: "SOL-USD", price: 100, timeMs: 0, isMark: false)
        #expect(g.observe(symbol: "SOL-USD", price: 106, timeMs: 20_000, isMark: false).map(\.action) == [.haltEntries])
    }

    @Test func streamsDownPastTheLimitHaltAndOptionallyFlattenOncePerOutage() throws {
        var g = try guardFor(["policy.circuit_breakers.stream_lost_seconds=120", "policy.circuit_breakers.on_stream_lost=flatten"])
        g.streamDown("binance.market", timeMs: 0)
        #expect(g.tick(timeMs: 119_000).isEmpty)
        let acted = g.tick(timeMs: 120_000)
        #expect(acted.map(\.action) == [.flatten] && acted.first?.rule == .streamLost)
        #expect(g.tick(timeMs: 200_000).isEmpty)
        #expect(g.streamsLost)
        g.streamUp("binance.market")
        #expect(!g.streamsLost)
        g.streamDown("binance.market", timeMs: 300_000)
        #expect(g.tick(timeMs: 420_000).map(\.action) == [.flatten])
    }

    @Test func aOneMinuteBarWithASixPercentRangeTripsInABacktest() throws {
        var g = try guardFor()
        let calm = Candle(time: 0, open: 100, high: 100.5, low: 99.8, close: 100.2, volume: 1)
        #expect(g.observe(symbol: "BTC-USD", bar: calm, interval: BarInterval(seconds: 60)!).isEmpty)
        let crash = Candle(time: 60, open: 100.2, high: 100.3, low: 94, close: 94.5, volume: 1)
        #expect(g.observe(symbol: "BTC-USD", bar: crash, interval: BarInterval(seconds: 60)!).map(\.action) == [.haltEntries])
    }

    /// A flash-move halt is not lost with the process: a new process rebuilds it from the `guard_action` record no
    /// cycle has acted on, and its first cycle halts; once a cycle has halted on it, the next process trades.
    @Test func aPendingFlashHaltIsRebuiltFromTheLedgerAfterARestart() async throws {
        let data = Fixtures.tempDir()
        var runner = try makeRunner(dataDir: data, mode: .paper)
        let ledger = try #require(runner.ledger)
        var g = try guardFor()
        _ = g.observe(symbol: "BTC-USD", price: 100, timeMs: 0, isMark: false)
        let acted = g.observe(symbol: "BTC-USD", price: 93, timeMs: 10_000, isMark: false)
        #expect(acted.map(\.action) == [.haltEntries])
        _ = try ledger.append(try acted.map { try NewEvent.json("c-before", .guardAction, decisionTime, symbol: $0.symbol, $0) })
        // A margin action after it is no halt and does not hide it.
        let (p, b) = isolatedLong()
        g.margin = FuturesMarginBook(positions: [p], brackets: b, walletBalance: 10_000,
                                     thresholds: FuturesThresholds(try Fixtures.defaults().policy.futures))
        let margin = g.observe(symbol: "BTC-USD", price: 45_200, timeMs: 20_000, isMark: true)
        _ = try ledger.append(try margin.map { try NewEvent.json("c-before", .guardAction, decisionTime, symbol: $0.symbol, $0) })

        // A fresh guard (the old code's restart) would trade; the one rebuilt from the ledger halts.
        runner.guardKeeper = try GuardKeeper.restoring(try guardFor(), store: ledger)
        let halted = await runner.run(at: decisionTime)
        #expect(halted.status == .halted && halted.violatedChecks == ["between_cycle_guard"])
        #expect(halted.noTradeReason?.contains("flash move: BTC-USD moved down 7%") == true, "\(halted.noTradeReason ?? "")")
        // That cycle saw it: the next process starts without a halt.
        runner.guardKeeper = try GuardKeeper.restoring(try guardFor(), store: ledger)
        #expect(await runner.run(at: decisionTime + 3_600).status != .halted)
    }

    /// The cycle after a trip halts new entries, says why, and lists the guard's actions; the one after runs again.
    @Test func theNextCycleHaltsAndListsTheGuardActions() async throws {
        let data = Fixtures.tempDir()
        var runner = try makeRunner(dataDir: data, mode: .paper)
        let keeper = GuardKeeper(try guardFor())
        runner.guardKeeper = keeper
        keeper.apply { g in
            _ = g.observe(symbol: "BTC-USD", price: 100, timeMs: 0, isMark: false)
            return g.observe(symbol: "BTC-USD", price: 93, timeMs: 10_000, isMark: false)
        }
        let halted = await runner.run(at: decisionTime)
        #expect(halted.status == .halted)
        #expect(halted.violatedChecks == ["between_cycle_guard"])
        #expect(halted.noTradeReason?.contains("flash move") == true)
        #expect(halted.guardActions.map(\.rule) == [.flashMove])
        let next = await runner.run(at: decisionTime + 3_600)
        #expect(next.status != .halted)
        #expect(next.guardActions.isEmpty)
    }
}
