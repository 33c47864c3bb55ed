import Foundation
import Model

/// What a candle file amounts to without its candles: for streamed runs that never materialise the series.
public struct CandleSummary: Sendable, Equatable {
    public var symbol: String
    public var source: String
    public var interval: Int64
    /// Candles kept (duplicates dropped).
    public var count: Int
    /// Open times of the first and last candle.
    public var first: Int64?
    public var last: Int64?
    public var gaps: [CandleGap]
    public var duplicateTimes: [Int64]

    public init(symbol: String, source: String, interval: Int64, count: Int, first: Int64?, last: Int64?,
                gaps: [CandleGap], duplicateTimes: [Int64]) {
        self.symbol = symbol
        self.source = source
        self.interval = interval
        self.count = count
        self.first = first
        self.last = last
        self.gaps = gaps
        self.duplicateTimes = duplicateTimes
    }
}

extension CandleSeries {
    /// The series' extent, gaps and duplicates.
    public var summary: CandleSummary {
        CandleSummary(symbol: symbol, source: source, interval: interval, count: candles.count,
                      first: candles.first?.time, last: candles.last?.time, gaps: gaps, duplicateTimes: duplicateTimes)
    }
}

/// Reads every supported candle file format, byte by byte, from a file in chunks (never holding its text) or
/// from bytes in memory:
/// - CSV with a header (an optional banner line before it): CryptoDataDownload (`date,symbol,open,...,volume_btc`),
///   generic `timestamp,open,high,low,close,volume` (ISO 8601 or Unix seconds/milliseconds), CryptoCompare
///   (`Date,Symbol,Open,High,Low,Close,VolumeFrom,VolumeTo`), and wide tables with one column group per coin
///   (`,BTC:open,...,ETH:open,...`, Bitstamp) where the symbol picks the group. Header names are case-insensitive.
/// - Binance kline CSV without a header (`open_time,open,high,low,close,volume,...`, times in s, ms or µs).
/// - JSON klines `[[open_time, open, high, low, close, volume, ...], ...]` (Binance, freqtrade, ccxt), values as
///   numbers or numeric strings.
///
/// Rows may come oldest or newest first, or unordered. Errors name `file:line` (`file:line:column` in JSON) and
/// the field. Refused: a symbol column naming two symbols, rows finer than `interval` (two different times in
/// one bar), and times in the future.
public enum CandleReader {
    /// Reading settings.
    public struct Options: Sendable {
        /// Names the file in errors and gives the fallback symbol.
        public var source: String
        /// The symbol, when the caller knows it (else the symbol column, else the file name).
        public var symbol: String?
        /// Bar length in seconds; times are floored to it.
        public var interval: Int64
        /// Rows after this time (Unix seconds) are refused; nil = now plus one day.
        public var latest: Int64?

        public init(source: String, symbol: String? = nil, interval: Int64 = 3_600, latest: Int64? = nil) {
            self.source = source
            self.symbol = symbol
            self.interval = interval
            self.latest = latest
        }
    }

    /// Loads the file at `options.source`.
    public static func load(_ options: Options) throws(MarketError) -> CandleSeries {
        var builder = SeriesBuilder(options)
        // Room for the rows up front (a kline row is 60-130 bytes): no regrowth copies; pages untouched until used.
        var info = stat()
        if stat(options.source, &info) == 0, info.st_size > 0 { builder.reserve(rows: Int(min(info.st_size / 48, 200_000_000))) }
        try read(path: options.source, options, into: &builder)
        return try builder.series()
    }

