import Backtest
import Config
import Engine
import Execution
import Foundation
import Ledger
import Logging
import Market
import Model
import Pipeline
import Policy
import Review
import Risk

/// Settings of a pipeline backtest besides the configuration.
public struct PipelineBacktestSettings: Sendable {
    /// Fees, slippage and depth behaviour of fills (the PAPER fill model).
    public var paper: PaperConfig
    /// Protective exits managed on every bar (the PAPER exit manager).
    public var exitPlan: ExitsConfig
    /// Quoted spread synthesized around prices, in basis points.
    public var spreadBps: Double
    /// Book depth per side as a fraction of the trailing 24h USD volume.
    public var depthFraction: Double
    /// Funding per symbol (perpetuals only).
    public var funding: [String: FundingSchedule]
    /// The most leverage the run trades at (`--leverage`): it sets `rules.leverage` and `risk.max_leverage`, and each
    /// position is held at its own proposal's leverage under it, as in PAPER and LIVE. nil: the configuration's.
    public var leverage: Double?
    /// Maintenance-margin brackets per symbol, for liquidation prices of positions above 1x (a symbol without them:
    /// one bracket at `futures.maintenance_margin_rate`).
    public var brackets: [String: [LeverageBracket]]
    /// First decision time (bar close) that may trade; earlier bars are only history.
    public var from: Int64?
    /// Last decision time (bar close) included.
    public var to: Int64?
    /// Equity points kept for the run's curve (`MetricsAccumulator.everyBar` keeps every bar).
    public var curvePoints = 1_000

    public init(paper: PaperConfig = PaperConfig(), exitPlan: ExitsConfig = ExitsConfig(), spreadBps: Double = 2,
                depthFraction: Double = 0.02, funding: [String: FundingSchedule] = [:], leverage: Double? = nil,
                brackets: [String: [LeverageBracket]] = [:], from: Int64? = nil, to: Int64? = nil) {
        self.paper = paper
        self.exitPlan = exitPlan
        self.spreadBps = spreadBps
        self.depthFraction = depthFraction
        self.funding = funding
        self.leverage = leverage
        self.brackets = brackets
        self.from = from
        self.to = to
    }
}

/// What one backtest cycle decided, for point-in-time checks and explanations.
public struct CycleRecord: Codable, Sendable, Equatable {
    /// Decision time (a bar close).
    public var time: Int64
    public var regime: Regime
    public var triggers: Int
    /// `symbol side size% conviction` of each proposal.
    public var proposals: [String]
    /// Proposal ids the policy approved, with final sizes.
    public var approved: [String]

    package init(time: Int64, regime: Regime, triggers: Int, proposals: [String], approved: [String]) {
        self.time = time
        self.regime = regime
        self.triggers = triggers
        self.proposals = proposals
        self.approved = approved
    }
}

/// How reviewers run in a backtest.
public enum BacktestReviewers: Sendable {
    /// No reviewers: rules and policy only.
    case none
    /// The given board (offline, recorded, or live providers) with an optional spend cap for live ones.
    case board(ReviewBoard, label: String, paid: Bool)
}

/// A backtest is the one cycle (`CycleRunner`) on a replay clock: at every bar close it runs exactly what PAPER and
/// LIVE run — breakers, kill switch, regime, universe, triggers, rules, reviewers, policy, execution, exits, marks —
/// over `ReplayMarket` (strictly point in time: only bars closed by then are visible), the PAPER executor (fills at
/// the decision-time quote with the fill model), the PAPER position desk (exits on the bars after the entry), a
/// simulated kill switch and an in-memory store. Only the clock and the store differ from PAPER.
public struct PipelineBacktest: Sendable {
    public var config: LoadedConfig
    public var series: [CandleSeries]
    public var settings: PipelineBacktestSettings
    public var reviewers: BacktestReviewers

    public init(config: LoadedConfig, series: [CandleSeries], settings: PipelineBacktestSettings, reviewers: BacktestReviewers) {
        self.config = config
        self.series = series
        self.settings = settings
        self.reviewers = reviewers
    }

    /// The result: the run's metrics and trades, and every cycle's decisions.
    public struct Outcome: Sendable {
        public var run: BacktestRun
        public var cycles: [CycleRecord]

