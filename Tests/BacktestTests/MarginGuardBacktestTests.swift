import Backtest
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
import Risk
import TestSupport
import Testing

/// The between-cycle guard's margin rule in a backtest: on each bar, a leveraged paper position is marked at the
/// bar's adverse extreme and judged by the same `FuturesMargin` rule as LIVE (70% reduce, 85% close).
@Suite struct MarginGuardBacktestTests {
    static let start: Int64 = 1_700_000_000 / 3_600 * 3_600
    static let bars = 300

    /// Flat hourly bars at 100, then one bar whose low is `low`; a 1 BTC long entered at 100 at the open of that bar
    /// with its stop `stopPct` away. Returns the store after the cycle at the bar's close.
    /// `leverage` is the run's `--leverage`; the entry is held at `entryLeverage` (its intent's), by default the same.
    func run(low: Double, leverage: Double, entryLeverage: Double? = nil, stopPct: Double = 15) async throws -> MemoryEventStore {
        var candles = (0..<Self.bars).map { i in
            Candle(time: Self.start + Int64(i) * 3_600, open: 100, high: 100.2, low: 99.8, close: 100, volume: 50_000)
        }
        let entryTime = Self.start + Int64(Self.bars) * 3_600
        candles.append(Candle(time: entryTime, open: 100, high: 100.1, low: low, close: 99, volume: 50_000))
        let series = CandleSeries(symbol: "BTC-USD", candles: candles, source: "test")
        let config = try Fixtures.defaults()
        let backtest = PipelineBacktest(config: config, series: [series],
                                        settings: PipelineBacktestSettings(leverage: leverage), reviewers: .none)
        let store = MemoryEventStore(keeping: [.paperFill, .guardAction])
        let entry = PaperFill(clientOrderId: "entry-1", symbol: "BTC-USD", tier: .core, side: .buy, quantity: 1, price: 100,
                              feeUsd: 0, liquidity: "taker", time: entryTime, reason: "entry", stopLossPct: stopPct,
                              leverage: entryLeverage ?? leverage)
        _ = try store.append([try NewEvent.json("c-entry", .paperFill, entryTime, symbol: "BTC-USD", entry)])
        let runner = backtest.runner(market: ReplayMarket(series: [series]), store: store)
        _ = await runner.cycle(at: entryTime + 3_600)
        return store
    }

    func actions(_ store: MemoryEventStore) throws -> [GuardAction] {
        try store.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }.filter { $0.rule == .margin }
    }

    func exits(_ store: MemoryEventStore) throws -> [PaperFill] {
        try store.events(types: ["paper_fill"]).map { try $0.value(PaperFill.self) }.filter { $0.reason != "entry" }
    }

    /// At 10x the isolated wallet is 10; at a low of 90.5 the ratio is 0.005 * 90.5 / 0.5 = 0.905 (past 0.85): the
    /// guard closes the whole position on that bar, recorded before the fill, and the stop at 85 never fills.
    @Test func aBarPastTheCloseRatioClosesTheLeveragedPosition() async throws {
        let store = try await run(low: 90.5, leverage: 10)
        let acted = try actions(store)
        #expect(acted.count == 1)
        #expect(acted.first?.action == .close && acted.first?.symbol == "BTC-USD" && acted.first?.price == 90.5)
        #expect((acted.first?.value ?? 0) > 0.85)
        let fills = try exits(store)
        #expect(fills.map(\.reason) == ["margin_close"] && fills.first?.quantity == 1)
        // Ledger first: the guard's action precedes the fill it caused.
        let order = try store.events(types: ["guard_action", "paper_fill"]).map(\.type)
        #expect(order.suffix(2) == ["guard_action", "paper_fill"])
    }

    /// At a low of 90.6 the ratio is 0.755 (past 0.70, below 0.85): half the position is closed.
    @Test func aBarPastTheReduceRatioHalvesIt() async throws {
        let store = try await run(low: 90.6, leverage: 10)
        #expect(try actions(store).map(\.action) == [.reduce])
        #expect(try exits(store).map(\.quantity) == [0.5])
    }

    /// Unleveraged (spot) books have no margin rule; and at 5x the same bar is far from the limits.
    @Test func noMarginActionWithoutLeverageOrFarFromTheLimits() async throws {
        #expect(try actions(try await run(low: 90.5, leverage: 1)).isEmpty)
        #expect(try actions(try await run(low: 90.5, leverage: 5)).isEmpty)
    }

    /// Each position is judged at its own leverage, not the run's maximum: under `--leverage 10` a position entered at
    /// 5x is far from the limits on the bar that closes one entered at 10x.
    @Test func aPositionIsJudgedAtItsOwnLeverageNotTheRunsMaximum() async throws {
        #expect(try actions(try await run(low: 90.5, leverage: 10, entryLeverage: 5)).isEmpty)
        #expect(try actions(try await run(low: 90.5, leverage: 10, entryLeverage: 10)).map(\.action) == [.close])
    }

    /// A stop crossed before the margin limit is reached fills first: at 10x a bar to 90 is past 85% at its low, but
    /// with the stop 5% away (95, ratio 0.095 there) the price passed the stop on the way, so the stop closes it.
    @Test func aStopNearerThanTheLimitFillsFirst() async throws {
        let store = try await run(low: 90.5, leverage: 10, stopPct: 5)
        #expect(try actions(store).isEmpty)
        let fills = try exits(store)
        #expect(fills.count == 1 && fills.first?.reason != "margin_close" && (fills.first?.price ?? 0) > 94, "\(fills)")
    }

    /// A leveraged position's liquidation price follows what is still held: after half of it was taken at a rung,
    /// the rest liquidates where a fresh position of that size would (its isolated margin is its own share).
    @Test func liquidationFollowsTheSizeStillHeld() throws {
        let brackets = ["BTC-USD": [LeverageBracket(bracket: 1, initialLeverage: 50, notionalFloor: 0, notionalCap: 1_000_000,
                                                    maintMarginRatio: 0.004, cum: 0)]]
        let config = try Fixtures.defaults()
        let liquidation = PaperMarginRule(policy: config.policy, brackets: brackets)
        let settings = config.app.paper
        func position(after fills: [PaperFill]) throws -> PaperPosition {
            var account = PaperAccount(cashUsd: 10_000)
            for f in fills { account.apply(f) }
            return try #require(account.position("BTC-USD"))
        }
        func fill(_ side: Side, _ quantity: Double, reason: String) -> PaperFill {
            PaperFill(clientOrderId: "f-\(reason)", symbol: "BTC-USD", tier: .core, side: side, quantity: quantity, price: 100,
                      feeUsd: 0, liquidity: "taker", time: Self.start, reason: reason, stopLossPct: 20, leverage: 10)
        }
        let halved = try position(after: [fill(.buy, 2, reason: "entry"), fill(.sell, 1, reason: "take_profit")])
        let fresh = try position(after: [fill(.buy, 1, reason: "entry")])
        // 10x: a fresh long liquidates about 9.6% below entry; the halved one must too, not at twice the distance.
        let bar = Candle(time: Self.start + 3_600, open: 100, high: 100, low: 90, close: 95, volume: 1)
        let a = PaperDesk.liquidated(halved, bars: [bar], interval: 3_600, liquidation: liquidation, settings: settings)
        let b = PaperDesk.liquidated(fresh, bars: [bar], interval: 3_600, liquidation: liquidation, settings: settings)
        #expect(a != nil && b != nil)
        #expect(a?.price == b?.price)
    }
}

