import Foundation
import Model
import TestSupport
import Testing
@testable import Pipeline

/// Indicator values against sequences computed by hand (TA-Lib conventions), including the warm-up.
@Suite struct IndicatorTests {
    let closes: [Double] = [10, 11, 12, 11, 10, 12, 14]

    func near(_ a: [Double?], _ b: [Double?], tolerance: Double = 1e-3) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            switch (x, y) {
            case (nil, nil): true
            case let (x?, y?): abs(x - y) < tolerance
            default: false
            }
        }
    }

    @Test func smaHasNoValueBeforeWarmUp() {
        #expect(near(Indicators.sma(closes, period: 3), [nil, nil, 11, 11.333, 11, 11, 12]))
    }

    @Test func emaIsSeededWithTheSMAThenAlphaTwoOverNPlusOne() {
        // seed (10+11+12)/3 = 11; alpha 0.5: 11, 10.5, 11.25, 12.625
        #expect(near(Indicators.ema(closes, period: 3), [nil, nil, 11, 11, 10.5, 11.25, 12.625]))
    }

    @Test func streamingEMAMatchesTheArrayVersion() {
        var state = EMAState(period: 3)
        let streamed = closes.map { state.update($0) }
        #expect(near(streamed, Indicators.ema(closes, period: 3), tolerance: 1e-12))
    }

    @Test func rsiUsesWilderSmoothingSeededWithTheMeanChange() {
        // changes +1 +1 -1 -1 +2 +2; first value at index 3: gain 2/3, loss 1/3 -> 66.667
        #expect(near(Indicators.rsi(closes, period: 3), [nil, nil, nil, 66.667, 44.444, 72.222, 84.127]))
    }

    @Test func rsiOfAFlatSeriesIsFiftyAndOfARisingOneIsHundred() {
        #expect(Indicators.rsi([5, 5, 5, 5, 5], period: 3).last == 50)
        #expect(Indicators.rsi([1, 2, 3, 4, 5], period: 3).last == 100)
    }

    @Test func atrUsesTrueRangeAndWilderSmoothing() {
        let c: [Candle] = [
            Candle(time: 0, open: 9.5, high: 10, low: 9, close: 9.5, volume: 1),
            Candle(time: 3600, open: 9.5, high: 11, low: 9.5, close: 10.5, volume: 1),     // TR 1.5
            Candle(time: 7200, open: 10.5, high: 10.8, low: 10, close: 10.2, volume: 1),   // TR 0.8
            Candle(time: 10800, open: 10.2, high: 12, low: 10.1, close: 11.8, volume: 1),  // TR 1.9
            Candle(time: 14400, open: 11.8, high: 11.9, low: 11, close: 11.2, volume: 1),  // TR 0.9 (gap from 11.8)
        ]
        #expect(near(Indicators.atr(c, period: 3), [nil, nil, nil, 1.4, 1.2333]))
    }

    @Test func rollingHighAndLowIncludeTheCurrentBar() {
        let v: [Double] = [3, 1, 4, 1, 5, 9, 2, 6]
        #expect(near(Indicators.rollingHigh(v, period: 3), [nil, nil, 4, 4, 5, 9, 9, 9]))
        #expect(near(Indicators.rollingLow(v, period: 3), [nil, nil, 1, 1, 1, 1, 2, 2]))
    }

    @Test func rollingExtremesMatchABruteForceScan() {
        var rng = Fixtures.SeededRandom(seed: 7)
        let v = (0..<3_000).map { _ in Double(rng.next() % 1000) }
        for period in [1, 2, 5, 24, 200] {
            let fast = Indicators.rollingHigh(v, period: period)
            let slow = v.indices.map { i in i >= period - 1 ? v[(i - period + 1)...i].max() : nil }
            #expect(fast == slow, "period \(period)")
            let fastLow = Indicators.rollingLow(v, period: period)
            let slowLow = v.indices.map { i in i >= period - 1 ? v[(i - period + 1)...i].min() : nil }
            #expect(fastLow == slowLow, "period \(period)")
        }
    }

    @Test func tooShortInputsGiveNoValues() {
        #expect(Indicators.ema([1, 2], period: 3) == [nil, nil])
        #expect(Indicators.rsi([1, 2, 3], period: 3) == [nil, nil, nil])
        #expect(Indicators.atr([], period: 14).isEmpty)
    }

    @Test func annualisedVolatilityOfAlternatingReturns() {
        // log returns alternate +r, -r: sample stdev = r * sqrt(n/(n-1)) with mean 0.
        let r = 0.01
        var closes: [Double] = [100]
        for i in 0..<24 { closes.append(closes.last! * exp(i % 2 == 0 ? r : -r)) }
        let expected = r * (24.0 / 23.0).squareRoot() * (24.0 * 365).squareRoot() * 100
        let vol = Indicators.annualizedVolatilityPct(closes, bars: 24, interval: .oneHour)
        #expect(vol.map { abs($0 - expected) < 1e-6 } == true)
    }
}

