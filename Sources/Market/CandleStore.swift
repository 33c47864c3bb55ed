import Foundation
import Model

/// Downloaded candles (and funding rates) under a data folder, one compact binary file per venue, symbol and bar
/// length: `<root>/<exchange>/<SYMBOL>-<timeframe>.candles`.
///
/// File format (little-endian): the 8-byte magic `AGCNDL01`, the bar length in seconds (Int64), then one
/// 48-byte record per bar, oldest first, unique times: open time (Int64 Unix seconds), open, high, low, close,
/// volume (Float64). Loading is one read and a copy, with no parsing.
///
/// Crash safety: bars after the last stored one are appended and synced; bars inside the stored span are merged
/// by rewriting a temporary file and renaming it over the old one. A record cut short by a crash (a file length
/// that is not header + n x 48) is dropped when the file is next opened, so a download resumes from the last whole
/// bar. Funding rates are `<SYMBOL>-funding.json` rows `[time_ms, rate]` (what `--funding` reads).
public struct CandleStore: Sendable {
    public static let magic = Array("AGCNDL01".utf8)
    static let headerBytes = 16
    static let recordBytes = 48

    /// The folder holding one subfolder per exchange (usually `<data-dir>/candles`).
    public var root: String

    public init(root: String) { self.root = root }

    /// `<data-dir>/candles`.
    public init(dataDir: String) { root = (dataDir as NSString).appendingPathComponent("candles") }

    /// The file of `symbol`'s `interval` bars from `exchange`.
    public func path(exchange: String, symbol: String, interval: Int64) -> String {
        let name = "\(Self.fileSymbol(symbol))-\(BarInterval(seconds: interval)?.description ?? "\(interval)s").candles"
        return ((root as NSString).appendingPathComponent(exchange) as NSString).appendingPathComponent(name)
    }

    /// The funding file of `symbol` from `exchange`.
    public func fundingPath(exchange: String, symbol: String) -> String {
        ((root as NSString).appendingPathComponent(exchange) as NSString).appendingPathComponent("\(Self.fileSymbol(symbol))-funding.json")
    }

