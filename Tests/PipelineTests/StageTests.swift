import Config
import Foundation
import Model
import TestSupport
import Testing
@testable import Pipeline

/// Candles from a list of closes (open = previous close, a small range, constant volume).
func candles(_ closes: [Double], volume: Double = 100, last volumeLast: Double? = nil) -> [Candle] {
    closes.enumerated().map { i, c in
        let open = i > 0 ? closes[i - 1] : c
        return Candle(time: Int64(i) * 3_600, open: open, high: max(open, c) * 1.001, low: min(open, c) * 0.999, close: c,
                      volume: i == closes.count - 1 ? (volumeLast ?? volume) : volume)
    }
}

func snapshot(_ symbol: String, _ c: [Candle], spread: Double = 2, depth: Double = 5e6, volume24h: Double = 1e9,
              funding: Double? = nil) -> SymbolSnapshot {
    let last = c.last?.close ?? 100
    let half = last * spread / 20_000
    return SymbolSnapshot(symbol: symbol, candles: c, bid: last - half, ask: last + half, bidDepthUSD: depth,
                          askDepthUSD: depth, volume24hUSD: volume24h, fundingRate: funding)
}

/// A flat series of `n` hours at `price`, then `tail`.
func flat(_ n: Int, _ price: Double = 100, then tail: [Double] = []) -> [Double] {
    Array(repeating: price, count: n) + tail
}

@Suite struct RegimeTests {
    let config: RegimeDetectionConfig

    init() throws { config = try Fixtures.defaults().signals.regime }

    func regime(_ closes: [Double]) -> Regime {
        RegimeDetector.detect(config, benchmark: snapshot("BTC-USD", candles(closes))).regime
    }

    @Test func trendAndCrashThresholds() {
        let rising = (0...200).map { 100 * (1 + 0.10 * Double($0) / 200) }       // +10% over the window
        let falling = (0...200).map { 100 * (1 - 0.08 * Double($0) / 200) }      // -8%
        let sideways = (0...200).map { 100 + (($0 % 2 == 0) ? 0.2 : -0.2) }
        #expect(regime(rising) == .bull)
        #expect(regime(falling) == .bear)
        #expect(regime(sideways) == .chop)
        #expect(regime(flat(190, then: (1...11).map { 100 - Double($0) * 1.2 })) == .crash)  // -13% within 24h
    }

    @Test func withoutHistoryItAssumesChopAndSaysWhy() {
        let r = RegimeDetector.detect(config, benchmark: nil)
        #expect(r.regime == .chop)
        #expect(r.reason.contains("not enough"))
    }
}

@Suite struct UniverseTests {
    @Test func filtersByNeverTradeLiquidityAndRegime() throws {
        var config = try Fixtures.defaults().universe
        config.neverTrade.append("ETH-USD")
        let c = candles(flat(100))
        let market = MarketSnapshot(time: 0, symbols: [
            snapshot("BTC-USD", c), snapshot("ETH-USD", c),
            snapshot("SOL-USD", c, spread: 30),                   // too wide for core (15 bps)
            snapshot("AVAX-USD", c, volume24h: 1e6),             // too little volume for rotational
            snapshot("LINK-USD", c, depth: 1_000),               // too thin
            snapshot("PEPE-USD", c, spread: 40, depth: 1e5, volume24h: 5e7),
        ])
        let bull = UniverseBuilder.build(config, regime: .bull, market: market)
        #expect(!bull.members.contains { $0.symbol == "ETH-USD" })
        #expect(bull.eligible.map(\.symbol) == ["BTC-USD", "PEPE-USD"])
        let reasons = Dictionary(uniqueKeysWithValues: bull.members.map { ($0.symbol, $0.exclusions.joined()) })
        #expect(reasons["SOL-USD"]?.contains("spread 30 bps > 15 bps") == true)
        #expect(reasons["AVAX-USD"]?.contains("24h volume") == true)
        #expect(reasons["LINK-USD"]?.contains("depth") == true)
        #expect(reasons["DOT-USD"] == "no market data")
        #expect(bull.breakdown == ["tier_1_core": 1, "tier_2_rotational": 0, "tier_3_event_driven": 1])

        let crash = UniverseBuilder.build(config, regime: .crash, market: market)
        #expect(crash.eligible.map(\.symbol) == ["BTC-USD"])
        #expect(crash.eligible.first?.maxSizePct == 3 * 0.25)   // regime-dependent size
    }
}

