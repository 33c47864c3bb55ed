import Config
import Foundation
import Model
@testable import Pipeline
@testable import Policy
import TestSupport
import Testing

/// The strategy features of `signals.yaml` (issue 14 item 5), stage by stage.
@Suite struct StrategyTests {
    /// Hourly closes from epoch 0 (so days are UTC-aligned), `pctPerHour` compounding, then `tail`.
    static func trending(days: Int, pctPerHour: Double, tail: [Double] = []) -> [Candle] {
        var closes = (0..<(days * 24)).map { 100 * pow(1 + pctPerHour / 100, Double($0)) }
        let last = closes.last ?? 100
        closes += tail.map { last * (1 + $0 / 100) }
        return candles(closes)
    }

    static func context(_ config: LoadedConfig, account: AccountFacts = .flat) -> StrategyContext {
        StrategyContext(config.signals, account: account)
    }

    func propose(_ config: LoadedConfig, _ c: [Candle], triggers: [Trigger], regime: Regime = .bull,
                 account: AccountFacts = .flat, funding: Double? = nil) -> [Proposal] {
        let market = MarketSnapshot(time: 0, symbols: [snapshot("BTC-USD", c, funding: funding)])
        let universe = UniverseBuilder.build(config.universe, regime: regime, market: market)
        return RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: regime, universe: universe,
                                   triggers: triggers, snapshot: market, strategy: Self.context(config, account: account))
    }

    static let up = Trigger(symbol: "BTC-USD", kind: .breakout, direction: .up, strength: 0.8, detail: "up")
    static let down = Trigger(symbol: "BTC-USD", kind: .breakout, direction: .down, strength: 0.8, detail: "down")

    // MARK: Resampling

    @Test func resamplingKeepsOnlyCompleteUTCBuckets() throws {
        // 2 full days, then 5 hours of the third: the third day is still forming and must not count.
        let c = candles((0..<53).map { 100 + Double($0) })
        let daily = try #require(BarInterval.resample(c, base: 3_600, to: 86_400))
        #expect(daily.map(\.time) == [0, 86_400])
        #expect(daily[0].open == c[0].open && daily[0].close == c[23].close && daily[1].close == c[47].close)
        #expect(daily[0].high == c[0..<24].map(\.high).max() && daily[0].low == c[0..<24].map(\.low).min())
        #expect(daily[0].volume == 24 * 100)
        // Cut by the window: a first bucket missing its first hours is dropped too.
        #expect(BarInterval.resample(Array(c.dropFirst(3)), base: 3_600, to: 86_400)?.map(\.time) == [86_400])
        #expect(BarInterval.resample(c, base: 3_600, to: 5_400) == nil)
    }

    // MARK: Multi-timeframe trend

    @Test func theDailyTrendGatesEntriesBothWays() throws {
        var config = try Fixtures.defaults(["signals.strategy.higher_timeframe.enabled=true"])
        config.signals.rules.allowShorts = true
        let rising = Self.trending(days: 12, pctPerHour: 0.1, tail: [0.5, 1])
        let falling = Self.trending(days: 12, pctPerHour: -0.1, tail: [-0.5, -1])
        let upTrend = HigherTimeframeTrend.measure(config.signals.strategy.higherTimeframe, tape: snapshot("BTC-USD", rising))
        #expect(upTrend.direction == .up && upTrend.bars == 12)   // the forming 13th day does not count
        #expect(propose(config, rising, triggers: [Self.up]).map(\.side) == [.buy])
        #expect(propose(config, rising, triggers: [Self.down]).isEmpty)
        #expect(propose(config, falling, triggers: [Self.up]).isEmpty)
        #expect(propose(config, falling, triggers: [Self.down]).map(\.side) == [.sell])
        #expect(propose(config, falling, triggers: [Self.down]).first?.reason.contains("higher timeframe down") == true)
        // Too few complete daily bars for EMA(slow_ema): no verdict, no entry.
        let slow = config.signals.strategy.higherTimeframe.slowEma
        #expect(propose(config, Self.trending(days: slow - 1, pctPerHour: 0.1), triggers: [Self.up]).isEmpty)
        // Off: the same falling tape takes the long.
        config.signals.strategy.higherTimeframe.enabled = false
        #expect(propose(config, falling, triggers: [Self.up]).map(\.side) == [.buy])
    }

    // MARK: Composite score

    @Test func theCompositeScoreIsTheWeightedSumOfItsComponents() throws {
        let config = try Fixtures.defaults(["signals.strategy.scorer=composite"])
        let rising = Self.trending(days: 10, pctPerHour: 0.2)
        let p = try #require(propose(config, rising, triggers: [Self.up], regime: .bull).first)
        #expect(p.components.map(\.name) == ["trend", "volatility", "entry_quality", "funding", "regime_bull"])
        let w = config.signals.strategy.composite
        #expect(abs(p.components[2].value - w.entryQuality * 0.8) < 1e-12)
        #expect(abs(p.components[3].value - w.funding * 0.5) < 1e-12)         // spot: no funding, neutral
        #expect(p.components[0].value > 0 && p.components[0].value <= w.trend)
        #expect(p.components[4].value == config.signals.rules.regimeAdjustment.bull)
        #expect(abs(p.conviction - p.components.reduce(0) { $0 + $1.value }) < 1e-12)
        // Funding the long pays at the crowded limit scores 0; the same rate scores 1 for a short.
        let limit = config.signals.triggers.funding.maxLongFundingRate
        let long = CompositeScore.components(w, trend: config.signals.triggers.trend, funding: config.signals.triggers.funding,
                                             side: .buy, strongest: 0.8, tape: snapshot("BTC-USD", rising, funding: limit))
        let short = CompositeScore.components(w, trend: config.signals.triggers.trend, funding: config.signals.triggers.funding,
                                              side: .sell, strongest: 0.8, tape: snapshot("BTC-USD", rising, funding: limit))
        #expect(long[3].value == 0 && abs(short[3].value - w.funding) < 1e-12)
        #expect(short[0].value == 0)   // against the trend: no trend score
    }

    // MARK: Sizing

    @Test func riskSizingPutsAFixedShareOfEquityBetweenEntryAndStop() throws {
        let config = try Fixtures.defaults(["signals.strategy.sizing.mode=risk", "signals.strategy.sizing.risk_per_trade_pct=0.25"])
        let p = try #require(propose(config, Self.trending(days: 10, pctPerHour: 0.1), triggers: [Self.up]).first)
        #expect(abs(p.sizePct * p.stopLossPct / 100 - 0.25) < 1e-12)   // 4.17% x 6% = 0.25% of equity
        // A larger risk asks for more than the tier cap: the policy cuts it and names the check.
        let big = try Fixtures.defaults(["signals.strategy.sizing.mode=risk", "signals.strategy.sizing.risk_per_trade_pct=1"])
        let q = try #require(propose(big, Self.trending(days: 10, pctPerHour: 0.1), triggers: [Self.up]).first)
        #expect(abs(q.sizePct - 100.0 / 6) < 1e-9)
        let decision = PolicyEngine(policy: big.policy, universe: big.universe).decide(
            [ReviewedProposal(proposal: q, reviews: [])], input: Self.policyInput(q))[0]
        #expect(decision.sizePct == big.policy.risk.maxPositionPct.tier1Core)
        #expect(decision.checks.first { $0.name == "max_position_pct" }?.detail.contains("cut from") == true)
    }

    static func policyInput(_ p: Proposal) -> PolicyInput {
        PolicyInput(now: 1_000_000, killSwitchOn: false, state: .flat(equityUsd: 10_000),
                    tape: [TapeFacts(symbol: p.symbol, price: p.referencePrice, spreadBps: 2, depthUsd: 5e6, change24hPct: 0,
                                     volume24hUsd: 1e9, volumeRatio: 1, fundingRate: nil)])
    }

    @Test func theKellyCapFollowsTheMeasuredEdge() throws {
        var sizing = try Fixtures.defaults().signals.strategy.sizing
        sizing.kellyFraction = 0.25
        sizing.kellyMinTrades = 10
        // 60% winners of +2%, 40% losers of -1%: f* = 0.6 - 0.4 / 2 = 0.4 of equity at risk per 1% loss.
        let edge = AccountFacts(drawdownPct: 0, lastTradeLost: false,
                                tradeReturns: (0..<20).map { $0 % 5 < 3 ? 0.02 : -0.01 })
        let cap = try #require(PositionSizing.kellyCapPct(sizing, account: edge))
        #expect(abs(cap - 0.25 * 0.4 / 0.01 * 100) < 1e-9)
        // No edge: the floor, so the strategy keeps measuring.
        let none = AccountFacts(drawdownPct: 0, lastTradeLost: true, tradeReturns: (0..<20).map { $0 % 2 == 0 ? 0.01 : -0.02 })
        #expect(PositionSizing.kellyCapPct(sizing, account: none) == sizing.kellyFloorPct)
        #expect(PositionSizing.size(sizing, tierSizePct: 3, stopLossPct: 6, account: none).sizePct == sizing.kellyFloorPct)
        // Too few trades, or the cap off: no cap.
        #expect(PositionSizing.kellyCapPct(sizing, account: AccountFacts(drawdownPct: 0, lastTradeLost: false, tradeReturns: [0.01, -0.01])) == nil)
        sizing.kellyFraction = 0
        #expect(PositionSizing.kellyCapPct(sizing, account: none) == nil)
    }

    // MARK: Leverage

    @Test func leverageFallsWithVolatilityDrawdownAndAfterALoss() throws {
        let rule = try Fixtures.defaults().signals.strategy.leverage   // drawdown 5% -> at most 2x, 1x less after a loss
        let calm = AccountFacts.flat
        #expect(LeverageRule.leverage(rule, ceiling: 3, volatilityPct: 40, account: calm) == 3)
        #expect(LeverageRule.leverage(rule, ceiling: 3, volatilityPct: 40,
                                      account: AccountFacts(drawdownPct: 6, lastTradeLost: false, tradeReturns: [])) == 2)
        #expect(LeverageRule.leverage(rule, ceiling: 3, volatilityPct: 40,
                                      account: AccountFacts(drawdownPct: 6, lastTradeLost: true, tradeReturns: [-0.01])) == 1)
        #expect(LeverageRule.leverage(rule, ceiling: 3, volatilityPct: 40,
                                      account: AccountFacts(drawdownPct: 1, lastTradeLost: true, tradeReturns: [-0.01])) == 2)
        #expect(LeverageRule.leverage(rule, ceiling: 1, volatilityPct: 40,
                                      account: AccountFacts(drawdownPct: 9, lastTradeLost: true, tradeReturns: [-0.01])) == 1)
        var targeted = rule
        targeted.targetVolatilityPct = 100
        #expect(LeverageRule.leverage(targeted, ceiling: 5, volatilityPct: 40, account: calm) == 2)   // floor(100 / 40)
        #expect(LeverageRule.leverage(targeted, ceiling: 5, volatilityPct: 150, account: calm) == 1)
    }

    @Test func thePolicyStillBoundsTheLeverageTheRulesAskFor() throws {
        // The rules may ask for 5x; the shipped policy allows 1x and names the check.
        let config = try Fixtures.defaults(["signals.rules.leverage=5"])
        let p = try #require(propose(config, Self.trending(days: 10, pctPerHour: 0.1), triggers: [Self.up]).first)
        #expect(p.leverage == 5)
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)
        let refused = engine.decide([ReviewedProposal(proposal: p, reviews: [])], input: Self.policyInput(p))[0]
        #expect(!refused.approved && refused.violatedChecks.contains("max_leverage"))
        // Allowed 10x by max_leverage, 5x is still refused by the liquidation distance (1/5 - 0.5% < 20%).
        var loose = config.policy
        loose.risk.maxLeverage = 10
        let byDistance = PolicyEngine(policy: loose, universe: config.universe)
            .decide([ReviewedProposal(proposal: p, reviews: [])], input: Self.policyInput(p))[0]
        #expect(byDistance.violatedChecks == ["min_liquidation_distance"])
        // After a loss in a drawdown the rules ask for less: 5 -> at most 2 -> 1, which passes.
        let hurt = AccountFacts(drawdownPct: 7, lastTradeLost: true, tradeReturns: [-0.02])
        let q = try #require(propose(config, Self.trending(days: 10, pctPerHour: 0.1), triggers: [Self.up], account: hurt).first)
        #expect(q.leverage == 1)
        #expect(PolicyEngine(policy: loose, universe: config.universe)
            .decide([ReviewedProposal(proposal: q, reviews: [])], input: Self.policyInput(q))[0].approved)
    }

    // MARK: DOWNTREND setups

    @Test func downtrendSetupsFireOnlyWhenShortsAreAsked() throws {
        let config = try Fixtures.defaults().signals.triggers
        // A steady fall, then a close below the 48h low: a downtrend breakdown.
        let c = Self.trending(days: 3, pctPerHour: -0.3, tail: [-0.6])
        let tape = snapshot("BTC-USD", c)
        let shorts = TriggerEngine.detect(config, multiplier: 1, tape: tape, downtrend: true).filter { $0.kind == .trendPullback || $0.kind == .trendBreakout }
        #expect(!shorts.isEmpty && shorts.allSatisfy { $0.direction == .down })
        #expect(TriggerEngine.detect(config, multiplier: 1, tape: tape).allSatisfy { $0.kind != .trendPullback && $0.kind != .trendBreakout })
        // Crowded shorts (funding below minus the limit) are suppressed, like crowded longs.
        let crowded = snapshot("BTC-USD", c, funding: -2 * config.funding.maxLongFundingRate)
        let scan = TriggerEngine.scan(config, regime: .bear, symbols: [crowded], downtrend: true)
        #expect(scan.triggers.allSatisfy { $0.direction == .up })
        #expect(scan.suppressed.contains { $0.reason.contains("crowded shorts") })
    }
}
