import Backtest
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
import TestSupport
import Testing

/// The strategy features through the one cycle (`CycleRunner`, the engine of backtests, PAPER and LIVE): the
/// runner hands the rules its account facts and the signals config, so a feature that the cycle stopped passing
/// fails here even if the rules alone still work.
@Suite struct StrategyCycleTests {
    static let relaxed = ["policy.risk.min_24h_volume_usd=1000", "universe.tiers.tier_1_core.min_24h_volume_usd=1000",
                          "universe.tiers.tier_1_core.min_depth_usd=1000", "app.loop.history_hours=480"]

    /// 20 UTC days of hourly bars drifting `pctPerHour`, then one bar up 5% on five times the volume (breakout,
    /// volume spike and 1h move, all up).
    static func series(pctPerHour: Double) -> CandleSeries {
        var price = 100.0
        var bars: [Candle] = []
        for i in 0..<(20 * 24) {
            let next = price * (1 + pctPerHour / 100)
            bars.append(Candle(time: Int64(i) * 3_600, open: price, high: max(price, next) * 1.001, low: min(price, next) * 0.999,
                               close: next, volume: 10_000))
            price = next
        }
        let jump = price * 1.05
        bars.append(Candle(time: Int64(bars.count) * 3_600, open: price, high: jump * 1.001, low: price * 0.999, close: jump, volume: 50_000))
        return CandleSeries(symbol: "BTC-USD", candles: bars, source: "test")
    }

    /// The proposals and order intents of the cycle at the close of `series(pctPerHour:)`.
    func cycle(pctPerHour: Double, _ overrides: [String]) async throws -> (proposals: [Proposal], intents: [OrderIntent]) {
        let series = Self.series(pctPerHour: pctPerHour)
        let bars = series.candles
        let config = try Fixtures.defaults(Self.relaxed + overrides)
        let backtest = PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(), reviewers: .none)
        let store = MemoryEventStore(keeping: [.proposal, .orderIntent])
        let runner = backtest.runner(market: ReplayMarket(series: [series]), store: store)
        _ = await runner.cycle(at: Int64(bars.count) * 3_600)
        return (try store.events(types: ["proposal"]).map { try $0.value(Proposal.self) },
                try store.events(types: ["order_intent"]).map { try $0.value(OrderIntent.self) })
    }

    @Test func theDailyTrendGateRunsInTheCycle() async throws {
        // A falling month with a one-bar spike: the hourly triggers say up, the daily trend says down.
        let ungated = try await cycle(pctPerHour: -0.05, ["signals.strategy.higher_timeframe.enabled=false"])
        #expect(ungated.proposals.map(\.side) == [.buy], "the spike must propose a long, or the gate proves nothing")
        let gated = try await cycle(pctPerHour: -0.05, ["signals.strategy.higher_timeframe.enabled=true"])
        #expect(gated.proposals.isEmpty)
        // In a rising month the gate lets the same spike through.
        let rising = try await cycle(pctPerHour: 0.05, ["signals.strategy.higher_timeframe.enabled=true"])
        #expect(rising.proposals.map(\.side) == [.buy])
        #expect(rising.proposals.first?.reason.contains("higher timeframe up") == true)
    }

    @Test func riskSizingReachesTheOrder() async throws {
        let run = try await cycle(pctPerHour: 0.05, ["signals.strategy.sizing.mode=risk", "signals.strategy.sizing.risk_per_trade_pct=0.2"])
        let intent = try #require(run.intents.first)
        // 0.2% of equity between entry and a 6% stop: 3.33% of equity, inside every policy cap.
        #expect(abs(intent.sizePct - 0.2 / 6 * 100) < 1e-9)
        #expect(abs(intent.sizePct * intent.stopLossPct / 100 - 0.2) < 1e-9)
        let composite = try await cycle(pctPerHour: 0.05, ["signals.strategy.scorer=composite"])
        #expect(composite.proposals.first?.components.map(\.name) == ["trend", "volatility", "entry_quality", "funding", "regime_bull"])
    }
}
