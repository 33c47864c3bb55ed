/// The length of one candle, in seconds. Every window in the configuration is written in hours and turned into a
/// number of bars with this, so the same settings mean the same thing on 1m, 4h or 1d series.
///
/// A struct rather than an enum on purpose: any whole number of minutes from one minute to one day is a valid bar
/// length (2h, 6h and 12h as much as 1h), and a fixed list would refuse the series people actually have.
public struct BarInterval: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    public static let minimum: Int64 = 60
    public static let maximum: Int64 = 86_400
    public static let oneHour = BarInterval(validated: 3_600)

    /// A bar length of `seconds`, or nil unless it is a whole number of minutes within 1m...1d.
    public init?(seconds: Int64) {
        guard seconds >= Self.minimum, seconds <= Self.maximum, seconds % 60 == 0 else { return nil }
        self.seconds = seconds
    }

    private init(validated seconds: Int64) { self.seconds = seconds }

    /// Parses `15m`, `1h`, `4h`, `12h`, `1d` (case-insensitive); nil for anything else or out of range.
    public init?(_ text: String) {
        let t = text.lowercased().filter { $0 != " " }
        guard let unit = t.last, let n = Int64(t.dropLast()), n > 0, n < 100_000 else { return nil }
        let scale: Int64
        switch unit {
        case "m": scale = 60
        case "h": scale = 3_600
        case "d": scale = 86_400
        default: return nil
        }
        self.init(seconds: n * scale)
    }

    /// The bar length of a series whose bars open at `times` (sorted ascending): the most common spacing between
    /// consecutive bars. Nil when there are fewer than two bars, or when the most common spacing is not a valid bar
    /// length, or when fewer than half of the spacings agree with it (an irregular series).
    public static func inferred<C: Collection>(from times: C) -> BarInterval? where C.Element == Int64 {
        var counts: [Int64: Int] = [:]
        var previous: Int64?
        var total = 0
        for t in times {
            if let p = previous, t > p {
                counts[t - p, default: 0] += 1
                total += 1
            }
            previous = t
        }
        guard let (spacing, n) = counts.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) }), n * 2 >= total else { return nil }
        return BarInterval(seconds: spacing)
    }

    /// How many bars cover `hours` (at least one): a window shorter than one bar is one bar.
    public func bars(hours: Double) -> Int {
        guard hours.isFinite, hours > 0 else { return 0 }
        let exact = hours * 3_600 / Double(seconds)
        return max(1, Int(exact.rounded()))
    }

    /// `bars(hours:)` for whole hours.
    public func bars(hours: Int) -> Int { bars(hours: Double(hours)) }

    /// Bars per year, for annualising per-bar statistics.
    public var perYear: Double { 365 * 86_400 / Double(seconds) }

    /// `1m`, `15m`, `4h`, `1d`, or `90m` when no larger unit divides it.
    public var description: String {
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
        return "\(seconds / 60)m"
    }

    public static func < (a: BarInterval, b: BarInterval) -> Bool { a.seconds < b.seconds }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(Int64.self), let v = BarInterval(seconds: s) {
            self = v
            return
        }
        let text = try c.decode(String.self)
        guard let v = BarInterval(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not a bar length from 1m to 1d (e.g. 15m, 4h, 1d)")
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension BarInterval {
    /// Bars of `interval` (a whole multiple of `base`) built from `candles` of `base` (oldest first): open of the
    /// first bar, highest high, lowest low, close of the last, summed volume, on UTC-aligned buckets. Only buckets
    /// with every bar present are kept, so a bucket still forming (or cut by the window) never counts. Nil when
    /// `interval` is not a whole multiple of `base`. The one resampler: candle files and the cycle's own
    /// multi-timeframe trend both use it.
    public static func resample<C: RandomAccessCollection>(_ candles: C, base: Int64, to interval: Int64) -> [Candle]?
    where C.Element == Candle, C.Index == Int {
        guard base > 0, interval >= base, interval % base == 0 else { return nil }
        if interval == base { return Array(candles) }
        let per = interval / base
        var out: [Candle] = []
        out.reserveCapacity(candles.count / Int(per) + 1)
        var i = candles.startIndex
        while i < candles.endIndex {
            let bucket = candles[i].time / interval * interval
            var j = i
            var high = -Double.infinity, low = Double.infinity, volume = 0.0
            while j < candles.endIndex, candles[j].time / interval * interval == bucket {
                high = max(high, candles[j].high)
                low = min(low, candles[j].low)
                volume += candles[j].volume
                j += 1
            }
            if Int64(j - i) == per, candles[i].time == bucket {
                out.append(Candle(time: bucket, open: candles[i].open, high: high, low: low, close: candles[j - 1].close, volume: volume))
            }
            i = j
        }
        return out
    }
}
