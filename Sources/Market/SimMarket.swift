import Foundation
import Model

/// The embedded default market: a deterministic synthetic tape, a pure function of the seed and the clock.
///
/// - Every bar is a pure function of `(seed, symbol, hour)`: the candle for a given hour is identical whatever
///   time the snapshot is taken at, and two instances with the same seed agree bit for bit.
/// - Only bars that closed at or before the snapshot time are returned (a bar opening at `o` is included iff
///   `o + 3600 <= time`); the last close is the current price and the quote straddles it.
/// - Prices follow a shared BTC-led market factor (scaled by each symbol's beta) plus idiosyncratic moves,
///   with regimes over weeks (trends and chop), slow volatility regimes, and rare market-wide crashes
///   (a 15-35% drop over a few hours, about three a year) followed by a partial recovery.
/// - Volume has an intraday and weekly pattern with spikes on large moves; spreads widen and depth thins
///   in volatile hours; perpetual-style symbols carry a funding rate in [-0.3%, +0.3%] per 8h.
/// - A snapshot costs O(historyHours) per symbol, independent of how far the clock is from the epoch.
public struct SimMarket: MarketDataSource {
    /// The seed every random number derives from.
    public let seed: UInt64
    /// The symbols this market knows, in catalog order.
    public let catalog: [SimSymbolProfile]
    private let index: [String: Int]
    private let engine: SimEngine

    /// Bars computed beyond the requested history: 72h for funding, 24h for volume.
    static let minimumComputedBars = 73

    /// Creates a market over `catalog` (duplicate symbols: the first profile wins).
    public init(seed: UInt64 = 42, catalog: [SimSymbolProfile] = SimMarket.defaultCatalog) {
        self.seed = seed
        self.catalog = catalog
        var index: [String: Int] = [:]
        for (i, profile) in catalog.enumerated() where index[profile.symbol] == nil {
            index[profile.symbol] = i
        }
        self.index = index
        self.engine = SimEngine(seed: seed)
    }

    /// The venue name used on the command line.
    public var name: String { "sim" }

    /// The profile of `symbol`, if the catalog has it.
    public func profile(_ symbol: String) -> SimSymbolProfile? {
        index[symbol].map { catalog[$0] }
    }

