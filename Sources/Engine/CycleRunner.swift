import Config
import Execution
import Foundation
import Ledger
import Logging
import Model
import Pipeline
import Policy
import Review
import Risk

/// Payload of `cycle_started`.
package struct CycleStart: Codable, Sendable {
    package var mode: Mode
    package var exchange: Exchange
    package var timestamp: String
    package var configHash: String
    package var policyHash: String
    package var configSources: [ConfigSource]
    package var promptHashes: [String: String]

    package init(mode: Mode, exchange: Exchange, timestamp: String, configHash: String, policyHash: String, configSources: [ConfigSource], promptHashes: [String: String]) {
        self.mode = mode
        self.exchange = exchange
        self.timestamp = timestamp
        self.configHash = configHash
        self.policyHash = policyHash
        self.configSources = configSources
        self.promptHashes = promptHashes
    }
}

/// What one cycle decided, beyond its JSON summary: for backtests, which aggregate these instead of re-deriving them.
package struct CycleReport: Sendable {
    package var summary: CycleSummary
    /// Equity after the cycle's orders, exits and marks (unrounded).
    package var equityUsd: Double
    package var openPositions: Int
    package var universe: UniverseResult?
    package var proposals: [Proposal] = []
    package var decisions: [Decision] = []
    package var reviewCostUsd = 0.0

    package init(summary: CycleSummary, equityUsd: Double, openPositions: Int, universe: UniverseResult? = nil, proposals: [Proposal] = [], decisions: [Decision] = []) {
        self.summary = summary
        self.equityUsd = equityUsd
        self.openPositions = openPositions
        self.universe = universe
        self.proposals = proposals
        self.decisions = decisions
    }
}

/// The one decision cycle of every mode and of backtests:
///
/// start -> positions (LIVE: reconcile) -> market -> kill switch -> breakers -> regime -> universe -> triggers ->
/// rules -> kill switch -> reviews -> policy -> kill switch -> execution -> exits -> marks -> finish
///
/// It runs over a market source, an executor (DRY_RUN, simulated fills, or a venue), a position desk, a kill switch
/// and an event store (the SQLite ledger, or memory in a backtest). A halt at any point skips to the exits and the
/// marks: they only reduce risk, so a halted bot still protects what it holds. Every stage's output is recorded as
/// it goes.
public struct CycleRunner: Sendable {
    public var config: LoadedConfig
    public var mode: Mode
    public var exchange: Exchange
    public var market: any MarketDataSource
    package var store: any EventStore
    public var board: ReviewBoard
    public var executor: any Executor
    package var killSwitch: any KillSwitchControl
    public var logger: Logger
    /// News for M1 (nil = no feeds configured: M1 gets no items).
    public var newsSource: NewsIngest?
    package var desk: any PositionDesk
    /// The portfolio carried from one cycle to the next.
    package let keeper = PortfolioKeeper()
    /// Ids of backtest cycles are derived from the time (no random suffix), so runs are reproducible.
    package var deterministicIds = false
    /// How many closed trades the book keeps: by default what the rules read (``TradeHistory/running(_:)``); a
    /// backtest keeps them all for its report. Decisions are the same either way.
    package var tradeHistory: TradeHistory?
    package var bookHistory: TradeHistory { tradeHistory ?? .running(config.signals) }
    /// Whether each cycle also decides rules-only (the `shadow` event and the summary's counts). A backtest runs its
    /// own rules-only run beside it, so it turns this off; decisions are the same either way.
    package var decidesShadow = true
    /// The between-cycle guard: its actions since the last cycle go into the summary, and a trip halts new entries.
    package var guardKeeper: GuardKeeper?
    /// Backtests: the guard also runs on each cycle's newest bars (flash moves and margin are backtestable).
    package var guardsBars = false
    /// The guard's margin rule on the paper book, each position at its own leverage (`PaperMarginRule.paperBook`:
    /// backtests with leverage; PAPER on Binance futures between cycles).
    package var paperMargin: PaperMarginRule?

