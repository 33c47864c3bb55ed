@testable import Agent
import Config
@testable import Engine
import Foundation
import HTTP
import Ledger
import Model
@testable import Review
import TestSupport
import Testing

/// Overrides that put every tier on `openai` (gpt-4o-mini) at the fake server.
func llmOverrides(_ server: FakeLLMServer, extra: [String] = []) -> [String] {
    ["m1", "m2", "m3"].flatMap { t in
        ["app.reviewers.\(t).provider=openai", "app.reviewers.\(t).model=gpt-4o-mini",
         "app.reviewers.\(t).api_key_env=FAKE_LLM_KEY", "app.reviewers.\(t).base_url=\(server.baseURL)",
         "app.reviewers.\(t).max_tokens=256"]
    } + extra
}

/// A runner whose board talks to the fake server over libcurl.
func llmRunner(dataDir: String, server: FakeLLMServer, extra: [String] = []) throws -> CycleRunner {
    var runner = try makeRunner(dataDir: dataDir, overrides: llmOverrides(server, extra: extra))
    runner.board = try ReviewBoard.make(config: runner.config,
                                        keys: try ReviewSetup.keys(runner.config, environment: ["FAKE_LLM_KEY": "test-key-not-real"])) { config in
        RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.02, retryOnTimeout: false))
    }
    return runner
}

/// M2 trims every proposal a little; M3 vetoes the second proposal with a check it believes violated.
let opinionated: @Sendable (FakeLLMRequest) -> StubResponse = { r in
    switch r.tier {
    case "M2":
        return FakeLLM.valid(r, r.proposals.map { FakeLLM.verdict(tier: "M2", id: $0.id, symbol: $0.symbol, delta: -0.04, reason: "wide-ish") })
    case "M3":
        return FakeLLM.valid(r, r.proposals.enumerated().map { i, p in
            FakeLLM.verdict(tier: "M3", id: p.id, symbol: p.symbol, veto: i == 1, reason: i == 1 ? "too crowded" : "ok",
                            checks: i == 1 ? ["max_open_positions"] : [])
        })
    default:
        return FakeLLM.valid(r, FakeLLM.neutral(r))
    }
}