        package init(run: BacktestRun, cycles: [CycleRecord]) {
            self.run = run
            self.cycles = cycles
        }
    }

    /// The configuration the cycle runs with: the backtest's costs and exits replace PAPER's, and `--leverage` the
    /// rules' and the policy's leverage.
    package var cycleConfig: LoadedConfig {
        var c = config
        c.app.paper = settings.paper
        c.signals.exits = settings.exitPlan
        if let leverage = settings.leverage {
            c.signals.rules.leverage = leverage
            c.policy.risk.maxLeverage = leverage
        }
        return c
    }

    /// The cycle runner of this backtest (exposed for parity tests: PAPER on a simulated clock runs the same).
    package func runner(market: any MarketDataSource, store: any EventStore) -> CycleRunner {
        let c = cycleConfig
        let board: ReviewBoard
        switch reviewers {
        case .none: board = ReviewBoard(reviewers: [], policy: c.policy)
        case .board(let b, _, _): board = b
        }
        // The paper book's margin rule, as PAPER on `sim` has it: liquidation and the guard's margin at each position's
        // own leverage (brackets from `--leverage-tiers`, else `futures.maintenance_margin_rate`).
        let margin = PaperMarginRule.paperBook(c, exchange: .sim, brackets: settings.brackets)
        let desk = PaperPositions(exits: c.signals.exits, costs: c.app.paper, atrPeriod: c.signals.triggers.trend.atrPeriod,
                                  liquidation: margin)
        var runner = CycleRunner(config: c, mode: .paper, exchange: .sim, market: market, store: store, board: board,
                                 executor: PaperExecutor(settings: c.app.paper), killSwitch: SimulatedKillSwitch(), desk: desk,
                                 logger: Logger(label: "backtest", factory: { _ in SwiftLogNoOpLogHandler() }))
        runner.deterministicIds = true
        runner.tradeHistory = .all
        runner.decidesShadow = false
        // The between-cycle guard on each bar: flash moves (and margin) act in backtests as between live cycles.
        runner.guardKeeper = GuardKeeper(BetweenCycleGuard(policy: c.policy))
        runner.guardsBars = true
        // Margin on each bar at its adverse extreme, as between LIVE cycles on each mark.
        runner.paperMargin = margin
        return runner
    }

    /// Bar closes at which the backtest decides, in order.
    package var decisionTimes: [Int64] { Benchmarks.decisionTimes(series: series, from: nil, to: settings.to) }

