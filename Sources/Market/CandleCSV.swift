import Foundation
import Model

/// A recorded candle series for one symbol, as loaded from CSV.
public struct CandleSeries: Sendable {
    /// Product id (e.g. `BTC-USD`).
    public var symbol: String
    /// Candles, oldest first, one per bar time (deduplicated).
    public var candles: [Candle]
    /// Holes in the series (listed, never filled).
    public var gaps: [CandleGap]
    /// Bar times that appeared more than once; the first row seen in the file was kept.
    /// A time is listed once per extra occurrence, in ascending order.
    public var duplicateTimes: [Int64]
    /// Where the series came from (a path or a label).
    public var source: String
    /// Bar length in seconds (3600 for 1h candles).
    public var interval: Int64

    /// Creates a series; `candles` should be oldest first with unique times.
    public init(symbol: String, candles: [Candle], gaps: [CandleGap] = [], duplicateTimes: [Int64] = [],
                source: String, interval: Int64 = 3_600) {
        self.symbol = symbol
        self.candles = candles
        self.gaps = gaps
        self.duplicateTimes = duplicateTimes
        self.source = source
        self.interval = interval
    }
}

/// A hole in a candle series: no bars strictly between `after` and `before` (bar open times).
public struct CandleGap: Sendable, Equatable {
    /// Open time of the last bar before the hole.
    public var after: Int64
    /// Open time of the first bar after the hole.
    public var before: Int64
    /// How many bars are missing.
    public var missingBars: Int

    /// Creates a gap record.
    public init(after: Int64, before: Int64, missingBars: Int) {
        self.after = after
        self.before = before
        self.missingBars = missingBars
    }
}

/// OHLCV CSV reader (CryptoDataDownload exports and similar).
public enum CandleCSV {
    /// Reads and parses the OHLCV CSV file at `path`; see `parse`. Errors name `path:line`.
    public static func load(path: String, symbol: String? = nil, interval: Int64 = 3_600) throws(MarketError) -> CandleSeries {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MarketError(source: path, message: "cannot read file: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MarketError(source: path, message: "not UTF-8 text")
        }
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try parse(text, source: path, symbol: symbol, fallbackSymbol: stem, interval: interval)
    }

    /// Parses OHLCV CSV: an optional banner line before the header (e.g. CryptoDataDownload's), a header naming
    /// date/time, open, high, low, close and a base volume column (`volume_btc`, `volume_<base>` or `volume`),
    /// rows newest-first or oldest-first. Dates: `2019-10-17 09-AM` (UTC, 12-AM = 00h, 12-PM = 12h),
    /// `YYYY-MM-DD HH:MM:SS`, ISO 8601, or Unix seconds/milliseconds. Times are floored to `interval`.
    ///
    /// `symbol` defaults to the `symbol` column (`BTCUSD` and `BTC/USD` become `BTC-USD`), else `source`'s
    /// file name. Bad rows are errors naming `source:line` and the field; duplicates (same bar) are kept once
    /// (first seen) and listed; gaps are listed, never filled.
    public static func parse(_ text: String, source: String, symbol: String? = nil,
                             interval: Int64 = 3_600) throws(MarketError) -> CandleSeries {
        let stem = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        return try parse(text, source: source, symbol: symbol, fallbackSymbol: stem, interval: interval)
    }

    // MARK: - Implementation

    private struct Columns {
        var time: Int
        var open: Int
        var high: Int
        var low: Int
        var close: Int
        var volume: Int
        var symbol: Int?
    }

    private static func fail(_ source: String, _ line: Int, _ message: String) -> MarketError {
        MarketError(source: "\(source):\(line)", message: message)
    }

