import Backtest
import Foundation
import Market
import Model
import TestSupport
import Testing

/// Candle files, funding and leverage files, tiling and calendar arithmetic.
@Suite struct DataTests {
    @Test func binanceKlineCSVWithoutHeaderReportsDuplicatesAndGaps() throws {
        let text = """
        1700000000000,100,101,99,100.5,10,1700003599999,1000,5,5,500,0
        1700003600000,100.5,102,100,101,11,1700007199999,1100,5,5,500,0
        1700003600000,999,999,999,999,1,0,0,0,0,0,0
        1700014400000,101,103,100,102,12,1700017999999,1200,5,5,500,0
        """
        let s = try CandleFiles.parse(text, source: "BTCUSDT-1h-2023-11.csv")
        #expect(s.symbol == "BTC-USDT")
        let hour: Int64 = 3_600
        let expected: [Int64] = [1_699_999_200, 1_700_002_800, 1_700_013_600]
        #expect(expected.allSatisfy { $0 % hour == 0 })
        #expect(s.candles.map(\.time) == expected)
        #expect(s.candles[1].close == 101)  // the first row of a duplicated bar is kept
        #expect(s.duplicateTimes.count == 1)
        #expect(s.gaps.count == 1 && s.gaps[0].missingBars == 2)
    }

    @Test func binanceKlineJSONInMillisecondsAndMicroseconds() throws {
        let ms = #"[[1700000000000,"100","101","99","100.5","10",0],[1700003600000,"100.5","102","100","101","11",0]]"#
        let us = #"[[1700000000000000,"100","101","99","100.5","10",0]]"#
        let a = try CandleFiles.parse(ms, source: "x.json", symbol: "BTC-USDT")
        let b = try CandleFiles.parse(us, source: "x.json", symbol: "BTC-USDT")
        #expect(a.candles.count == 2 && a.candles[0].open == 100)
        #expect(b.candles[0].time == a.candles[0].time)
    }

    @Test func badRowsNameTheFileAndLine() {
        let text = "1700000000000,100,101,99,100.5,10\n1700003600000,100.5,abc,100,101,11\n"
        #expect {
            try CandleFiles.parse(text, source: "k.csv")
        } throws: { error in
            guard let e = error as? BacktestError else { return false }
            return e.source == "k.csv:2" && e.message.contains("high")
        }
        let cdd = "banner\ndate,symbol,open,high,low,close,volume_btc,volume\n2019-10-17 09-AM,BTCUSD,8051,8056,8021,x,61,492394\n"
        #expect {
            try CandleFiles.parse(cdd, source: "c.csv")
        } throws: { error in
            (error as? BacktestError)?.source == "c.csv:3"
        }
    }

    @Test func cryptoDataDownloadGapsAndDuplicatesAreReportedNotFilled() throws {
        let cdd = """
        https://www.CryptoDataDownload.com
        date,symbol,open,high,low,close,volume_btc,volume
        2019-10-17 09-AM,BTCUSD,10,11,9,10,1,10
        2019-10-17 09-AM,BTCUSD,10,11,9,10,1,10
        2019-10-17 06-AM,BTCUSD,10,11,9,10,1,10
        """
        let s = try CandleFiles.parse(cdd, source: "c.csv")
        #expect(s.candles.count == 2)
        #expect(s.duplicateTimes.count == 1)
        #expect(s.gaps.first?.missingBars == 2)
        let note = DataNote.of(s)
        #expect(note.gaps == 1 && note.missingBars == 2 && note.duplicateBars == 1)
        #expect(note.gapExamples == ["2019-10-17T06:00:00Z..2019-10-17T09:00:00Z (2 bars)"])
    }

    @Test func leverageTiersOfTheSharedFile() throws {
        guard let path = SharedData.path("binance_usdm_leverage_tiers.json") else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let brackets = try LeverageTiersFile.brackets(path: path, symbol: "BTC-USDT")
        #expect(brackets.count > 3)
        #expect(brackets.first?.notionalFloor == 0)
        #expect(brackets.allSatisfy { $0.maintMarginRatio > 0 && $0.maintMarginRatio < 1 })
        #expect(throws: BacktestError.self) { try LeverageTiersFile.brackets(path: path, symbol: "NOPE-USDT") }
    }

    @Test func mirrorTilingJoinsContinuouslyAndReachesYear3158() {
        let start: Int64 = 1_499_997_600
        var base: [Candle] = []
        for i in 0..<5 {
            let x = Double(i)
            base.append(Candle(time: start + Int64(i) * 3_600, open: 10 + x, high: 12 + x, low: 9 + x, close: 11 + x, volume: 1))
        }
        let tile = MirrorTile(base: base, count: 23)
        let all = tile.materialize()
        #expect(all.count == 23)
        for (a, b) in zip(all, all.dropFirst()) {
            #expect(b.time - a.time == 3_600)
            #expect(a.close == b.open)  // continuous, including at the joins
        }
        #expect(all[5].open == base[4].close && all[5].close == base[4].open)  // copy 1 runs backwards
        #expect(all.allSatisfy { $0.low >= 9 && $0.high <= 16 })
        var streamed: [Double] = []
        tile.forEachOpenClose { _, o, c in streamed.append(o); streamed.append(c) }
        #expect(streamed == all.flatMap { [$0.open, $0.close] })

        let big = MirrorTile(base: base, count: 10_000_000)
        let last = big.candle(9_999_999)
        #expect(BacktestCalendar.iso(last.time).hasPrefix("3158-"))
    }

    @Test func calendar() {
        #expect(BacktestCalendar.iso(0) == "1970-01-01T00:00:00Z")
        #expect(BacktestCalendar.parse("2019-10-17T09:00:00Z") == 1_571_302_800)
        #expect(BacktestCalendar.parse("2019-10-17") == 1_571_270_400)
        #expect(BacktestCalendar.parse("2019-13-01") == nil)
        let jan31 = BacktestCalendar.parse("2019-01-31") ?? 0
        #expect(BacktestCalendar.iso(BacktestCalendar.addMonths(jan31, 1)) == "2019-02-28T00:00:00Z")
        #expect(BacktestCalendar.iso(BacktestCalendar.addMonths(jan31, 13)) == "2020-02-29T00:00:00Z")
        #expect(Timeframe.seconds("1h") == 3_600 && Timeframe.seconds("15m") == 900 && Timeframe.seconds("1x") == nil)
    }
}
