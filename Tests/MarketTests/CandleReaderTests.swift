import Foundation
import Testing
@testable import Market
import Model

/// The byte-level candle reader: every format, malformed files with positions, and the refusals.
@Suite("CandleReader")
struct CandleReaderTests {
    private func parse(_ text: String, _ source: String = "f.csv", symbol: String? = nil,
                       interval: Int64 = 3_600) throws -> CandleSeries {
        try CandleReader.parse(text, CandleReader.Options(source: source, symbol: symbol, interval: interval))
    }

    private func error(_ text: String, _ source: String = "f.csv", symbol: String? = nil,
                       interval: Int64 = 3_600) -> String? {
        do {
            _ = try parse(text, source, symbol: symbol, interval: interval)
            return nil
        } catch {
            return (error as? MarketError)?.description ?? "\(error)"
        }
    }

    private func temporaryFile(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("candle-reader-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test("generic timestamp,open,high,low,close,volume: ISO or epoch-ms times, header case-insensitive")
    func generic() throws {
        let iso = "Timestamp,Open,High,Low,Close,Volume\n2024-01-01T00:00:00Z,10,11,9,10.5,100\n2024-01-01T01:00:00Z,10.5,12,10,11,200\n"
        let ms = "TIMESTAMP,OPEN,HIGH,LOW,CLOSE,VOLUME\n1704067200000,10,11,9,10.5,100\n1704070800000,10.5,12,10,11,200\n"
        let a = try parse(iso, "SOL-USD.csv")
        let b = try parse(ms, "SOL-USD.csv")
        #expect(a.candles == b.candles)
        #expect(a.symbol == "SOL-USD")
        #expect(a.candles.map(\.time) == [1_704_067_200, 1_704_070_800])
        #expect(a.candles[1] == Candle(time: 1_704_070_800, open: 10.5, high: 12, low: 10, close: 11, volume: 200))
    }

    @Test("CryptoCompare: Date,Symbol,Open,High,Low,Close,VolumeFrom,VolumeTo (VolumeFrom is the base volume)")
    func cryptoCompare() throws {
        let text = """
        Date,Symbol,Open,High,Low,Close,VolumeFrom,VolumeTo
        2024-01-02,BTC/USD,42000,45000,41500,44900,1200.5,53000000
        2024-01-01,BTC/USD,42300,42800,41900,42000,900.25,38000000
        """
        let s = try parse(text, "cc.csv", interval: 86_400)
        #expect(s.symbol == "BTC-USD")
        #expect(s.candles.map(\.volume) == [900.25, 1200.5])
        #expect(s.candles.map(\.time) == [1_704_067_200, 1_704_153_600])
    }

    @Test("freqtrade/ccxt JSON [[ms,o,h,l,c,v],...] and Binance's string values read the same")
    func json() throws {
        let numbers = "[\n [1704067200000, 10, 11, 9, 10.5, 100],\n [1704070800000, 10.5, 12, 10, 11, 200]\n]\n"
        let strings = #"[[1704067200000,"10","11","9","10.5","100",1704070799999,"1050",3,"1","2","0"],[1704070800000,"10.5","12","10","11","200",0,"0",0,"0","0",{"x":[1,2]}]]"#
        let a = try parse(numbers, "BTCUSDT-1h.json")
        let b = try parse(strings, "BTCUSDT-1h.json")
        #expect(a.symbol == "BTC-USDT")
        #expect(a.candles == b.candles)
        #expect(a.candles.count == 2 && a.candles[1].close == 11)
    }

    @Test("malformed JSON names file:line:column and the kline, never 'not in the correct format'")
    func malformedJSON() {
        #expect(error("[\n [1704067200000, 10, 11, 9, 10.5, 100],\n [1704070800000, 10.5, true, 10, 11, 200]\n]", "k.json")
            == "k.json:3:24: [1][2] high: expected a number or a numeric string")
        #expect(error("[[1704067200000, 10, 11, 9, 10.5, 100]", "k.json")
            == "k.json:1:39: expected ',' or ']' after kline [0], found the end of the file")
        #expect(error("[[1704067200000, 10, 11, 9, 10.5]]", "k.json")
            == "k.json:1:33: [0]: expected at least 6 values (open_time, open, high, low, close, volume), found 5")
        #expect(error("[{\"open\": 1}]", "k.json")
            == "k.json:1:2: [0]: expected a kline array [open_time, open, high, low, close, volume, ...], found '{'")
        #expect(error("[[1704067200000, 10, 9, 11, 10.5, 100]]", "k.json") == "k.json:1 [0]: high/low do not bracket open and close")
    }

    @Test("a wide header (more than 64 columns before the candle columns) is read")
    func manyColumns() throws {
        let extra = (0..<70).map { "x\($0)" }.joined(separator: ",")
        let values = (0..<70).map { _ in "0" }.joined(separator: ",")
        let s = try parse("\(extra),timestamp,open,high,low,close,volume\n\(values),1704067200,1,2,1,1.5,3\n")
        #expect(s.candles == [Candle(time: 1_704_067_200, open: 1, high: 2, low: 1, close: 1.5, volume: 3)])
    }

    @Test("mixed symbols in one CSV are an error naming both lines")
    func mixedSymbols() {
        let text = "date,symbol,open,high,low,close,volume\n2024-01-01 00:00:00,BTCUSD,1,2,1,1,5\n2024-01-01 01:00:00,BTC/USD,1,2,1,1,5\n2024-01-01 02:00:00,ETHUSD,1,2,1,1,5\n"
        #expect(error(text) == "f.csv:4: symbol: 'ETHUSD' differs from 'BTCUSD' on line 2: one symbol per file (split the file, one --data each)")
    }

    @Test("hourly rows read as 1d bars are an error, not duplicates; true duplicates still are duplicates")
    func finerThanTimeframe() throws {
        let hourly = "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,1,1,5\n2024-01-01 01:00:00,1,2,1,1,5\n"
        #expect(error(hourly, interval: 86_400)
            == "f.csv:3: 2024-01-01T01:00:00Z falls in the same 1d bar as line 2 (2024-01-01T00:00:00Z): the file's bars are shorter than the timeframe 1d; give the file's own timeframe")
        // Newest first and unordered files are checked too.
        let unordered = "timestamp,open,high,low,close,volume\n2024-01-02 00:00:00,1,2,1,1,5\n2024-01-01 05:00:00,1,2,1,1,5\n2024-01-03 00:00:00,1,2,1,1,5\n2024-01-01 00:00:00,1,2,1,1,5\n"
        #expect(error(unordered, interval: 86_400)?.hasPrefix("f.csv:5: 2024-01-01T00:00:00Z falls in the same 1d bar as line 3") == true)
        let repeated = "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,1,1,5\n2024-01-01 00:00:00,1,2,1,1,5\n"
        #expect(try parse(repeated, interval: 86_400).duplicateTimes == [1_704_067_200])
    }

    @Test("a row dated 9999 is refused with file:line, not 69953054 missing bars")
    func futureRow() {
        let text = "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,1,1,5\n9999-01-01 00:00:00,1,2,1,1,5\n"
        #expect(error(text) == "f.csv:3: timestamp: 9999-01-01T00:00:00Z is in the future")
        #expect(error("1704067200000,1,2,1,1,5\n4102444800000,1,2,1,1,5\n", "k.csv") == "k.csv:2: open_time: 2100-01-01T00:00:00Z is in the future")
        // Beyond any time: an error, not an overflow trap.
        #expect(error("1704067200000,1,2,1,1,5\n1e300,1,2,1,1,5\n", "k.csv") == "k.csv:2: open_time: 1e+300 is not a time in seconds, milliseconds or microseconds")
    }

    @Test("a wide table (Bitstamp: empty first header cell, BTC:open...) is read per symbol; without one the groups are listed")
    func wideTable() throws {
        let text = """
        ,BTC:open,BTC:high,BTC:low,BTC:close,BTC:volume,ETH:open,ETH:high,ETH:low,ETH:close,ETH:volume
        2015-01-01,300,310,290,305,10,,,,,
        2015-01-02,305,320,300,315,12,1.1,1.3,1,1.2,50
        """
        let btc = try parse(text, "wide.csv", symbol: "BTC-USD", interval: 86_400)
        #expect(btc.candles.count == 2 && btc.candles[1].close == 315 && btc.symbol == "BTC-USD")
        let eth = try parse(text, "wide.csv", symbol: "ETH-USD", interval: 86_400)
        #expect(eth.candles == [Candle(time: 1_420_156_800, open: 1.1, high: 1.3, low: 1, close: 1.2, volume: 50)])
        #expect(error(text, "wide.csv", interval: 86_400)
            == "wide.csv:1: header: a wide table with column groups BTC, ETH (e.g. BTC:open): choose one with --symbol, e.g. BTC-USD")
        #expect(error(text, "wide.csv", symbol: "LTC-USD", interval: 86_400)?.contains("'LTC-USD' is not one of them") == true)
    }

    @Test("the shared Bitstamp file is read", .enabled(if: FileManager.default.fileExists(atPath: sharedPath("bitstamp_btc_eth_ltc_usd_1d.csv"))))
    func sharedBitstamp() throws {
        let path = sharedPath("bitstamp_btc_eth_ltc_usd_1d.csv")
        let s = try CandleReader.load(CandleReader.Options(source: path, symbol: "BTC-USD", interval: 86_400))
        #expect(s.candles.count > 1_800)
        #expect(s.candles.first?.time == 1_417_132_800) // 2014-11-28
        #expect(s.duplicateTimes.isEmpty)
    }

    @Test("a file read in chunks equals the same text parsed in memory (CRLF, lone CR, lines across chunk ends)")
    func chunks() throws {
        var text = "banner line\r\ndate,symbol,open,high,low,close,volume_btc,volume\r\n"
        var price = 1_000.0
        for i in 0..<40_000 {
            let next = price * (i % 7 == 0 ? 0.997 : 1.002)
            text += "\(CandleBytes.iso(1_500_000_000 + Int64(40_000 - i) * 3_600)),BTCUSD,\(price),\(max(price, next) + 1.25),\(min(price, next) - 0.5),\(next),\(Double(i % 100) / 8),1\r\n"
            price = next
        }
        let path = try temporaryFile("BTC-USD.csv", text)
        let loaded = try CandleReader.load(CandleReader.Options(source: path))
        let parsed = try CandleReader.parse(text, CandleReader.Options(source: path))
        #expect(loaded.candles.count == 40_000)
        #expect(loaded.candles == parsed.candles)
        #expect(loaded.symbol == "BTC-USD")
        let cr = try parse("time,open,high,low,close,volume\r1704067200,1,1,1,1,1\r1704070800,2,2,2,2,2\r")
        #expect(cr.candles.map(\.close) == [1, 2])
    }

    @Test("replay streams an oldest-first file, and replays a newest-first one after sorting, with the loaded values")
    func replay() throws {
        let up = "1704067200000,10,11,9,10.5,100\n1704070800000,10.5,12,10,11,200\n1704070800000,10.5,12,10,11,200\n1704081600000,11,13,10,12,5\n"
        let down = "timestamp,open,high,low,close,volume\n2024-01-01 04:00:00,11,13,10,12,5\n2024-01-01 01:00:00,10.5,12,10,11,200\n2024-01-01 00:00:00,10,11,9,10.5,100\n"
        for (name, text) in [("BTCUSDT.csv", up), ("BTC-USDT.csv", down)] {
            let path = try temporaryFile(name, text)
            let options = CandleReader.Options(source: path)
            let loaded = try CandleReader.load(options)
            var starts = 0
            let (seen, summary) = try CandleReader.replay(options, initial: { (_: String) -> [Candle] in starts += 1; return [] },
                                                          step: { $0.append($1) })
            #expect(seen == loaded.candles)
            #expect(summary == loaded.summary)
            #expect(starts == (name == "BTCUSDT.csv" ? 1 : 2))
        }
    }

    @Test("numbers read from bytes equal Double(String) (fixed seed)")
    func numbers() {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        let parser = CandleBytes.Numbers()
        var cases = ["0", "-0", "1e5", "1E-5", "+3.25", ".5", "5.", "0.1", "123456789012345678901234", "1e400", "nan",
                     "inf", "0x1p3", "1.7976931348623157e308", "4.9e-324", "12.", "-", "", "1e", "00012.500"]
        for _ in 0..<5_000 {
            let digits = String(next() % 100_000_000_000)
            let cut = Int(next() % UInt64(digits.count + 1))
            var s = String(digits.prefix(cut)) + "." + String(digits.dropFirst(cut))
            if s.hasPrefix(".") { s = "0" + s }
            if next() % 5 == 0 { s += "e\(Int(next() % 40) - 20)" }
            cases.append(s)
        }
        for s in cases {
            var copy = s
            let fast = copy.withUTF8 { parser.double($0) }
            let slow = Double(s)
            #expect(fast?.bitPattern == slow?.bitPattern || (fast?.isNaN == true && slow?.isNaN == true), "'\(s)'")
        }
    }
}