/// The line form (NaN warm-up, a start index) and the buffer kernels give exactly the array form's values.
@Suite struct IndicatorLineTests {
    func walk(_ count: Int, seed: UInt64) -> [Candle] {
        var state = seed
        var price = 100.0
        return (0..<count).map { i in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let next = price * (1 + (Double(state >> 11) / Double(1 << 53) - 0.5) * 0.04)
            defer { price = next }
            return Candle(time: Int64(i) * 3_600, open: price, high: max(price, next) * 1.003,
                          low: min(price, next) * 0.997, close: next, volume: 1)
        }
    }

    /// Same values bit for bit, nil exactly where the line is NaN before `start`.
    func same(_ line: IndicatorLine, _ array: [Double?]) -> Bool {
        guard line.count == array.count, line.optionals == array else { return false }
        for i in 0..<line.count where (i < line.start) != line.values[i].isNaN { return false }
        return line.last == (array.last ?? nil)
    }

    @Test func linesEqualTheArrayFormsIncludingTheWarmUp() {
        for count in [0, 1, 2, 13, 14, 15, 21, 300] {
            let candles = walk(count, seed: UInt64(count) + 3)
            let closes = candles.map(\.close), highs = candles.map(\.high), lows = candles.map(\.low)
            for period in [0, 1, 2, 14, 20] {
                #expect(same(Indicators.smaLine(closes, period: period), Indicators.sma(closes, period: period)))
                #expect(same(Indicators.emaLine(closes, period: period), Indicators.ema(closes, period: period)))
                #expect(same(Indicators.rsiLine(closes, period: period), Indicators.rsi(closes, period: period)))
                #expect(same(Indicators.atrLine(candles, period: period), Indicators.atr(candles, period: period)))
                #expect(same(Indicators.atrLine(high: highs, low: lows, close: closes, period: period),
                             Indicators.atr(candles, period: period)))
                #expect(same(Indicators.rollingHighLine(highs, period: period), Indicators.rollingHigh(highs, period: period)))
                #expect(same(Indicators.rollingLowLine(lows, period: period), Indicators.rollingLow(lows, period: period)))
            }
        }
    }

    @Test func theWarmUpIsNaNAndStartIsTALibsLookback() {
        let closes: [Double] = [10, 11, 12, 11, 10, 12, 14]
        let ema = Indicators.emaLine(closes, period: 3)
        #expect(ema.start == 2)
        #expect(ema.values[0].isNaN && ema.values[1].isNaN)
        #expect(ema[2] == 11 && ema[1] == nil && ema.last == 12.625)
        #expect(Indicators.rsiLine(closes, period: 3).start == 3)
        #expect(Indicators.rollingHighLine(closes, period: 3).start == 2)
        // Too short: no value, start is the count.
        let short = Indicators.emaLine([1, 2], period: 3)
        #expect(short.start == 2 && short.last == nil && short.values.allSatisfy(\.isNaN))
    }

    @Test func bufferKernelsWriteIntoTheCallersMemory() {
        let closes = walk(500, seed: 9).map(\.close)
        var out = [Double](repeating: 0, count: closes.count)
        let start = closes.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { Indicators.ema(v, period: 14, into: $0) }
        }
        let line = Indicators.emaLine(closes, period: 14)
        #expect(start == line.start)
        #expect(zip(out, line.values).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
    }

    /// A long input takes the huge-page path (a 2 MiB-aligned interior is advised); the values do not change.
    @Test func largeOutputsKeepTheirValues() {
        let closes = walk(600_000, seed: 5).map(\.close)
        let line = Indicators.rollingHighLine(closes, period: 20)
        var brute: [Double] = []
        for i in stride(from: 19, to: closes.count, by: 9_973) { brute.append(closes[(i - 19)...i].max() ?? 0) }
        let sampled = stride(from: 19, to: closes.count, by: 9_973).map { line.values[$0] }
        #expect(sampled == brute)
    }
}