    private static func fields(_ line: Substring) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { raw in
            var f = raw.trimmingCharacters(in: .whitespaces)
            if f.count >= 2, f.hasPrefix("\""), f.hasSuffix("\"") { f = String(f.dropFirst().dropLast()) }
            return f
        }
    }

    private static let timeNames = ["unix", "timestamp", "time", "date", "datetime", "date_time", "open_time"]
    private static let quoteCurrencies: Set<String> = ["usd", "usdt", "usdc", "eur", "gbp", "quote"]

    private static func looksLikeHeader(_ names: [String]) -> Bool {
        names.contains("open") && names.contains("close")
    }

    private static func parse(_ text: String, source: String, symbol: String?, fallbackSymbol: String,
                              interval: Int64) throws(MarketError) -> CandleSeries {
        guard interval > 0 else { throw MarketError(source: source, message: "interval must be positive") }
        // Lines with their 1-based numbers, blank ones dropped.
        var lines: [(number: Int, text: Substring)] = []
        var number = 0
        // `\r\n` is a single Character in Swift, and `isNewline` covers it, `\n` and `\r`.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            var line = raw
            if number == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            lines.append((number, line))
        }
        guard let first = lines.first else { throw MarketError(source: source, message: "empty file") }

        // Header: the first line, or the second after a banner.
        var headerAt = 0
        var names = fields(first.text).map { $0.lowercased() }
        if !looksLikeHeader(names), lines.count > 1 {
            let second = fields(lines[1].text).map { $0.lowercased() }
            if looksLikeHeader(second) {
                headerAt = 1
                names = second
            }
        }
        let headerLine = lines[headerAt].number
        func column(_ wanted: String) throws(MarketError) -> Int {
            guard let i = names.firstIndex(of: wanted) else {
                throw fail(source, headerLine, "header: missing column '\(wanted)' (found: \(names.joined(separator: ",")))")
            }
            return i
        }
        guard let timeColumn = timeNames.lazy.compactMap({ names.firstIndex(of: $0) }).first else {
            throw fail(source, headerLine, "header: missing a date/time column (one of \(timeNames.joined(separator: ", ")))")
        }
        let symbolColumn = names.firstIndex(of: "symbol")
        let dataLines = lines[(headerAt + 1)...]
        guard let firstRow = dataLines.first else {
            throw fail(source, headerLine, "no data rows after the header")
        }

        // Symbol: explicit, else the symbol column's first value, else the file name.
        var resolved = symbol ?? ""
        if resolved.isEmpty, let sc = symbolColumn {
            let f = fields(firstRow.text)
            if sc < f.count, !f[sc].isEmpty { resolved = normalizeSymbol(f[sc]) }
        }
        if resolved.isEmpty { resolved = fallbackSymbol }
        let base = resolved.split(whereSeparator: { $0 == "-" || $0 == "/" }).first.map { $0.lowercased() } ?? ""

        // Base volume column: volume_<base>, another non-quote volume_*, then volume.
        var volumeColumn = names.firstIndex(of: "volume_\(base)")
        if volumeColumn == nil {
            volumeColumn = names.firstIndex { name in
                name.hasPrefix("volume_") && !quoteCurrencies.contains(String(name.dropFirst("volume_".count)))
            }
        }
        if volumeColumn == nil { volumeColumn = names.firstIndex(of: "volume") ?? names.firstIndex(of: "vol") }
        guard let volume = volumeColumn else {
            throw fail(source, headerLine, "header: missing a base volume column (volume_\(base), volume_<base> or volume)")
        }
        let columns = Columns(time: timeColumn, open: try column("open"), high: try column("high"),
                              low: try column("low"), close: try column("close"), volume: volume,
                              symbol: symbolColumn)
        let needed = max(columns.time, columns.open, columns.high, columns.low, columns.close, columns.volume)

        var byTime: [Int64: Int] = [:]
        byTime.reserveCapacity(dataLines.count)
        var candles: [Candle] = []
        candles.reserveCapacity(dataLines.count)
        var duplicates: [Int64] = []
        for (line, text) in dataLines {
            let f = fields(text)
            guard f.count > needed else {
                let missing = [("date", columns.time), ("open", columns.open), ("high", columns.high),
                               ("low", columns.low), ("close", columns.close), ("volume", columns.volume)]
                    .first { $0.1 >= f.count }?.0 ?? "field"
                throw fail(source, line, "\(missing): missing (row has \(f.count) fields, header has \(names.count))")
            }
            guard let stamp = parseTime(f[columns.time]) else {
                throw fail(source, line, "\(names[columns.time]): expected a date (YYYY-MM-DD HH-AM, YYYY-MM-DD HH:MM:SS, ISO 8601 or Unix time), found '\(f[columns.time])'")
            }
            func number(_ i: Int, positive: Bool) throws(MarketError) -> Double {
                guard let v = Double(f[i]), v.isFinite else {
                    throw fail(source, line, "\(names[i]): expected a number, found '\(f[i])'")
                }
                if positive ? v <= 0 : v < 0 {
                    throw fail(source, line, "\(names[i]): expected a \(positive ? "positive" : "non-negative") number, found '\(f[i])'")
                }
                return v
            }
            let open = try number(columns.open, positive: true)
            let high = try number(columns.high, positive: true)
            let low = try number(columns.low, positive: true)
            let close = try number(columns.close, positive: true)
            let vol = try number(columns.volume, positive: false)
            if high < max(open, close, low) {
                throw fail(source, line, "high: \(f[columns.high]) is below open, close or low")
            }
            if low > min(open, close) {
                throw fail(source, line, "low: \(f[columns.low]) is above open or close")
            }
            let time = floorDiv(stamp, interval) * interval
            if byTime[time] != nil {
                duplicates.append(time)
                continue
            }
            byTime[time] = candles.count
            candles.append(Candle(time: time, open: open, high: high, low: low, close: close, volume: vol))
        }
        candles.sort { $0.time < $1.time }
        var gaps: [CandleGap] = []
        for (prev, next) in zip(candles, candles.dropFirst()) where next.time - prev.time > interval {
            gaps.append(CandleGap(after: prev.time, before: next.time,
                                  missingBars: Int((next.time - prev.time) / interval) - 1))
        }
        return CandleSeries(symbol: resolved, candles: candles, gaps: gaps, duplicateTimes: duplicates.sorted(),
                            source: source, interval: interval)
    }

    /// `BTCUSD` -> `BTC-USD`, `btc/usdt` -> `BTC-USDT`; anything else is upper-cased as is.
    static func normalizeSymbol(_ raw: String) -> String {
        let s = raw.uppercased()
        if s.contains("-") { return s }
        if s.contains("/") { return s.replacingOccurrences(of: "/", with: "-") }
        for quote in ["USDT", "USDC", "USD", "EUR", "GBP"] where s.hasSuffix(quote) && s.count > quote.count {
            return "\(s.dropLast(quote.count))-\(quote)"
        }
        return s
    }

    // MARK: - Dates

    /// Unix seconds for one date cell, or nil.
    static func parseTime(_ raw: String) -> Int64? {
        let s = raw.trimmingCharacters(in: .whitespaces)
        guard let firstChar = s.first else { return nil }
        // Unix seconds or milliseconds (optionally fractional).
        if firstChar.isNumber, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), !s.contains("-") {
            guard let v = Double(s), v.isFinite else { return nil }
            let seconds = v >= 1e11 ? v / 1_000 : v
            return Int64(seconds.rounded(.down))
        }
        let bytes = Array(s.utf8)
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at >= 0, at + count <= bytes.count else { return nil }
            var v = 0
            for b in bytes[at..<(at + count)] {
                guard b >= 48, b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard bytes.count >= 10, let year = digits(0, 4), year >= 1, bytes[4] == 45, let month = digits(5, 2),
              bytes[7] == 45, let day = digits(8, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let midnight = daysFromCivil(year: year, month: month, day: day) * 86_400
        if bytes.count == 10 { return midnight }
        guard bytes[10] == 32 || bytes[10] == 84 || bytes[10] == 116 else { return nil } // ' ', 'T', 't'
        var rest = Array(bytes[11...])

        // CryptoDataDownload: `09-AM`, `12-PM`.
        if rest.count == 5, rest[2] == 45, let hour = digits(11, 2) {
            let suffix = String(decoding: rest[3...], as: UTF8.self).uppercased()
            guard (1...12).contains(hour), suffix == "AM" || suffix == "PM" else { return nil }
            let h24 = hour % 12 + (suffix == "PM" ? 12 : 0)
            return midnight + Int64(h24) * 3_600
        }

        // HH:MM[:SS[.fff]][Z|±HH[:]MM]
        var offset: Int64 = 0
        if let last = rest.last, last == 90 || last == 122 { // Z
            rest.removeLast()
        } else if rest.count > 6, let signAt = rest.lastIndex(where: { $0 == 43 || $0 == 45 }), signAt >= 5 {
            let zone = Array(rest[(signAt + 1)...]).filter { $0 != 58 }
            guard zone.count == 4 || zone.count == 2,
                  let zh = Int(String(decoding: zone.prefix(2), as: UTF8.self)),
                  let zm = zone.count == 4 ? Int(String(decoding: zone.suffix(2), as: UTF8.self)) : 0,
                  zh <= 23, zm <= 59
            else { return nil }
            offset = Int64(zh * 3_600 + zm * 60) * (rest[signAt] == 45 ? -1 : 1)
            rest = Array(rest[..<signAt])
        }
        let clock = String(decoding: rest, as: UTF8.self).split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 2 || clock.count == 3,
              clock[0].count == 2, let hour = Int(clock[0]), (0...23).contains(hour),
              clock[1].count == 2, let minute = Int(clock[1]), (0...59).contains(minute)
        else { return nil }
        var second = 0
        if clock.count == 3 {
            let whole = clock[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard whole[0].count == 2, let sec = Int(whole[0]), (0...60).contains(sec) else { return nil }
            if whole.count == 2, whole[1].isEmpty || !whole[1].allSatisfy(\.isNumber) { return nil }
            second = sec
        }
        return midnight + Int64(hour * 3_600 + minute * 60 + second) - offset
    }

    private static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (year >= 1).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        func leapsBefore(_ y: Int) -> Int { (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 }
        var days = 365 * (year - 1970) + leapsBefore(year) - leapsBefore(1970)
        for m in 1..<month { days += daysIn(month: m, year: year) }
        return Int64(days + day - 1)
    }
}
