import Foundation
import Model
import Testing
@testable import Pipeline

/// The cycle's allocation-free newest readings are bit-identical to the last values of the indicator lines (and to
/// the array forms they replaced), on random walks of many lengths and periods, warm-up edges included.
@Suite struct TapeReadingTests {
    /// A deterministic random walk (SplitMix64), with a flat stretch so RSI's no-loss and no-move cases occur.
    func tape(count: Int, seed: UInt64) -> SymbolSnapshot {
        var state = seed
        func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var price = 100.0
        var candles: [Candle] = []
        for i in 0..<count {
            let open = price
            let flat = i % 37 < 4
            price = flat ? price : max(price * (1 + (next() - 0.5) * 0.04), 0.01)
            let high = max(open, price) * (1 + (flat ? 0 : next() * 0.01)), low = min(open, price) * (1 - (flat ? 0 : next() * 0.01))
            candles.append(Candle(time: Int64(i) * 3_600, open: open, high: high, low: low, close: price, volume: 1 + next() * 100))
        }
        return SymbolSnapshot(symbol: "T-USD", candles: candles, bid: price, ask: price,
                              bidDepthUSD: 0, askDepthUSD: 0, volume24hUSD: 0)
    }

    func same(_ a: Double?, _ b: Double?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case let (x?, y?): x.bitPattern == y.bitPattern
        default: false
        }
    }

    @Test(arguments: [1, 2, 5, 14, 15, 16, 30, 192])
    func newestReadingsEqualTheLines(count: Int) {
        for seed in UInt64(1)...6 {
            let t = tape(count: count, seed: seed &* 7_919 &+ UInt64(count))
            let closes = t.candles.map(\.close)
            for period in [1, 2, 3, 8, 14, 21, 50, 200] {
                #expect(same(t.newestEMA(period: period), Indicators.emaLine(closes, period: period).last), "EMA \(period) on \(count)")
                #expect(same(t.newestATR(period: period), Indicators.atrLine(t.candles, period: period).last), "ATR \(period) on \(count)")
                for recent in [0, 1, 6, 24] {
                    let line = Indicators.rsiLine(closes, period: period)
                    let window = line.values[max(line.start, line.count - recent)...]
                    let reading = t.newestRSI(period: period, recentBars: recent)
                    #expect(same(reading?.lowest, window.min()), "RSI min \(period)/\(recent) on \(count)")
                    #expect(same(reading?.newest, window.isEmpty ? nil : line.last), "RSI \(period) on \(count)")
                }
            }
            for bars in [0, 1, 2, 24, 168, 500] {
                let prior = t.candles.dropLast().suffix(bars)
                let range = t.priorRange(bars: bars)
                #expect(same(range?.high, prior.isEmpty ? nil : prior.map(\.high).max()), "high \(bars) on \(count)")
                #expect(same(range?.low, prior.isEmpty ? nil : prior.map(\.low).min()), "low \(bars) on \(count)")
                #expect(same(t.priorMeanVolume(bars: bars), prior.isEmpty ? nil : prior.reduce(0) { $0 + $1.volume } / Double(prior.count)))
                #expect(same(t.lowestLow(bars: bars), t.candles.suffix(bars).map(\.low).min()))
                #expect(same(t.annualizedVolatilityPct(bars: bars),
                             Indicators.annualizedVolatilityPct(closes, bars: bars, interval: t.interval)), "volatility \(bars) on \(count)")
            }
        }
    }
}