    /// Symbols become file names: letters, digits, `-` and `_` only.
    public static func fileSymbol(_ symbol: String) -> String {
        String(symbol.uppercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    // MARK: Reading

    /// Every stored bar of the file, oldest first (a torn last record is ignored).
    public func load(exchange: String, symbol: String, interval: Int64) throws(MarketError) -> CandleSeries {
        let file = path(exchange: exchange, symbol: symbol, interval: interval)
        let candles = try Self.read(file, interval: interval)
        var gaps: [CandleGap] = []
        for (a, b) in zip(candles, candles.dropFirst()) where b.time - a.time > interval {
            gaps.append(CandleGap(after: a.time, before: b.time, missingBars: Int((b.time - a.time) / interval) - 1))
        }
        return CandleSeries(symbol: symbol, candles: candles, gaps: gaps, source: file, interval: interval)
    }

    /// Reads a store file; `interval` must match its header.
    static func read(_ file: String, interval: Int64) throws(MarketError) -> [Candle] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw MarketError(source: file, message: "no stored candles (run `agent data download` first; `agent data list` shows what is stored)")
        }
        guard data.count >= headerBytes, Array(data.prefix(8)) == magic else {
            throw MarketError(source: file, message: "not a candle store file (expected the AGCNDL01 header)")
        }
        let stored = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: Int64.self).littleEndian }
        guard stored == interval else {
            throw MarketError(source: file, message: "holds \(stored)s bars, not \(interval)s")
        }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Candle] in
            let count = (raw.count - headerBytes) / recordBytes
            var out: [Candle] = []
            out.reserveCapacity(count)
            for i in 0..<count {
                let o = headerBytes + i * recordBytes
                func d(_ k: Int) -> Double { Double(bitPattern: raw.loadUnaligned(fromByteOffset: o + 8 * k, as: UInt64.self).littleEndian) }
                out.append(Candle(time: raw.loadUnaligned(fromByteOffset: o, as: Int64.self).littleEndian,
                                  open: d(1), high: d(2), low: d(3), close: d(4), volume: d(5)))
            }
            return out
        }
    }

    /// One stored file, for `agent data list`.
    public struct Entry: Sendable, Equatable, Codable {
        public var exchange: String
        public var symbol: String
        public var timeframe: String
        public var path: String
        public var candles: Int
        /// Open times of the first and last bar.
        public var first: Int64?
        public var last: Int64?
        public var gaps: Int
        public var missingBars: Int
        /// Funding rates stored beside the candles (perpetuals).
        public var fundingRates: Int?
    }

    /// Everything stored, sorted by exchange, symbol and bar length.
    public func list() throws(MarketError) -> [Entry] {
        let fm = FileManager.default
        guard let exchanges = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        var out: [Entry] = []
        for exchange in exchanges.sorted() {
            let dir = (root as NSString).appendingPathComponent(exchange)
            for name in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where name.hasSuffix(".candles") {
                let stem = String(name.dropLast(".candles".count))
                guard let dash = stem.lastIndex(of: "-"), let bar = BarInterval(String(stem[stem.index(after: dash)...])) else { continue }
                let symbol = String(stem[..<dash])
                let series = try load(exchange: exchange, symbol: symbol, interval: bar.seconds)
                let funding = try? FundingFile.read(fundingPath(exchange: exchange, symbol: symbol))
                out.append(Entry(exchange: exchange, symbol: symbol, timeframe: bar.description, path: series.source,
                                 candles: series.candles.count, first: series.candles.first?.time, last: series.candles.last?.time,
                                 gaps: series.gaps.count, missingBars: series.gaps.reduce(0) { $0 + $1.missingBars },
                                 fundingRates: funding?.count))
            }
        }
        return out
    }

    // MARK: Writing

    /// Adds `candles` (any order; only bars already closed should be given): new times are stored, times already
    /// stored are left as they were. Returns how many bars were new.
    @discardableResult
    public func add(_ candles: [Candle], exchange: String, symbol: String, interval: Int64) throws(MarketError) -> Int {
        let file = path(exchange: exchange, symbol: symbol, interval: interval)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw MarketError(source: file, message: "cannot create the folder: \(error.localizedDescription)")
        }
        let existing = fm.fileExists(atPath: file) ? try Self.read(file, interval: interval) : []
        let known = Set(existing.map(\.time))
        var fresh: [Candle] = []
        var seen = Set<Int64>()
        for c in candles.sorted(by: { $0.time < $1.time }) where !known.contains(c.time) && seen.insert(c.time).inserted {
            fresh.append(c)
        }
        guard !fresh.isEmpty else { return 0 }
        if let last = existing.last?.time, let firstNew = fresh.first?.time, firstNew > last {
            try Self.append(fresh, to: file, wholeRecords: existing.count)
        } else {
            try Self.rewrite((existing + fresh).sorted { $0.time < $1.time }, to: file, interval: interval)
        }
        return fresh.count
    }

    static func encode(_ candles: [Candle]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(candles.count * recordBytes)
        func put(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        for c in candles {
            put(UInt64(bitPattern: c.time))
            for v in [c.open, c.high, c.low, c.close, c.volume] { put(v.bitPattern) }
        }
        return bytes
    }

    static func header(_ interval: Int64) -> [UInt8] {
        var h = magic
        withUnsafeBytes(of: interval.littleEndian) { h.append(contentsOf: $0) }
        return h
    }

    /// Appends after the last whole record (cutting off a torn one) and syncs.
    static func append(_ candles: [Candle], to file: String, wholeRecords: Int) throws(MarketError) {
        let fd = open(file, O_WRONLY)
        guard fd >= 0 else { throw MarketError(source: file, message: "cannot open for writing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let end = off_t(headerBytes + wholeRecords * recordBytes)
        let bytes = encode(candles)
        let ok = ftruncate(fd, end) == 0 && lseek(fd, end, SEEK_SET) == end
            && bytes.withUnsafeBytes { writeAll(fd, $0) } && fsync(fd) == 0
        guard ok else { throw MarketError(source: file, message: "cannot append: \(String(cString: strerror(errno)))") }
    }

    /// Writes the whole file to a temporary one and renames it over `file`.
    static func rewrite(_ candles: [Candle], to file: String, interval: Int64) throws(MarketError) {
        let tmp = file + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MarketError(source: tmp, message: "cannot create: \(String(cString: strerror(errno)))") }
        let bytes = header(interval) + encode(candles)
        let ok = bytes.withUnsafeBytes { writeAll(fd, $0) } && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, file) == 0 else {
            unlink(tmp)
            throw MarketError(source: file, message: "cannot write: \(String(cString: strerror(errno)))")
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            guard let base = buffer.baseAddress else { return false }
            let n = write(fd, base + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Adds funding rates (`time` in Unix seconds) to the symbol's funding file; returns how many were new.
    @discardableResult
    public func addFunding(_ rates: [(time: Int64, rate: Double)], exchange: String, symbol: String) throws(MarketError) -> Int {
        let file = fundingPath(exchange: exchange, symbol: symbol)
        var merged: [Int64: Double] = [:]
        for r in (try? FundingFile.read(file)) ?? [] { merged[r.time] = r.rate }
        let before = merged.count
        for r in rates where merged[r.time] == nil { merged[r.time] = r.rate }
        guard merged.count > before else { return 0 }
        let rows = merged.keys.sorted().map { "[\($0 * 1000),\(merged[$0] ?? 0)]" }
        do {
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(("[" + rows.joined(separator: ",\n") + "]\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw MarketError(source: file, message: "cannot write: \(error.localizedDescription)")
        }
        return merged.count - before
    }
}

/// Funding files: JSON rows `[time_ms, rate, ...]`, oldest first.
public enum FundingFile {
    public static func read(_ file: String) throws(MarketError) -> [(time: Int64, rate: Double)] {
        guard let data = FileManager.default.contents(atPath: file) else { throw MarketError(source: file, message: "no such file") }
        guard let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[Any]] else {
            throw MarketError(source: file, message: "expected JSON rows [time_ms, rate]")
        }
        return rows.compactMap { row in
            guard row.count >= 2, let t = (row[0] as? NSNumber)?.int64Value else { return nil }
            let rate = (row[1] as? NSNumber)?.doubleValue ?? (row[1] as? String).flatMap(Double.init)
            return rate.map { (t / 1000, $0) }
        }
    }
}

extension CandleSeries {
    /// Bars of `interval` (a whole multiple of this series' bar length) built from this series by
    /// `BarInterval.resample`; incomplete buckets become gaps (never filled).
    public func resampled(to interval: Int64) -> CandleSeries? {
        guard interval >= self.interval, interval % self.interval == 0 else { return nil }
        if interval == self.interval { return self }
        guard let out = BarInterval.resample(candles, base: self.interval, to: interval) else { return nil }
        var gaps: [CandleGap] = []
        for (a, b) in zip(out, out.dropFirst()) where b.time - a.time > interval {
            gaps.append(CandleGap(after: a.time, before: b.time, missingBars: Int((b.time - a.time) / interval) - 1))
        }
        return CandleSeries(symbol: symbol, candles: out, gaps: gaps, source: "\(source) (resampled to \(interval)s)", interval: interval)
    }
}
