@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Model
import TestSupport
import Testing

/// The proposal's own leverage reaches the venue (issue 14 item 5): the strategy's leverage rule lowers what
/// `rules.leverage` asks for, the policy approves it, and LIVE on Binance sets exactly that, not `risk.max_leverage`.
@Suite(.serialized) struct ProposalLeverageTests {
    /// A proposal asking for a fractional leverage is held at the whole number LIVE sets on Binance, in PAPER and in
    /// backtests too: 2.9 is 2x on the venue and 2x in the paper book, never 2.9x in one and 2x in the other.
    @Test func aFractionalLeverageIsHeldAtTheWholeNumberLiveSetsInEveryMode() throws {
        let proposal = Proposal(id: "p1", symbol: "BTC-USD", tier: .core, side: .buy, sizePct: 2, leverage: 2.9, conviction: 0.7,
                                components: [], stopLossPct: 5, takeProfitPct: 10, reason: "test", triggers: [], referencePrice: 100)
        let decision = Decision(proposalId: "p1", symbol: "BTC-USD", side: .buy, baseConviction: 0.7, reviews: [], finalConviction: 0.7,
                                approved: true, vetoedBy: [], violatedChecks: [], checks: [], sizePct: 2, proposedSizePct: 2)
        let request = ExecutionRequest(cycleId: "c-1", time: 0, proposal: proposal, decision: decision, equityUsd: 10_000, price: 100)
        let paper = PaperExecutor(settings: PaperConfig()).intent(for: request)
        #expect(paper.leverage == 2)
        #expect(DryRunExecutor().intent(for: request).leverage == 2)
        let live = LiveSettings(try Fixtures.defaults(["policy.risk.max_leverage=5"]).policy)
        #expect(live.venueLeverage(for: paper.leverage) == 2 && live.venueLeverage(for: proposal.leverage) == 2)
    }

    /// `rules.leverage` 3 under a policy maximum of 5, 9% below the peak equity (past `strategy.leverage.drawdown_pct`,
    /// 5%): the leverage rule gives 2x, and the `POST /fapi/v1/leverage` on the wire says 2.
    @Test func liveOnBinanceSetsTheProposalsLeverageNotThePolicyMaximum() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false, apiKey: LiveRig.randomHex(16), secret: LiveRig.randomHex(32))
        fake.setTrend(percentPerHour: 0.4)
        fake.setWallet(20_000)
        let data = Fixtures.tempDir("agent-live-leverage")
        let runner = try LiveBreakerTests.runner(fake: fake, data: data, overrides: [
            "signals.rules.leverage=3", "policy.risk.max_leverage=5",
            // Low enough that an entry at the policy's 5x would pass too: only the leverage sent tells them apart.
            "policy.futures.min_liquidation_distance_pct=15",
            // The drawdown that lowers the leverage must not also halt the cycle.
            "policy.risk.daily_stop_loss_pct=50", "policy.risk.weekly_stop_loss_pct=50", "policy.risk.max_drawdown_pct=50"])
        let ledger = try #require(runner.ledger)
        let now = UTC.now()
        // An earlier LIVE mark at 22,000: the venue's 20,000 is a 9.1% drawdown from it.
        try ledger.append([try NewEvent.json("c-peak", .equity, now - 7_200,
                                             EquityPoint(equityUsd: 22_000, cashUsd: 22_000, openPositions: 0, marks: [], mode: .live))])
        let summary = await runner.run(at: now)
        #expect(summary.status == .executed, "\(summary.noTradeReason ?? "") \(summary.error ?? "")")
        let proposals = try ledger.events(types: ["proposal"]).map { try $0.value(Proposal.self) }
        #expect(!proposals.isEmpty && proposals.allSatisfy { $0.leverage == 2 }, "\(proposals.map(\.leverage))")
        let intents = try ledger.events(types: ["order_intent"]).map { try $0.value(OrderIntent.self) }
        #expect(!intents.isEmpty && intents.allSatisfy { $0.leverage == 2 }, "\(intents.map(\.leverage))")
        let posted = fake.requests("/fapi/v1/leverage").map(\.text)
        #expect(!posted.isEmpty && posted.allSatisfy { $0.contains("leverage=2&") || $0.hasSuffix("leverage=2") }, "\(posted)")
        let settings = try ledger.events(types: ["live_setting"]).map { try $0.value(LiveSetting.self) }
        #expect(!settings.isEmpty && settings.allSatisfy { $0.leverage == 2 }, "\(settings.map(\.leverage))")
    }
}
