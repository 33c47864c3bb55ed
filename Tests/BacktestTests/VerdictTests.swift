@testable import Backtest
import Foundation
import Market
import Model
import Testing

/// Permutation test, deflated Sharpe, stitched walk-forward and the look-ahead check.
@Suite struct VerdictTests {
    static let hour: Int64 = 3_600
    static let start: Int64 = 1_500_000_000 / 3_600 * 3_600

    /// Closes from per-bar log returns; each bar opens at the previous close.
    static func series(returns: [Double]) -> CandleSeries {
        var close = 100.0
        var candles: [Candle] = []
        for (i, r) in returns.enumerated() {
            let open = close
            close = open * exp(r)
            candles.append(Candle(time: start + Int64(i) * hour, open: open, high: max(open, close) * 1.001,
                                  low: min(open, close) * 0.999, close: close, volume: 1_000))
        }
        return CandleSeries(symbol: "X", candles: candles, source: "synthetic", interval: hour)
    }

    static func gaussian(_ n: Int, seed: UInt64, sd: Double) -> [Double] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
            return sd * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    static func pValue(_ s: CandleSeries, seed: UInt64, permutations: Int = 49) async throws -> Double {
        let p = EMACrossParameters(fast: 8, slow: 21, commission: 0)
        let actual = EMACrossEngine.run(candles: s.candles, symbol: "X", parameters: p).run.metrics
        return try await PermutationTest.run(series: [s], keepBefore: .min, permutations: permutations, block: 1, seed: seed,
                                             metric: "total_return", actual: actual) { shuffled in
            EMACrossEngine.run(candles: shuffled[0].candles, symbol: "X", parameters: p).run.metrics
        }.pValue
    }

    @Test func aBlockPermutationKeepsEveryBarMoveAndTheEndPointsButNotTheOrder() {
        let s = Self.series(returns: Self.gaussian(500, seed: 7, sd: 0.01))
        let keep = s.candles[50].time
        let p = BlockPermutation.permute([s], keepBefore: keep, block: 10, seed: 3, index: 0)[0]
        #expect(p.candles.count == s.candles.count)
        #expect(p.candles.map(\.time) == s.candles.map(\.time))
        #expect(Array(p.candles.prefix(50)) == Array(s.candles.prefix(50)))
        #expect(abs(p.candles[499].close / s.candles[499].close - 1) < 1e-9)
        let moves = { (c: [Candle]) in (50..<c.count).map { (c[$0].close / c[$0].open * 1e9).rounded() }.sorted() }
        #expect(moves(p.candles) == moves(s.candles))
        #expect(p.candles.map(\.close) != s.candles.map(\.close))
        // Deterministic: the same seed and index give the same copy.
        #expect(BlockPermutation.permute([s], keepBefore: keep, block: 10, seed: 3, index: 0)[0].candles == p.candles)
    }

    @Test func onRandomWalksThePermutationTestFindsNoEdge() async throws {
        var pValues: [Double] = []
        for seed in UInt64(1)...5 {
            pValues.append(try await Self.pValue(Self.series(returns: Self.gaussian(1_000, seed: seed, sd: 0.01)), seed: seed))
        }
        #expect(pValues.filter { $0 > 0.05 }.count >= 4, "p-values \(pValues)")
    }

    @Test func onAPlantedTrendThePermutationTestFindsTheEdge() async throws {
        // Regimes of 150 bars drifting up or down: a trend follower's edge that shuffling single bars destroys.
        let noise = Self.gaussian(1_500, seed: 11, sd: 0.006)
        let returns = noise.enumerated().map { i, e in e + ((i / 150) % 2 == 0 ? 0.004 : -0.004) }
        let p = try await Self.pValue(Self.series(returns: returns), seed: 11)
        #expect(p <= 0.05, "p = \(p)")
    }

