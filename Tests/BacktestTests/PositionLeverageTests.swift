import Backtest
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Logging
import Market
import Model
import Review
import Risk
import TestSupport
import Testing

/// Each paper position is held at its own leverage, the one its proposal asked for and the policy approved: the
/// backtest and PAPER run the same cycle and hold the same position at it, and the margin book and liquidation price
/// follow it rather than one leverage for the whole book.
@Suite struct PositionLeverageTests {
    static let start: Int64 = 1_700_000_000 / 3_600 * 3_600

    /// A losing round trip long before the decision: the leverage rule takes `after_loss_step` (1) off 3x.
    static func losingTrade() throws -> [NewEvent] {
        let entry = PaperFill(clientOrderId: "old-entry", symbol: "BTC-USD", tier: .core, side: .buy, quantity: 1, price: 100,
                              feeUsd: 0, liquidity: "taker", time: 100 * 3_600, reason: "entry", stopLossPct: 5)
        let exit = PaperFill(clientOrderId: "old-stop", symbol: "BTC-USD", tier: .core, side: .sell, quantity: 1, price: 95,
                             feeUsd: 0, liquidity: "taker", time: 101 * 3_600, reason: "stop_loss")
        return [try NewEvent.json("c-old", .paperFill, entry.time, symbol: "BTC-USD", entry),
                try NewEvent.json("c-old", .paperFill, exit.time, symbol: "BTC-USD", exit)]
    }

    @Test func theBacktestAndPaperHoldThePositionAtTheProposalsLeverage() async throws {
        let series = StrategyCycleTests.series(pctPerHour: 0.05)
        let close = Int64(series.candles.count) * 3_600
        let config = try Fixtures.defaults(StrategyCycleTests.relaxed + ["signals.rules.leverage=3", "policy.risk.max_leverage=5"])
        let backtest = PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(), reviewers: .none)

        let store = MemoryEventStore(keeping: [.paperFill, .orderIntent])
        _ = try store.append(try Self.losingTrade())
        let replay = backtest.runner(market: ReplayMarket(series: [series]), store: store)
        _ = await replay.cycle(at: close)

