import Backtest
import Pipeline
import Testing
import TestSupport

/// The backtest's streaming states against TA-Lib's own output, bit for bit (`TALibReference`).
@Suite struct StreamingTALibTests {
    static func doubles(_ bits: [UInt64?]) -> [Double] { bits.map { $0.map(Double.init(bitPattern:)) ?? .nan } }

    func mismatches(_ ours: [Double?], _ reference: [UInt64?]) -> [Int] {
        #expect(ours.count == reference.count)
        return zip(ours, reference).enumerated().compactMap { i, pair in pair.0?.bitPattern == pair.1 ? nil : i }
    }

    @Test func theStreamingStatesGiveTALibsBits() {
        let c = Self.doubles(TALibReference.close), h = Self.doubles(TALibReference.high), l = Self.doubles(TALibReference.low)
        var sma = SMAState(period: 14), rsi = RSIState(period: 14), rsi2 = RSIState(period: 2)
        var atr = ATRState(period: 14), ema = EMAState(period: 50)
        #expect(mismatches(c.map { sma.update($0) }, TALibReference.sma14) == [])
        #expect(mismatches(c.map { rsi.update($0) }, TALibReference.rsi14) == [])
        #expect(mismatches(c.map { rsi2.update($0) }, TALibReference.rsi2) == [])
        #expect(mismatches(c.map { ema.update($0) }, TALibReference.ema50) == [])
        #expect(mismatches(c.indices.map { atr.update(high: h[$0], low: l[$0], close: c[$0]) }, TALibReference.atr14) == [])
    }
}