/// The one-pass kline row reader gives bit for bit the values of the field-by-field path (split, trim, parse).
@Suite("CandleReader kline fast path")
struct CandleKlineFastPathTests {
    private func bits(_ candles: [Candle]) -> [[UInt64]] {
        candles.map { [UInt64(bitPattern: $0.time), $0.open.bitPattern, $0.high.bitPattern, $0.low.bitPattern,
                       $0.close.bitPattern, $0.volume.bitPattern] }
    }

    @Test("row fields read in one pass equal Double(String), and anything unusual is left to the field-by-field path")
    func fields() {
        var state: UInt64 = 13
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        let parser = CandleBytes.Numbers()
        for _ in 0..<3_000 {
            var cells = ["\(1_500_000_000_000 + Int(next() % 1_000_000_000))"]
            for _ in 0..<5 {
                let digits = String(next()) + String(next() % 1_000)
                let cut = Int(next() % UInt64(digits.count + 1))
                var cell = cut == digits.count ? digits : String(digits.prefix(cut)) + "." + String(digits.dropFirst(cut))
                if cell.hasPrefix(".") { cell = "0" + cell }
                cells.append(cell)
            }
            var line = cells.joined(separator: ",") + (next() % 2 == 0 ? ",1,2,3" : "")
            let fast = line.withUTF8 { parser.klineFields($0) }
            let expected = cells.map { Double($0) }
            if let fast {
                let got = [fast.0, fast.1, fast.2, fast.3, fast.4, fast.5]
                #expect(got.map(\.bitPattern) == expected.map { $0?.bitPattern ?? 0 }, "\(line)")
            } else {
                // Only rows the fast path must not take: a mantissa beyond 2^53 (not exact in a Double).
                #expect(cells.contains { UInt64($0.filter(\.isNumber)).map { $0 > 1 << 53 } ?? true }, "\(line)")
            }
        }
        for unusual in ["1704067200000, 10,11,9,10.5,100", "1704067200000,\"10\",11,9,10.5,100", "1704067200000,1e1,11,9,10.5,100",
                        "1704067200000,10,11,9,10.5", "1704067200000,10,11,9,10.5,", "1704067200000,+10,11,9,10.5,100",
                        "1704067200000,.5,11,9,10.5,100", "1704067200000,5.,11,9,10.5,100", "1704067200000,10,11,9,10.5,100 "] {
            var line = unusual
            #expect(line.withUTF8 { parser.klineFields($0) } == nil, "\(unusual)")
        }
    }

