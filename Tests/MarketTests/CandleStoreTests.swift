import Foundation
import Market
import Model
import TestSupport
import Testing

/// The candle store file: round trip, dedupe, merge, torn records, listing, and resampling.
@Suite struct CandleStoreTests {
    static let hour: Int64 = 3_600
    static let t0: Int64 = 1_700_000_000 / 14_400 * 14_400

    static func bars(_ range: Range<Int>) -> [Candle] {
        range.map { i in
            let c = 100 + Double(i)
            return Candle(time: t0 + Int64(i) * hour, open: c - 0.5, high: c + 1, low: c - 1, close: c, volume: Double(i % 7) + 1)
        }
    }

    @Test func barsRoundTripBitForBitAndAreNeverStoredTwice() throws {
        let store = CandleStore(root: Fixtures.tempDir("store"))
        #expect(try store.add(Self.bars(0..<100), exchange: "binance", symbol: "BTC-USD", interval: Self.hour) == 100)
        #expect(try store.add(Self.bars(50..<150).reversed(), exchange: "binance", symbol: "BTC-USD", interval: Self.hour) == 50)
        // A hole filled later is merged in order.
        #expect(try store.add(Self.bars(200..<210), exchange: "binance", symbol: "BTC-USD", interval: Self.hour) == 10)
        #expect(try store.add(Self.bars(150..<200), exchange: "binance", symbol: "BTC-USD", interval: Self.hour) == 50)
        let loaded = try store.load(exchange: "binance", symbol: "BTC-USD", interval: Self.hour)
        #expect(loaded.candles == Self.bars(0..<210))
        #expect(loaded.gaps.isEmpty)
        #expect(throws: MarketError.self) { try store.load(exchange: "binance", symbol: "BTC-USD", interval: 14_400) }
    }

    @Test func aTornLastRecordIsDroppedAndTheNextAppendReplacesIt() throws {
        let store = CandleStore(root: Fixtures.tempDir("store-torn"))
        try store.add(Self.bars(0..<10), exchange: "coinbase", symbol: "ETH-USD", interval: Self.hour)
        let path = store.path(exchange: "coinbase", symbol: "ETH-USD", interval: Self.hour)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(repeating: 0xAB, count: 30))
        try handle.close()
        #expect(try store.load(exchange: "coinbase", symbol: "ETH-USD", interval: Self.hour).candles.count == 10)
        try store.add(Self.bars(10..<12), exchange: "coinbase", symbol: "ETH-USD", interval: Self.hour)
        #expect(try store.load(exchange: "coinbase", symbol: "ETH-USD", interval: Self.hour).candles == Self.bars(0..<12))
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size == 16 + 12 * 48)
    }

    @Test func theListNamesEveryFileWithItsGaps() throws {
        let store = CandleStore(root: Fixtures.tempDir("store-list"))
        try store.add(Self.bars(0..<5) + Self.bars(8..<20), exchange: "binance", symbol: "BTC-USD", interval: Self.hour)
        try store.addFunding([(time: Self.t0, rate: 0.0001), (time: Self.t0 + 28_800, rate: -0.0002)], exchange: "binance", symbol: "BTC-USD")
        let entries = try store.list()
        #expect(entries.count == 1)
        let e = try #require(entries.first)
        #expect(e.symbol == "BTC-USD" && e.timeframe == "1h" && e.candles == 17 && e.gaps == 1 && e.missingBars == 3)
        #expect(e.fundingRates == 2)
        #expect(try FundingFile.read(store.fundingPath(exchange: "binance", symbol: "BTC-USD")).map(\.rate) == [0.0001, -0.0002])
    }

    @Test func resamplingKeepsOnlyCompleteBucketsAndAggregatesThem() throws {
        // Hours 0..<23 with hour 9 missing: 4h buckets 0, 1, 3, 4 are complete; 2 (hours 8-11) and 5 (20-23) are not.
        let hourly = Self.bars(0..<9) + Self.bars(10..<23)
        let s = CandleSeries(symbol: "X", candles: hourly, source: "t", interval: Self.hour)
        let four = try #require(s.resampled(to: 14_400))
        #expect(four.candles.map { ($0.time - Self.t0) / 14_400 } == [0, 1, 3, 4])
        let b1 = Array(hourly[4..<8])
        #expect(four.candles[1] == Candle(time: Self.t0 + 14_400, open: b1[0].open, high: b1.map(\.high).max() ?? 0,
                                          low: b1.map(\.low).min() ?? 0, close: b1[3].close, volume: b1.reduce(0) { $0 + $1.volume }))
        #expect(four.gaps.count == 1 && four.gaps[0].missingBars == 1)
        #expect(s.resampled(to: 5_400) == nil)
    }
}