    @Test func theDeflatedSharpeIsTheProbabilisticSharpeForOneTrialAndFallsWithMoreTrials() throws {
        #expect(abs(Normal.quantile(0.975) - 1.959_963_985) < 1e-8)
        #expect(abs(Normal.cdf(0) - 0.5) < 1e-15)
        let returns = Self.gaussian(2_000, seed: 5, sd: 0.01).map { $0 + 0.0008 }
        let one = try #require(DeflatedSharpe.of(returns: returns, trials: 1, trialSharpeVariance: 0.001))
        let n = Double(returns.count), mean = returns.reduce(0, +) / n
        let sd = (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
        let sr = mean / sd
        #expect(abs(one.sharpe - sr) < 1e-12)
        #expect(one.expectedMaxSharpe == 0)
        let denominator = (1 - one.skewness * sr + (one.kurtosis - 1) / 4 * sr * sr).squareRoot()
        #expect(abs(one.probability - Normal.cdf(sr * (n - 1).squareRoot() / denominator)) < 1e-12)
        let many = try #require(DeflatedSharpe.of(returns: returns, trials: 100, trialSharpeVariance: 0.001))
        #expect(many.expectedMaxSharpe > 0 && many.probability < one.probability)
    }

    @Test func theStitchedOutOfSampleCurveCompoundsTheWindowsTestReturns() async throws {
        let candles = zigzag(count: 24 * 200)
        let spec = WalkForwardSpec(train: .days(40), test: .days(30), step: .days(30))
        let grid = ParameterGrid(objective: "total_return", grid: ["fast": ["3", "5"], "slow": ["8", "13"]])
        let report = try await WalkForward.run(spec: spec, grid: grid, start: candles[0].time, end: candles[candles.count - 1].time + 3_600,
                                               strategy: "ema_cross") { p, from, to in
            EMACrossEngine.run(candles: candles, symbol: "X",
                               parameters: EMACrossParameters(fast: Int(p["fast"] ?? "") ?? 3, slow: Int(p["slow"] ?? "") ?? 8),
                               from: from, to: to, maxCurvePoints: MetricsAccumulator.everyBar).run
        }
        let stitched = try #require(report.stitched)
        #expect(report.windows.count == 5)
        let compounded = report.windows.reduce(1.0) { $0 * (1 + $1.test.totalReturn) } - 1
        #expect(abs(stitched.metrics.totalReturn - compounded) < 1e-9)
        #expect(stitched.metrics.trades == report.windows.reduce(0) { $0 + $1.test.trades })
        #expect(stitched.metrics.bars == report.windows.reduce(0) { $0 + $1.test.bars })
        #expect(stitched.deflatedSharpe?.trials == 4)
        let oos = report.windows.compactMap(\.testObjective)
        #expect(abs((stitched.outOfSampleMean ?? .nan) - oos.reduce(0, +) / Double(oos.count)) < 1e-12)
    }

    @Test func theLookaheadCheckPassesAnHonestStrategyAndCatchesOneThatPeeks() async throws {
        let s = CandleSeries(symbol: "X", candles: zigzag(count: 1_000), source: "zigzag", interval: Self.hour)
        let clock = Benchmarks.decisionTimes(series: [s], from: nil, to: nil)
        let cuts = LookaheadCheck.cuts(clock: clock, count: 3, seed: 1)
        #expect(cuts.count == 3)
        let p = EMACrossParameters(fast: 3, slow: 8)
        let honest = try await LookaheadCheck.run(series: [s], cuts: cuts, time: { $0.time }, describe: { $0.side.rawValue }) { series in
            EMACrossEngine.run(candles: series[0].candles, symbol: "X", parameters: p).signals
        }
        #expect(honest.identical && honest.decisionsCompared > 20)
        // A strategy that decides at a bar's close from the next bar's close.
        let peeking = try await LookaheadCheck.run(series: [s], cuts: cuts, time: { $0.time }, describe: { $0.side.rawValue }) { series in
            let c = series[0].candles
            return (0..<max(c.count - 1, 0)).map { i in
                EMACrossSignal(time: c[i].time + 3_600, side: c[i + 1].close > c[i].close ? .buy : .sell)
            }
        }
        #expect(!peeking.identical)
        // Cut off, it cannot decide at the cut at all: every truncated run differs.
        #expect(peeking.differences.filter { $0.contains("truncated") }.count == 3, "\(peeking.differences)")
    }
}
