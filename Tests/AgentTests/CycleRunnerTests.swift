@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Logging
import Market
import Model
import Pipeline
import Policy
@testable import Review
@testable import Risk
import TestSupport
import Testing

/// A reviewer that counts its calls and stays neutral.
struct CountingReviewer: Reviewer {
    let tier: ReviewerTier
    let calls: Counter
    func review(_ context: ReviewContext) async -> ReviewerAnswer {
        calls.bump()
        return ReviewerAnswer(verdicts: context.proposals.map { ReviewerVerdict(proposalId: $0.id, delta: 0) },
                              source: "counting", model: "counting")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func bump() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}

/// 2026-11-20T22:00:00Z: the sim market has proposals at this hour.
let decisionTime: Int64 = 1_795_212_000

func makeRunner(dataDir: String, reviewers: [any Reviewer]? = nil, overrides: [String] = [], mode: Mode = .dryRun) throws -> CycleRunner {
    let config = try Fixtures.defaults(overrides)
    let ledger = try Ledger(path: dataDir + "/agent.sqlite")
    let board = reviewers.map { ReviewBoard(reviewers: $0, policy: config.policy) } ?? .offline(policy: config.policy)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let executor: any Executor = mode == .paper ? PaperExecutor(settings: config.app.paper) : DryRunExecutor()
    return CycleRunner(config: config, mode: mode, exchange: "sim", market: SimMarket(seed: config.app.sim.seed),
                       ledger: ledger, board: board, executor: executor,
                       killSwitch: KillSwitch(dataDir: dataDir), logger: logger)
}

@Suite struct CycleRunnerTests {
    @Test func theDecisionTimeIsTheOneTheCLITestsPin() {
        #expect(UTC.iso8601(decisionTime) == "2026-11-20T22:00:00Z")
        #expect(UTC.parse("2026-11-20T22:00:00Z") == decisionTime)
        #expect(UTC.parse("2026-11-20T23:00:00+01:00") == decisionTime)
        #expect(UTC.parse("2026-11-20") == decisionTime - 22 * 3_600)
        #expect(UTC.parse("20-11-2026") == nil)
        #expect(UTC.duration("24h") == 86_400)
        #expect(UTC.duration("1.5d") == 129_600)
        #expect(UTC.duration("soon") == nil)
    }

    /// Invariant 6: with the kill switch on, the cycle halts before any reviewer is consulted.
    @Test func killSwitchHaltsBeforeAnyReviewRuns() async throws {
        let data = Fixtures.tempDir()
        let calls = Counter()
        let runner = try makeRunner(dataDir: data, reviewers: ReviewerTier.allCases.map { CountingReviewer(tier: $0, calls: calls) })
        try runner.killSwitch.turnOn(reason: "test", at: decisionTime)
        let halted = await runner.run(at: decisionTime)
        #expect(halted.status == .halted)
        #expect(calls.count == 0)
        #expect(halted.proposalsGenerated == 0)

        try runner.killSwitch.turnOff()
        let resumed = await runner.run(at: decisionTime)
        #expect(resumed.proposalsGenerated > 0)
        #expect(calls.count == 3)  // one batched call per tier, whatever the number of proposals
    }

    /// Every payload the cycle records decodes and re-encodes to the same bytes: the ledger can always
    /// read back what it wrote (a field named with an acronym once broke this).
    @Test func everyRecordedPayloadRoundTrips() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.status == .approvedDryRun)
        let events = try runner.ledger!.events(cycleId: summary.cycleId)
        func same<T: Codable>(_ type: T.Type, _ e: LedgerEvent) throws {
            let value = try e.value(T.self)
            #expect(try JSONCoding.encoder().encode(value) == e.payload, "\(e.type) does not round-trip")
        }
        var seen = Set<String>()
        for e in events {
            seen.insert(e.type)
            switch e.type {
            case "cycle_started": try same(CycleStart.self, e)
            case "regime": try same(RegimeReading.self, e)
            case "universe": try same(UniverseResult.self, e)
            case "triggers": try same(TriggerScan.self, e)
            case "proposal": try same(Proposal.self, e)
            case "review": try same(TierRecord.self, e)
            case "policy_evaluation": try same(Decision.self, e)
            case "order_intent", "order_result": try same(OrderIntent.self, e)
            case "cycle_finished": try same(CycleSummary.self, e)
            case "cycle_inputs": try same(CycleInputs.self, e)
            case "shadow": try same(ShadowOutcome.self, e)
            default: Issue.record("unexpected event \(e.type)")
            }
        }
        #expect(seen == ["cycle_started", "regime", "universe", "triggers", "proposal", "review", "policy_evaluation",
                         "order_intent", "order_result", "cycle_finished", "cycle_inputs", "shadow"])
    }

    /// Invariant 8: the order intent is recorded before the order, with an id derived from cycle and proposal.
    @Test func orderIntentsPrecedeResultsWithDeterministicIds() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data)
        let summary = await runner.run(at: decisionTime)
        let events = try runner.ledger!.events(cycleId: summary.cycleId)
        let intents = events.filter { $0.type == "order_intent" }
        #expect(!intents.isEmpty)
        for intent in intents {
            let order = try intent.value(OrderIntent.self)
            #expect(order.clientOrderId == ClientOrderId.make(cycleId: summary.cycleId, proposalId: order.proposalId))
            let result = events.first { $0.type == "order_result" && (try? $0.value(OrderIntent.self).clientOrderId) == order.clientOrderId }
            #expect((result?.seq ?? 0) > intent.seq)
        }
        #expect(summary.dryRunOrders.count == summary.proposalsApproved)
        #expect(summary.executedTrades.isEmpty)
    }

    /// DRY_RUN orders count for the frequency checks of later cycles (not for positions).
    @Test func dryRunOrdersCountTowardsCooldowns() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data)
        let first = await runner.run(at: decisionTime)
        #expect(first.proposalsApproved > 0)
        let second = await runner.run(at: decisionTime + 60)
        #expect(second.proposalsApproved == 0)
        #expect(second.violatedChecks.contains("min_seconds_between_trades"))
        #expect(second.violatedChecks.contains("per_symbol_cooldown"))
        #expect(second.portfolio.openPositions == 0)
    }

    @Test func clientOrderIdsFitTheVenuesPatterns() {
        let id = ClientOrderId.make(cycleId: "c-20261120T220000Z-7f3a", proposalId: "p12")
        #expect(id == "ag-20261120T220000Z-7f3a-p12")
        let long = ClientOrderId.make(cycleId: "c-" + String(repeating: "x", count: 60), proposalId: "p1")
        #expect(long.count <= 36)
        #expect(long == ClientOrderId.make(cycleId: "c-" + String(repeating: "x", count: 60), proposalId: "p1"))
        #expect(long != ClientOrderId.make(cycleId: "c-" + String(repeating: "x", count: 60), proposalId: "p2"))
    }
}