    /// Runs the backtest; `progress(done, total)` is called every few hundred decisions.
    public func run(progress: (@Sendable (Int, Int) -> Void)? = nil) async -> Outcome {
        let interval = series.first?.interval ?? 3_600
        let replay = ReplayMarket(series: series, spreadBps: settings.spreadBps, depthFraction: settings.depthFraction)
        let market = FundedMarket(replay: replay, funding: settings.funding)
        // The cycle reads reviews back only for paid reviewers' spend and cache (a backtest has no news feed).
        let paid: Bool
        switch reviewers {
        case .none: paid = false
        case .board(let board, _, _): paid = board.hasPaidReviewers
        }
        let runner = runner(market: market, store: MemoryEventStore(keeping: paid ? [.review] : []))
        let from = settings.from ?? .min
        let clock = decisionTimes.filter { $0 >= from }

        let start = config.app.portfolio.startingEquityUsd
        var metrics = MetricsAccumulator(initialEquity: start, interval: interval, maxCurvePoints: settings.curvePoints)
        var cycles: [CycleRecord] = []
        var proposalsTotal = 0, approvedTotal = 0
        var violated: [String: Int] = [:]
        var vetoes: [String: Int] = [:]
        var excluded: [String: Int] = [:]
        var reviewCost = 0.0

        for (step, close) in clock.enumerated() {
            if let progress, step % 256 == 0 { progress(step, clock.count) }
            let report = await runner.cycle(at: close)
            metrics.record(time: close, equity: report.equityUsd, inMarket: report.openPositions > 0)
            for member in report.universe?.members ?? [] where !member.eligible {
                for reason in member.exclusions {
                    let key = ["24h volume", "spread", "depth", "history", "regime", "no market data"]
                        .first { reason.contains($0) } ?? reason
                    excluded["\(member.symbol): \(key)", default: 0] += 1
                }
            }
            proposalsTotal += report.proposals.count
            reviewCost += report.reviewCostUsd
            var record = CycleRecord(time: close, regime: report.summary.regime ?? .chop, triggers: report.summary.triggersDetected,
                                     proposals: report.proposals.map {
                                         "\($0.symbol) \($0.side.rawValue) \(Format.round($0.sizePct))% \(Format.round($0.conviction))"
                                     }, approved: [])
            for d in report.decisions {
                for check in d.violatedChecks { violated[check, default: 0] += 1 }
                for tier in d.vetoedBy { vetoes[tier.rawValue, default: 0] += 1 }
                guard d.approved else { continue }
                record.approved.append("\(d.proposalId) \(d.symbol) \(Format.round(d.sizePct))%")
                approvedTotal += 1
            }
            for trip in report.summary.circuitBreakers { violated[trip.breaker, default: 0] += 1 }
            cycles.append(record)
        }
        progress?(clock.count, clock.count)

        // Close what is still open at the last marks, so the trade list and metrics are complete.
        var account = runner.portfolio?.account ?? PaperAccount(cashUsd: start)
        let marks = runner.portfolio?.marks ?? [:]
        if let last = clock.last {
            for position in account.positions {
                account.apply(BacktestFills.exit(position, quantity: position.quantity,
                                                 touch: marks[position.symbol] ?? position.entryPrice, time: last,
                                                 spreadBps: settings.spreadBps, settings: PaperConfig(
                                                     takerFeeBps: settings.paper.takerFeeBps, baseSlippageBps: 0),
                                                 reason: "end_of_data"))
            }
            if metrics.bars > 0 { metrics.replaceLast(equity: account.equity(marks: marks)) }
        }
        var label = "pipeline"
        var source: String?
        switch reviewers {
        case .none:
            label = "pipeline (rules only)"
            source = nil
        case .board(_, let name, _):
            label = "pipeline (\(name) reviewers)"
            source = name
        }
        let trades = account.closedTrades
        let run = BacktestRun(label: label,
                              metrics: metrics.finish(trades: trades, feesPaid: account.feesUsd, fundingPaid: account.fundingUsd),
                              trades: account.tradeLegs.map(BacktestTrade.init), equityCurve: metrics.curve, cycles: clock.count,
                              proposals: proposalsTotal, approved: approvedTotal, violatedChecks: violated, vetoes: vetoes, universeExclusions: excluded,
                              reviewerSource: source, reviewCostUsd: source == nil ? nil : reviewCost)
        return Outcome(run: run, cycles: cycles)
    }
}

/// Recorded candles with a funding schedule per perpetual: the tape's funding rate is the latest settled rate.
package struct FundedMarket: MarketDataSource {
    package var replay: ReplayMarket
    package var funding: [String: FundingSchedule]
    package var name: String { replay.name }

    package func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        var snapshot = try await replay.snapshot(symbols: symbols, at: time, historyHours: historyHours)
        guard !funding.isEmpty else { return snapshot }
        for i in snapshot.symbols.indices {
            snapshot.symbols[i].fundingRate = funding[snapshot.symbols[i].symbol]?.latestRate(at: time)
        }
        return snapshot
    }

    package init(replay: ReplayMarket, funding: [String: FundingSchedule]) {
        self.replay = replay
        self.funding = funding
    }
}

package extension LoadedConfig {
    /// The configuration for a backtest over `symbols`: the universe becomes exactly these symbols. Each goes to
    /// `tier` when given, else to the tier the configuration already puts it in, else to `tier_1_core`. The
    /// never-trade list still applies. When the configured regime benchmark has no data, the first symbol
    /// becomes the benchmark.
    public func forBacktest(symbols: [String], tier: Tier?) -> LoadedConfig {
        var c = self
        var placed: [Tier: [String]] = [:]
        for symbol in symbols {
            placed[tier ?? universe.tier(of: symbol) ?? .core, default: []].append(symbol)
        }
        c.universe.tiers.tier1Core.symbols = placed[.core] ?? []
        c.universe.tiers.tier2Rotational.symbols = placed[.rotational] ?? []
        c.universe.tiers.tier3EventDriven.symbols = placed[.eventDriven] ?? []
        if !symbols.contains(c.signals.regime.benchmark), let first = symbols.first {
            c.signals.regime.benchmark = first
        }
        return c
    }
}
