import Config
import Execution
import Foundation
import Market
import Model
import Pipeline
import Policy
import Review

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
    /// Leverage for liquidation checks (1 = none: a fully collateralised position cannot be liquidated).
    public var leverage: Double
    /// Maintenance-margin brackets per symbol, for liquidation prices when `leverage > 1`.
    public var brackets: [String: [LeverageBracket]]
    /// First decision time (bar close) that may trade; earlier bars are only history.
    public var from: Int64?
    /// Last decision time (bar close) included.
    public var to: Int64?

    public init(paper: PaperConfig = PaperConfig(), exitPlan: ExitsConfig = ExitsConfig(), spreadBps: Double = 2,
                depthFraction: Double = 0.02, funding: [String: FundingSchedule] = [:], leverage: Double = 1,
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
}

/// How reviewers run in a backtest.
public enum BacktestReviewers: Sendable {
    /// No reviewers: rules and policy only.
    case none
    /// The given board (offline, recorded, or live providers) with an optional spend cap for live ones.
    case board(ReviewBoard, label: String, paid: Bool)
}

/// Replays candles through the live stages — RegimeDetector, UniverseBuilder, TriggerEngine, RulesEngine,
/// ReviewBoard, PolicyEngine — and the PAPER fill model, account and exit manager, strictly point in time:
/// the cycle at time `t` (a bar close) sees only bars that closed by `t` (`ReplayMarket`), its orders fill at
/// the next bar's open, and exits are managed on bars after the entry.
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
    }

    private struct PendingOrder {
        var proposal: Proposal
        var sizePct: Double
        var equity: Double
        var depthUsd: Double
        var cycle: Int64
    }

    /// Runs the backtest; `progress(done, total)` is called every few hundred bars.
    public func run(progress: (@Sendable (Int, Int) -> Void)? = nil) async -> Outcome {
        let interval = series.first?.interval ?? 3_600
        let market = ReplayMarket(series: series, spreadBps: settings.spreadBps, depthFraction: settings.depthFraction)
        let bySymbol = Dictionary(series.map { ($0.symbol, $0.candles) }, uniquingKeysWith: { _, b in b })
        var clock = Array(Set(series.flatMap { $0.candles.map(\.time) })).sorted()
        if let to = settings.to { clock.removeAll { $0 + interval > to } }
        let from = settings.from ?? .min
        var cursors: [String: Int] = [:]

        let start = config.app.portfolio.startingEquityUsd
        var account = PaperAccount(cashUsd: start)
        var metrics = MetricsAccumulator(initialEquity: start, interval: interval)
        var pending: [PendingOrder] = []
        var atr: [String: Double] = [:]
        var marks: [String: Double] = [:]
        var cycles: [CycleRecord] = []
        var proposalsTotal = 0, approvedTotal = 0, cycleCount = 0
        var violated: [String: Int] = [:]
        var vetoes: [String: Int] = [:]
        var excluded: [String: Int] = [:]
        var reviewCost = 0.0
        var spendHistory: [SpendEntry] = []
        var peak = start, dayStart = start, weekStart = start
        var dayKey = Int64.min, weekKey = Int64.min
        var entries: [TradeRecord] = []
        var closedSeen = 0
        var lossStreak = 0
        var lastLoss: Int64?
        var previousClose: Int64?
        let benchmark = config.signals.regime.benchmark
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)

        for (step, barTime) in clock.enumerated() {
            let close = barTime + interval
            if let progress, step % 256 == 0 { progress(step, clock.count) }
            // This bar of each symbol, if it has one.
            var bars: [String: Candle] = [:]
            for (symbol, candles) in bySymbol {
                var i = cursors[symbol] ?? 0
                while i < candles.count, candles[i].time < barTime { i += 1 }
                cursors[symbol] = i
                if i < candles.count, candles[i].time == barTime { bars[symbol] = candles[i] }
            }

            // 1. Orders decided at the previous close fill at this bar's open.
            for order in pending {
                guard let bar = bars[order.proposal.symbol] else { continue }
                let p = order.proposal
                guard let fill = BacktestFills.entry(
                    symbol: p.symbol, tier: p.tier, side: p.side, notionalUsd: order.equity * order.sizePct / 100,
                    open: bar.open, time: barTime, spreadBps: settings.spreadBps, depthUsd: order.depthUsd,
                    settings: settings.paper, orderId: ClientOrderId.make(cycleId: "c-bt\(order.cycle)", proposalId: p.id),
                    stopLossPct: p.stopLossPct, takeProfitPct: p.takeProfitPct) else { continue }
                account.apply(fill)
                entries.append(TradeRecord(time: barTime, symbol: p.symbol, side: p.side))
            }
            pending.removeAll()

            // 2. Liquidation, then protective exits, on this bar.
            for position in account.positions {
                guard let bar = bars[position.symbol], position.entryTime <= barTime else { continue }
                if settings.leverage > 1, let brackets = settings.brackets[position.symbol],
                   let lp = BinanceLiquidation.isolatedPrice(
                       quantity: position.side == .buy ? position.quantity : -position.quantity,
                       entryPrice: position.entryPrice, walletBalance: position.entryNotionalUsd / settings.leverage,
                       brackets: brackets),
                   position.side == .buy ? bar.low <= lp : bar.high >= lp {
                    let price = position.side == .buy ? min(lp, bar.open) : max(lp, bar.open)
                    account.apply(PaperFill(clientOrderId: "bt-\(barTime)-liq-\(position.symbol)", symbol: position.symbol,
                                            tier: position.tier, side: position.side == .buy ? .sell : .buy,
                                            quantity: position.quantity, price: price,
                                            feeUsd: position.quantity * price * settings.paper.takerFeeBps / 10_000,
                                            liquidity: "taker", time: close, reason: "liquidation"))
                    continue
                }
                let outcome = ExitManager.manage(position, bars: [bar], atr: atr[position.symbol], plan: settings.exitPlan,
                                                 settings: settings.paper, now: close)
                for fill in outcome.fills { account.apply(fill) }
                if let update = outcome.update { account.update(update) }
            }

            // 3. Funding settled during this bar, on the positions still open, at the bar's close.
            var closes: [String: Double] = [:]
            for (symbol, bar) in bars { closes[symbol] = bar.close }
            BacktestFills.fund(&account, schedules: settings.funding, marks: closes, after: previousClose ?? barTime, through: close)
            previousClose = close

            // 4. Mark to the close.
            for (symbol, bar) in bars { marks[symbol] = bar.close }
            let equity = account.equity(marks: marks)
            let active = close >= from
            guard active else { continue }
            metrics.record(time: close, equity: equity, inMarket: !account.positions.isEmpty)
            peak = max(peak, equity)
            let day = close >= 0 ? close / 86_400 : (close - 86_399) / 86_400
            if day != dayKey {
                dayKey = day
                dayStart = equity
            }
            let week = (day + 3) >= 0 ? (day + 3) / 7 : (day + 3 - 6) / 7
            if week != weekKey {
                weekKey = week
                weekStart = equity
            }
            let closed = account.closedTrades
            while closedSeen < closed.count {
                let t = closed[closedSeen]
                if t.pnlUsd < 0 {
                    lossStreak += 1
                    lastLoss = t.exitTime
                } else {
                    lossStreak = 0
                }
                closedSeen += 1
            }
            entries.removeAll { $0.time < close - 7 * 86_400 }

            // 5. The cycle at this close: the live stages, in order.
            cycleCount += 1
            var symbols = UniverseBuilder.candidateSymbols(config.universe)
            if !symbols.contains(benchmark) { symbols.append(benchmark) }
            let tapes = symbols.compactMap { symbol -> SymbolSnapshot? in
                guard var snap = market.symbolSnapshot(symbol, at: close, historyHours: config.app.loop.historyHours) else { return nil }
                snap.fundingRate = settings.funding[symbol]?.latestRate(at: close)
                return snap
            }
            let snapshot = MarketSnapshot(time: close, symbols: tapes)
            for position in account.positions {
                if let tape = snapshot.symbol(position.symbol) {
                    atr[position.symbol] = Indicators.atr(tape.candles, period: config.signals.triggers.trend.atrPeriod).last ?? nil
                }
            }
            let regime = RegimeDetector.detect(config.signals.regime, benchmark: snapshot.symbol(benchmark))
            let universe = UniverseBuilder.build(config.universe, regime: regime.regime, market: snapshot)
            let eligible = Set(universe.eligible.map(\.symbol))
            for member in universe.members where !member.eligible {
                for reason in member.exclusions {
                    let key = ["24h volume", "spread", "depth", "history", "regime", "no market data"]
                        .first { reason.contains($0) } ?? reason
                    excluded["\(member.symbol): \(key)", default: 0] += 1
                }
            }
            let scan = TriggerEngine.scan(config.signals.triggers, regime: regime.regime,
                                          symbols: snapshot.symbols.filter { eligible.contains($0.symbol) })
            let proposals = RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: regime.regime,
                                                universe: universe, triggers: scan.triggers, snapshot: snapshot)
            var record = CycleRecord(time: close, regime: regime.regime, triggers: scan.triggers.count,
                                     proposals: proposals.map {
                                         "\($0.symbol) \($0.side.rawValue) \(Format.round($0.sizePct))% \(Format.round($0.conviction))"
                                     }, approved: [])
            guard !proposals.isEmpty else {
                cycles.append(record)
                continue
            }
            proposalsTotal += proposals.count
            let tape = snapshot.symbols.filter { s in proposals.contains { $0.symbol == s.symbol } }.map(TapeFacts.init)
            let state = PortfolioState(
                equityUsd: equity, peakEquityUsd: peak, dayStartEquityUsd: dayStart, weekStartEquityUsd: weekStart,
                openPositions: account.positions.map {
                    OpenPosition(symbol: $0.symbol, tier: $0.tier, side: $0.side,
                                 sizePct: equity > 0 ? $0.quantity * (marks[$0.symbol] ?? $0.entryPrice) / equity * 100 : 0,
                                 openedAt: $0.entryTime)
                },
                recentTrades: entries, consecutiveLosses: lossStreak, lastLossTime: lastLoss)
            var reviews: [String: [AppliedReview]] = [:]
            if case .board(let board, _, let paid) = reviewers {
                // Live providers: every cent spent in the run counts against today's cap, so a long backtest can
                // never spend more than one day's budget.
                let guardian = paid ? SpendGuard(budget: config.policy.aiBudget, now: close,
                                                 history: spendHistory.map { SpendEntry(time: close, costUsd: $0.costUsd, calls: $0.calls) })
                                    : nil
                let outcome = await board.run(ReviewContext(cycleId: "c-bt\(close)", time: close, proposals: proposals,
                                                            tape: tape, policy: config.policy, spend: guardian))
                reviewCost += outcome.costUsd
                if outcome.calls > 0 || outcome.costUsd > 0 {
                    spendHistory.append(SpendEntry(time: close, costUsd: outcome.costUsd, calls: outcome.calls))
                }
                for p in proposals { reviews[p.id] = outcome.reviews(for: p.id) }
            }
            let decisions = engine.decide(proposals.map { ReviewedProposal(proposal: $0, reviews: reviews[$0.id] ?? []) },
                                          input: PolicyInput(now: close, killSwitchOn: false, state: state, tape: tape))
            for d in decisions {
                for check in d.violatedChecks { violated[check, default: 0] += 1 }
                for tier in d.vetoedBy { vetoes[tier.rawValue, default: 0] += 1 }
                guard d.approved, let p = proposals.first(where: { $0.id == d.proposalId }) else { continue }
                // One position per symbol and side: an opposite entry would net against it, which rules never ask for.
                if let open = account.position(p.symbol), open.side != p.side { continue }
                let depth = snapshot.symbol(p.symbol).map { p.side == .buy ? $0.askDepthUSD : $0.bidDepthUSD } ?? 0
                pending.append(PendingOrder(proposal: p, sizePct: d.sizePct, equity: equity, depthUsd: depth, cycle: close))
                record.approved.append("\(p.id) \(p.symbol) \(Format.round(d.sizePct))%")
                approvedTotal += 1
            }
            cycles.append(record)
        }
        progress?(clock.count, clock.count)

        // Close what is still open at the last marks, so the trade list and metrics are complete.
        if let lastBar = clock.last {
            let close = lastBar + interval
            for position in account.positions {
                account.apply(BacktestFills.exit(position, quantity: position.quantity,
                                                 touch: marks[position.symbol] ?? position.entryPrice, time: close,
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
                              trades: trades.map(BacktestTrade.init), equityCurve: metrics.curve, cycles: cycleCount,
                              proposals: proposalsTotal, approved: approvedTotal, violatedChecks: violated, vetoes: vetoes, universeExclusions: excluded,
                              reviewerSource: source, reviewCostUsd: source == nil ? nil : reviewCost)
        return Outcome(run: run, cycles: cycles)
    }
}

extension LoadedConfig {
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
