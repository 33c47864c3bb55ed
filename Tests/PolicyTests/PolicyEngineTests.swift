import Config
import Model
import Review
import TestSupport
import Testing
@testable import Policy

/// A scenario that passes every check; each test breaks exactly one thing.
struct Scenario {
    var config: LoadedConfig
    var now: Int64 = 1_763_676_000 + 20 * 3_600  // 20:00 UTC on a day boundary + 20h
    var killSwitch = false
    var state = PortfolioState.flat(equityUsd: 10_000)
    var proposal = Proposal(id: "p1", symbol: "BTC-USD", tier: .core, side: .buy, sizePct: 2, conviction: 0.7,
                            components: [], stopLossPct: 6, takeProfitPct: 12, reason: "test", triggers: [.momentum],
                            referencePrice: 100_000)
    var reviews: [AppliedReview] = []
    var spreadBps = 2.0
    var volume = 1e9

    init() throws {
        config = try Fixtures.defaults()
    }

    var dayStart: Int64 { now - now % 86_400 }

    func decide() -> Decision {
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)
        let tape = [TapeFacts(symbol: proposal.symbol, price: 100, spreadBps: spreadBps, depthUsd: 1e7, change24hPct: 3,
                              volume24hUsd: volume, volumeRatio: 1, fundingRate: nil)]
        return engine.decide([ReviewedProposal(proposal: proposal, reviews: reviews)],
                             input: PolicyInput(now: now, killSwitchOn: killSwitch, state: state, tape: tape))[0]
    }
}

func review(_ tier: ReviewerTier, delta: Double = 0, veto: Bool = false, checks: [String] = []) -> AppliedReview {
    AppliedReview(reviewer: tier, source: "test", proposalId: "p1", requestedDelta: delta, delta: delta, clamped: false,
                  veto: veto, reason: "test", violatedChecks: checks)
}

func position(_ symbol: String, _ pct: Double, tier: Tier = .rotational) -> OpenPosition {
    OpenPosition(symbol: symbol, tier: tier, side: .buy, sizePct: pct, openedAt: 0)
}

@Suite struct PolicyEngineTests {
    @Test func baselinePassesEveryNamedCheck() throws {
        let d = try Scenario().decide()
        #expect(d.approved)
        #expect(d.violatedChecks.isEmpty)
        #expect(Set(d.checks.map(\.name)) == Set(PolicyEngine.checkNames))
        #expect(d.checks.allSatisfy { $0.passed })
        #expect(d.sizePct == 2)
    }

