import Foundation
import Testing
@testable import Market
import Model

/// 2023-11-14T22:13:20Z: an arbitrary, not hour-aligned decision time.
private let t0: Int64 = 1_700_000_000
private let allSymbols = SimMarket.defaultCatalog.map(\.symbol)

/// Closes of `symbol` over `hours` hours ending at `end`, fetched in 90-day chunks (the supported maximum).
private func closes(_ market: SimMarket, _ symbol: String, hours: Int, endingAt end: Int64) -> [Candle] {
    let chunk = 24 * 90
    var out: [Candle] = []
    var remaining = hours
    var t = end - Int64(hours) * 3_600
    while remaining > 0 {
        let n = min(chunk, remaining)
        t += Int64(n) * 3_600
        out += market.symbolSnapshot(symbol, at: t, historyHours: n)?.candles ?? []
        remaining -= n
    }
    return out
}

private func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.isEmpty ? .nan : s[s.count / 2]
}

@Suite("SimMarket")
struct SimMarketTests {
    @Test("two instances with the same seed give identical snapshots")
    func deterministic() async throws {
        let a = try await SimMarket(seed: 7).snapshot(symbols: allSymbols, at: t0, historyHours: 192)
        let b = try await SimMarket(seed: 7).snapshot(symbols: allSymbols, at: t0, historyHours: 192)
        #expect(a == b)
        #expect(a.symbols.count == 15)
        // Bit-identical, not merely equal.
        for (x, y) in zip(a.symbols, b.symbols) {
            #expect(x.candles.map(\.close.bitPattern) == y.candles.map(\.close.bitPattern))
            #expect(x.bid.bitPattern == y.bid.bitPattern)
        }
    }

    @Test("the async snapshot matches the synchronous core, in request order, unknown symbols left out")
    func snapshotMatchesCore() async throws {
        let market = SimMarket()
        let snap = try await market.snapshot(symbols: ["SOL-USD", "NOPE-USD", "BTC-USD"], at: t0, historyHours: 48)
        #expect(snap.time == t0)
        #expect(snap.symbols.map(\.symbol) == ["SOL-USD", "BTC-USD"])
        #expect(snap.symbol("SOL-USD") == market.symbolSnapshot("SOL-USD", at: t0, historyHours: 48))
        #expect(market.symbolSnapshot("NOPE-USD", at: t0, historyHours: 48) == nil)
        #expect(market.name == "sim")
    }