    /// A runner over the SQLite ledger, with the mode's default desk (PAPER exits from the config, and the paper
    /// book's margin rule on `exchange`; DRY_RUN none).
    public init(config: LoadedConfig, mode: Mode, exchange: Exchange, market: any MarketDataSource, ledger: Ledger,
                board: ReviewBoard, executor: any Executor, killSwitch: KillSwitch, logger: Logger) {
        let margin = mode == .paper ? PaperMarginRule.paperBook(config, exchange: exchange) : nil
        self.init(config: config, mode: mode, exchange: exchange, market: market, store: ledger, board: board,
                  executor: executor, killSwitch: killSwitch, desk: Self.defaultDesk(mode: mode, config: config, margin: margin),
                  logger: logger)
        paperMargin = margin
    }

    package init(config: LoadedConfig, mode: Mode, exchange: Exchange, market: any MarketDataSource, store: any EventStore,
         board: ReviewBoard, executor: any Executor, killSwitch: any KillSwitchControl, desk: any PositionDesk, logger: Logger) {
        self.config = config
        self.mode = mode
        self.exchange = exchange
        self.market = market
        self.store = store
        self.board = board
        self.executor = executor
        self.killSwitch = killSwitch
        self.desk = desk
        self.logger = logger
    }

    package static func defaultDesk(mode: Mode, config: LoadedConfig, margin: PaperMarginRule? = nil) -> any PositionDesk {
        mode == .dryRun ? NoPositions() : PaperPositions(exits: config.signals.exits, costs: config.app.paper,
                                                          atrPeriod: config.signals.triggers.trend.atrPeriod, liquidation: margin)
    }

    /// The ledger, when the store is one (PAPER, LIVE, DRY_RUN runs).
    public var ledger: Ledger? { store as? Ledger }

    /// The portfolio as the last cycle left it (nil before the first cycle).
    package var portfolio: Portfolio? { keeper.current }

    /// Runs a cycle at decision time `time` (Unix seconds). Never throws: a failure is an `ERROR` summary,
    /// recorded in the ledger when the ledger itself still works.
    public func run(at time: Int64) async -> CycleSummary {
        await cycle(at: time).summary
    }