    /// Parses bytes in memory (`options.source` names them).
    public static func parse(_ text: String, _ options: Options) throws(MarketError) -> CandleSeries {
        var builder = SeriesBuilder(options)
        var copy = text
        let result: Result<Void, MarketError> = copy.withUTF8 { bytes in
            do throws(MarketError) {
                try read(bytes: bytes, options, into: &builder)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return try builder.series()
    }

    /// Streams the file's candles oldest first into `step`, starting from `initial(symbol)`, without
    /// materialising the series when the file is oldest first (the common case). A file in another order is
    /// loaded, sorted and replayed; `step` then starts again from a fresh `initial(symbol)`.
    @inlinable
    public static func replay<State>(_ options: Options, initial: (_ symbol: String) -> State,
                                     step: (inout State, Candle) -> Void) throws(MarketError) -> (State, CandleSummary) {
        // Inlined into the caller, so `State` is concrete there and the per-row closure is specialised.
        var state: State?
        let summary = try stream(options, start: { state = initial($0) }, row: { step(&state!, $0) })
        if let summary, let state { return (state, summary) }
        // Not oldest first: load, sort, replay from a fresh state.
        let series = try load(options)
        var fresh = initial(series.symbol)
        for c in series.candles { step(&fresh, c) }
        return (fresh, series.summary)
    }

    /// The non-generic streaming pass of `replay`: nil when the rows turned out not to be oldest first.
    @usableFromInline
    static func stream(_ options: Options, start: (String) -> Void, row: (Candle) -> Void) throws(MarketError) -> CandleSummary? {
        let result: Result<CandleSummary, MarketError> = withoutActuallyEscaping(start) { start in
            withoutActuallyEscaping(row) { row in
                var forward = ForwardSink(options, start: start, row: row)
                do throws(MarketError) {
                    try read(path: options.source, options, into: &forward)
                    return .success(try forward.summary())
                } catch {
                    return .failure(error)
                }
            }
        }
        switch result {
        case .success(let summary): return summary
        case .failure(let error) where error.message == unorderedMessage: return nil
        case .failure(let error): throw error
        }
    }

    /// `BTCUSDT-1h-2024-01` -> `BTC-USDT` (a fallback symbol from a file name); anything else is upper-cased.
    public static func guessSymbol(_ stem: String) -> String {
        let head = stem.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map(String.init)?.uppercased() ?? stem.uppercased()
        for quote in ["USDT", "USDC", "USD", "BUSD", "EUR"] where head.hasSuffix(quote) && head.count > quote.count {
            return "\(head.dropLast(quote.count))-\(quote)"
        }
        return head
    }

    /// `3600` -> `1h`, `86400` -> `1d` (for messages).
    static func timeframeLabel(_ seconds: Int64) -> String {
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    // MARK: - Dispatch

    private static func read<Sink: CandleSink>(path: String, _ options: Options, into sink: inout Sink) throws(MarketError) {
        // The first bytes say whether it is JSON.
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw MarketError(source: path, message: "cannot read file: \(String(cString: strerror(errno)))")
        }
        var head = [UInt8](repeating: 0, count: 4_096)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4_096, 0) }
        close(fd)
        if n > 0, firstSignificantByte(head[0..<n]) == 91 { // '['
            var stream = JSONCandles.Stream(path: path)
            try JSONCandles.read(&stream, options, into: &sink)
            return
        }
        var rows = RowReader(options)
        defer { rows.deallocate() }
        do {
            try CandleBytes.forEachLine(path: path) { (line, number) throws(MarketError) in
                try rows.consume(line, number, into: &sink)
            }
        } catch {
            switch error {
            case .io(let e), .body(let e): throw e
            }
        }
        try rows.finish()
    }

    private static func read<Sink: CandleSink>(bytes: UnsafeBufferPointer<UInt8>, _ options: Options,
                                               into sink: inout Sink) throws(MarketError) {
        if firstSignificantByte(bytes[...]) == 91 {
            var stream = JSONCandles.Stream(bytes: bytes)
            try JSONCandles.read(&stream, options, into: &sink)
            return
        }
        var rows = RowReader(options)
        defer { rows.deallocate() }
        try CandleBytes.forEachLine(bytes: bytes) { (line, number) throws(MarketError) in
            try rows.consume(line, number, into: &sink)
        }
        try rows.finish()
    }

