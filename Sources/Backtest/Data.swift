import Foundation
import Market
import Model

/// A problem with backtest input, saying where (file, `file:line`, or a flag) and why.
public struct BacktestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where: a path, `path:line`, or a flag such as `--from`.
    public var source: String
    public var message: String

    /// Creates an error at `source`.
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}

/// Bar lengths accepted by `--timeframe`.
public enum Timeframe {
    /// Seconds per bar for any length from `1m` to `1d` (`BarInterval`, the one parser); nil otherwise.
    public static func seconds(_ text: String) -> Int64? { BarInterval(text)?.seconds }
}

/// Loads candle files for backtests: every format `CandleReader` reads — CSV with a header (CryptoDataDownload,
/// generic `timestamp,open,...`, CryptoCompare, wide per-coin tables), Binance kline CSV (with or without a
/// header) and JSON klines (`[[open_time, "open", "high", "low", "close", "volume", ...]]`, Binance/freqtrade/ccxt).
/// Files are read byte by byte in chunks, never held whole.
///
/// Gaps and duplicate bars are reported on the returned series (`gaps`, `duplicateTimes`), never filled.
/// Candles stored by the venue connectors: the connectors keep no candle store yet, so there is nothing to load.
public enum CandleFiles {
    /// Loads one file; `symbol` overrides what the file says. Errors name `path:line`.
    public static func load(path: String, symbol: String? = nil, interval: Int64 = 3_600) throws(BacktestError) -> CandleSeries {
        do {
            return try CandleReader.load(CandleReader.Options(source: path, symbol: symbol, interval: interval))
        } catch {
            throw BacktestError(source: error.source, message: error.message)
        }
    }

    /// The bar lengths a file may have below `interval` that can be resampled to it, longest first.
    package static func finerBars(than interval: Int64) -> [Int64] {
        [43_200, 28_800, 21_600, 14_400, 7_200, 3_600, 1_800, 900, 600, 300, 180, 60].filter { $0 < interval && interval % $0 == 0 }
    }

    /// Loads `path` as bars of `interval`. A file of shorter bars whose length divides `interval` (1h bars for
    /// `--timeframe 4h`) is read at its own length and resampled on UTC-aligned buckets (`CandleSeries.resampled`:
    /// incomplete buckets become gaps). When no shorter length reads either, the error is the one for `interval`.
    public static func load(path: String, symbol: String? = nil, resamplingTo interval: Int64) throws(BacktestError) -> CandleSeries {
        let direct: BacktestError
        do {
            return try load(path: path, symbol: symbol, interval: interval)
        } catch {
            direct = error
        }
        for finer in finerBars(than: interval) {
            // Only a file whose bars really are `finer` long (not one read with gaps at a length it does not have).
            guard let base = try? load(path: path, symbol: symbol, interval: finer),
                  BarInterval.inferred(from: base.candles.map(\.time))?.seconds == finer,
                  let bars = base.resampled(to: interval), !bars.candles.isEmpty else { continue }
            return bars
        }
        throw direct
    }

    /// Parses file content (see `load`). `source` names the file in errors and gives the fallback symbol.
    public static func parse(_ text: String, source: String, symbol: String? = nil,
                             interval: Int64 = 3_600) throws(BacktestError) -> CandleSeries {
        do {
            return try CandleReader.parse(text, CandleReader.Options(source: source, symbol: symbol, interval: interval))
        } catch {
            throw BacktestError(source: error.source, message: error.message)
        }
    }

    /// Streams the file's candles oldest first into `step` without materialising the series (see
    /// `CandleReader.replay`): memory stays flat in the file's length.
    @inlinable
    public static func replay<State>(path: String, symbol: String? = nil, interval: Int64 = 3_600, initial: (_ symbol: String) -> State,
                                     step: (inout State, Candle) -> Void) throws(BacktestError) -> (State, CandleSummary) {
        do {
            return try CandleReader.replay(CandleReader.Options(source: path, symbol: symbol, interval: interval),
                                           initial: initial, step: step)
        } catch {
            throw BacktestError(source: error.source, message: error.message)
        }
    }

    /// `BTCUSDT-1h-2024-01` -> `BTC-USDT`; anything else is upper-cased.
    static func guessSymbol(_ stem: String) -> String { CandleReader.guessSymbol(stem) }

    /// Unix seconds from a Binance open time in seconds, milliseconds or microseconds.
    static func seconds(_ raw: Double) -> Int64 {
        if raw >= 1e14 { return Int64((raw / 1e6).rounded(.down)) }
        if raw >= 1e11 { return Int64((raw / 1e3).rounded(.down)) }
        return Int64(raw.rounded(.down))
    }
}

extension DataNote {
    /// Summarises a streamed file's extent, gaps and duplicates (as `of(_:)` does for a loaded series).
    public static func of(_ s: CandleSummary) -> DataNote {
        DataNote(source: s.source, symbol: s.symbol, candles: s.count,
                 first: s.first.map { BacktestCalendar.iso($0) },
                 last: s.last.map { BacktestCalendar.iso($0) },
                 gaps: s.gaps.count, missingBars: s.gaps.reduce(0) { $0 + $1.missingBars },
                 duplicateBars: s.duplicateTimes.count,
                 gapExamples: s.gaps.prefix(5).map {
                     "\(BacktestCalendar.iso($0.after))..\(BacktestCalendar.iso($0.before)) (\($0.missingBars) bars)"
                 })
    }
}

/// Funding settlements of a perpetual: each `(time, rate)` is paid by longs (received by shorts) when the rate is positive.
public struct FundingSchedule: Sendable, Equatable {
    /// Settlement times (Unix seconds), ascending.
    public private(set) var times: [Int64]
    /// Rate per settlement (0.0001 = 0.01%).
    public private(set) var rates: [Double]
    /// A constant rate applied every `constantEvery` seconds when there is no file (nil = use `times`).
    public var constantRate: Double?
    public var constantEvery: Int64