    @Test("candles agree whichever clock they are seen from, and none is still open")
    func clockConsistency() {
        let market = SimMarket()
        for symbol in ["BTC-USD", "DOGE-USD", "BONK-USD"] {
            let times: [Int64] = [t0, t0 + 5 * 3_600, t0 + 5 * 3_600 + 1_799, 1_704_067_200 /* aligned */]
            var byTime: [Int64: Candle] = [:]
            for time in times {
                guard let snap = market.symbolSnapshot(symbol, at: time, historyHours: 192) else {
                    Issue.record("no snapshot for \(symbol)")
                    continue
                }
                #expect(snap.candles.allSatisfy { $0.time + 3_600 <= time })
                // The newest closed bar is present: the next one would still be open.
                let lastOpen = try? #require(snap.candles.last).time
                #expect(lastOpen.map { $0 + 2 * 3_600 > time } == true)
                #expect(snap.last == snap.candles.last?.close)
                #expect(snap.bid < snap.last && snap.last < snap.ask)
                for c in snap.candles {
                    if let seen = byTime[c.time] { #expect(seen == c, "\(symbol) bar \(c.time) differs between clocks") }
                    byTime[c.time] = c
                }
            }
            // t and t+5h share 187 bars.
            let early = market.symbolSnapshot(symbol, at: t0, historyHours: 192)?.candles ?? []
            let late = market.symbolSnapshot(symbol, at: t0 + 5 * 3_600, historyHours: 192)?.candles ?? []
            #expect(Array(early.suffix(187)) == Array(late.prefix(187)))
            #expect(early.last != late.last)
        }
    }

    @Test("history length is honoured, bars are consecutive hours", arguments: [0, 1, 10, 24, 192, 24 * 90])
    func historyLength(hours: Int) {
        let snap = SimMarket().symbolSnapshot("ETH-USD", at: t0, historyHours: hours)
        #expect(snap?.candles.count == hours)
        let times = snap?.candles.map(\.time) ?? []
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 == 3_600 })
        #expect(times.allSatisfy { $0 % 3_600 == 0 })
        #expect((snap?.last ?? 0) > 0)
    }

    @Test("default catalog: exactly 15 symbols across three tiers")
    func catalog() {
        let c = SimMarket.defaultCatalog
        #expect(c.count == 15)
        #expect(Set(c.map(\.symbol)).count == 15)
        let byTier = Dictionary(grouping: c, by: \.tier).mapValues { Set($0.map(\.symbol)) }
        #expect(byTier[.core] == ["BTC-USD", "ETH-USD", "SOL-USD"])
        #expect(byTier[.rotational] == ["AVAX-USD", "LINK-USD", "DOT-USD", "ADA-USD", "XRP-USD", "DOGE-USD",
                                        "LTC-USD", "ATOM-USD", "NEAR-USD"])
        #expect(byTier[.eventDriven] == ["PEPE-USD", "WIF-USD", "BONK-USD"])
        #expect(Set(c.filter(\.perpetual).map(\.symbol)) ==
                ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD", "PEPE-USD", "WIF-USD"])
        #expect(SimTier.eventDriven.rawValue == "event_driven")
    }

    @Test("spread, depth and volume sit in each tier's range")
    func liquidityByTier() {
        let market = SimMarket()
        let times = (0..<120).map { t0 + Int64($0) * 29 * 3_600 + 600 }
        var bonkAbove60 = 0
        var tradableEvent = Set<String>()
        for profile in SimMarket.defaultCatalog {
            let snaps = times.compactMap { market.symbolSnapshot(profile.symbol, at: $0, historyHours: 24) }
            #expect(snaps.count == times.count)
            let spread = median(snaps.map(\.spreadBps))
            let depth = median(snaps.map(\.depthUSD))
            let volume = median(snaps.map(\.volume24hUSD))
            #expect(snaps.allSatisfy { $0.spreadBps > 0 && $0.bidDepthUSD > 0 && $0.askDepthUSD > 0 })
            switch profile.tier {
            case .core:
                #expect((1...4).contains(spread), "\(profile.symbol) spread \(spread)")
                #expect(depth >= 1e6, "\(profile.symbol) depth \(depth)")
                #expect(volume >= 1e9, "\(profile.symbol) volume \(volume)")
            case .rotational:
                #expect((4...25).contains(spread), "\(profile.symbol) spread \(spread)")
                #expect((100e3...1e6).contains(depth), "\(profile.symbol) depth \(depth)")
                #expect(volume >= 50e6 && volume < 5e9, "\(profile.symbol) volume \(volume)")
            case .eventDriven:
                #expect((25...120).contains(spread), "\(profile.symbol) spread \(spread)")
                #expect(depth < 100e3, "\(profile.symbol) depth \(depth)")
                if spread < 60 { tradableEvent.insert(profile.symbol) }
                if profile.symbol == "BONK-USD" { bonkAbove60 = snaps.filter { $0.spreadBps > 60 }.count }
            }
        }
        #expect(bonkAbove60 >= times.count * 9 / 10, "BONK should usually be too wide to trade")
        #expect(!tradableEvent.isEmpty, "some event-driven symbol should usually be tradable")
    }

    @Test("OHLC is consistent and positive over 90 days for every symbol")
    func ohlcValidity() {
        let market = SimMarket(seed: 3)
        for symbol in allSymbols {
            let candles = market.symbolSnapshot(symbol, at: t0, historyHours: 24 * 90)?.candles ?? []
            #expect(candles.count == 24 * 90)
            let bad = candles.filter { c in
                !(c.low > 0 && c.low <= min(c.open, c.close) && max(c.open, c.close) <= c.high
                  && c.volume > 0 && c.high.isFinite && c.volume.isFinite)
            }
            #expect(bad.isEmpty, "\(symbol): \(bad.count) invalid bars, e.g. \(String(describing: bad.first))")
            // Continuous: each open is the previous close.
            #expect(zip(candles, candles.dropFirst()).allSatisfy { $0.close == $1.open })
        }
    }

    @Test("prices stay in a plausible band and move with realistic volatility")
    func realism() {
        let market = SimMarket()
        let btc = closes(market, "BTC-USD", hours: 24 * 365, endingAt: t0)
        let prices = btc.map(\.close)
        #expect(prices.count == 24 * 365)
        #expect((prices.min() ?? 0) > 65_000 / 6 && (prices.max() ?? 0) < 65_000 * 6)
        let r = zip(prices, prices.dropFirst()).map { log($1 / $0) }
        let annualVol = (r.map { $0 * $0 }.reduce(0, +) / Double(r.count)).squareRoot() * 8_760.0.squareRoot()
        #expect((0.3...1.2).contains(annualVol), "BTC hourly-return volatility \(annualVol)")
        // Alts co-move with the market factor.
        let eth = closes(market, "ETH-USD", hours: 24 * 365, endingAt: t0).map(\.close)
        let re = zip(eth, eth.dropFirst()).map { log($1 / $0) }
        #expect(correlation(r, re) > 0.5)
        // Volume rises with the size of the move.
        let absMoves = r.map(abs)
        let volumes = btc.dropFirst().map(\.volume)
        #expect(correlation(absMoves, volumes.map { $0 }) > 0.2)
    }

    @Test("crashes: at least one BTC 24h drop of 15% in two years, but most days are not crashes")
    func crashes() {
        let market = SimMarket()
        let end: Int64 = 1_735_689_600 // 2025-01-01
        let bars = closes(market, "BTC-USD", hours: 24 * 730, endingAt: end)
        #expect(bars.count == 24 * 730)
        var crashHours = 0
        var worst = (ratio: 1.0, index: 0)
        for i in 24..<bars.count {
            let ratio = bars[i].close / bars[i - 24].close
            if ratio <= 0.85 { crashHours += 1 }
            if ratio < worst.ratio { worst = (ratio, i) }
        }
        #expect(worst.ratio <= 0.85, "worst 24h move \(worst.ratio)")
        #expect(Double(crashHours) / Double(bars.count) < 0.03, "\(crashHours) crash hours")
        // In the crash: funding turns negative, spreads widen, volume spikes.
        let crashTime = bars[worst.index].time + 3_600
        let inCrash = market.symbolSnapshot("BTC-USD", at: crashTime, historyHours: 24)
        let calm = (0..<50).compactMap {
            market.symbolSnapshot("BTC-USD", at: end - Int64($0) * 86_400 * 7, historyHours: 24)
        }
        #expect((inCrash?.fundingRate ?? 1) < 0)
        #expect((inCrash?.spreadBps ?? 0) > median(calm.map(\.spreadBps)))
        #expect((inCrash?.volume24hUSD ?? 0) > median(calm.map(\.volume24hUSD)))
        // Market-wide: a high-beta alt fell at least as hard.
        let sol = market.symbolSnapshot("SOL-USD", at: crashTime, historyHours: 25)
        #expect((sol?.changePct(hours: 24) ?? 0) < -12)
    }

    @Test("crash schedule: a few per year, each 15-35% deep over a few hours")
    func crashSchedule() {
        let years = 60
        let crashes = SimEngine(seed: 42).crashes(overlapping: 0, Int64(years) * 8_760)
        let perYear = Double(crashes.count) / Double(years)
        #expect((1.5...5).contains(perYear), "\(perYear) crashes a year")
        #expect(crashes.allSatisfy { (0.15...0.35).contains(1 - exp($0.logDepth)) && (3...8).contains($0.dropHours) })
        // The crash level is continuous: it starts and ends at zero.
        for c in crashes.prefix(5) {
            #expect(c.level(at: c.start) == 0)
            #expect(abs(c.level(at: c.start + c.dropHours) - c.logDepth) < 1e-12)
            #expect(c.level(at: c.start + c.dropHours + SimEngine.crashTaper) == 0)
        }
    }

    @Test("regimes: two-week uptrends, downtrends and chop all occur")
    func regimes() {
        let market = SimMarket()
        var moves: [Double] = []
        var time: Int64 = 1_600_000_000
        for _ in 0..<150 {
            time += 14 * 86_400
            if let move = market.symbolSnapshot("BTC-USD", at: time, historyHours: 337)?.changePct(hours: 336) {
                moves.append(move)
            }
        }
        #expect(moves.count == 150)
        #expect(moves.contains { $0 > 15 }, "no uptrend")
        #expect(moves.contains { $0 < -15 }, "no downtrend")
        #expect(moves.filter { abs($0) < 5 }.count > 30, "too little chop")
    }

    @Test("funding only on perpetual-style symbols, within [-0.3%, +0.3%], usually positive")
    func funding() {
        let market = SimMarket()
        var rates: [Double] = []
        for k in 0..<200 {
            let time = t0 + Int64(k) * 13 * 3_600
            for profile in SimMarket.defaultCatalog {
                let snap = market.symbolSnapshot(profile.symbol, at: time, historyHours: 1)
                if profile.perpetual {
                    guard let rate = snap?.fundingRate else {
                        Issue.record("\(profile.symbol) has no funding")
                        continue
                    }
                    #expect((-0.003...0.003).contains(rate))
                    rates.append(rate)
                } else {
                    #expect(snap?.fundingRate == nil, "\(profile.symbol) is spot")
                }
            }
        }
        let m = median(rates)
        #expect(m > 0 && m < 0.0005, "median funding \(m)")
    }

    @Test("a different seed gives different prices")
    func seedMatters() {
        let a = SimMarket(seed: 1).symbolSnapshot("BTC-USD", at: t0, historyHours: 24)
        let b = SimMarket(seed: 2).symbolSnapshot("BTC-USD", at: t0, historyHours: 24)
        #expect(a?.candles.map(\.close) != b?.candles.map(\.close))
        #expect(a?.last != b?.last)
    }

    @Test("synthetic catalogs for benchmarks")
    func syntheticCatalog() {
        let c = SimMarket.catalog(count: 30)
        #expect(c.count == 30)
        #expect(Set(c.map(\.symbol)).count == 30)
        #expect(Array(c.prefix(15)) == SimMarket.defaultCatalog)
        #expect(c[15].symbol == "SYM1-USD" && c[29].symbol == "SYM15-USD")
        #expect(SimMarket.catalog(count: 30) == c)
        #expect(SimMarket.catalog(count: 5).count == 5)
        let market = SimMarket(catalog: c)
        let snap = market.symbolSnapshot("SYM15-USD", at: t0, historyHours: 24)
        #expect(snap?.candles.count == 24)
        #expect((snap?.last ?? 0) > 0)
    }

    @Test("far-future and pre-1970 clocks work and cost the same")
    func extremeClocks() {
        let market = SimMarket()
        for time: Int64 in [-86_400 * 365, 0, 40_000_000_000] {
            let snap = market.symbolSnapshot("LINK-USD", at: time, historyHours: 192)
            #expect(snap?.candles.count == 192)
            #expect(snap?.candles.allSatisfy { $0.time + 3_600 <= time && $0.low > 0 } == true)
        }
    }

    @Test("the stable hash does not depend on the process")
    func stableHash() {
        // FNV-1a reference values.
        #expect(SimHash.fnv1a("") == 0xCBF2_9CE4_8422_2325)
        #expect(SimHash.fnv1a("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(floorDiv(-1, 3_600) == -1 && floorDiv(3_600, 3_600) == 1 && floorMod(-1, 24) == 23)
    }
}

func correlation(_ x: [Double], _ y: [Double]) -> Double {
    let n = Double(min(x.count, y.count))
    let mx = x.reduce(0, +) / n
    let my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for (a, b) in zip(x, y) {
        sxy += (a - mx) * (b - my)
        sxx += (a - mx) * (a - mx)
        syy += (b - my) * (b - my)
    }
    return sxy / (sxx * syy).squareRoot()
}
