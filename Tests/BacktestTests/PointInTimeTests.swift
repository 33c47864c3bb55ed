import Backtest
import Config
import Execution
import Foundation
import Market
import Model
import Review
import TestSupport
import Testing

/// The reference strategy never sees a bar after its decision time (the pipeline's own test is in AgentTests).
@Suite struct PointInTimeTests {
    /// Bars after `cut` multiplied by 3 (a spike no honest strategy can know about).
    static func spiked(_ candles: [Candle], after cut: Int64) -> [Candle] {
        candles.map { c in
            guard c.time >= cut else { return c }
            return Candle(time: c.time, open: c.open * 3, high: c.high * 3, low: c.low * 3, close: c.close * 3, volume: c.volume * 5)
        }
    }

    @Test func emaCrossSignalsUpToTAreTheSameWhateverComesAfter() throws {
        let candles = zigzag(count: 400)
        let cut = candles[250].time
        let honest = EMACrossEngine.run(candles: candles, symbol: "X", parameters: EMACrossParameters(fast: 3, slow: 8))
        let spiked = EMACrossEngine.run(candles: Self.spiked(candles, after: cut), symbol: "X",
                                        parameters: EMACrossParameters(fast: 3, slow: 8))
        let before = { (s: [EMACrossSignal]) in s.filter { $0.time <= cut } }
        #expect(before(honest.signals).count > 5)
        #expect(before(honest.signals) == before(spiked.signals))
        #expect(honest.run.trades.filter { $0.exitTime < cut } == spiked.run.trades.filter { $0.exitTime < cut })
        #expect(honest.run.trades != spiked.run.trades)
    }

}