    /// The tape of the known `symbols` at `time` (unknown ones are left out), with `historyHours` 1h candles.
    public func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        try Task.checkCancellation()
        let window = Self.window(at: time, historyHours: historyHours)
        var market: SimEngine.MarketSpan?
        var out: [SymbolSnapshot] = []
        out.reserveCapacity(symbols.count)
        for symbol in symbols {
            guard let profile = profile(symbol) else { continue }
            let span = market ?? engine.marketSpan(points: window.firstBar, through: window.lastBar + 1)
            market = span
            out.append(build(profile, at: time, historyHours: historyHours, window: window, market: span))
        }
        return MarketSnapshot(time: time, symbols: out)
    }

    /// Synchronous core used by `snapshot` (handy for tests and benchmarks); nil for an unknown symbol.
    public func symbolSnapshot(_ symbol: String, at time: Int64, historyHours: Int) -> SymbolSnapshot? {
        guard let profile = profile(symbol) else { return nil }
        let window = Self.window(at: time, historyHours: historyHours)
        let market = engine.marketSpan(points: window.firstBar, through: window.lastBar + 1)
        return build(profile, at: time, historyHours: historyHours, window: window, market: market)
    }

    // MARK: - Internals

    struct Window {
        var firstBar: Int64
        var lastBar: Int64
    }

    static func window(at time: Int64, historyHours: Int) -> Window {
        let lastBar = floorDiv(time, 3_600) - 1
        let computed = Int64(max(historyHours, minimumComputedBars))
        return Window(firstBar: lastBar - computed + 1, lastBar: lastBar)
    }

    private func build(_ profile: SimSymbolProfile, at time: Int64, historyHours: Int,
                       window: Window, market: SimEngine.MarketSpan) -> SymbolSnapshot {
        let key = engine.symbolKey(profile.symbol)
        let hourly = 1 / SimEngine.hoursPerYear.squareRoot()
        let symbolSigma = max(profile.annualVolatility, 1e-6) * hourly
        let factorPart = profile.beta * SimEngine.factorAnnualVol
        let idioAnnual = max(profile.annualVolatility * profile.annualVolatility - factorPart * factorPart,
                             0.35 * 0.35 * profile.annualVolatility * profile.annualVolatility).squareRoot()
        let a = window.firstBar
        let b = window.lastBar + 1
        let idio = engine.pathLevels(key, sigmaH: idioAnnual * hourly, from: a, through: b,
                                     volMult: market.volMult, alignedStart: market.alignedStart)
        let base = log(max(profile.basePrice, 1e-12))
        let offset = Int(a - market.first)
        var levels = [Double](repeating: 0, count: idio.count)
        for i in idio.indices {
            levels[i] = base + profile.beta * market.factor[offset + i] + idio[i]
        }

        // Candles for every computed bar.
        let barCount = levels.count - 1
        var candles: [Candle] = []
        candles.reserveCapacity(barCount)
        for i in 0..<barCount {
            let h = a + Int64(i)
            let vi = Int(h - market.alignedStart)
            let mult = market.volMult[vi]
            let open = exp(levels[i])
            let close = exp(levels[i + 1])
            let wick = 0.5 * symbolSigma * mult
            let high = max(open, close) * exp(abs(SimHash.normal(key, SimStream.wickHigh, h)) * wick)
            let low = min(open, close) * exp(-abs(SimHash.normal(key, SimStream.wickLow, h)) * wick)
            let z = abs(levels[i + 1] - levels[i]) / symbolSigma
            let usd = profile.dailyVolumeUSD / 24
                * Self.intraday(h)
                * exp(0.25 * SimHash.normal(key, SimStream.volumeNoise, h) - 0.03)
                * (1 + 0.5 * max(0, z - 1))
                * Self.spike(key, h)
                * market.volumeMult[vi]
            candles.append(Candle(time: h * 3_600, open: open, high: high, low: low, close: close,
                                  volume: max(usd, 1) / close))
        }

        let last = candles[barCount - 1].close
        let volume24h = candles.suffix(24).reduce(0.0) { $0 + $1.quoteVolume }

        // Quote: spread widens and depth thins with the last 6 hours' realized volatility.
        var sumSquares = 0.0
        for i in (levels.count - 7)..<(levels.count - 1) {
            let r = levels[i + 1] - levels[i]
            sumSquares += r * r
        }
        let realized = (sumSquares / 6).squareRoot() / symbolSigma
        let stamp = time
        let spreadJitter = min(max(exp(0.08 * SimHash.normal(key, SimStream.spread, stamp)), 0.9), 1.15)
        let spreadMult = min(max(1.0, 0.6 + 0.4 * realized), 4.0) * spreadJitter
        let spreadBps = profile.spreadBps * spreadMult
        let depthJitter = min(max(exp(0.2 * SimHash.normal(key, SimStream.depth, stamp)), 0.7), 1.4)
        let depth = profile.depthUSD / pow(spreadMult, 1.5) * depthJitter
        let move6 = levels[levels.count - 1] - levels[levels.count - 7]
        let tilt = min(max(0.1 * move6 / (symbolSigma * 6.0.squareRoot()), -0.3), 0.3)
        let half = spreadBps / 20_000

        var funding: Double?
        if profile.perpetual {
            let n = levels.count - 1
            let ret72 = levels[n] - levels[n - 72]
            let ret24 = levels[n] - levels[n - 24]
            let settlement = floorDiv(time, 28_800)
            var rate = 0.0001 + 0.004 * max(ret72, 0) + 0.001 * min(ret72, 0)
                + 0.004 * min(ret24 + 0.08, 0)
                + 0.00003 * SimHash.normal(key, SimStream.funding, settlement)
            rate = min(max(rate, -0.003), 0.003)
            funding = rate
        }

        let history = max(0, historyHours)
        return SymbolSnapshot(symbol: profile.symbol,
                              candles: history >= barCount ? candles : Array(candles.suffix(history)),
                              bid: last * (1 - half), ask: last * (1 + half),
                              bidDepthUSD: depth * (1 + tilt), askDepthUSD: depth * (1 - tilt),
                              volume24hUSD: volume24h, fundingRate: funding)
    }

    /// Intraday and weekly volume pattern for the bar opening at hour `h` (UTC): busiest mid-afternoon,
    /// quieter at weekends.
    static func intraday(_ h: Int64) -> Double {
        let hourOfDay = Double(floorMod(h, 24))
        let day = floorDiv(h, 24)
        let weekday = floorMod(day + 4, 7) // 0 = Sunday; 1970-01-01 was a Thursday
        let weekend = (weekday == 0 || weekday == 6) ? 0.75 : 1.0
        return (1 + 0.3 * cos(2 * Double.pi * (hourOfDay - 15) / 24)) * weekend
    }

    /// Occasional volume bursts unrelated to price (news, listings).
    static func spike(_ key: UInt64, _ h: Int64) -> Double {
        let u = SimHash.uniform(key, SimStream.volumeSpike, h)
        guard u < 0.02 else { return 1 }
        return 2 + 150 * u // 2x..5x
    }
}
