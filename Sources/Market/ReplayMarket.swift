import Model

/// Serves snapshots from recorded series, strictly point in time: at `time` only bars with
/// `open + interval <= time` are visible.
///
/// The quote is synthesized around the last close (`spreadBps` wide); depth per side is
/// `depthFraction` times the trailing 24h USD volume. Recorded series carry no funding, so `fundingRate` is nil.
public struct ReplayMarket: MarketDataSource {
    private let series: [String: CandleSeries]
    /// Quoted spread synthesized around the last close, in basis points.
    public let spreadBps: Double
    /// Depth per side as a fraction of the trailing 24h USD volume.
    public let depthFraction: Double
    /// A symbol whose newest visible bar closed more than this many seconds before the snapshot time is left
    /// out (its data has ended); nil serves stale bars indefinitely.
    public let maxStaleness: Int64?

    /// Creates a replay over `series` (one per symbol; a later series for the same symbol replaces an earlier one).
    public init(series: [CandleSeries], spreadBps: Double = 2, depthFraction: Double = 0.02,
                maxStaleness: Int64? = 86_400) {
        var bySymbol: [String: CandleSeries] = [:]
        for s in series {
            var sorted = s
            sorted.candles.sort { $0.time < $1.time }
            bySymbol[s.symbol] = sorted
        }
        self.series = bySymbol
        self.spreadBps = spreadBps
        self.depthFraction = depthFraction
        self.maxStaleness = maxStaleness
    }

    /// The venue name: replay is a mode of the embedded `sim` market.
    public var name: String { "sim" }

    /// The symbols this replay can serve, sorted.
    public var symbols: [String] { series.keys.sorted() }

    /// Snapshot times with data: from the earliest first-bar close to the latest last-bar close; nil if empty.
    public var timeRange: ClosedRange<Int64>? {
        var lower: Int64?
        var upper: Int64?
        for s in series.values {
            guard let first = s.candles.first, let last = s.candles.last else { continue }
            let a = first.time + s.interval
            let b = last.time + s.interval
            lower = min(lower ?? a, a)
            upper = max(upper ?? b, b)
        }
        guard let lo = lower, let hi = upper else { return nil }
        return lo...hi
    }

    /// The tape of the known `symbols` at `time`; symbols with no bar closed by then (or stale) are left out.
    /// `historyHours` is converted to bars of each series' interval (at least one).
    public func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        try Task.checkCancellation()
        var out: [SymbolSnapshot] = []
        for symbol in symbols {
            if let snap = symbolSnapshot(symbol, at: time, historyHours: historyHours) { out.append(snap) }
        }
        return MarketSnapshot(time: time, symbols: out, interval: out.first?.interval ?? series.values.first.flatMap { BarInterval(seconds: $0.interval) })
    }

    /// Synchronous core of `snapshot` for one symbol.
    public func symbolSnapshot(_ symbol: String, at time: Int64, historyHours: Int) -> SymbolSnapshot? {
        guard let s = series[symbol] else { return nil }
        let candles = s.candles
        let interval = s.interval
        // Number of bars with open + interval <= time (binary search for the first that is not).
        var lo = 0
        var hi = candles.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if candles[mid].time + interval <= time { lo = mid + 1 } else { hi = mid }
        }
        let end = lo
        guard end > 0 else { return nil }
        let last = candles[end - 1]
        if let limit = maxStaleness, time - (last.time + interval) > limit { return nil }
        let bars = max(1, Int((Int64(max(historyHours, 0)) * 3_600 + interval - 1) / interval))
        let visible = Array(candles[max(0, end - bars)..<end])
        // Trailing 24h volume: bars opening at or after (last close - 24h).
        let since = last.time + interval - 86_400
        var volume = 0.0
        var i = end - 1
        while i >= 0, candles[i].time >= since {
            volume += candles[i].quoteVolume
            i -= 1
        }
        let half = spreadBps / 20_000
        let depth = depthFraction * volume
        return SymbolSnapshot(symbol: symbol, candles: visible, interval: BarInterval(seconds: interval) ?? .oneHour,
                              bid: last.close * (1 - half),
                              ask: last.close * (1 + half), bidDepthUSD: depth, askDepthUSD: depth,
                              volume24hUSD: volume, fundingRate: nil)
    }
}
