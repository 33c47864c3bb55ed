import Backtest
import Config
import Execution
import Foundation
import Market
import Model
import Review
import TestSupport
import Testing
@testable import Agent

/// No stage of the one cycle may see a candle after the decision time: backtest decisions up to `t` must not
/// change when the bars after `t` are replaced by a huge spike, or removed.
@Suite struct PipelinePointInTimeTests {
    static let btcPath = OneEngineTests.btcPath
    static let missing = "shared data not found at <repo root>/../shared/data (clone shared/ beside the repository)"
    static func btcCandles(_ count: Int) throws -> [Candle] {
        guard let path = btcPath else { throw TestFailure(missing) }
        return Array(try CandleCSV.load(path: path).candles.prefix(count))
    }

    /// Defaults with liquidity filters the 2017 Coinbase volumes pass, so every stage runs and trades.
    static func config() throws -> LoadedConfig {
        try Fixtures.defaults([
            "universe.tiers.tier_1_core.min_24h_volume_usd=1000000", "universe.tiers.tier_1_core.min_depth_usd=10000",
            "policy.risk.min_24h_volume_usd=1000000",
            // The first 600 bars (July 2017) fall on the daily trend, so the shipped gate would leave no proposal to
            // compare; the gate's own point-in-time rule (complete days only) is StrategyTests' resampling test.
            "signals.strategy.higher_timeframe.enabled=false",
        ]).forBacktest(symbols: ["BTC-USD"], tier: nil)
    }

    /// Bars after `cut` multiplied by 3 (a spike no honest strategy can know about).
    static func spiked(_ candles: [Candle], after cut: Int64) -> [Candle] {
        candles.map { c in
            guard c.time >= cut else { return c }
            return Candle(time: c.time, open: c.open * 3, high: c.high * 3, low: c.low * 3, close: c.close * 3, volume: c.volume * 5)
        }
    }

    static func run(_ candles: [Candle], reviewers: Bool = true) async throws -> PipelineBacktest.Outcome {
        let config = try config()
        let series = CandleSeries(symbol: "BTC-USD", candles: candles, source: "test")
        return await PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(),
                                      reviewers: reviewers ? .board(.offline(policy: config.policy), label: "offline", paid: false) : .none).run()
    }

    @Test func pipelineDecisionsUpToTAreTheSameWhateverComesAfter() async throws {
        guard Self.btcPath != nil else {
            print("skipped: \(Self.missing)")
            return
        }
        let candles = try Self.btcCandles(600)
        let cut = candles[450].time  // bars opening at or after this are the "future" for decisions up to its open
        let honest = try await Self.run(candles)
        let spiked = try await Self.run(Self.spiked(candles, after: cut))
        let truncated = try await Self.run(candles.filter { $0.time < cut })
        let upTo = { (o: PipelineBacktest.Outcome) in o.cycles.filter { $0.time <= cut } }
        #expect(upTo(honest).count > 200)
        #expect(upTo(honest).contains { !$0.proposals.isEmpty }, "the slice must produce proposals, or the test proves nothing")
        #expect(upTo(honest) == upTo(spiked))
        #expect(upTo(honest) == upTo(truncated))
        // Trades closed before the cut are the same too.
        let closedBefore = { (o: PipelineBacktest.Outcome) in o.run.trades.filter { $0.exitTime < cut } }
        #expect(closedBefore(honest) == closedBefore(spiked))
        // And the spike does change what happens after it (the comparison has teeth).
        #expect(honest.cycles.filter { $0.time > cut } != spiked.cycles.filter { $0.time > cut })
    }

    @Test func sameDataAndConfigGiveTheSameResultBitForBit() async throws {
        guard Self.btcPath != nil else {
            print("skipped: \(Self.missing)")
            return
        }
        let candles = try Self.btcCandles(500)
        let a = try await Self.run(candles)
        let b = try await Self.run(candles)
        let encoder = JSONCoding.encoder()
        #expect(try encoder.encode(a.run) == encoder.encode(b.run))
        #expect(a.cycles == b.cycles)
        #expect(a.run.metrics.finalEquity.bitPattern == b.run.metrics.finalEquity.bitPattern)
        let e1 = EMACrossEngine.run(candles: candles, symbol: "BTC-USD", parameters: EMACrossParameters()).run
        let e2 = EMACrossEngine.run(candles: candles, symbol: "BTC-USD", parameters: EMACrossParameters()).run
        #expect(try encoder.encode(e1) == encoder.encode(e2))
    }

    @Test func reviewersOnAndRulesOnlyAreBothReported() async throws {
        guard Self.btcPath != nil else {
            print("skipped: \(Self.missing)")
            return
        }
        let candles = try Self.btcCandles(400)
        let with = try await Self.run(candles)
        let without = try await Self.run(candles, reviewers: false)
        #expect(with.run.reviewerSource == "offline")
        #expect(without.run.reviewerSource == nil)
        #expect(with.run.proposals == without.run.proposals)  // reviewers never create or remove proposals
        #expect((with.run.approved ?? 0) <= (with.run.proposals ?? 0))
    }
}