    @Test("the shared BTC file as kline CSV: the one-pass rows equal the spaced rows read field by field",
          .enabled(if: FileManager.default.fileExists(atPath: sharedPath("coinbase_btcusd_1h.csv"))))
    func sharedFile() throws {
        let header = try CandleReader.load(CandleReader.Options(source: sharedPath("coinbase_btcusd_1h.csv")))
        let lines = try String(contentsOfFile: sharedPath("coinbase_btcusd_1h.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).dropFirst(2)
        // date,symbol,open,high,low,close,volume_btc,volume -> open_time(ms),open,high,low,close,volume (the same text)
        var plain = "", spaced = ""
        for line in lines.reversed() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var date = cells.first ?? ""
            guard cells.count >= 7, let t = date.withUTF8({ CandleBytes.time($0) }) else { continue }
            let row = ["\(t * 1_000)", cells[2], cells[3], cells[4], cells[5], cells[6]]
            plain += row.joined(separator: ",") + ",0,0\n"
            spaced += row.joined(separator: ", ") + "\n"
        }
        let options = CandleReader.Options(source: "BTCUSD-1h.csv")
        let fast = try CandleReader.parse(plain, options)
        let fieldByField = try CandleReader.parse(spaced, options)
        #expect(fast.candles.count == header.candles.count)
        #expect(bits(fast.candles) == bits(fieldByField.candles))
        #expect(bits(fast.candles) == bits(header.candles))
    }
}

/// `<repo root>/../shared/data/NAME`.
func sharedPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/data/\(name)").path
}