    /// Each check, broken alone, is the only one violated and rejects the proposal.
    @Test(arguments: [
        "kill_switch", "daily_stop_loss", "weekly_stop_loss", "max_drawdown", "max_trades_per_day", "max_trades_per_hour",
        "min_seconds_between_trades", "consecutive_loss_cooldown", "max_open_positions", "per_symbol_cooldown",
        "min_conviction", "min_combined_conviction", "max_spread_bps", "min_24h_volume", "max_leverage",
        "max_position_pct", "max_per_asset_pct", "cluster_limit", "max_total_at_risk_pct", "min_size_pct",
        "min_liquidation_distance",
    ])
    func eachCheckFailsAlone(check: String) throws {
        var s = try Scenario()
        switch check {
        case "kill_switch": s.killSwitch = true
        case "daily_stop_loss": s.state.dayStartEquityUsd = 10_500; s.state.weekStartEquityUsd = 10_500; s.state.peakEquityUsd = 10_500
        case "weekly_stop_loss": s.state.weekStartEquityUsd = 10_800; s.state.peakEquityUsd = 10_800
        case "max_drawdown": s.state.peakEquityUsd = 11_500
        case "max_trades_per_day":
            s.state.recentTrades = (1...10).map { TradeRecord(time: s.dayStart + Int64($0) * 3_600, symbol: "ETH-USD", side: .buy) }
            s.now = s.dayStart + 14 * 3_600
        case "max_trades_per_hour":
            s.state.recentTrades = [3_500, 3_000, 2_000, 1_000].map { TradeRecord(time: s.now - $0, symbol: "ETH-USD", side: .buy) }
        case "min_seconds_between_trades": s.state.recentTrades = [TradeRecord(time: s.now - 100, symbol: "ETH-USD", side: .buy)]
        case "consecutive_loss_cooldown": s.state.consecutiveLosses = 3; s.state.lastLossTime = s.now - 600
        case "max_open_positions":
            s.state.openPositions = ["A-USD", "B-USD", "C-USD", "D-USD", "E-USD"].map { position($0, 1) }
        case "per_symbol_cooldown": s.state.recentTrades = [TradeRecord(time: s.now - 1_800, symbol: "BTC-USD", side: .buy)]
        case "min_conviction": s.proposal.conviction = 0.48; s.reviews = [review(.m1, delta: 0.15)]
        case "min_combined_conviction": s.proposal.conviction = 0.55
        case "max_spread_bps": s.spreadBps = 80
        case "min_24h_volume": s.volume = 1e6
        case "max_leverage": s.proposal.leverage = 3
        case "max_position_pct": s.config.policy.risk.cutToCaps = false; s.config.policy.risk.maxPerAssetPct = 100; s.proposal.sizePct = 6
        case "max_per_asset_pct": s.state.openPositions = [position("BTC-USD", 4.9, tier: .core)]
        case "cluster_limit":
            s.proposal.symbol = "ETH-USD"
            s.state.openPositions = [position("SOL-USD", 4, tier: .core), position("AVAX-USD", 3.9)]
        case "max_total_at_risk_pct":
            s.state.openPositions = ["A-USD", "B-USD", "C-USD", "D-USD"].map { position($0, 3.9) }
        case "min_size_pct": s.proposal.sizePct = 0.1
        case "min_liquidation_distance": s.config.policy.risk.maxLeverage = 10; s.proposal.leverage = 5
        default: Issue.record("no scenario for \(check)")
        }
        let d = s.decide()
        #expect(d.violatedChecks == [check])
        #expect(!d.approved)
        #expect(d.sizePct == 0)
        let failed = d.checks.first { $0.name == check }
        #expect(failed?.passed == false)
        #expect(failed?.detail.isEmpty == false)
    }

    /// The liquidation-distance check passes at its threshold and fails just past it.
    @Test func liquidationDistancePassesAtTheThresholdAndNotBeyond() throws {
        var s = try Scenario()
        s.config.policy.risk.maxLeverage = 10
        s.proposal.leverage = 4
        let distance = (1.0 / 4 - s.config.policy.futures.maintenanceMarginRate) * 100
        s.config.policy.futures.minLiquidationDistancePct = distance
        #expect(s.decide().checks.first { $0.name == "min_liquidation_distance" }?.passed == true)
        s.config.policy.futures.minLiquidationDistancePct = distance + 0.01
        let d = s.decide()
        #expect(d.violatedChecks == ["min_liquidation_distance"])
    }

    @Test func oversizeIsCutToTheTierCapWhenThePolicySaysSo() throws {
        var s = try Scenario()
        s.proposal.sizePct = 6
        s.config.policy.risk.maxTotalAtRiskPct = 100
        s.config.policy.risk.maxPerAssetPct = 100
        let d = s.decide()
        #expect(d.approved)
        #expect(d.sizePct == 5)
        #expect(d.checks.first { $0.name == "max_position_pct" }?.detail.contains("cut from 6% to 5%") == true)
    }

    @Test func aCutBelowTheMinimumSizeIsARejection() throws {
        var s = try Scenario()
        s.state.openPositions = [position("BTC-USD", 4.9, tier: .core)]
        let d = s.decide()
        #expect(!d.approved)
        #expect(d.violatedChecks == ["max_per_asset_pct"])
    }

    @Test func approvedProposalsOfOneCycleCountAgainstLaterOnes() throws {
        var s = try Scenario()
        s.config.policy.risk.maxOpenPositions = 1
        let engine = PolicyEngine(policy: s.config.policy, universe: s.config.universe)
        var weaker = s.proposal
        weaker.id = "p2"
        weaker.symbol = "ETH-USD"
        weaker.conviction = 0.65
        let tape = ["BTC-USD", "ETH-USD"].map {
            TapeFacts(symbol: $0, price: 1, spreadBps: 2, depthUsd: 1e7, change24hPct: 0, volume24hUsd: 1e9, volumeRatio: 1, fundingRate: nil)
        }
        // Listed weaker first: the engine still decides the stronger one first.
        let decisions = engine.decide([ReviewedProposal(proposal: weaker, reviews: []), ReviewedProposal(proposal: s.proposal, reviews: [])],
                                      input: PolicyInput(now: s.now, killSwitchOn: false, state: s.state, tape: tape))
        #expect(decisions.map(\.proposalId) == ["p2", "p1"])
        #expect(decisions[1].approved)
        #expect(!decisions[0].approved)
        #expect(decisions[0].violatedChecks == ["max_open_positions"])
    }

