@testable import Backtest
import Foundation
import Market
import Model
import Testing

/// The benchmarks every report shows, recomputed here from first principles (plain arrays, no accumulator).
@Suite struct BenchmarkTests {
    static let hour: Int64 = 3_600
    static let start: Int64 = 1_500_000_000 / 3_600 * 3_600

    static func series(_ symbol: String, closes: [Double], offset: Int = 0) -> CandleSeries {
        let candles = closes.enumerated().map { i, c in
            Candle(time: start + Int64(i + offset) * hour, open: c, high: c, low: c, close: c, volume: 1)
        }
        return CandleSeries(symbol: symbol, candles: candles, source: symbol, interval: hour)
    }

    /// Per-bar simple returns, annualised Sharpe (sample sd) and the largest fall from a running peak.
    static func independent(_ equity: [Double], initial: Double) -> (total: Double, sharpe: Double, maxDD: Double) {
        var previous = initial, returns: [Double] = [], peak = initial, worst = 0.0
        for e in equity {
            returns.append(e / previous - 1)
            previous = e
            peak = max(peak, e)
            worst = max(worst, (peak - e) / peak)
        }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let sd = (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(returns.count - 1)).squareRoot()
        return ((equity.last ?? initial) / initial - 1, mean / sd * (365.0 * 24).squareRoot(), worst)
    }

    @Test func buyAndHoldIsEqualWeightWithOneFeeAndMatchesAnIndependentRecomputation() throws {
        let a = (0..<200).map { 100 + Double($0) + 5 * sin(Double($0)) }
        let b = (0..<200).map { 50 - 0.1 * Double($0) + 2 * cos(Double($0) / 3) }
        let series = [Self.series("A", closes: a), Self.series("B", closes: b)]
        let from = Self.start + 20 * Self.hour  // the bar opening at index 19 closes here
        let clock = Benchmarks.decisionTimes(series: series, from: from, to: nil)
        #expect(clock.count == 181)
        let fee = 0.001
        let run = Benchmarks.buyAndHold(series: series, clock: clock, initialEquity: 10_000, feeFraction: fee)

        let unitsA = 5_000 * (1 - fee) / a[19], unitsB = 5_000 * (1 - fee) / b[19]
        let equity = (19..<200).map { unitsA * a[$0] + unitsB * b[$0] }
        let expected = Self.independent(equity, initial: 10_000)
        let m = run.metrics
        #expect(abs(m.totalReturn - expected.total) < 1e-12)
        #expect(abs((m.sharpe ?? 0) - expected.sharpe) < 1e-9)
        #expect(abs(m.maxDrawdown - expected.maxDD) < 1e-12)
        #expect(m.exposure == 1)
        #expect(m.trades == 0)
        #expect(abs(m.feesPaid - 10_000 * fee) < 1e-9)
        #expect(m.bars == 181)
    }

    @Test func aSymbolThatStartsLaterKeepsItsShareInCashUntilItsFirstClose() {
        let a = Array(repeating: 100.0, count: 50)
        let b = (0..<30).map { 10 + Double($0) }  // starts 20 bars later, then rises
        let series = [Self.series("A", closes: a), Self.series("B", closes: b, offset: 20)]
        let clock = Benchmarks.decisionTimes(series: series, from: nil, to: nil)
        let run = Benchmarks.buyAndHold(series: series, clock: clock, initialEquity: 1_000, feeFraction: 0)
        // A is flat; B's half is bought at 10 and ends at 39.
        #expect(abs(run.metrics.finalEquity - (500 + 500 * 39.0 / 10)) < 1e-9)
        #expect(abs(run.equityCurve[10].equity - 1_000) < 1e-9)
    }

    @Test func theEMACrossReferenceSleeveIsTheReferenceStrategy() {
        let candles = zigzag(count: 24 * 40)
        let s = CandleSeries(symbol: "X", candles: candles, source: "zigzag", interval: Self.hour)
        let from = candles[100].time + Self.hour
        let clock = Benchmarks.decisionTimes(series: [s], from: from, to: nil)
        let p = EMACrossParameters(fast: 3, slow: 8, initialEquity: 10_000)
        let sleeve = Benchmarks.emaCross(series: [s], clock: clock, initialEquity: 10_000, parameters: p)
        let direct = EMACrossEngine.run(candles: candles, symbol: "X", parameters: p, from: candles[100].time).run
        #expect(sleeve.metrics.trades == direct.metrics.trades && direct.metrics.trades > 5)
        #expect(abs(sleeve.metrics.finalEquity - direct.metrics.finalEquity) < 1e-6)
        #expect(abs(sleeve.metrics.totalReturn - direct.metrics.totalReturn) < 1e-12)
        #expect(sleeve.metrics.bars == direct.metrics.bars)
    }

    @Test func everyLineCarriesItsExcessOverBuyAndHold() throws {
        let candles = zigzag(count: 24 * 40)
        let s = CandleSeries(symbol: "X", candles: candles, source: "zigzag", interval: Self.hour)
        let clock = Benchmarks.decisionTimes(series: [s], from: nil, to: nil)
        let run = EMACrossEngine.run(candles: candles, symbol: "X", parameters: EMACrossParameters(fast: 3, slow: 8)).run
        var report = BacktestReport(strategy: "ema_cross", symbols: ["X"], timeframe: "1h", from: "a", to: "b", data: [],
                                    costs: [:], run: run, rulesOnly: nil, notes: [])
        let hold = Benchmarks.buyAndHold(series: [s], clock: clock, initialEquity: 10_000, feeFraction: 0)
        report.attachBenchmarks(buyAndHold: hold, reference: nil)
        let lines = try #require(report.benchmarks)
        #expect(lines.map(\.role) == [.strategy, .buyAndHold])
        #expect(abs((lines[0].excessReturn ?? .nan) - (run.metrics.totalReturn - hold.metrics.totalReturn)) < 1e-12)
        #expect(lines[1].excessReturn == 0)
        let json = try JSONCoding.string(report)
        #expect(json.contains("\"excess_return\"") && json.contains("\"buy_and_hold\""))
    }
}