    package func cycle(at time: Int64) async -> CycleReport {
        let cycleId = deterministicIds ? "c-\(UTC.compact(time))-bt" : CycleId.make(time: time)
        let start = config.app.portfolio.startingEquityUsd
        var report = CycleReport(summary: CycleSummary(
            cycleId: cycleId, timestamp: UTC.iso8601(time), mode: mode, exchange: exchange, status: .noOpportunities,
            regime: nil, universeSize: 0, universeBreakdown: Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, 0) }),
            triggersDetected: 0, topTriggers: [], proposalsGenerated: 0, proposalsApproved: 0, baseTrades: [],
            decisions: [], violatedChecks: [], noTradeReason: nil,
            review: .init(calls: 0, cacheHits: 0, costUsd: 0, budgetUsd: config.policy.aiBudget.maxCostPerCycleUsd,
                          fallback: nil, reviewerViolations: 0),
            executedTrades: [], dryRunOrders: [],
            portfolio: .init(equityUsd: start, openPositions: 0),
            timingsMs: .init(), configHash: config.configHash, policyHash: config.policyHash, error: nil),
            equityUsd: start, openPositions: 0)
        let clock = ContinuousClock()
        let started = clock.now
        var log = logger
        log[metadataKey: "cycle_id"] = "\(cycleId)"
        var journal: CycleJournal
        do {
            let (portfolio, seq) = try keeper.take(store: store, mode: mode, startingEquity: mode == .live ? nil : start,
                                                   history: bookHistory)
            journal = CycleJournal(store: store, cycleId: cycleId, time: time, portfolio: portfolio, seq: seq)
        } catch {
            report.summary.status = .error
            report.summary.error = "ledger: \(error)"
            report.summary.noTradeReason = "cycle failed: cannot rebuild the portfolio: \(error)"
            log.critical("cannot rebuild the portfolio", metadata: ["error": "\(error)"])
            return report
        }
        do {
            try journal.catchUp()
            try await runStages(report: &report, journal: &journal, log: log)
        } catch {
            report.summary.status = .error
            report.summary.error = "\(error)"
            report.summary.noTradeReason = "cycle failed: \(error)"
            log.error("cycle failed", metadata: ["error": "\(error)"])
            do {
                try journal.record(.cycleFailed, CycleNote(reason: "\(error)"))
            } catch let ledgerError {
                log.critical("cannot record the failed cycle", metadata: ["error": "\(ledgerError)"])
            }
        }
        keeper.put(journal.portfolio, seq: journal.seq)
        report.summary.venueWeightUsed = await market.requestBudgetUsed()
        report.summary.timingsMs.total = ms(clock.now - started)
        do {
            try journal.record(.cycleFinished, report.summary)
        } catch {
            log.critical("cannot record the cycle summary", metadata: ["error": "\(error)"])
            if report.summary.status != .error {
                report.summary.status = .error
                report.summary.error = "ledger: \(error)"
            }
        }
        keeper.put(journal.portfolio, seq: journal.seq)
        do {
            try keeper.snapshotIfDue(store: store)
        } catch {
            log.warning("cannot save the portfolio snapshot (the next start replays more of the ledger)", metadata: ["error": "\(error)"])
        }
        log.info("cycle finished", metadata: ["status": "\(report.summary.status.rawValue)",
                                              "proposals": "\(report.summary.proposalsGenerated)",
                                              "approved": "\(report.summary.proposalsApproved)"])
        return report
    }

    /// Why a cycle stopped deciding before execution; the exits and marks still run.
    private struct Halt: Error {
        package var reason: String
        package var checks: [String]
        /// A drawdown trip with `flatten_on_kill`: close everything before the exits.
        package var flatten = false
    }

    private func runStages(report: inout CycleReport, journal j: inout CycleJournal, log: Logger) async throws {
        let time = j.time
        var summary = report.summary
        defer { report.summary = summary }
        try j.record(.cycleStarted, CycleStart(
            mode: mode, exchange: exchange, timestamp: UTC.iso8601(time), configHash: config.configHash,
            policyHash: config.policyHash, configSources: config.sources,
            promptHashes: Dictionary(uniqueKeysWithValues: config.prompts.map { ($0.tier.rawValue, $0.hash) })))

        // Positions: in LIVE, reconcile the book with the venue first (pending orders looked up by client id, manual
        // changes recorded, stops restored, futures guard, funding). It only ever reduces risk, so it runs before the
        // kill switch; a critical discrepancy stops new entries.
        let reviewHalt = try await desk.synchronize(cycleId: j.cycleId, time: time)
        try j.catchUp()

        // Market: every candidate, the regime benchmark, and whatever is held (its exits need its bars).
        let benchmark = config.signals.regime.benchmark
        var symbols = UniverseBuilder.candidateSymbols(config.universe)
        if !symbols.contains(benchmark) { symbols.append(benchmark) }
        for p in j.portfolio.account.positions where !symbols.contains(p.symbol) { symbols.append(p.symbol) }
        var mark = ContinuousClock().now
        let snapshot: MarketSnapshot
        do {
            snapshot = try await market.snapshot(symbols: symbols, at: time, historyHours: config.app.loop.historyHours)
        } catch {
            try j.record(.circuitBreaker, BreakerTrip(breaker: "venue_disconnected", value: nil, limit: nil,
                                                      detail: "\(market.name): \(error)", action: "halt"))
            throw error
        }
        var marks: [String: Double] = [:]
        for tape in snapshot.symbols { marks[tape.symbol] = tape.last }

        // The guard: in a backtest it runs here on the newest bars; between live cycles the watch fed it.
        var guardFlatten = false
        if let guardKeeper {
            if guardsBars {
                // The margin rule sees the positions held through the newest bar, marked at its path.
                if let paperMargin {
                    let newest = Dictionary(snapshot.symbols.compactMap { t in t.candles.last.map { (t.symbol, $0.time) } }) { a, _ in a }
                    let book = paperMargin.book(j.portfolio, marks: [:]) { p in newest[p.symbol].map { p.entryTime <= $0 } ?? false }
                    guardKeeper.update { $0.margin = book }
                }
                for tape in snapshot.symbols {
                    guard let bar = tape.candles.last else { continue }
                    let actions = guardKeeper.apply { $0.observe(symbol: tape.symbol, bar: bar, interval: tape.interval) }
                    try j.record(.guardAction, each: actions, symbol: { $0.symbol })
                    let barEnd = bar.time + tape.interval.seconds
                    for a in actions { try j.record(PaperDesk.guardExit(j.portfolio, a, settings: config.app.paper, time: barEnd)) }
                    if actions.contains(where: { $0.action == .flatten }) { guardFlatten = true }
                }
            }
        }

        do {
            if let guardKeeper {
                let (actions, messages, reason) = guardKeeper.takeForCycle()
                summary.guardActions = actions
                summary.streamMessages = messages
                if let reason {
                    throw Halt(reason: "between-cycle guard: \(reason)", checks: ["between_cycle_guard"], flatten: guardFlatten)
                }
            }
            if let reviewHalt {
                throw Halt(reason: "REQUIRES_MANUAL_REVIEW: \(reviewHalt) (inspect with `agent reconcile`, then `agent reconcile --ack`)",
                           checks: ["manual_review"])
            }
            try decide(snapshot: snapshot, marks: marks, summary: &summary, report: &report, journal: &j, log: log,
                       startedAt: mark)
            mark = ContinuousClock().now
            try await reviewAndExecute(snapshot: snapshot, marks: marks, summary: &summary, report: &report, journal: &j, log: log)
            summary.timingsMs.execution = ms(ContinuousClock().now - mark)
        } catch let halt as Halt {
            try j.record(.halted, CycleNote(reason: halt.reason))
            summary.status = .halted
            summary.noTradeReason = halt.reason
            summary.violatedChecks = halt.checks
            log.warning("halted", metadata: ["reason": "\(halt.reason)"])
            if halt.flatten {
                summary.exits += try await desk.flatten(snapshot: snapshot, journal: &j, reason: "flatten")
                try j.catchUp()
            }
        } catch is Done {
            // Nothing to review or execute this cycle.
        }

        // Exits on this cycle's bars, then the marks: in every mode and on every path, halted or not.
        summary.exits += try await desk.manageExits(snapshot: snapshot, journal: &j)
        try j.catchUp()
        let point = j.portfolio.point(marks: marks)
        if mode != .dryRun { try j.record([.equity(point, time: time)]) }
        report.equityUsd = point.equityUsd
        report.openPositions = point.openPositions
        summary.portfolio = .init(equityUsd: Format.round(point.equityUsd, 2), openPositions: point.openPositions)
        if mode != .dryRun {
            summary.portfolio.cashUsd = Format.round(point.cashUsd, 2)
            summary.portfolio.realizedPnlUsd = Format.round(j.portfolio.account.realizedPnlUsd, 2)
            summary.portfolio.feesUsd = Format.round(j.portfolio.account.feesUsd, 4)
            summary.portfolio.fundingUsd = Format.round(j.portfolio.account.fundingUsd, 4)
        }
    }

    /// The cycle ended early without a halt (nothing to review or execute).
    private struct Done: Error {}

    /// Kill switch, breakers, regime, universe, triggers and rules.
    private func decide(snapshot: MarketSnapshot, marks: [String: Double], summary: inout CycleSummary, report: inout CycleReport,
                        journal j: inout CycleJournal, log: Logger, startedAt: ContinuousClock.Instant) throws {
        let time = j.time
        // Invariant 6: the kill switch is checked before anything costs money or places an order.
        if let reason = killSwitch.status().reason { throw Halt(reason: reason, checks: ["kill_switch"]) }
        let state = j.portfolio.state(now: time, marks: marks)
        summary.portfolio = .init(equityUsd: Format.round(state.equityUsd, 2), openPositions: state.openPositions.count)

        // Circuit breakers: whole-cycle stops, before any reviewer can spend money or any entry is made.
        let trips = CircuitBreakers.evaluate(config.policy, state: state, snapshot: snapshot, now: time)
        if !trips.isEmpty {
            try j.record(.circuitBreaker, each: trips, symbol: { _ in nil })
            summary.circuitBreakers = trips
            for t in trips { log.warning("circuit breaker tripped", metadata: ["breaker": "\(t.breaker)", "detail": "\(t.detail)"]) }
            var flatten = false
            if let kill = trips.first(where: { $0.action == "kill_switch" }) {
                try killSwitch.turnOn(reason: "circuit breaker \(kill.breaker): \(kill.detail)", at: time)
                flatten = config.policy.circuitBreakers.flattenOnKill
            }
            throw Halt(reason: "circuit breaker: " + trips.map(\.detail).joined(separator: "; "), checks: trips.map(\.breaker),
                       flatten: flatten)
        }

        let regime = RegimeDetector.detect(config.signals.regime, benchmark: snapshot.symbol(config.signals.regime.benchmark))
        try j.record(.regime, regime)
        summary.regime = regime.regime
        let universe = UniverseBuilder.build(config.universe, regime: regime.regime, market: snapshot)
        try j.record(.universe, universe)
        report.universe = universe
        summary.universeSize = universe.eligible.count
        summary.universeBreakdown = universe.breakdown
        summary.timingsMs.universe = ms(ContinuousClock().now - startedAt)

        var mark = ContinuousClock().now
        let eligible = Set(universe.eligible.map(\.symbol))
        let scan = TriggerEngine.scan(config.signals.triggers, regime: regime.regime,
                                      symbols: snapshot.symbols.filter { eligible.contains($0.symbol) },
                                      downtrend: config.signals.rules.allowShorts)
        try j.record(.triggers, scan)
        summary.triggersDetected = scan.triggers.count
        summary.topTriggers = scan.triggers.prefix(5).map {
            .init(symbol: $0.symbol, kind: $0.kind, direction: $0.direction, strength: Format.round($0.strength))
        }
        summary.timingsMs.triggers = ms(ContinuousClock().now - mark)

        // Rules: the only stage that creates proposals.
        mark = ContinuousClock().now
        let proposals = RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: regime.regime,
                                            universe: universe, triggers: scan.triggers, snapshot: snapshot,
                                            strategy: StrategyContext(config.signals, account: j.portfolio.accountFacts(
                                                state, returnsOf: config.signals.strategy.sizing.kellyFraction > 0 ? config.signals.strategy.sizing.kellyLookbackTrades : 0)))
        try j.record(.proposal, each: proposals, symbol: { $0.symbol })
        report.proposals = proposals
        summary.proposalsGenerated = proposals.count
        summary.baseTrades = proposals.map {
            .init(proposalId: $0.id, symbol: $0.symbol, side: $0.side, sizePct: Format.round($0.sizePct),
                  conviction: Format.round($0.conviction), reason: $0.reason, stopLossPct: $0.stopLossPct,
                  takeProfitPct: $0.takeProfitPct)
        }
        summary.timingsMs.rules = ms(ContinuousClock().now - mark)
        guard !proposals.isEmpty else {
            summary.status = .noOpportunities
            summary.noTradeReason = scan.triggers.isEmpty
                ? "no triggers on \(universe.eligible.count) eligible symbols"
                : "\(scan.triggers.count) triggers, none strong enough or long-only eligible for a proposal"
            throw Done()
        }
    }

    /// Reviews, policy and execution of this cycle's proposals.
    private func reviewAndExecute(snapshot: MarketSnapshot, marks: [String: Double], summary: inout CycleSummary,
                                  report: inout CycleReport, journal j: inout CycleJournal, log: Logger) async throws {
        let time = j.time
        let proposals = report.proposals
        // Invariant 6 again: the kill switch may have been turned on while the market was read, and the reviewers
        // are the first stage that can cost money.
        if let reason = killSwitch.status().reason { throw Halt(reason: reason, checks: ["kill_switch"]) }

        // Reviewers: M1 -> M2 -> M3, bounded, budgeted, cached. Spend, cache and news risk come from the store.
        var mark = ContinuousClock().now
        let state = j.portfolio.state(now: time, marks: marks)
        let tape = snapshot.symbols.filter { s in proposals.contains { $0.symbol == s.symbol } }.map(TapeFacts.init)
        // Spend and the cache come only from paid reviewers, news risk only from news: without either the history is
        // empty by construction, and a backtest need not read its store on every bar.
        let history = board.hasPaidReviewers || newsSource != nil
            ? try ReviewHistory.load(store: store, now: time, ttlMinutes: config.app.reviewCache.ttlMinutes,
                                     policy: config.policy.reviewers.newsRisk)
            : ReviewHistory()
        let news = try await newsSource?.items(cycleId: j.cycleId, time: time, store: store, log: log) ?? []
        let inputs = CycleInputs(tape: tape, state: state, news: news, newsRiskHistory: history.newsRisk, killSwitchOn: false)
        try j.record(.cycleInputs, inputs)
        let spend = board.hasPaidReviewers
            ? SpendGuard(budget: config.policy.aiBudget, now: time, history: history.spend) : nil
        let outcome = await board.run(ReviewContext(cycleId: j.cycleId, time: time, proposals: proposals, tape: tape,
                                                    policy: config.policy, news: news, spend: spend,
                                                    cache: ReviewCache(seed: history.cache)),
                                      newsRiskHistory: history.newsRisk)
        try j.record(.review, each: outcome.tiers, symbol: { _ in nil })
        report.reviewCostUsd = outcome.costUsd
        summary.review = .init(outcome, budget: config.policy.aiBudget)
        summary.timingsMs.review = ms(ContinuousClock().now - mark)

        // Risk: the policy engine has the final say.
        mark = ContinuousClock().now
        let (decisions, shadow) = Self.decide(config: config, proposals: proposals, outcome: outcome, inputs: inputs, time: time,
                                              shadow: decidesShadow)
        try j.record(.policyEvaluation, each: decisions, symbol: { $0.symbol })
        // Shadow: what the policy would have decided with no reviews at all.
        if let shadow {
            try j.record(.shadow, shadow)
            summary.review.shadow = shadow.counts
        }
        report.decisions = decisions
        summary.decisions = decisions.map(CycleSummary.DecisionSummary.init)
        summary.violatedChecks = Array(Set(decisions.flatMap(\.violatedChecks))).sorted()
        let approved = decisions.filter(\.approved)
        summary.proposalsApproved = approved.count
        summary.timingsMs.risk = ms(ContinuousClock().now - mark)
        guard !approved.isEmpty else {
            summary.status = .noTrade
            summary.noTradeReason = Self.noTradeReason(decisions)
            return
        }

        // Execution. Kill switch again: it may have been turned on while the reviewers ran.
        if let reason = killSwitch.status().reason { throw Halt(reason: reason, checks: ["kill_switch"]) }
        var orders: [OrderIntent] = []
        for decision in approved {
            guard let proposal = proposals.first(where: { $0.id == decision.proposalId }),
                  let tape = snapshot.symbol(proposal.symbol) else { continue }
            var intent = executor.intent(for: ExecutionRequest(cycleId: j.cycleId, time: time, proposal: proposal, decision: decision,
                                                               equityUsd: state.equityUsd, price: proposal.referencePrice))
            // One position per symbol: an opposite entry would net against it, which no rule asks for.
            if let open = j.portfolio.account.position(proposal.symbol), open.side != proposal.side {
                intent.status = .refusedOppositePosition
                try j.record([.order(intent, time: time)])
                orders.append(intent)
                continue
            }
            // Invariant 8: the intent is in the ledger before the order is sent.
            try j.record(.orderIntent, symbol: intent.symbol, intent)
            let quote = MarketQuote(bid: tape.bid, ask: tape.ask,
                                    depthUsd: proposal.side == .buy ? tape.askDepthUSD : tape.bidDepthUSD)
            let outcome = try await executor.execute(intent, tier: proposal.tier, quote: quote, time: time)
            // LIVE records its own order events as it sends; read them back before recording the outcome.
            try j.catchUp()
            try j.record([.order(outcome.order, time: time)] + outcome.fills.map(PortfolioEvent.fill))
            orders.append(outcome.order)
        }
        if mode == .dryRun {
            summary.dryRunOrders = orders
            summary.status = .approvedDryRun
        } else {
            summary.executedTrades = orders
            let filled = orders.filter { $0.status.traded }
            summary.status = filled.isEmpty ? .noTrade : .executed
            if filled.isEmpty {
                summary.noTradeReason = "approved orders did not fill: " + orders.map { "\($0.symbol) \($0.status.rawValue)" }.joined(separator: ", ")
            }
        }
    }

    /// The policy decisions with the reviews, and the rules-only shadow. Pure: replay calls it with recorded inputs.
    package static func decide(config: LoadedConfig, proposals: [Proposal], outcome: ReviewOutcome, inputs: CycleInputs,
                       time: Int64) -> ([Decision], ShadowOutcome) {
        let (decisions, shadow) = decide(config: config, proposals: proposals, outcome: outcome, inputs: inputs, time: time, shadow: true)
        return (decisions, shadow ?? ShadowOutcome(withReviews: decisions, rulesOnly: decisions))
    }

    package static func decide(config: LoadedConfig, proposals: [Proposal], outcome: ReviewOutcome, inputs: CycleInputs,
                       time: Int64, shadow: Bool) -> ([Decision], ShadowOutcome?) {
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)
        let input = PolicyInput(now: time, killSwitchOn: inputs.killSwitchOn, state: inputs.state, tape: inputs.tape)
        let decisions = engine.decide(proposals.map { ReviewedProposal(proposal: $0, reviews: outcome.reviews(for: $0.id)) },
                                      input: input)
        guard shadow else { return (decisions, nil) }
        let rulesOnly = engine.decide(proposals.map { ReviewedProposal(proposal: $0, reviews: []) }, input: input)
        return (decisions, ShadowOutcome(withReviews: decisions, rulesOnly: rulesOnly))
    }

    /// One sentence per rejected proposal: who or what stopped it.
    package static func noTradeReason(_ decisions: [Decision]) -> String {
        decisions.map { d in
            var why: [String] = []
            if !d.vetoedBy.isEmpty {
                let vetoes = d.reviews.filter(\.veto).map { "\($0.reviewer.rawValue) (\($0.reason))" }
                why.append("vetoed by \(vetoes.joined(separator: ", "))")
            }
            if !d.violatedChecks.isEmpty { why.append("violated \(d.violatedChecks.joined(separator: ", "))") }
            return "\(d.proposalId) \(d.symbol): \(why.joined(separator: "; "))"
        }.joined(separator: " | ")
    }

    private func ms(_ d: Duration) -> Double {
        let c = d.components
        return Format.round(Double(c.seconds) * 1_000 + Double(c.attoseconds) / 1e15, 3)
    }
}

/// Cycle ids: `c-<decision time, compact UTC>-<4 random hex>`, e.g. `c-20261120T220000Z-7f3a`.
public enum CycleId {
    public static func make(time: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let suffix = String(UInt16.random(in: 0...UInt16.max, using: &rng), radix: 16)
        return "c-\(UTC.compact(time))-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
    }
}

extension EventType where Payload == CycleStart {
    package static var cycleStarted: Self { Self(.cycleStarted) }
}
