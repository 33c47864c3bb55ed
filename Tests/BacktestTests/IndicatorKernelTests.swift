import Backtest
import Foundation
import Model
import Pipeline
import Testing

/// Streaming kernels against hand-computed sequences (TA-Lib conventions, warm-up included) and the array versions.
@Suite struct IndicatorKernelTests {
    let closes: [Double] = [10, 11, 12, 11, 10, 12, 14]

    func near(_ a: [Double?], _ b: [Double?], _ tolerance: Double = 1e-3) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            switch (x, y) {
            case (nil, nil): true
            case let (x?, y?): abs(x - y) < tolerance
            default: false
            }
        }
    }

    @Test func smaStreamingByHand() {
        var s = SMAState(period: 3)
        #expect(near(closes.map { s.update($0) }, [nil, nil, 11, 11.333, 11, 11, 12]))
    }

    @Test func rsiStreamingByHand() {
        var s = RSIState(period: 3)
        #expect(near(closes.map { s.update($0) }, [nil, nil, nil, 66.667, 44.444, 72.222, 84.127]))
    }

    @Test func atrStreamingByHand() {
        let bars: [(Double, Double, Double)] = [(10, 9, 9.5), (11, 9.5, 10.5), (10.8, 10, 10.2), (12, 10.1, 11.8), (11.9, 11, 11.2)]
        var s = ATRState(period: 3)
        // TR: -, 1.5, 0.8, 1.9, 0.9 -> seed (1.5+0.8+1.9)/3 = 1.4, then (1.4*2 + 0.9)/3 = 1.2333
        #expect(near(bars.map { s.update(high: $0.0, low: $0.1, close: $0.2) }, [nil, nil, nil, 1.4, 1.2333]))
    }

    @Test func emaWarmUpByHandWithPeriodFive() {
        // seed = mean(1..5) = 3 at index 4; alpha 1/3: 3 + (6-3)/3 = 4, 4 + (7-4)/3 = 5
        #expect(near(Indicators.ema([1, 2, 3, 4, 5, 6, 7], period: 5), [nil, nil, nil, nil, 3, 4, 5], 1e-12))
        #expect(near(Indicators.ema([1, 2, 3, 4], period: 5), [nil, nil, nil, nil]))
    }

    @Test func streamingKernelsEqualTheArrayVersionsOnRealData() throws {
        guard SharedData.btcPath != nil else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let candles = try SharedData.btcCandles(2_000).candles
        let c = candles.map(\.close)
        var sma = SMAState(period: 20), rsi = RSIState(period: 14), atr = ATRState(period: 14), ema = EMAState(period: 21)
        #expect(near(c.map { sma.update($0) }, Indicators.sma(c, period: 20), 1e-6))
        #expect(near(c.map { rsi.update($0) }, Indicators.rsi(c, period: 14), 1e-9))
        #expect(near(candles.map { atr.update(high: $0.high, low: $0.low, close: $0.close) }, Indicators.atr(candles, period: 14), 1e-9))
        #expect(near(c.map { ema.update($0) }, handEMA(c, 21), 1e-9))
    }
}

/// The raw-buffer array kernels give bit-for-bit the values of the streaming states and of a plain loop.
@Suite struct IndicatorKernelIdentityTests {
    @Test func arrayKernelsEqualTheStreamingStatesExactly() {
        var state: UInt64 = 11
        var price = 100.0
        var candles: [Candle] = []
        for i in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let next = price * (1 + (Double(state >> 11) / Double(1 << 53) - 0.5) * 0.04)
            candles.append(Candle(time: Int64(i) * 3_600, open: price, high: max(price, next) * 1.003,
                                  low: min(price, next) * 0.997, close: next, volume: 1))
            price = next
        }
        let closes = candles.map(\.close)
        for period in [1, 2, 14, 50] {
            var ema = EMAState(period: period), rsi = RSIState(period: period), atr = ATRState(period: period)
            var sma = SMAState(period: period)
            let e = Indicators.ema(closes, period: period), r = Indicators.rsi(closes, period: period)
            let a = Indicators.atr(candles, period: period), s = Indicators.sma(closes, period: period)
            let hi = Indicators.rollingHigh(closes, period: period), lo = Indicators.rollingLow(closes, period: period)
            for (i, c) in candles.enumerated() {
                #expect(e[i] == ema.update(c.close))
                #expect(r[i] == rsi.update(c.close))
                #expect(a[i] == atr.update(high: c.high, low: c.low, close: c.close))
                let window = closes[max(0, i - period + 1)...i]
                #expect(hi[i] == (i >= period - 1 ? window.max() : nil))
                #expect(lo[i] == (i >= period - 1 ? window.min() : nil))
                _ = sma.update(c.close)
                if let v = s[i], let w = sma.value { #expect(abs(v - w) <= 1e-9 * abs(w)) } else { #expect(s[i] == nil && sma.value == nil) }
            }
        }
    }
}