@Suite struct ReviewTierTests {
    /// Three batched calls for the whole cycle, recorded with prompt hash, provider, tokens and cost; the
    /// shadow rules-only outcome is recorded; M3's checks are reported next to the policy's.
    @Test func aCycleMakesAtMostThreeCallsAndRecordsEverything() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        let runner = try llmRunner(dataDir: data, server: server)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.proposalsGenerated >= 2)
        // No news feed is configured: M1 has nothing to read and makes no call.
        #expect(server.requests.count == 2)
        #expect(summary.review.calls == 2)
        #expect(summary.review.sources == ["M1": "no_news", "M2": "llm", "M3": "llm"])
        #expect(summary.review.providers == ["M1": "openai", "M2": "openai", "M3": "openai"])
        #expect(summary.review.costUsd > 0 && summary.review.inputTokens == 1_800 && summary.review.outputTokens == 240)
        #expect(summary.review.remaining?.callsLastHour == 2)
        #expect(summary.review.shadow?.blocked ?? 0 >= 1)
        let vetoed = try #require(summary.decisions.dropFirst().first)
        #expect(!vetoed.approved)
        #expect(vetoed.reviewerViolatedChecks == ["max_open_positions"])
        #expect(!vetoed.violatedChecks.contains("max_open_positions"))  // the policy's own checks stay its own

        let events = try runner.ledger!.events(cycleId: summary.cycleId)
        let tiers = try events.filter { $0.type == "review" }.map { try $0.value(TierRecord.self) }
        #expect(tiers.map(\.reviewer) == [.m1, .m2, .m3])
        for t in tiers {
            #expect(t.answer.provider == "openai" && t.answer.model == "gpt-4o-mini")
            #expect(t.answer.promptHash == runner.config.prompt(t.reviewer)?.hash)
            #expect(t.answer.request?.maxTokens == 256)
            if t.reviewer == .m1 { continue }
            #expect(t.answer.rawAnswer?.contains("verdicts") == true)
            #expect(t.answer.calls?.first?.reportedUsage == ReportedUsage(inputTokens: 900, outputTokens: 120))
        }
        let shadow = try #require(try events.first { $0.type == "shadow" }?.value(ShadowOutcome.self))
        #expect(shadow.entries.count == summary.proposalsGenerated)
        #expect(shadow.entries.contains { $0.effect == "blocked" && $0.proposalId == vetoed.proposalId })
        let ledgerText = events.map { String(decoding: $0.payload, as: UTF8.self) }.joined()
        #expect(!ledgerText.contains("test-key-not-real"))

        let audit = try Auditor.report(ledger: runner.ledger!, since: nil, check: nil)
        #expect(audit.shadow.blocked >= 1)
        #expect(audit.aiCalls == 2)
        #expect(Auditor.text(audit, check: nil).contains("AI tier vs rules only"))
    }

    /// Record against the fake server, stop it, replay: the same decisions and violated checks, no network.
    /// A changed policy shows up field by field.
    @Test func replayReproducesARecordedCycleWithoutTheServer() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        let runner = try llmRunner(dataDir: data, server: server)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.review.calls == 2)
        server.stop()
        let requestsBefore = server.requests.count

        let report = try await Replayer.replay(cycleId: summary.cycleId, ledger: runner.ledger!, config: runner.config)
        #expect(report.matches, "\(report.differences)")
        #expect(report.decisionsCompared == summary.proposalsGenerated)
        #expect(report.violatedChecksReplayed == summary.violatedChecks)
        #expect(report.source == "replay")
        #expect(server.requests.count == requestsBefore)

        let stricter = try Fixtures.defaults(llmOverrides(server, extra: ["policy.risk.min_combined_conviction=0.99"]))
        let changed = try await Replayer.replay(cycleId: summary.cycleId, ledger: runner.ledger!, config: stricter)
        #expect(!changed.matches)
        #expect(changed.differences.contains { $0.field.hasSuffix(".approved") && $0.recorded == "true" && $0.replayed == "false" })
        #expect(changed.differences.contains { $0.field == "violated_checks" })
        #expect(changed.policyHashNote != nil)
    }

    /// Hour and day windows are rebuilt from the ledger: a new runner (a restart) still sees the calls.
    @Test func spendWindowsSurviveARestart() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        let extra = ["policy.ai_budget.max_calls_per_hour=3", "app.review_cache.enabled=false"]
        let first = await (try llmRunner(dataDir: data, server: server, extra: extra)).run(at: decisionTime)
        #expect(first.review.calls == 2)  // M2 and M3 (M1 has no news)
        let restarted = try llmRunner(dataDir: data, server: server, extra: extra)
        let second = await restarted.run(at: decisionTime + 600)
        #expect(second.review.calls == 1)
        #expect(second.review.fallback == "skip")
        #expect(second.review.m3OnSkip == "veto")
        #expect(server.requests.count == 3)
        #expect(second.review.remaining?.callsRemainingThisHour == 0)
        // An hour later the window has rolled.
        let later = await restarted.run(at: decisionTime + 600 + 3_601)
        #expect(later.review.calls == 2 || later.proposalsGenerated == 0)
    }

    /// The cache survives restarts too (seeded from the ledger) and a hit is marked `cache`.
    @Test func cachedReviewsAreReusedAcrossRuns() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        _ = await (try llmRunner(dataDir: data, server: server)).run(at: decisionTime)
        #expect(server.requests.count == 2)
        // Same decision inputs (the sim market at the same hour), a new process: served from the cache.
        let again = await (try llmRunner(dataDir: data, server: server)).run(at: decisionTime)
        #expect(again.proposalsGenerated > 0)
        if again.proposalsGenerated > 0 {
            #expect(server.requests.count == 2)
            #expect(again.review.cacheHits == 2 && again.review.calls == 0 && again.review.costUsd == 0)
            #expect(again.review.sources == ["M1": "no_news", "M2": "cache", "M3": "cache"])
        }
    }

    /// Invariant 6: kill switch on -> no call reaches the provider.
    @Test func theKillSwitchStopsPaidCalls() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer(opinionated)
        let runner = try llmRunner(dataDir: data, server: server)
        try runner.killSwitch.turnOn(reason: "test", at: decisionTime)
        let halted = await runner.run(at: decisionTime)
        #expect(halted.status == .halted)
        #expect(server.requests.isEmpty)
    }

    /// News for M1 from a feed on the loopback server: items stored, tagged, given to M1 with ids.
    @Test func m1GetsTaggedNewsFromAnAllowListedFeed() async throws {
        let data = Fixtures.tempDir()
        let published = "Fri, 20 Nov 2026 21:00:00 GMT"
        let rss = """
        <?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
        <item><title>Solana and Bitcoin rally on ETF news</title><guid>a1</guid><pubDate>\(published)</pubDate></item>
        <item><title>Ethereum developers schedule upgrade</title><guid>a2</guid><pubDate>\(published)</pubDate></item>
        </channel></rss>
        """
        let feed = try LoopbackHTTPServer { _ in .text(rss).with(header: "Content-Type", "application/rss+xml") }
        let llm = try FakeLLMServer(opinionated)
        var runner = try llmRunner(dataDir: data, server: llm)
        var config = runner.config
        config.app.news.feeds = [NewsFeedConfig(name: "wire", url: "\(feed.baseURL)/rss")]
        runner.newsSource = NewsIngest.make(config: config, transport: CurlHTTPClient())
        #expect(runner.newsSource != nil)
        let summary = await runner.run(at: decisionTime)
        #expect(feed.requests.count == 1)
        let items = try runner.ledger!.events(types: ["news_item"]).map { try $0.value(NewsItem.self) }
        #expect(items.count == 2)
        #expect(items.first { $0.title.hasPrefix("Solana") }?.symbols.contains("BTC-USD") == true)
        let m1 = try runner.ledger!.events(cycleId: summary.cycleId).filter { $0.type == "review" }
            .map { try $0.value(TierRecord.self) }.first { $0.reviewer == .m1 }
        let given = m1?.answer.request?.newsIds.values.flatMap { $0 } ?? []
        let proposed = Set(summary.baseTrades.map(\.symbol))
        // Only items tagged with a proposed symbol are given.
        #expect(Set(given).isSubset(of: Set(items.filter { !Set($0.symbols).isDisjoint(with: proposed) }.map(\.id))))
        // A second cycle within the poll interval does not fetch again.
        _ = await runner.run(at: decisionTime + 60)
        #expect(feed.requests.count == 1)
    }
}