    /// A schedule from recorded settlements.
    public init(settlements: [(time: Int64, rate: Double)]) {
        let sorted = settlements.sorted { $0.time < $1.time }
        times = sorted.map(\.time)
        rates = sorted.map(\.rate)
        constantRate = nil
        constantEvery = 8 * 3_600
    }

    /// A constant rate settled every `every` seconds (on multiples of it since the epoch, like Binance's 00/08/16 UTC).
    public init(constant rate: Double, every: Int64 = 8 * 3_600) {
        times = []
        rates = []
        constantRate = rate
        constantEvery = max(every, 1)
    }

    /// Loads Binance/freqtrade funding history: a JSON array of rows `[time_ms, rate, ...]` or of objects
    /// with `fundingTime` and `fundingRate`.
    public static func load(path: String) throws(BacktestError) -> FundingSchedule {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw BacktestError(source: path, message: "cannot read file: \(error.localizedDescription)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw BacktestError(source: path, message: "invalid JSON: \(error.localizedDescription)")
        }
        guard let rows = parsed as? [Any] else { throw BacktestError(source: path, message: "expected a JSON array") }
        var out: [(time: Int64, rate: Double)] = []
        func number(_ any: Any?) -> Double? {
            if let n = any as? NSNumber { return n.doubleValue }
            if let s = any as? String { return Double(s) }
            return nil
        }
        for (i, row) in rows.enumerated() {
            var time: Double?
            var rate: Double?
            if let a = row as? [Any], a.count >= 2 {
                time = number(a[0])
                rate = number(a[1])
            } else if let o = row as? [String: Any] {
                time = number(o["fundingTime"])
                rate = number(o["fundingRate"])
            }
            guard let t = time, let r = rate, t.isFinite, r.isFinite else {
                throw BacktestError(source: "\(path)[\(i)]", message: "expected [time_ms, rate, ...] or {fundingTime, fundingRate}")
            }
            // Settlements land a few ms after the hour: round to the nearest second, then to the minute.
            let seconds = CandleFiles.seconds(t)
            out.append(((seconds + 30) / 60 * 60, r))
        }
        return FundingSchedule(settlements: out)
    }

    /// Settlements in `(after, through]`, in order.
    public func settlements(after: Int64, through: Int64) -> [(time: Int64, rate: Double)] {
        guard through > after else { return [] }
        if let rate = constantRate {
            var out: [(Int64, Double)] = []
            var t = (after / constantEvery + 1) * constantEvery
            while t <= through {
                out.append((t, rate))
                t += constantEvery
            }
            return out
        }
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= after { lo = mid + 1 } else { hi = mid }
        }
        var out: [(Int64, Double)] = []
        var i = lo
        while i < times.count, times[i] <= through {
            out.append((times[i], rates[i]))
            i += 1
        }
        return out
    }

    /// The latest settled rate at or before `time` (what a snapshot at `time` may know), nil before the first.
    public func latestRate(at time: Int64) -> Double? {
        if let rate = constantRate { return rate }
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= time { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? rates[lo - 1] : nil
    }
}

/// Binance maintenance-margin brackets from a leverage-tiers file such as
/// `binance_usdm_leverage_tiers.json` (keyed like `BTC/USDT:USDT`, each tier with `info` holding the raw bracket).
public enum LeverageTiersFile {
    /// The brackets of `symbol` (`BTC-USDT`, `BTCUSDT` or `BTC/USDT:USDT`).
    public static func brackets(path: String, symbol: String) throws(BacktestError) -> [LeverageBracket] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw BacktestError(source: path, message: "cannot read file: \(error.localizedDescription)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let table = object as? [String: Any] else {
            throw BacktestError(source: path, message: "expected a JSON object keyed by market (e.g. BTC/USDT:USDT)")
        }
        let parts = symbol.uppercased().split(whereSeparator: { "-/:".contains($0) }).map(String.init)
        var key = symbol
        if parts.count >= 2 {
            key = "\(parts[0])/\(parts[1]):\(parts[1])"
        } else if let guess = Optional(CandleFiles.guessSymbol(symbol)), guess.contains("-") {
            let p = guess.split(separator: "-")
            key = "\(p[0])/\(p[1]):\(p[1])"
        }
        guard let tiers = table[key] as? [[String: Any]] else {
            throw BacktestError(source: path, message: "no leverage tiers for \(key)")
        }
        func number(_ any: Any?) -> Double? {
            if let n = any as? NSNumber { return n.doubleValue }
            if let s = any as? String { return Double(s) }
            return nil
        }
        var out: [LeverageBracket] = []
        for (i, tier) in tiers.enumerated() {
            let info = tier["info"] as? [String: Any] ?? [:]
            guard let floor = number(info["notionalFloor"]) ?? number(tier["minNotional"]),
                  let cap = number(info["notionalCap"]) ?? number(tier["maxNotional"]),
                  let mmr = number(info["maintMarginRatio"]) ?? number(tier["maintenanceMarginRate"]) else {
                throw BacktestError(source: "\(path) \(key)[\(i)]", message: "missing notionalFloor/notionalCap/maintMarginRatio")
            }
            out.append(LeverageBracket(bracket: Int(number(info["bracket"]) ?? Double(i + 1)),
                                       initialLeverage: Int(number(info["initialLeverage"]) ?? number(tier["maxLeverage"]) ?? 1),
                                       notionalFloor: floor, notionalCap: cap, maintMarginRatio: mmr,
                                       cum: number(info["cum"]) ?? 0))
        }
        return out
    }
}
