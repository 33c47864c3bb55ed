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

/// OHLCV CSV reader (CryptoDataDownload exports and similar); `CandleReader` does the reading, byte by byte.
public enum CandleCSV {
    /// Reads and parses the candle file at `path` (streamed, never held whole); see `parse`. Errors name `path:line`.
    public static func load(path: String, symbol: String? = nil, interval: Int64 = 3_600) throws(MarketError) -> CandleSeries {
        try CandleReader.load(CandleReader.Options(source: path, symbol: symbol, interval: interval))
    }

    /// Parses OHLCV CSV: an optional banner line before the header (e.g. CryptoDataDownload's), a header naming
    /// date/time, open, high, low, close and a base volume column (`volume_btc`, `volume_<base>`, `volumefrom`
    /// or `volume`; names case-insensitive), rows newest-first or oldest-first. Dates: `2019-10-17 09-AM` (UTC,
    /// 12-AM = 00h, 12-PM = 12h), `YYYY-MM-DD HH:MM:SS`, ISO 8601, or Unix seconds/milliseconds. Times are
    /// floored to `interval`. The other formats of `CandleReader` are read too.
    ///
    /// `symbol` defaults to the `symbol` column (`BTCUSD` and `BTC/USD` become `BTC-USD`), else `source`'s
    /// file name. Bad rows are errors naming `source:line` and the field; duplicates (same bar) are kept once
    /// (first seen) and listed; gaps are listed, never filled.
    public static func parse(_ text: String, source: String, symbol: String? = nil,
                             interval: Int64 = 3_600) throws(MarketError) -> CandleSeries {
        try CandleReader.parse(text, CandleReader.Options(source: source, symbol: symbol, interval: interval))
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

    /// Unix seconds for one date cell, or nil (see `parse` for the formats).
    static func parseTime(_ raw: String) -> Int64? {
        var s = raw.trimmingCharacters(in: .whitespaces)
        return s.withUTF8 { CandleBytes.time($0) }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (year >= 1).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        CandleBytes.daysFromCivil(year: year, month: month, day: day)
    }
}