@Suite struct TriggerTests {
    let config: TriggersConfig

    /// Every trigger on: these tests check each trigger itself, whichever the shipped defaults turn off (docs/STRATEGY.md).
    init() throws {
        var config = try Fixtures.defaults().signals.triggers
        config.volumeSpike.enabled = true
        config.momentum.enabled = true
        config.priceMove.enabled = true
        config.breakout.enabled = true
        self.config = config
    }

    func kinds(_ tape: SymbolSnapshot, multiplier: Double = 1) -> Set<TriggerKind> {
        Set(TriggerEngine.detect(config, multiplier: multiplier, tape: tape).map(\.kind))
    }

    @Test func quietMarketsTriggerNothing() {
        #expect(kinds(snapshot("X", candles(flat(100)))).isEmpty)
    }

    @Test func aVolumeSpikeFires() {
        let t = TriggerEngine.detect(config, multiplier: 1, tape: snapshot("X", candles(flat(60), last: 400)))
        let spike = t.first { $0.kind == .volumeSpike }
        #expect(spike != nil)
        #expect(spike?.metrics["volume_ratio"] == 4)
        #expect((spike?.strength ?? 0) > 0.3)
    }

    @Test func priceMoveAndBreakoutFireUpAndDown() {
        let up = TriggerEngine.detect(config, multiplier: 1, tape: snapshot("X", candles(flat(60, then: [104]))))
        #expect(up.contains { $0.kind == .priceMove && $0.direction == .up })
        #expect(up.contains { $0.kind == .breakout && $0.direction == .up })
        let down = TriggerEngine.detect(config, multiplier: 1, tape: snapshot("X", candles(flat(60, then: [96]))))
        #expect(down.contains { $0.kind == .priceMove && $0.direction == .down })
        #expect(down.contains { $0.kind == .breakout && $0.direction == .down })
    }

    @Test func momentumNeedsBoth24hAnd4hConfirmation() {
        let ramp = (0..<24).map { 100 + Double($0) * 0.3 }          // +6.9% over 24h, rising at the end
        #expect(kinds(snapshot("X", candles(flat(40, then: ramp)))).contains(.momentum))
        let fading = (0..<20).map { 100 + Double($0) * 0.4 } + [107, 106.5, 106, 105.5]  // up on 24h, down on 4h
        #expect(!kinds(snapshot("X", candles(flat(40, then: fading)))).contains(.momentum))
    }

    @Test func aRegimeMultiplierRaisesThresholds() {
        let tape = snapshot("X", candles(flat(60, then: [102.7])))   // +2.7% in 1h vs 2.5% threshold
        #expect(kinds(tape).contains(.priceMove))
        #expect(!kinds(tape, multiplier: 1.6).contains(.priceMove))
    }

    @Test func reversalAfterOversold() throws {
        var config = try Fixtures.defaults().signals.triggers
        config.reversal.enabled = true   // off in the shipped defaults (docs/STRATEGY.md); the trigger itself still works
        let selloff = (1...15).map { 100 - Double($0) * 1.5 }        // RSI deep oversold
        let bounce: [Double] = [78.5, 80, 81]                         // +3% off the low, closing up
        let tape = snapshot("X", candles(flat(40, then: selloff + bounce)))
        #expect(TriggerEngine.detect(config, multiplier: 1, tape: tape).map(\.kind).contains(.reversal))
    }

    @Test func trendPullbackInAnUptrend() {
        let trend = (0..<60).map { 100 * pow(1.004, Double($0)) }
        let last = trend[trend.count - 1]
        var c = candles(flat(20) + trend)
        // The last bar dips to the fast EMA and closes above it.
        c[c.count - 1].low = last * 0.985
        let t = TriggerEngine.detect(config, multiplier: 1, tape: snapshot("X", c))
        #expect(t.contains { $0.kind == .trendPullback && $0.direction == .up })
        let pullback = t.first { $0.kind == .trendPullback }
        #expect((pullback?.metrics["ema_fast"] ?? 0) > (pullback?.metrics["ema_slow"] ?? .infinity))
    }