    private static func firstSignificantByte<C: Collection>(_ bytes: C) -> UInt8? where C.Element == UInt8 {
        var i = bytes.startIndex
        // UTF-8 byte order mark.
        if bytes.count >= 3, bytes[i] == 0xEF { i = bytes.index(i, offsetBy: 3) }
        while i < bytes.endIndex, [32, 9, 10, 13].contains(bytes[i]) { i = bytes.index(after: i) }
        return i < bytes.endIndex ? bytes[i] : nil
    }
}

// MARK: - Sinks

/// Receives the rows of a file in file order.
protocol CandleSink {
    /// `raw` is the row's time before flooring to the bar.
    mutating func add(_ candle: Candle, raw: Int64, line: Int) throws(MarketError)
    /// The symbol, once the reader knows it (before the first `add`).
    mutating func setSymbol(_ symbol: String)
}

/// The finer-than-the-timeframe refusal: two different times in one bar.
private func finerThanTimeframe(_ options: CandleReader.Options, line: Int, raw: Int64, otherLine: Int,
                                otherRaw: Int64) -> MarketError {
    let tf = CandleReader.timeframeLabel(options.interval)
    return MarketError(source: "\(options.source):\(line)",
                       message: "\(CandleBytes.iso(raw)) falls in the same \(tf) bar as line \(otherLine) (\(CandleBytes.iso(otherRaw))): the file's bars are shorter than the timeframe \(tf); give the file's own timeframe")
}

/// Collects every row, then sorts, keeps the first row of each bar and lists duplicates and gaps.
struct SeriesBuilder: CandleSink {
    let options: CandleReader.Options
    var symbol = ""
    var candles: [Candle] = []
    var raws: [Int64] = []
    var lines: [Int] = []
    var duplicates: [Int64] = []
    /// +1 ascending, -1 descending, 0 unknown; `unordered` once both were seen.
    var direction = 0
    var unordered = false

    init(_ options: CandleReader.Options) { self.options = options }

    mutating func reserve(rows: Int) {
        candles.reserveCapacity(rows)
        raws.reserveCapacity(rows)
        lines.reserveCapacity(rows)
    }

    mutating func setSymbol(_ symbol: String) { self.symbol = symbol }

    mutating func add(_ candle: Candle, raw: Int64, line: Int) throws(MarketError) {
        if let last = candles.last {
            if candle.time == last.time {
                guard let lastRaw = raws.last, raw == lastRaw else {
                    throw finerThanTimeframe(options, line: line, raw: raw, otherLine: lines.last ?? 0,
                                             otherRaw: raws.last ?? 0)
                }
                duplicates.append(candle.time)
                return
            }
            let d = candle.time > last.time ? 1 : -1
            if direction == 0 { direction = d } else if direction != d { unordered = true }
        }
        candles.append(candle)
        raws.append(raw)
        lines.append(line)
    }

    func series() throws(MarketError) -> CandleSeries {
        var candles = self.candles
        var duplicates = self.duplicates
        if unordered {
            // Stable by file position: the first row of a bar is kept.
            let order = candles.indices.sorted { candles[$0].time != candles[$1].time ? candles[$0].time < candles[$1].time : $0 < $1 }
            var kept: [Candle] = []
            kept.reserveCapacity(order.count)
            var keptIndex = -1
            for i in order {
                if keptIndex >= 0, candles[i].time == candles[keptIndex].time {
                    guard raws[i] == raws[keptIndex] else {
                        let (a, b) = i > keptIndex ? (i, keptIndex) : (keptIndex, i)
                        throw finerThanTimeframe(options, line: lines[a], raw: raws[a], otherLine: lines[b], otherRaw: raws[b])
                    }
                    duplicates.append(candles[i].time)
                    continue
                }
                kept.append(candles[i])
                keptIndex = i
            }
            candles = kept
        } else if direction < 0 {
            candles.reverse()
        }
        duplicates.sort()
        var gaps: [CandleGap] = []
        let interval = options.interval
        for i in candles.indices.dropFirst() where candles[i].time - candles[i - 1].time > interval {
            let (a, b) = (candles[i - 1].time, candles[i].time)
            gaps.append(CandleGap(after: a, before: b, missingBars: Int((b - a) / interval) - 1))
        }
        return CandleSeries(symbol: symbol, candles: candles, gaps: gaps, duplicateTimes: duplicates,
                            source: options.source, interval: interval)
    }
}

