import Backtest
import Execution
import Foundation
import Model
import Testing

/// The reference strategy on the shared BTC data, explained from the raw CSV rows.
@Suite struct EMACrossTests {
    let params = EMACrossParameters(fast: 8, slow: 21, commission: 0.0006)

    /// Crosses recomputed independently: (index of the bar whose close crossed, side).
    func handCrosses(_ closes: [Double]) -> [(Int, Side)] {
        let f = handEMA(closes, 8), s = handEMA(closes, 21)
        var out: [(Int, Side)] = []
        var long = false
        for i in closes.indices.dropFirst() {
            guard let f0 = f[i - 1], let s0 = s[i - 1], let f1 = f[i], let s1 = s[i] else { continue }
            let d0 = f0 - s0, d1 = f1 - s1
            if !long, d0 <= 0, d1 > 0 { out.append((i, .buy)); long = true }
            else if long, d0 >= 0, d1 < 0 { out.append((i, .sell)); long = false }
        }
        return out
    }

    @Test func tradeCountAndFirstTradesFollowFromTheRawRows() throws {
        guard SharedData.btcPath != nil else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let rows = try SharedData.rawBTCRows()
        let slice = Array(rows.prefix(3_000))
        let series = try SharedData.btcCandles(3_000)
        try #require(series.candles.count == 3_000 && slice.count == 3_000)
        #expect(series.candles.map(\.time) == slice.map(\.time))
        let result = EMACrossEngine.run(candles: series.candles, symbol: "BTC-USD", parameters: params)

        // Every signal is a cross of the hand EMAs; orders fill at the next bar's open.
        let crosses = handCrosses(slice.map(\.close))
        let fills = crosses.filter { $0.0 + 1 < slice.count }
        let roundTrips = fills.filter { $0.1 == .buy }.count  // the last open one is closed at the end of data
        #expect(result.run.trades.count == roundTrips)
        #expect(result.run.metrics.trades == roundTrips)

        // The first trade, by hand: the 2017-07-02 03-PM bar closes with EMA(8) above EMA(21) for the first time;
        // buy at the 04-PM open, 2463.86, with all equity: notional = 10000 / 1.0006, fee 0.0006 of it.
        let first = try #require(result.run.trades.first)
        let (entryIndex, _) = crosses[0]
        #expect(first.entryTime == slice[entryIndex + 1].time)
        #expect(BacktestCalendar.iso(first.entryTime) == "2017-07-02T16:00:00Z")
        #expect(first.entryPrice == 2463.86)
        let notional = 10_000 / 1.0006
        let quantity = notional / 2463.86
        #expect(abs(first.size - quantity) < 1e-9)
        // Exit: the cross below at the 09-PM close on 2017-07-04, sold at the 10-PM open, 2582.36.
        #expect(BacktestCalendar.iso(first.exitTime) == "2017-07-04T22:00:00Z")
        #expect(first.exitPrice == 2582.36)
        let entryFee = notional * 0.0006, exitFee = quantity * 2582.36 * 0.0006
        #expect(abs(first.fees - (entryFee + exitFee)) < 1e-6)
        #expect(abs(first.pnl - ((2582.36 - 2463.86) * quantity - entryFee - exitFee)) < 1e-6)

        // The second trade re-invests everything the first one left.
        let second = try #require(result.run.trades.dropFirst().first)
        let cash = 10_000 + first.pnl
        #expect(second.entryTime == slice[crosses[2].0 + 1].time)
        #expect(second.entryPrice == slice[crosses[2].0 + 1].open)
        #expect(abs(second.size - cash / 1.0006 / second.entryPrice) < 1e-9)
        #expect(abs(result.run.metrics.finalEquity - (10_000 + result.run.trades.reduce(0) { $0 + $1.pnl })) < 1e-6)
    }

    @Test func fullFileTradeCountMatchesTheIndependentCrossCount() throws {
        guard SharedData.btcPath != nil else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let rows = try SharedData.rawBTCRows()
        let series = try SharedData.btcCandles()
        let result = EMACrossEngine.run(candles: series.candles, symbol: "BTC-USD", parameters: params)
        let buys = handCrosses(rows.map(\.close)).filter { $0.1 == .buy && $0.0 + 1 < rows.count }.count
        #expect(result.run.trades.count == buys)
        #expect(result.run.trades.count == 425)
    }

    @Test func fixedQuantitySizingBuysThatQuantity() throws {
        let candles = zigzag(count: 200)
        let result = EMACrossEngine.run(candles: candles, symbol: "X", parameters: EMACrossParameters(
            fast: 3, slow: 8, commission: 0.001, fixedQuantity: 2))
        #expect(!result.run.trades.isEmpty)
        for t in result.run.trades {
            #expect(abs(t.size - 2) < 1e-9)
            #expect(abs(t.pnl - ((t.exitPrice - t.entryPrice) * 2 - (t.entryPrice + t.exitPrice) * 2 * 0.001)) < 1e-9)
        }
    }
}

/// A deterministic oscillating series: crosses every few bars.
func zigzag(count: Int, start: Int64 = 1_500_000_000 / 3_600 * 3_600) -> [Candle] {
    (0..<count).map { i in
        let c = 100 + 10 * sin(Double(i) / 6) + Double(i) * 0.05
        let o = 100 + 10 * sin(Double(i - 1) / 6) + Double(i - 1) * 0.05
        return Candle(time: start + Int64(i) * 3_600, open: o, high: max(o, c) + 0.5, low: min(o, c) - 0.5, close: c, volume: 1_000)
    }
}
