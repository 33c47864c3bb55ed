import Foundation
@testable import Market
import Model
import Testing
@testable import Venues

/// `<repo root>/../shared/data/coinbase_btcusd_1h.csv`, found from this file's location.
let realCSVPath: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent() // MarketTests
    .deletingLastPathComponent() // Tests
    .deletingLastPathComponent() // repo root
    .deletingLastPathComponent()
    .appendingPathComponent("shared/data/coinbase_btcusd_1h.csv").path
let realCSVPresent = FileManager.default.fileExists(atPath: realCSVPath)

/// Expect `body` to throw a MarketError whose description is exactly `expected`.
private func expectError(_ expected: String, _ body: () throws -> CandleSeries,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let series = try body()
        Issue.record("expected an error, got \(series.candles.count) candles", sourceLocation: sourceLocation)
    } catch let error as MarketError {
        #expect(error.description == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a MarketError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("CandleCSV")
struct CandleCSVTests {
    @Test("the real Coinbase BTC-USD 1h file", .enabled(if: realCSVPresent,
        "shared data missing: expected ../shared/data/coinbase_btcusd_1h.csv beside the repository"))
    func realFile() throws {
        let s = try CandleCSV.load(path: realCSVPath)
        #expect(s.symbol == "BTC-USD")
        #expect(s.source == realCSVPath)
        #expect(s.candles.count == 20_111)
        #expect(s.duplicateTimes.isEmpty)
        #expect(s.gaps.isEmpty)
        #expect(zip(s.candles, s.candles.dropFirst()).allSatisfy { $1.time - $0.time == 3_600 })
        // Oldest first: 2017-07-01 11-AM.
        let first = try #require(s.candles.first)
        #expect(first == Candle(time: 1_498_906_800, open: 2505.56, high: 2513.38, low: 2495.12,
                                close: 2509.17, volume: 114.6))
        // Newest: 2019-10-17 09-AM; volume is volume_btc, not the USD `volume` column.
        let last = try #require(s.candles.last)
        #expect(last == Candle(time: 1_571_302_800, open: 8051, high: 8056.83, low: 8021.23,
                               close: 8035.88, volume: 61.25))
        // 12-AM is midnight, 12-PM is noon.
        let byTime = Dictionary(uniqueKeysWithValues: s.candles.map { ($0.time, $0) })
        #expect(byTime[1_571_270_400]?.open == 7993.54) // 2019-10-17 12-AM
        #expect(byTime[1_571_227_200]?.open == 8049.38) // 2019-10-16 12-PM
        #expect(byTime[1_498_910_400]?.open == 2509.17) // 2017-07-01 12-PM
        // Zero-volume hours are kept (28 of them), never negative.
        #expect(s.candles.filter { $0.volume == 0 }.count == 28)
    }

    @Test("oldest-first input with duplicates and gaps")
    func duplicatesAndGaps() throws {
        let csv = """
        timestamp,open,high,low,close,volume
        2024-01-01 00:00:00,10,11,9,10.5,100
        2024-01-01 01:00:00,10.5,12,10,11,200
        2024-01-01 01:00:00,99,99,99,99,999
        2024-01-01 04:00:00,11,11.5,10.5,11.2,50
        2024-01-01 05:00:00,11.2,11.3,11,11.1,60
        2024-01-01 05:00:00,98,98,98,98,1
        2024-01-01 05:00:00,97,97,97,97,1
        """
        let s = try CandleCSV.parse(csv, source: "fixtures/ETHUSD_1h.csv")
        #expect(s.symbol == "ETHUSD_1h")
        #expect(s.candles.map(\.time) == [1_704_067_200, 1_704_070_800, 1_704_081_600, 1_704_085_200])
        #expect(s.candles[1].close == 11) // first seen kept
        #expect(s.candles[3].close == 11.1)
        #expect(s.duplicateTimes == [1_704_070_800, 1_704_085_200, 1_704_085_200])
        #expect(s.gaps == [CandleGap(after: 1_704_070_800, before: 1_704_081_600, missingBars: 2)])
        #expect(s.interval == 3_600)
    }

    @Test("banner line, newest-first rows, symbol column and volume_<base>")
    func bannerAndSymbol() throws {
        let csv = """
        Timestamps are UTC timezone,https://example.invalid
        unix,date,symbol,open,high,low,close,Volume ETH,volume_eth,volume_usd
        1704070800000,2024-01-01 01-AM,ETH/USD,2,2,2,2,0,7,14
        1704067200000,2024-01-01 12-AM,ETH/USD,1,1,1,1,0,5,5
        """
        let s = try CandleCSV.parse(csv, source: "x.csv")
        #expect(s.symbol == "ETH-USD")
        #expect(s.candles.map(\.time) == [1_704_067_200, 1_704_070_800])
        #expect(s.candles.map(\.volume) == [5, 7])
        let renamed = try CandleCSV.parse(csv, source: "x.csv", symbol: "ETH-PERP")
        #expect(renamed.symbol == "ETH-PERP")
    }

    @Test("date formats")
    func dates() {
        let noon: Int64 = 1_571_313_600 // 2019-10-17 12:00:00 UTC
        #expect(CandleCSV.parseTime("2019-10-17 12-PM") == noon)
        #expect(CandleCSV.parseTime("2019-10-17 12-AM") == noon - 43_200)
        #expect(CandleCSV.parseTime("2019-10-17 01-PM") == noon + 3_600)
        #expect(CandleCSV.parseTime("2019-10-17 11-PM") == noon + 11 * 3_600)
        #expect(CandleCSV.parseTime("2019-10-17 12:00:00") == noon)
        #expect(CandleCSV.parseTime("2019-10-17T12:00:00Z") == noon)
        #expect(CandleCSV.parseTime("2019-10-17T12:00:00.250Z") == noon)
        #expect(CandleCSV.parseTime("2019-10-17T14:00:00+02:00") == noon)
        #expect(CandleCSV.parseTime("2019-10-17T07:00-0500") == noon)
        #expect(CandleCSV.parseTime("2019-10-17") == noon - 43_200)
        #expect(CandleCSV.parseTime("1571313600") == noon)
        #expect(CandleCSV.parseTime("1571313600000") == noon)
        #expect(CandleCSV.parseTime("2024-02-29 00:00:00") == 1_709_164_800)
        #expect(CandleCSV.parseTime("1969-12-31 23:00:00") == -3_600)
        for bad in ["", "yesterday", "2019-13-01 00:00:00", "2019-02-30", "2019-10-17 13-PM",
                    "2019-10-17 00-AM", "2019-10-17 25:00:00", "2019/10/17 12:00", "2019-10-17T12:00:00+25:00"] {
            #expect(CandleCSV.parseTime(bad) == nil, "'\(bad)' should not parse")
        }
    }

    @Test("malformed input: errors name file:line and the field")
    func malformed() {
        let header = "date,open,high,low,close,volume"
        expectError("bad.csv:3: close: expected a number, found 'abc'") {
            try CandleCSV.parse("\(header)\n2024-01-01 00:00:00,1,2,1,1,5\n2024-01-01 01:00:00,1,2,1,abc,5\n",
                                source: "bad.csv")
        }
        expectError("bad.csv:1: header: missing column 'low' (found: date,open,high,close,volume; needed: a date/time column, open, high, low, close and a base volume column)") {
            try CandleCSV.parse("date,open,high,close,volume\n2024-01-01 00:00:00,1,2,1,5\n", source: "bad.csv")
        }
        expectError("bad.csv:2: date: expected a date (YYYY-MM-DD HH-AM, YYYY-MM-DD HH:MM:SS, ISO 8601 or Unix time), found '2024-01-01 13-PM'") {
            try CandleCSV.parse("\(header)\n2024-01-01 13-PM,1,2,1,1,5\n", source: "bad.csv")
        }
        expectError("bad.csv:2: volume: missing (row has 5 fields, header has 6)") {
            try CandleCSV.parse("\(header)\n2024-01-01 00:00:00,1,2,1,1\n", source: "bad.csv")
        }
        expectError("bad.csv:2: low: expected a positive number, found '-1'") {
            try CandleCSV.parse("\(header)\n2024-01-01 00:00:00,1,2,-1,1,5\n", source: "bad.csv")
        }
        expectError("bad.csv:2: high: 0.5 is below open, close or low") {
            try CandleCSV.parse("\(header)\n2024-01-01 00:00:00,1,0.5,0.4,1,5\n", source: "bad.csv")
        }
        expectError("bad.csv:1: header: missing a date/time column (one of unix, timestamp, time, date, datetime, date_time, open_time, open time) (found: when,open,high,low,close,volume; needed: a date/time column, open, high, low, close and a base volume column)") {
            try CandleCSV.parse("when,open,high,low,close,volume\nx,1,1,1,1,1\n", source: "bad.csv")
        }
        expectError("bad.csv:1: no data rows after the header") {
            try CandleCSV.parse("\(header)\n", source: "bad.csv")
        }
        // Blank lines and a banner keep the reported line numbers true to the file.
        expectError("bad.csv:5: open: expected a number, found ''") {
            try CandleCSV.parse("banner\n\(header)\n2024-01-01 00:00:00,1,2,1,1,5\n\n2024-01-01 01:00:00,,2,1,1,5\n",
                                source: "bad.csv")
        }
    }

    @Test("load: a missing file is an error naming the path; the file name is the fallback symbol")
    func load() throws {
        do {
            _ = try CandleCSV.load(path: "/nonexistent/dir/none.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.source == "/nonexistent/dir/none.csv")
            #expect(error.message.hasPrefix("cannot read file"))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("market-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("SOL-USD.csv")
        try "time,open,high,low,close,volume\r\n1704067200,1,1,1,1,1\r\n".write(to: file, atomically: true, encoding: .utf8)
        let s = try CandleCSV.load(path: file.path)
        #expect(s.symbol == "SOL-USD")
        #expect(s.candles.count == 1)
        #expect(CandleCSV.normalizeSymbol("btcusdt") == "BTC-USDT")
    }
}