/// The internal signal of `ForwardSink` that rows are not oldest first.
let unorderedMessage = "\u{0}rows are not oldest first"

/// Passes rows straight to a step function while they come oldest first; the first row out of order ends
/// the pass with `unordered` so the caller can load and sort instead.
struct ForwardSink: CandleSink {
    let options: CandleReader.Options
    let start: (String) -> Void
    let row: (Candle) -> Void
    var symbol = ""
    var count = 0
    var first: Int64?
    var lastTime: Int64 = 0
    var lastRaw: Int64 = 0
    var lastLine = 0
    var gaps: [CandleGap] = []
    var duplicates: [Int64] = []

    init(_ options: CandleReader.Options, start: @escaping (String) -> Void, row: @escaping (Candle) -> Void) {
        self.options = options
        self.start = start
        self.row = row
    }

    mutating func setSymbol(_ symbol: String) {
        self.symbol = symbol
        start(symbol)
    }

    @inline(__always)
    mutating func add(_ candle: Candle, raw: Int64, line: Int) throws(MarketError) {
        if count > 0 {
            if candle.time == lastTime {
                guard raw == lastRaw else {
                    throw finerThanTimeframe(options, line: line, raw: raw, otherLine: lastLine, otherRaw: lastRaw)
                }
                duplicates.append(candle.time)
                return
            }
            guard candle.time > lastTime else { throw MarketError(source: options.source, message: unorderedMessage) }
            if candle.time - lastTime > options.interval {
                gaps.append(CandleGap(after: lastTime, before: candle.time,
                                      missingBars: Int((candle.time - lastTime) / options.interval) - 1))
            }
        } else {
            first = candle.time
        }
        row(candle)
        count += 1
        lastTime = candle.time
        lastRaw = raw
        lastLine = line
    }

    func summary() throws(MarketError) -> CandleSummary {
        guard count > 0 else { throw MarketError(source: options.source, message: "no candles") }
        return CandleSummary(symbol: symbol, source: options.source, interval: options.interval, count: count,
                             first: first, last: lastTime, gaps: gaps, duplicateTimes: duplicates)
    }
}

// MARK: - Row checks shared by every format

/// Validates one row's values (already numbers) and hands the candle to the sink.
struct RowCheck {
    let options: CandleReader.Options
    let latest: Int64

    init(_ options: CandleReader.Options) {
        self.options = options
        self.latest = options.latest ?? Int64(Date().timeIntervalSince1970) + 86_400
    }

    @inline(__always)
    func floor(_ t: Int64) -> Int64 {
        let i = options.interval
        return (t >= 0 ? t / i : -((-t + i - 1) / i)) * i
    }
}

// MARK: - CSV rows

/// Line by line: finds the header (after an optional banner line) or sees a headerless kline file, then reads rows.
struct RowReader {
    private enum Layout {
        /// Header CSV: column positions, names (for messages), and the symbol column.
        case header(HeaderColumns)
        /// Binance kline CSV without a header.
        case kline
    }

    struct HeaderColumns {
        var names: [String]
        var time: Int
        var open: Int
        var high: Int
        var low: Int
        var close: Int
        var volume: Int
        var symbol: Int?
        /// Wide table: rows where every cell of the group is empty are skipped (the coin was not listed yet).
        var group: String?
        var needed: Int { max(time, open, high, low, close, volume, symbol ?? 0) }
    }

