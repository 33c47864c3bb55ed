import Foundation
import Testing
@testable import Market
import Model

private func series(_ symbol: String, start: Int64, count: Int, skip: Set<Int> = []) -> CandleSeries {
    var candles: [Candle] = []
    for i in 0..<count where !skip.contains(i) {
        let x = Double(i)
        let time: Int64 = start + Int64(i) * 3_600
        candles.append(Candle(time: time, open: 100 + x, high: 102 + x, low: 99 + x, close: 101 + x, volume: 10))
    }
    return CandleSeries(symbol: symbol, candles: candles, source: "test")
}

@Suite("ReplayMarket")
struct ReplayMarketTests {
    let start: Int64 = 1_704_067_200 // 2024-01-01T00:00Z

    @Test("only bars closed by the snapshot time, the latest of them included")
    func pointInTime() async throws {
        let market = ReplayMarket(series: [series("BTC-USD", start: start, count: 100)])
        for offset: Int64 in [3_600, 3_601, 7_199, 7_200, 50 * 3_600 + 17, 100 * 3_600] {
            let time = start + offset
            let snap = try await market.snapshot(symbols: ["BTC-USD"], at: time, historyHours: 24)
            let candles = try #require(snap.symbol("BTC-USD")).candles
            #expect(candles.allSatisfy { $0.time + 3_600 <= time })
            #expect(candles.last.map { $0.time + 2 * 3_600 > time } == true)
            #expect(candles.count == min(24, Int(offset / 3_600)))
        }
        // Before the first bar closes there is nothing to serve.
        let early = try await market.snapshot(symbols: ["BTC-USD"], at: start + 3_599, historyHours: 24)
        #expect(early.symbols.isEmpty)
    }

    @Test("quote, depth and 24h volume are synthesized from the tape")
    func quote() throws {
        let market = ReplayMarket(series: [series("ETH-USD", start: start, count: 48)], spreadBps: 10,
                                  depthFraction: 0.05)
        let snap = try #require(market.symbolSnapshot("ETH-USD", at: start + 48 * 3_600, historyHours: 5))
        #expect(snap.candles.count == 5)
        #expect(snap.last == 148)
        #expect(abs(snap.spreadBps - 10) < 1e-9)
        #expect(abs(snap.mid - 148) < 1e-9)
        // Last 24 bars: closes 125...148, volume 10 each.
        let expected = (125...148).reduce(0.0) { $0 + Double($1) * 10 }
        #expect(abs(snap.volume24hUSD - expected) < 1e-6)
        #expect(abs(snap.bidDepthUSD - 0.05 * expected) < 1e-6)
        #expect(snap.fundingRate == nil)
        #expect(market.name == "sim")
    }

    @Test("unknown, not-yet-listed and stale symbols are left out; timeRange spans the data")
    func coverage() async throws {
        let later = start + 10 * 3_600
        let market = ReplayMarket(series: [series("A-USD", start: start, count: 10),
                                           series("B-USD", start: later, count: 10)])
        #expect(market.timeRange == (start + 3_600)...(later + 10 * 3_600))
        #expect(ReplayMarket(series: []).timeRange == nil)
        let mid = try await market.snapshot(symbols: ["B-USD", "A-USD", "C-USD"], at: start + 5 * 3_600, historyHours: 24)
        #expect(mid.symbols.map(\.symbol) == ["A-USD"])
        let both = try await market.snapshot(symbols: ["B-USD", "A-USD"], at: later + 3_600, historyHours: 24)
        #expect(both.symbols.map(\.symbol) == ["B-USD", "A-USD"])
        // A-USD ended at `later`; a day and more after, it is stale.
        let stale = try await market.snapshot(symbols: ["A-USD"], at: later + 86_401, historyHours: 24)
        #expect(stale.symbols.isEmpty)
        let kept = ReplayMarket(series: [series("A-USD", start: start, count: 10)], maxStaleness: nil)
        #expect(kept.symbolSnapshot("A-USD", at: later + 86_401 * 30, historyHours: 24)?.last == 110)
    }

    @Test("gaps do not leak future bars: across a hole the newest visible bar is before it")
    func gaps() throws {
        let market = ReplayMarket(series: [series("X-USD", start: start, count: 10, skip: [5, 6])])
        let snap = try #require(market.symbolSnapshot("X-USD", at: start + 6 * 3_600 + 10, historyHours: 24))
        #expect(snap.candles.last?.time == start + 4 * 3_600)
    }

    @Test("the real file never serves a bar closing after the snapshot time", .enabled(if: realCSVPresent,
        "shared data missing: expected ../shared/data/coinbase_btcusd_1h.csv beside the repository"))
    func realReplay() async throws {
        let s = try CandleCSV.load(path: realCSVPath)
        let market = ReplayMarket(series: [s])
        let range = try #require(market.timeRange)
        #expect(range == (1_498_906_800 + 3_600)...(1_571_302_800 + 3_600))
        var time = range.lowerBound
        var checked = 0
        while time <= range.upperBound {
            let snap = try await market.snapshot(symbols: ["BTC-USD"], at: time, historyHours: 192)
            let candles = try #require(snap.symbol("BTC-USD")).candles
            #expect(candles.allSatisfy { $0.time + 3_600 <= time })
            #expect(candles.last.map { time - ($0.time + 3_600) < 3_600 } == true)
            time += 86_400 * 3 + 1_801
            checked += 1
        }
        #expect(checked > 250)
    }
}