    @Test func crowdedFundingSuppressesLongsButKeepsThemOnRecord() {
        let tape = snapshot("X", candles(flat(60, then: [104])), funding: 0.001)
        let scan = TriggerEngine.scan(config, regime: .bull, symbols: [tape])
        #expect(scan.triggers.allSatisfy { $0.direction != .up })
        #expect(!scan.suppressed.isEmpty)
        #expect(scan.suppressed.allSatisfy { $0.reason.contains("crowded longs") })
    }
}

@Suite struct RulesTests {
    @Test func proposalsGroupTriggersAndRankByConviction() throws {
        let config = try Fixtures.defaults()
        let c = candles(flat(60, then: [104]))
        let market = MarketSnapshot(time: 0, symbols: ["BTC-USD", "ETH-USD", "AVAX-USD"].map { snapshot($0, c) })
        let universe = UniverseBuilder.build(config.universe, regime: .chop, market: market)
        let triggers = [
            Trigger(symbol: "ETH-USD", kind: .momentum, direction: .up, strength: 0.5, detail: "m"),
            Trigger(symbol: "BTC-USD", kind: .breakout, direction: .up, strength: 0.6, detail: "b"),
            Trigger(symbol: "BTC-USD", kind: .volumeSpike, direction: .up, strength: 0.4, detail: "v"),
            Trigger(symbol: "AVAX-USD", kind: .priceMove, direction: .down, strength: 0.9, detail: "down"),
            Trigger(symbol: "DOGE-USD", kind: .momentum, direction: .up, strength: 1, detail: "not in universe"),
            Trigger(symbol: "ETH-USD", kind: .priceMove, direction: .up, strength: 0.05, detail: "too weak"),
        ]
        let proposals = RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: .chop,
                                            universe: universe, triggers: triggers, snapshot: market)
        #expect(proposals.map(\.symbol) == ["BTC-USD", "ETH-USD"])   // no shorts, nothing outside the universe
        #expect(proposals.map(\.id) == ["p1", "p2"])
        let btc = proposals[0]
        #expect(btc.triggers == [.breakout, .volumeSpike])
        #expect(abs(btc.conviction - (0.45 + 0.3 * 0.6 + 0.08)) < 1e-12)
        #expect(btc.components.map(\.name) == ["base", "strength", "confluence"])
        #expect(btc.sizePct == 3 * 0.75)                              // core base size x chop multiplier
        #expect(btc.stopLossPct == 6 && btc.takeProfitPct == 12)
        #expect(btc.reason == "b; v")
        #expect(proposals.allSatisfy { $0.side == .buy && $0.leverage == 1 })
    }

    @Test func shortsOnlyWhenAllowedAndNeverBothWays() throws {
        var config = try Fixtures.defaults()
        config.signals.rules.allowShorts = true
        config.signals.rules.maxProposals = 1
        let c = candles(flat(60))
        let market = MarketSnapshot(time: 0, symbols: ["BTC-USD", "ETH-USD"].map { snapshot($0, c) })
        let universe = UniverseBuilder.build(config.universe, regime: .bull, market: market)
        let triggers = [
            Trigger(symbol: "BTC-USD", kind: .momentum, direction: .down, strength: 0.8, detail: "down"),
            Trigger(symbol: "ETH-USD", kind: .momentum, direction: .up, strength: 0.9, detail: "up"),
            Trigger(symbol: "ETH-USD", kind: .breakout, direction: .down, strength: 0.9, detail: "down"),
        ]
        let proposals = RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: .bull,
                                            universe: universe, triggers: triggers, snapshot: market)
        #expect(proposals.count == 1)
        #expect(proposals.first?.symbol == "BTC-USD")
        #expect(proposals.first?.side == .sell)
    }
}