    let options: CandleReader.Options
    let check: RowCheck
    private var layout: Layout?
    /// A first line that was not a header: it may be a banner before one.
    private var pending: (line: [String], number: Int)?
    private var rows = 0
    private var fields: CandleBytes.Fields
    private let numbers = CandleBytes.Numbers()
    /// The symbol cell of the first row, to refuse a second symbol.
    private var firstSymbol: [UInt8]?
    private var firstSymbolLine = 0

    static let timeNames = ["unix", "timestamp", "time", "date", "datetime", "date_time", "open_time", "open time"]
    static let quoteCurrencies: Set<String> = ["usd", "usdt", "usdc", "eur", "gbp", "quote"]
    static let klineNames = ["open_time", "open", "high", "low", "close", "volume"]

    init(_ options: CandleReader.Options) {
        self.options = options
        self.check = RowCheck(options)
        self.fields = CandleBytes.Fields(capacity: 64)
    }

    func deallocate() { fields.deallocate() }

    private func fail(_ line: Int, _ message: String) -> MarketError {
        MarketError(source: "\(options.source):\(line)", message: message)
    }

    mutating func consume<Sink: CandleSink>(_ raw: CandleBytes.Line, _ number: Int, into sink: inout Sink) throws(MarketError) {
        var line = raw
        if number == 1, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = CandleBytes.Line(rebasing: line[3...])
        }
        if CandleBytes.isBlank(line) { return }
        switch layout {
        case .header(let columns)?:
            try headerRow(line, number, columns, into: &sink)
        case .kline?:
            try klineRow(line, number, into: &sink)
        case nil:
            if let header {
                let columns = try resolve(header.names, at: header.line, firstRow: line, into: &sink)
                if columns.needed + 2 > fields.starts.count {
                    fields.deallocate()
                    fields = CandleBytes.Fields(capacity: columns.needed + 2)
                }
                layout = .header(columns)
                try headerRow(line, number, columns, into: &sink)
                return
            }
            try start(line, number)
            if case .kline? = layout {
                sink.setSymbol(options.symbol ?? CandleReader.guessSymbol(stem))
                try klineRow(line, number, into: &sink)
            }
        }
    }

    mutating func finish() throws(MarketError) {
        if let pending {
            // A single line that is not a header.
            _ = try columns(pending.line.map { $0.lowercased() }, at: pending.number, symbol: options.symbol ?? stem)
            throw fail(pending.number, "header: not a candle header")
        }
        if let header, layout == nil {
            _ = try columns(header.names, at: header.line, symbol: options.symbol ?? stem)
            throw fail(header.line, "no data rows after the header")
        }
        guard let layout else { throw MarketError(source: options.source, message: "empty file") }
        if rows == 0 {
            if case .kline = layout { throw MarketError(source: options.source, message: "no candles") }
            throw MarketError(source: options.source, message: "no candles (every row was empty)")
        }
    }

    static func looksLikeHeader(_ names: [String]) -> Bool {
        names.contains("open") && names.contains("close")
            || names.contains { $0.hasSuffix(":open") } && names.contains { $0.hasSuffix(":close") }
    }

    /// The first non-blank line (and, after a banner, the second).
    private mutating func start(_ line: CandleBytes.Line, _ number: Int) throws(MarketError) {
        if let pending {
            self.pending = nil
            let names = CandleBytes.strings(line).map { $0.lowercased() }
            if Self.looksLikeHeader(names) {
                header = (names, number)
                return
            }
            // Neither line is a header: the first one is named in the error.
            _ = try columns(pending.line.map { $0.lowercased() }, at: pending.number, symbol: options.symbol ?? "")
            throw fail(pending.number, "header: not a candle header")
        }
        // Headerless Binance kline CSV: the first cell is an integer.
        fields.split(line, limit: 1)
        let firstCell = fields.bytes(0, in: line)
        if firstCell.count > 0, Int64(CandleBytes.text(firstCell)) != nil {
            layout = .kline
            return
        }
        let strings = CandleBytes.strings(line)
        let names = strings.map { $0.lowercased() }
        if Self.looksLikeHeader(names) {
            header = (names, number)
            return
        }
        pending = (strings, number)
    }

    /// The header seen, waiting for the first row (the symbol column's first value picks the volume column).
    private var header: (names: [String], line: Int)?

    private var stem: String { URL(fileURLWithPath: options.source).deletingPathExtension().lastPathComponent }

    /// At the first row: the symbol (explicit, else the symbol column's first value, else the file name) and
    /// the columns.
    private mutating func resolve<Sink: CandleSink>(_ names: [String], at line: Int, firstRow: CandleBytes.Line,
                                                    into sink: inout Sink) throws(MarketError) -> HeaderColumns {
        var resolved = options.symbol ?? ""
        if resolved.isEmpty, Self.groups(names).isEmpty, let sc = names.firstIndex(of: "symbol") {
            let f = CandleBytes.strings(firstRow)
            if sc < f.count, !f[sc].isEmpty { resolved = CandleCSV.normalizeSymbol(f[sc]) }
        }
        if resolved.isEmpty { resolved = stem }
        sink.setSymbol(resolved)
        return try columns(names, at: line, symbol: resolved)
    }

    /// Column positions from the header names (lower-cased); `symbol` gives the base volume column.
    private func columns(_ header: [String], at line: Int, symbol: String) throws(MarketError) -> HeaderColumns {
        var names = header
        // Wide table (one column group per coin, `BTC:open`): the symbol picks the group.
        var group: String?
        let groups = Self.groups(names)
        if !groups.isEmpty {
            let base = options.symbol.flatMap {
                $0.split(whereSeparator: { $0 == "-" || $0 == "/" }).first.map { $0.lowercased() }
            }
            guard let base, groups.contains(base) else {
                let example = groups[0].uppercased()
                let wanted = options.symbol.map { "'\($0)' is not one of them" } ?? "choose one with --symbol"
                throw fail(line, "header: a wide table with column groups \(groups.map { $0.uppercased() }.joined(separator: ", ")) (e.g. \(example):open): \(wanted), e.g. \(example)-USD")
            }
            group = base
            names = names.map { name in
                if name.hasPrefix(base + ":") { return String(name.dropFirst(base.count + 1)) }
                return name.contains(":") ? "" : name
            }
        }
        let needed = "needed: a date/time column, open, high, low, close and a base volume column"
        let found = "found: \(header.joined(separator: ","))"
        func column(_ wanted: String) throws(MarketError) -> Int {
            guard let i = names.firstIndex(of: wanted) else {
                throw fail(line, "header: missing column '\(wanted)' (\(found); \(needed))")
            }
            return i
        }
        var timeColumn = Self.timeNames.lazy.compactMap { names.firstIndex(of: $0) }.first
        // An unnamed first column holds the dates (pandas' index, Bitstamp's wide table).
        if timeColumn == nil, names.first == "" { timeColumn = 0 }
        guard let timeColumn else {
            throw fail(line, "header: missing a date/time column (one of \(Self.timeNames.joined(separator: ", "))) (\(found); \(needed))")
        }
        let symbolColumn = group == nil ? names.firstIndex(of: "symbol") : nil
        // Base volume column: volume_<base>, another non-quote volume_*, volumefrom (CryptoCompare), then volume.
        let base = symbol.split(whereSeparator: { $0 == "-" || $0 == "/" }).first.map { $0.lowercased() } ?? ""
        var volumeColumn = names.firstIndex(of: "volume_\(base)")
        if volumeColumn == nil {
            volumeColumn = names.firstIndex { name in
                name.hasPrefix("volume_") && !Self.quoteCurrencies.contains(String(name.dropFirst("volume_".count)))
            }
        }
        if volumeColumn == nil { volumeColumn = names.firstIndex(of: "volumefrom") }
        if volumeColumn == nil { volumeColumn = names.firstIndex(of: "volume") ?? names.firstIndex(of: "vol") }
        guard let volume = volumeColumn else {
            throw fail(line, "header: missing a base volume column (volume_\(base), volume_<base>, volumefrom or volume) (\(found))")
        }
        return HeaderColumns(names: names, time: timeColumn, open: try column("open"), high: try column("high"),
                             low: try column("low"), close: try column("close"), volume: volume,
                             symbol: symbolColumn, group: group)
    }

    /// Column-group prefixes of a wide table (`btc` for `btc:open`), in header order.
    static func groups(_ names: [String]) -> [String] {
        var out: [String] = []
        for name in names where name.hasSuffix(":open") {
            let g = String(name.dropLast(":open".count))
            if !g.isEmpty, !out.contains(g), names.contains("\(g):close") { out.append(g) }
        }
        return out
    }

    @inline(__always)
    private mutating func headerRow<Sink: CandleSink>(_ line: CandleBytes.Line, _ number: Int, _ c: HeaderColumns,
                                                      into sink: inout Sink) throws(MarketError) {
        let needed = c.needed
        fields.split(line, limit: needed + 1)
        guard fields.count > needed else {
            let count = CandleBytes.fieldCount(line)
            let missing = [("date", c.time), ("open", c.open), ("high", c.high), ("low", c.low), ("close", c.close),
                           ("volume", c.volume)].first { $0.1 >= count }?.0 ?? "field"
            throw fail(number, "\(missing): missing (row has \(count) fields, header has \(c.names.count))")
        }
        if c.group != nil {
            // Before a coin was listed its cells are empty: such rows are not candles.
            var allEmpty = true
            for i in [c.open, c.high, c.low, c.close, c.volume] where fields.ends[i] > fields.starts[i] { allEmpty = false }
            if allEmpty { return }
        }
        if let sc = c.symbol { try sameSymbol(fields.bytes(sc, in: line), number, c) }
        let timeCell = fields.bytes(c.time, in: line)
        guard let stamp = CandleBytes.time(timeCell) else {
            throw fail(number, "\(c.names[c.time].isEmpty ? "date" : c.names[c.time]): expected a date (YYYY-MM-DD HH-AM, YYYY-MM-DD HH:MM:SS, ISO 8601 or Unix time), found '\(CandleBytes.text(timeCell))'")
        }
        let open = try value(line, c.open, c, number, positive: true)
        let high = try value(line, c.high, c, number, positive: true)
        let low = try value(line, c.low, c, number, positive: true)
        let close = try value(line, c.close, c, number, positive: true)
        let vol = try value(line, c.volume, c, number, positive: false)
        if high < max(open, close, low) {
            throw fail(number, "high: \(CandleBytes.text(fields.bytes(c.high, in: line))) is below open, close or low")
        }
        if low > min(open, close) {
            throw fail(number, "low: \(CandleBytes.text(fields.bytes(c.low, in: line))) is above open or close")
        }
        if stamp > check.latest {
            throw fail(number, "\(c.names[c.time].isEmpty ? "date" : c.names[c.time]): \(CandleBytes.iso(stamp)) is in the future")
        }
        rows += 1
        try sink.add(Candle(time: check.floor(stamp), open: open, high: high, low: low, close: close, volume: vol),
                     raw: stamp, line: number)
    }

    @inline(__always)
    private func value(_ line: CandleBytes.Line, _ i: Int, _ c: HeaderColumns, _ number: Int,
                        positive: Bool) throws(MarketError) -> Double {
        let cell = fields.bytes(i, in: line)
        guard let v = numbers.double(cell), v.isFinite else {
            throw fail(number, "\(c.names[i]): expected a number, found '\(CandleBytes.text(cell))'")
        }
        if positive ? v <= 0 : v < 0 {
            throw fail(number, "\(c.names[i]): expected a \(positive ? "positive" : "non-negative") number, found '\(CandleBytes.text(cell))'")
        }
        return v
    }

    /// One symbol per file: a row naming another symbol is an error.
    @inline(__always)
    private mutating func sameSymbol(_ cell: CandleBytes.Line, _ number: Int, _ c: HeaderColumns) throws(MarketError) {
        guard let first = firstSymbol else {
            firstSymbol = Array(cell)
            firstSymbolLine = number
            return
        }
        if first.elementsEqual(cell) { return }
        let a = CandleBytes.text(cell), b = String(decoding: first, as: UTF8.self)
        if CandleCSV.normalizeSymbol(a) == CandleCSV.normalizeSymbol(b) { return }
        throw fail(number, "symbol: '\(a)' differs from '\(b)' on line \(firstSymbolLine): one symbol per file (split the file, one --data each)")
    }

    @inline(__always)
    private mutating func klineRow<Sink: CandleSink>(_ line: CandleBytes.Line, _ number: Int, into sink: inout Sink) throws(MarketError) {
        // Plain rows in one pass; anything else (spaces, quotes, exponents, errors) field by field below.
        if let v = numbers.klineFields(line) {
            let candle = try KlineRow.candle(v, check: check, at: "\(options.source):\(number)")
            rows += 1
            try sink.add(candle.candle, raw: candle.raw, line: number)
            return
        }
        fields.split(line, limit: 6)
        guard fields.count >= 6 else {
            throw fail(number, "expected at least 6 fields (open_time, open, high, low, close, volume), found \(CandleBytes.fieldCount(line))")
        }
        var v = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for i in 0..<6 {
            let cell = fields.bytes(i, in: line)
            guard let x = numbers.double(cell), x.isFinite else {
                throw fail(number, "\(Self.klineNames[i]): expected a number, found '\(CandleBytes.text(cell))'")
            }
            KlineRow.set(&v, i, x)
        }
        let candle = try KlineRow.candle(v, check: check, at: "\(options.source):\(number)")
        rows += 1
        try sink.add(candle.candle, raw: candle.raw, line: number)
    }
}

