import Config
import Execution
import Foundation
import Ledger
import Logging
import Model
import Pipeline
import Policy
import Review

/// Payload of `cycle_started`.
struct CycleStart: Codable, Sendable {
    var mode: Mode
    var exchange: String
    var timestamp: String
    var configHash: String
    var policyHash: String
    var configSources: [ConfigSource]
    var promptHashes: [String: String]
}

/// Payload of `halted` and `cycle_failed`.
struct CycleNote: Codable, Sendable {
    var reason: String
}

/// Runs one decision cycle: Universe -> Triggers -> Rules -> M1 -> M2 -> M3 -> Risk -> Execution,
/// recording every stage's output in the ledger as it goes.
public struct CycleRunner: Sendable {
    public var config: LoadedConfig
    public var mode: Mode
    public var exchange: String
    public var market: any MarketDataSource
    public var ledger: Ledger
    public var board: ReviewBoard
    public var executor: any Executor
    public var killSwitch: KillSwitch
    public var logger: Logger
    /// News for M1 (nil = no feeds configured: M1 gets no items).
    public var newsSource: NewsIngest?
    /// LIVE: the venue desk that reconciles, protects and guards positions at the start of every cycle.
    var liveDesk: LiveDesk?

    public init(config: LoadedConfig, mode: Mode, exchange: String, market: any MarketDataSource, ledger: Ledger,
                board: ReviewBoard, executor: any Executor, killSwitch: KillSwitch, logger: Logger) {
        self.config = config
        self.mode = mode
        self.exchange = exchange
        self.market = market
        self.ledger = ledger
        self.board = board
        self.executor = executor
        self.killSwitch = killSwitch
        self.logger = logger
    }

