import Foundation
import Model
import Testing
@testable import Pipeline
import TestSupport

/// Every indicator form against TA-Lib's own output, bit for bit (`TALibReference`, written by TA-Lib 0.6 on real
/// candles): the line kernels, the streaming states and the tape readings share TA-Lib's arithmetic (`Indicators.Step`).
///
/// To regenerate the reference: take the candles, oldest first, and write the bit patterns of `talib.EMA(c, 14)`,
/// `SMA(c, 14)`, `RSI(c, 14)`, `RSI(c, 2)`, `ATR(h, l, c, 14)`, `ATR(h, l, c, 5)`, `EMA(c, 50)`, `MAX(h, 20)` and
/// `MIN(l, 20)`, NaN as nil.
@Suite struct TALibReferenceTests {
    static func doubles(_ bits: [UInt64?]) -> [Double?] { bits.map { $0.map(Double.init(bitPattern:)) } }
    static let high = doubles(TALibReference.high).map { $0 ?? .nan }
    static let low = doubles(TALibReference.low).map { $0 ?? .nan }
    static let close = doubles(TALibReference.close).map { $0 ?? .nan }

    static var candles: [Candle] {
        (0..<close.count).map { i in
            Candle(time: Int64(i) * 3600, open: close[i], high: high[i], low: low[i],
                   close: close[i], volume: 1)
        }
    }

    /// The indices where `ours` and TA-Lib's bits differ (warm-up included).
    func mismatches(_ ours: [Double?], _ reference: [UInt64?]) -> [Int] {
        #expect(ours.count == reference.count)
        return zip(ours, reference).enumerated().compactMap { i, pair in pair.0?.bitPattern == pair.1 ? nil : i }
    }

    @Test func theLineKernelsGiveTALibsBits() {
        let c = Self.close, h = Self.high, l = Self.low
        #expect(mismatches(Indicators.ema(c, period: 14), TALibReference.ema14) == [])
        #expect(mismatches(Indicators.ema(c, period: 50), TALibReference.ema50) == [])
        #expect(mismatches(Indicators.sma(c, period: 14), TALibReference.sma14) == [])
        #expect(mismatches(Indicators.rsi(c, period: 14), TALibReference.rsi14) == [])
        #expect(mismatches(Indicators.rsi(c, period: 2), TALibReference.rsi2) == [])
        #expect(mismatches(Indicators.atrLine(high: h, low: l, close: c, period: 14).optionals, TALibReference.atr14) == [])
        #expect(mismatches(Indicators.atr(Self.candles, period: 5), TALibReference.atr5) == [])
        #expect(mismatches(Indicators.rollingHigh(h, period: 20), TALibReference.max20) == [])
        #expect(mismatches(Indicators.rollingLow(l, period: 20), TALibReference.min20) == [])
    }

    @Test func theStreamingStatesGiveTALibsBits() {
        var ema = EMAState(period: 14)
        #expect(mismatches(Self.close.map { ema.update($0) }, TALibReference.ema14) == [])
    }

    @Test func theTapeReadingsGiveTALibsNewestValues() {
        let candles = Self.candles
        // Windows ending at several bars, each read as a cycle reads its tape.
        for end in [60, 121, 200, candles.count] {
            let last = candles[end - 1].close
            let tape = SymbolSnapshot(symbol: "BTC-USD", candles: Array(candles[0..<end]), bid: last, ask: last,
                                      bidDepthUSD: 1e6, askDepthUSD: 1e6, volume24hUSD: 1e7)
            #expect(tape.newestEMA(period: 14)?.bitPattern == TALibReference.ema14[end - 1])
            #expect(tape.newestATR(period: 14)?.bitPattern == TALibReference.atr14[end - 1])
            #expect(tape.newestRSI(period: 14, recentBars: 1)?.newest.bitPattern == TALibReference.rsi14[end - 1])
        }
    }
}