/// The checks of a kline row (CSV or JSON), with the messages of `CandleFiles`.
enum KlineRow {
    /// Sets value `i` (0 = open time ... 5 = volume) of a row.
    @inline(__always)
    static func set(_ v: inout (Double, Double, Double, Double, Double, Double), _ i: Int, _ x: Double) {
        switch i {
        case 0: v.0 = x
        case 1: v.1 = x
        case 2: v.2 = x
        case 3: v.3 = x
        case 4: v.4 = x
        default: v.5 = x
        }
    }

    @inline(__always)
    static func candle(_ v: (Double, Double, Double, Double, Double, Double), check: RowCheck,
                       at: @autoclosure () -> String) throws(MarketError) -> (candle: Candle, raw: Int64) {
        let (open, high, low, close, volume) = (v.1, v.2, v.3, v.4, v.5)
        guard open > 0, high > 0, low > 0, close > 0 else { throw MarketError(source: at(), message: "prices must be positive") }
        guard volume >= 0 else { throw MarketError(source: at(), message: "volume: negative") }
        guard high >= max(open, close, low), low <= min(open, close) else {
            throw MarketError(source: at(), message: "high/low do not bracket open and close")
        }
        guard let t = CandleBytes.epochSeconds(v.0) else {
            throw MarketError(source: at(), message: "open_time: \(v.0) is not a time in seconds, milliseconds or microseconds")
        }
        if t > check.latest {
            throw MarketError(source: at(), message: "open_time: \(CandleBytes.iso(t)) is in the future")
        }
        return (Candle(time: check.floor(t), open: open, high: high, low: low, close: close, volume: volume), t)
    }
}