        // PAPER on the simulated exchange: the same configuration (the backtest's costs and exits) and candles, on the
        // ledger, with the runner's default PAPER desk.
        let data = Fixtures.tempDir("paper-leverage")
        let ledger = try Ledger(path: data + "/agent.sqlite")
        _ = try ledger.append(try Self.losingTrade())
        let c = backtest.cycleConfig
        let paper = CycleRunner(config: c, mode: .paper, exchange: .sim, market: ReplayMarket(series: [series]), ledger: ledger,
                                board: ReviewBoard(reviewers: [], policy: c.policy), executor: PaperExecutor(settings: c.app.paper),
                                killSwitch: KillSwitch(dataDir: data), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let summary = await paper.run(at: close)
        #expect(summary.status == .executed, "\(summary.noTradeReason ?? "") \(summary.error ?? "")")

        for (mode, events) in [("backtest", try store.events(types: ["order_intent", "paper_fill"])),
                               ("PAPER", try ledger.events(types: ["order_intent", "paper_fill"]))] {
            let intents = try events.filter { $0.type == "order_intent" }.map { try $0.value(OrderIntent.self) }
            #expect(intents.map(\.leverage) == [2], "\(mode) intents")
            let entries = try events.filter { $0.type == "paper_fill" }.map { try $0.value(PaperFill.self) }.filter { $0.clientOrderId.hasPrefix("ag-") }
            #expect(entries.map(\.leverage) == [2], "\(mode) entry fills")
        }
        let held = try #require(replay.portfolio?.account.position("BTC-USD"))
        #expect(held.leverage == 2)
        #expect(paper.portfolio?.account.position("BTC-USD")?.leverage == 2)
        // A restart rebuilds it from the ledger at the same leverage.
        #expect(try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: c.app.portfolio.startingEquityUsd).0
            .account.position("BTC-USD")?.leverage == 2)
        // The guard's margin book holds it isolated at 2x in both: a wallet of half its notional.
        for runner in [replay, paper] {
            let rule = try #require(runner.paperMargin)
            let portfolio = try #require(runner.portfolio)
            let book = rule.book(portfolio, marks: ["BTC-USD": held.entryPrice])
            let margin = try #require(book.positions["BTC-USD"]?.isolatedMargin)
            #expect(abs(margin - held.quantity * held.entryPrice / 2) < 1e-6)
        }
    }

    /// `--leverage N` is the run's ceiling: it sets `rules.leverage` and `risk.max_leverage`, and a margin rule on the
    /// book; without it the configuration's leverage applies (1x by default: no margin rule, nothing liquidates).
    @Test func theLeverageFlagSetsTheRulesAndThePolicyLeverage() throws {
        let config = try Fixtures.defaults()
        let series = StrategyCycleTests.series(pctPerHour: 0.05)
        let flagged = PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(leverage: 4), reviewers: .none)
        #expect(flagged.cycleConfig.signals.rules.leverage == 4 && flagged.cycleConfig.policy.risk.maxLeverage == 4)
        #expect(flagged.runner(market: ReplayMarket(series: [series]), store: MemoryEventStore()).paperMargin != nil)
        let plain = PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(), reviewers: .none)
        #expect(plain.cycleConfig.signals.rules.leverage == config.signals.rules.leverage)
        #expect(plain.cycleConfig.policy.risk.maxLeverage == config.policy.risk.maxLeverage)
        #expect(plain.runner(market: ReplayMarket(series: [series]), store: MemoryEventStore()).paperMargin == nil)
    }

    /// Two positions on one book, entered at 10x and at 5x: each liquidates at its own price, and the margin book
    /// gives each its own isolated wallet.
    @Test func positionsAtDifferentLeveragesLiquidateAtDifferentPrices() throws {
        let config = try Fixtures.defaults()
        let rule = PaperMarginRule(policy: config.policy)
        var portfolio = Portfolio(mode: .paper, startingEquity: 10_000)
        for (symbol, leverage) in [("BTC-USD", 10.0), ("ETH-USD", 5.0)] {
            portfolio.apply(.fill(PaperFill(clientOrderId: "e-\(symbol)", symbol: symbol, tier: .core, side: .buy, quantity: 1, price: 100,
                                            feeUsd: 0, liquidity: "taker", time: Self.start, reason: "entry", stopLossPct: 50,
                                            leverage: leverage)))
        }
        let btc = try #require(portfolio.account.position("BTC-USD"))
        let eth = try #require(portfolio.account.position("ETH-USD"))
        #expect(btc.leverage == 10 && eth.leverage == 5)
        // Isolated with one 0.5% bracket: liquidation at about entry * (1 - 1/leverage) / (1 - 0.005).
        let atTen = try #require(PaperDesk.liquidationPrice(btc, liquidation: rule))
        let atFive = try #require(PaperDesk.liquidationPrice(eth, liquidation: rule))
        #expect(abs(atTen - 90 / 0.995) < 1e-6 && abs(atFive - 80 / 0.995) < 1e-6, "\(atTen) \(atFive)")
        // A bar to 85 liquidates the 10x position and leaves the 5x one.
        let bar = Candle(time: Self.start + 3_600, open: 100, high: 100, low: 85, close: 95, volume: 1)
        let paper = config.app.paper
        #expect(PaperDesk.liquidated(btc, bars: [bar], interval: 3_600, liquidation: rule, settings: paper)?.price == atTen)
        #expect(PaperDesk.liquidated(eth, bars: [bar], interval: 3_600, liquidation: rule, settings: paper) == nil)
        let book = rule.book(portfolio, marks: ["BTC-USD": 100, "ETH-USD": 100])
        #expect(book.positions["BTC-USD"]?.isolatedMargin == 10 && book.positions["ETH-USD"]?.isolatedMargin == 20)
    }

    /// Coinbase is spot: its paper executor holds every position at 1x whatever the proposal asked for (as LIVE there
    /// does), and its paper book has no margin rule; Binance's always has one, `sim`'s when the rules ask for leverage.
    @Test func aSpotPaperBookHoldsEveryPositionAtOneX() throws {
        let proposal = Proposal(id: "p1", symbol: "BTC-USD", tier: .core, side: .buy, sizePct: 2, leverage: 3, conviction: 0.7,
                                components: [], stopLossPct: 5, takeProfitPct: 10, reason: "test", triggers: [], referencePrice: 100)
        let decision = Decision(proposalId: "p1", symbol: "BTC-USD", side: .buy, baseConviction: 0.7, reviews: [], finalConviction: 0.7,
                                approved: true, vetoedBy: [], violatedChecks: [], checks: [], sizePct: 2, proposedSizePct: 2)
        let request = ExecutionRequest(cycleId: "c-1", time: 0, proposal: proposal, decision: decision, equityUsd: 10_000, price: 100)
        #expect(PaperExecutor(settings: PaperConfig()).intent(for: request).leverage == 3)
        #expect(PaperExecutor(settings: PaperConfig(), spotOnly: Exchange.coinbase.spotOnly).intent(for: request).leverage == 1)
        #expect(!Exchange.binance.spotOnly && !Exchange.sim.spotOnly)
        let unlevered = try Fixtures.defaults()
        let levered = try Fixtures.defaults(["signals.rules.leverage=3"])
        #expect(PaperMarginRule.paperBook(levered, exchange: .coinbase) == nil)
        #expect(PaperMarginRule.paperBook(unlevered, exchange: .binance) != nil)
        #expect(PaperMarginRule.paperBook(unlevered, exchange: .sim) == nil && PaperMarginRule.paperBook(levered, exchange: .sim) != nil)
    }

    /// An add-on posts its own margin at its own leverage: 1 unit at 10x (wallet 10) and 1 at 5x (wallet 20) are a
    /// position of notional 200 on a wallet of 30.
    @Test func anAddOnPostsItsOwnMargin() {
        var account = PaperAccount(cashUsd: 10_000)
        for (id, leverage) in [("a", 10.0), ("b", 5.0)] {
            account.apply(PaperFill(clientOrderId: id, symbol: "BTC-USD", tier: .core, side: .buy, quantity: 1, price: 100, feeUsd: 0,
                                    liquidity: "taker", time: Self.start, reason: "entry", stopLossPct: 10, leverage: leverage))
        }
        let p = account.position("BTC-USD")
        #expect(p.map { abs($0.leverage - 200.0 / 30) < 1e-12 } == true, "\(p?.leverage ?? 0)")
    }
}