    /// Runs a cycle at decision time `time` (Unix seconds). Never throws: a failure is an `ERROR` summary,
    /// recorded in the ledger when the ledger itself still works.
    public func run(at time: Int64) async -> CycleSummary {
        let cycleId = CycleId.make(time: time)
        var summary = CycleSummary(
            cycleId: cycleId, timestamp: UTC.iso8601(time), mode: mode, exchange: exchange, status: .noOpportunities,
            regime: nil, universeSize: 0, universeBreakdown: Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, 0) }),
            triggersDetected: 0, topTriggers: [], proposalsGenerated: 0, proposalsApproved: 0, baseTrades: [],
            decisions: [], violatedChecks: [], noTradeReason: nil,
            review: .init(calls: 0, cacheHits: 0, costUsd: 0, budgetUsd: config.policy.aiBudget.maxCostPerCycleUsd,
                          fallback: nil, reviewerViolations: 0),
            executedTrades: [], dryRunOrders: [],
            portfolio: .init(equityUsd: config.app.portfolio.startingEquityUsd, openPositions: 0),
            timingsMs: .init(), configHash: config.configHash, policyHash: config.policyHash, error: nil)
        let clock = ContinuousClock()
        let started = clock.now
        var log = logger
        log[metadataKey: "cycle_id"] = "\(cycleId)"
        var scratch = CycleScratch()
        do {
            try await runStages(cycleId: cycleId, time: time, summary: &summary, scratch: &scratch, log: log)
            if mode == .paper { try recordEquity(cycleId: cycleId, time: time, scratch: scratch, summary: &summary) }
        } catch {
            summary.status = .error
            summary.error = "\(error)"
            summary.noTradeReason = "cycle failed: \(error)"
            log.error("cycle failed", metadata: ["error": "\(error)"])
            do {
                try record(cycleId, time, "cycle_failed", CycleNote(reason: "\(error)"))
            } catch let ledgerError {
                log.critical("cannot record the failed cycle", metadata: ["error": "\(ledgerError)"])
            }
        }
        summary.timingsMs.total = ms(clock.now - started)
        do {
            try record(cycleId, time, "cycle_finished", summary)
        } catch {
            log.critical("cannot record the cycle summary", metadata: ["error": "\(error)"])
            if summary.status != .error {
                summary.status = .error
                summary.error = "ledger: \(error)"
            }
        }
        log.info("cycle finished", metadata: ["status": "\(summary.status.rawValue)",
                                              "proposals": "\(summary.proposalsGenerated)",
                                              "approved": "\(summary.proposalsApproved)"])
        return summary
    }

    private func runStages(cycleId: String, time: Int64, summary: inout CycleSummary, scratch: inout CycleScratch,
                           log: Logger) async throws {
        let clock = ContinuousClock()
        try record(cycleId, time, "cycle_started", CycleStart(
            mode: mode, exchange: exchange, timestamp: UTC.iso8601(time), configHash: config.configHash,
            policyHash: config.policyHash, configSources: config.sources,
            promptHashes: Dictionary(uniqueKeysWithValues: config.prompts.map { ($0.tier.rawValue, $0.hash) })))

        // PAPER: protect open positions first (stops, take-profits, trailing and time stops, funding). This runs
        // even with the kill switch on: it only ever reduces risk.
        scratch.paper = mode == .paper ? try PaperBook.rebuild(ledger: ledger, startingEquity: config.app.portfolio.startingEquityUsd) : nil
        if var book = scratch.paper, !book.account.positions.isEmpty {
            let held = try await market.snapshot(symbols: book.account.positions.map(\.symbol), at: time,
                                                 historyHours: config.app.loop.historyHours)
            for tape in held.symbols { scratch.marks[tape.symbol] = tape.last }
            let events = PaperDesk.manage(book, snapshot: held, now: time, plan: config.signals.exits,
                                          settings: config.app.paper, atrPeriod: config.signals.triggers.trend.atrPeriod)
            try ledger.append(events.map { try $0.newEvent(cycleId: cycleId, time: time) })
            for event in events {
                book.apply(event)
                if case .fill(let fill) = event { summary.exits.append(fill) }
            }
            scratch.paper = book
        }

        // LIVE: rebuild the book from the ledger and reconcile it with the venue (pending orders looked up by client
        // id, manual changes recorded, stops restored, futures guard, funding). Like PAPER protection this only
        // ever reduces risk, so it runs before the kill switch; a critical discrepancy stops new entries.
        var live: (report: ReconcileReport, book: LiveBook)?
        if mode == .live {
            guard let liveDesk else { throw CLIError.failed("LIVE cycle without a venue desk") }
            let (report, book) = try await liveDesk.reconcileBook(cycleId: cycleId, time: time, act: true)
            live = (report, book)
            if report.requiresManualReview {
                let reason = "REQUIRES_MANUAL_REVIEW: " + report.reviewReasons.joined(separator: "; ")
                    + " (inspect with `agent reconcile`, then `agent reconcile --ack`)"
                try record(cycleId, time, "halted", CycleNote(reason: reason))
                summary.status = .halted
                summary.noTradeReason = reason
                log.warning("halted: manual review required", metadata: ["reasons": "\(report.reviewReasons)"])
                return
            }
        }

        // Invariant 6: the kill switch is checked before anything costs money or places an order.
        if let reason = killSwitch.status().reason {
            try record(cycleId, time, "halted", CycleNote(reason: reason))
            summary.status = .halted
            summary.noTradeReason = reason
            log.warning("halted", metadata: ["reason": "\(reason)"])
            return
        }

        let state = try live.map { $0.book.portfolioState(equityUsd: $0.report.equityUsd ?? config.app.portfolio.startingEquityUsd, now: time) }
            ?? StateProjection.rebuild(ledger: ledger, mode: mode, now: time, startingEquity: config.app.portfolio.startingEquityUsd,
                                       paper: scratch.paper, marks: scratch.marks)
        summary.portfolio = .init(equityUsd: Format.round(state.equityUsd, 2), openPositions: state.openPositions.count)

        // Universe (with the regime it depends on).
        var mark = clock.now
        let benchmark = config.signals.regime.benchmark
        var symbols = UniverseBuilder.candidateSymbols(config.universe)
        if !symbols.contains(benchmark) { symbols.append(benchmark) }
        let snapshot: MarketSnapshot
        do {
            snapshot = try await market.snapshot(symbols: symbols, at: time, historyHours: config.app.loop.historyHours)
        } catch {
            try record(cycleId, time, "circuit_breaker", BreakerTrip(breaker: "venue_disconnected", value: nil, limit: nil,
                                                                    detail: "\(market.name): \(error)", action: "halt"))
            throw error
        }
        for tape in snapshot.symbols { scratch.marks[tape.symbol] = tape.last }

        // Circuit breakers: whole-cycle stops, before any reviewer can spend money or any entry is made.
        let trips = CircuitBreakers.evaluate(config.policy, state: state, snapshot: snapshot, now: time)
        if !trips.isEmpty {
            try trip(trips, cycleId: cycleId, time: time, paper: &scratch.paper, snapshot: snapshot, summary: &summary, log: log)
            return
        }
        let regime = RegimeDetector.detect(config.signals.regime, benchmark: snapshot.symbol(benchmark))
        try record(cycleId, time, "regime", regime)
        summary.regime = regime.regime
        let universe = UniverseBuilder.build(config.universe, regime: regime.regime, market: snapshot)
        try record(cycleId, time, "universe", universe)
        summary.universeSize = universe.eligible.count
        summary.universeBreakdown = universe.breakdown
        summary.timingsMs.universe = ms(clock.now - mark)

        // Triggers.
        mark = clock.now
        let eligible = Set(universe.eligible.map(\.symbol))
        let scan = TriggerEngine.scan(config.signals.triggers, regime: regime.regime,
                                      symbols: snapshot.symbols.filter { eligible.contains($0.symbol) })
        try record(cycleId, time, "triggers", scan)
        summary.triggersDetected = scan.triggers.count
        summary.topTriggers = scan.triggers.prefix(5).map {
            .init(symbol: $0.symbol, kind: $0.kind, direction: $0.direction, strength: Format.round($0.strength))
        }
        summary.timingsMs.triggers = ms(clock.now - mark)

        // Rules: the only stage that creates proposals.
        mark = clock.now
        let proposals = RulesEngine.propose(config.signals.rules, tiers: config.universe.tiers, regime: regime.regime,
                                            universe: universe, triggers: scan.triggers, snapshot: snapshot)
        try ledger.append(proposals.map { p in
            try NewEvent.json(cycleId, "proposal", time, symbol: p.symbol, p)
        })
        summary.proposalsGenerated = proposals.count
        summary.baseTrades = proposals.map {
            .init(proposalId: $0.id, symbol: $0.symbol, side: $0.side, sizePct: Format.round($0.sizePct),
                  conviction: Format.round($0.conviction), reason: $0.reason, stopLossPct: $0.stopLossPct,
                  takeProfitPct: $0.takeProfitPct)
        }
        summary.timingsMs.rules = ms(clock.now - mark)
        guard !proposals.isEmpty else {
            summary.status = .noOpportunities
            summary.noTradeReason = scan.triggers.isEmpty
                ? "no triggers on \(universe.eligible.count) eligible symbols"
                : "\(scan.triggers.count) triggers, none strong enough or long-only eligible for a proposal"
            return
        }

        // Invariant 6 again: the kill switch may have been turned on while the market was read, and the
        // reviewers are the first stage that can cost money.
        if let reason = killSwitch.status().reason {
            try record(cycleId, time, "halted", CycleNote(reason: reason))
            summary.status = .halted
            summary.noTradeReason = reason
            log.warning("halted before the reviewers", metadata: ["reason": "\(reason)"])
            return
        }

        // Reviewers: M1 -> M2 -> M3, bounded, budgeted, cached. Spend, cache and news risk come from the ledger.
        mark = clock.now
        let tape = snapshot.symbols.filter { s in proposals.contains { $0.symbol == s.symbol } }.map(TapeFacts.init)
        let history = try ReviewHistory.load(ledger: ledger, now: time, ttlMinutes: config.app.reviewCache.ttlMinutes,
                                             policy: config.policy.reviewers.newsRisk)
        let news = try await newsForCycle(cycleId: cycleId, time: time, proposals: proposals, log: log)
        let inputs = CycleInputs(tape: tape, state: state, news: news, newsRiskHistory: history.newsRisk, killSwitchOn: false)
        try record(cycleId, time, "cycle_inputs", inputs)
        let spend = board.hasPaidReviewers
            ? SpendGuard(budget: config.policy.aiBudget, now: time, history: history.spend) : nil
        let outcome = await board.run(ReviewContext(cycleId: cycleId, time: time, proposals: proposals, tape: tape,
                                                    policy: config.policy, news: news, spend: spend,
                                                    cache: ReviewCache(seed: history.cache)),
                                      newsRiskHistory: history.newsRisk)
        try ledger.append(outcome.tiers.map { tier in
            try NewEvent.json(cycleId, "review", time, tier)
        })
        summary.review = .init(outcome, budget: config.policy.aiBudget)
        summary.timingsMs.review = ms(clock.now - mark)

        // Risk: the policy engine has the final say.
        mark = clock.now
        let (decisions, shadow) = Self.decide(config: config, proposals: proposals, outcome: outcome, inputs: inputs, time: time)
        try ledger.append(decisions.map { d in
            try NewEvent.json(cycleId, "policy_evaluation", time, symbol: d.symbol, d)
        })
        // Shadow: what the policy would have decided with no reviews at all.
        try record(cycleId, time, "shadow", shadow)
        summary.review.shadow = shadow.counts
        summary.decisions = decisions.map(CycleSummary.DecisionSummary.init)
        summary.violatedChecks = Array(Set(decisions.flatMap(\.violatedChecks))).sorted()
        let approved = decisions.filter(\.approved)
        summary.proposalsApproved = approved.count
        summary.timingsMs.risk = ms(clock.now - mark)

        guard !approved.isEmpty else {
            summary.status = .noTrade
            summary.noTradeReason = Self.noTradeReason(decisions)
            return
        }

        // Execution. Kill switch again: it may have been turned on while the reviewers ran.
        mark = clock.now
        if let reason = killSwitch.status().reason {
            try record(cycleId, time, "halted", CycleNote(reason: reason))
            summary.status = .halted
            summary.noTradeReason = reason
            return
        }
        var orders: [OrderIntent] = []
        for decision in approved {
            guard let proposal = proposals.first(where: { $0.id == decision.proposalId }),
                  let tape = snapshot.symbol(proposal.symbol) else { continue }
            let intent = executor.intent(for: ExecutionRequest(cycleId: cycleId, time: time, proposal: proposal, decision: decision,
                                                               equityUsd: state.equityUsd, price: proposal.referencePrice))
            // Invariant 8: the intent is in the ledger before the order is sent.
            try record(cycleId, time, "order_intent", intent, symbol: intent.symbol)
            let quote = MarketQuote(bid: tape.bid, ask: tape.ask,
                                    depthUsd: proposal.side == .buy ? tape.askDepthUSD : tape.bidDepthUSD)
            let outcome = try await executor.execute(intent, tier: proposal.tier, quote: quote, time: time)
            try ledger.append([try NewEvent.json(cycleId, "order_result", time, symbol: outcome.order.symbol, outcome.order)]
                              + outcome.fills.map { try PaperEvent.fill($0).newEvent(cycleId: cycleId, time: time) })
            for fill in outcome.fills { scratch.paper?.apply(.fill(fill)) }
            orders.append(outcome.order)
        }
        summary.timingsMs.execution = ms(clock.now - mark)
        if mode == .dryRun {
            summary.dryRunOrders = orders
            summary.status = .approvedDryRun
        } else {
            summary.executedTrades = orders
            let filled = orders.filter { StateProjection.tradedStatuses.contains($0.status) }
            summary.status = filled.isEmpty ? .noTrade : .executed
            if filled.isEmpty {
                summary.noTradeReason = "approved orders did not fill: " + orders.map { "\($0.symbol) \($0.status)" }.joined(separator: ", ")
            }
        }
    }

    /// Records the trips, turns the kill switch on for a drawdown trip (flattening PAPER positions when the
    /// policy says so), and halts the cycle.
    private func trip(_ trips: [BreakerTrip], cycleId: String, time: Int64, paper: inout PaperBook?, snapshot: MarketSnapshot,
                      summary: inout CycleSummary, log: Logger) throws {
        try ledger.append(trips.map { try NewEvent.json(cycleId, "circuit_breaker", time, $0) })
        summary.circuitBreakers = trips
        summary.status = .halted
        summary.noTradeReason = "circuit breaker: " + trips.map(\.detail).joined(separator: "; ")
        for t in trips { log.warning("circuit breaker tripped", metadata: ["breaker": "\(t.breaker)", "detail": "\(t.detail)"]) }
        guard let kill = trips.first(where: { $0.action == "kill_switch" }) else { return }
        try killSwitch.turnOn(reason: "circuit breaker \(kill.breaker): \(kill.detail)", at: time)
        if config.policy.circuitBreakers.flattenOnKill, let book = paper, !book.account.positions.isEmpty {
            let events = PaperDesk.flatten(book, snapshot: snapshot, settings: config.app.paper, time: time, reason: "flatten")
            try ledger.append(events.map { try $0.newEvent(cycleId: cycleId, time: time) })
            for event in events { paper?.apply(event) }
            for case .fill(let fill) in events { summary.exits.append(fill) }
        }
    }

    /// PAPER: marks the book to the cycle's prices and records the point (P&L windows and drawdown use these).
    private func recordEquity(cycleId: String, time: Int64, scratch: CycleScratch, summary: inout CycleSummary) throws {
        let book = try scratch.paper ?? PaperBook.rebuild(ledger: ledger, startingEquity: config.app.portfolio.startingEquityUsd)
        let point = book.point(marks: scratch.marks)
        try record(cycleId, time, "equity", point)
        summary.portfolio = .init(equityUsd: Format.round(point.equityUsd, 2), openPositions: point.openPositions)
        summary.portfolio.cashUsd = Format.round(point.cashUsd, 2)
        summary.portfolio.realizedPnlUsd = Format.round(book.account.realizedPnlUsd, 2)
        summary.portfolio.feesUsd = Format.round(book.account.feesUsd, 4)
        summary.portfolio.fundingUsd = Format.round(book.account.fundingUsd, 4)
    }

    /// The policy decisions with the reviews, and the rules-only shadow. Pure: replay calls it with recorded inputs.
    static func decide(config: LoadedConfig, proposals: [Proposal], outcome: ReviewOutcome, inputs: CycleInputs,
                       time: Int64) -> ([Decision], ShadowOutcome) {
        let engine = PolicyEngine(policy: config.policy, universe: config.universe)
        let input = PolicyInput(now: time, killSwitchOn: inputs.killSwitchOn, state: inputs.state, tape: inputs.tape)
        let decisions = engine.decide(proposals.map { ReviewedProposal(proposal: $0, reviews: outcome.reviews(for: $0.id)) },
                                      input: input)
        let rulesOnly = engine.decide(proposals.map { ReviewedProposal(proposal: $0, reviews: []) }, input: input)
        return (decisions, ShadowOutcome(withReviews: decisions, rulesOnly: rulesOnly))
    }

    /// News items for M1 (fetched from the allow-listed feeds when due, stored in the ledger).
    private func newsForCycle(cycleId: String, time: Int64, proposals: [Proposal], log: Logger) async throws -> [NewsItem] {
        guard let newsSource else { return [] }
        return try await newsSource.items(cycleId: cycleId, time: time, ledger: ledger, log: log)
    }

    /// One sentence per rejected proposal: who or what stopped it.
    static func noTradeReason(_ decisions: [Decision]) -> String {
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

    private func record<T: Encodable>(_ cycleId: String, _ time: Int64, _ type: String, _ value: T, symbol: String? = nil) throws {
        try ledger.append(NewEvent.json(cycleId, type, time, symbol: symbol, value))
    }

    private func ms(_ d: Duration) -> Double {
        let c = d.components
        return Format.round(Double(c.seconds) * 1_000 + Double(c.attoseconds) / 1e15, 3)
    }
}

/// What a cycle carries from stage to stage besides its summary: the latest prices, and in PAPER the book
/// (rebuilt from the ledger once at the start, then updated with every fill this cycle records).
struct CycleScratch {
    var marks: [String: Double] = [:]
    var paper: PaperBook?
}

/// Cycle ids: `c-<decision time, compact UTC>-<4 random hex>`, e.g. `c-20261120T220000Z-7f3a`.
public enum CycleId {
    public static func make(time: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let suffix = String(UInt16.random(in: 0...UInt16.max, using: &rng), radix: 16)
        return "c-\(UTC.compact(time))-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
    }
}