    /// Invariant 4: an approving M3 cannot override a violated check.
    @Test func thePolicyHasTheFinalSayOverAnApprovingGovernor() throws {
        var s = try Scenario()
        s.spreadBps = 90
        s.reviews = [review(.m1, delta: 0.15), review(.m2, delta: 0.15), review(.m3, veto: false)]
        let d = s.decide()
        #expect(!d.approved)
        #expect(d.violatedChecks == ["max_spread_bps"])
    }

    /// M3 can only add a veto: with every check passing, its veto rejects, and it adds no policy check of its own.
    @Test func aGovernorVetoRejectsWithoutInventingChecks() throws {
        var s = try Scenario()
        s.reviews = [review(.m3, veto: true, checks: ["max_drawdown"])]
        let d = s.decide()
        #expect(!d.approved)
        #expect(d.vetoedBy == [.m3])
        #expect(d.violatedChecks.isEmpty)
        #expect(d.checks.allSatisfy { $0.passed })
    }

    /// Defence in depth: even reviews that claim huge deltas move final conviction by at most the bound each.
    @Test func finalConvictionIsRecomputedWithTheBound() throws {
        var s = try Scenario()
        s.proposal.conviction = 0.5
        s.reviews = [review(.m1, delta: 0.9), review(.m2, delta: 0.9)]
        let d = s.decide()
        #expect(abs(d.finalConviction - 0.8) < 1e-12)
    }

    /// Invariant 3 as a property: for random states and reviews, the final size never exceeds the proposed
    /// size, approval implies every check passed and no veto, and every cap holds after approval.
    @Test func sizesAndCapsHoldForRandomInputs() throws {
        let base = try Scenario()
        var rng = Fixtures.SeededRandom(seed: 42)
        let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "AVAX-USD", "PEPE-USD", "XRP-USD"]
        for _ in 0..<2_000 {
            var s = base
            s.proposal.symbol = symbols.randomElement(using: &rng) ?? "BTC-USD"
            s.proposal.tier = base.config.universe.tier(of: s.proposal.symbol) ?? .rotational
            s.proposal.sizePct = Double.random(in: 0...20, using: &rng)
            s.proposal.conviction = Double.random(in: 0...1, using: &rng)
            s.config.policy.risk.cutToCaps = Bool.random(using: &rng)
            s.spreadBps = Double.random(in: 0...100, using: &rng)
            s.state.openPositions = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                position(symbols.randomElement(using: &rng) ?? "ETH-USD", Double.random(in: 0...5, using: &rng))
            }
            s.reviews = ReviewerTier.allCases.map {
                review($0, delta: Double.random(in: -1...1, using: &rng), veto: Int.random(in: 0..<10, using: &rng) == 0)
            }
            let d = s.decide()
            #expect(d.sizePct <= s.proposal.sizePct + 1e-12)
            #expect(d.finalConviction >= 0 && d.finalConviction <= 1)
            if d.approved {
                let risk = s.config.policy.risk
                #expect(d.checks.allSatisfy { $0.passed })
                #expect(!s.reviews.contains { $0.veto })
                #expect(d.sizePct <= risk.maxPositionPct.value(for: s.proposal.tier) + 1e-9)
                let asset = s.state.openPositions.filter { $0.symbol == s.proposal.symbol }.reduce(0) { $0 + $1.sizePct }
                #expect(asset + d.sizePct <= risk.maxPerAssetPct + 1e-9)
                let total = s.state.openPositions.reduce(0) { $0 + $1.sizePct }
                #expect(total + d.sizePct <= risk.maxTotalAtRiskPct + 1e-9)
                #expect(d.sizePct >= risk.minSizePct - 1e-9)
            } else {
                #expect(d.sizePct == 0)
            }
        }
    }
}
