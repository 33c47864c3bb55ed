@testable import Agent
import Config
@testable import Engine
import Foundation
import HTTP
import Ledger
import Logging
import Model
@testable import Review
import TestSupport
import Testing

@Suite struct ReviewerSecretsTests {
    /// Item 1, as it was tried: `--set app.reviewers.m1.api_key_env=BINANCE_API_SECRET` with a base_url sent the
    /// Binance secret as the bearer token. Now it exits 2 before anything runs: no request, no ledger.
    @Test func aVenueSecretAsAReviewerKeyExitsTwoBeforeAnythingRuns() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer { FakeLLM.valid($0, FakeLLM.neutral($0)) }
        defer { server.stop() }
        let secret = "fake-binance-secret-0123456789"
        let out = try await AgentProcess.run(["--once", "--now", "2026-11-20T22:00:00Z"] + AgentProcess.common(dataDir: data) + [
            "--set", "app.reviewers.m1.provider=openai", "--set", "app.reviewers.m1.model=gpt-4o-mini",
            "--set", "app.reviewers.m1.api_key_env=BINANCE_API_SECRET", "--set", "app.reviewers.m1.base_url=\(server.baseURL)",
        ], environment: ["BINANCE_API_SECRET": secret, "PATH": "/usr/bin:/bin"])
        #expect(out.status == 2, "\(out.stderr)")
        #expect(out.stderr.contains("api_key_env") && out.stderr.contains("venue credential"))
        #expect(!out.stderr.contains(secret) && !out.stdout.contains(secret))
        #expect(server.requests.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: data + "/agent.sqlite"))
    }

    /// The composition root refuses every way a venue secret could reach a reviewer, naming the setting only.
    /// Even a tier that sends nothing (offline) may not name a venue credential: the refusal holds for any provider.
    @Test func anOfflineTierNamingAVenueCredentialIsRefusedToo() {
        #expect(throws: (any Error).self) { try Fixtures.defaults(["app.reviewers.m1.api_key_env=BINANCE_API_SECRET"]) }
        #expect(throws: (any Error).self) { try Fixtures.defaults(["app.reviewers.m3.api_key_env=COINBASE_API_PRIVATE_KEY"]) }
    }

    @Test func theCompositionRootRefusesVenueSecretsInAnyForm() throws {
        let secret = "fake-coinbase-private-key-0123456789"
        let environment = ["COINBASE_API_PRIVATE_KEY": secret, "COPIED_KEY": secret, "OPENAI_KEY": "sk-test-not-real-0001"]
        let cases: [[String]] = [
            ["app.reviewers.m2.api_key_env=COPIED_KEY"],                                   // same value under another name
            ["app.reviewers.m2.api_key_env=OPENAI_KEY", "app.reviewers.m2.base_url=https://x.example/\(secret)"],  // as ${VAR} would fill it
        ]
        for extra in cases {
            let config = try Fixtures.defaults(["app.reviewers.m2.provider=openai", "app.reviewers.m2.model=gpt-4o-mini"] + extra)
            do {
                _ = try ReviewSetup.keys(config, environment: environment)
                Issue.record("\(extra) was accepted")
            } catch let error as CLIError {
                #expect(error.exitCode == 2)
                #expect(error.description.contains("venue credential") && !error.description.contains(secret))
            }
        }
        // A LoadedConfig that skipped validation is still refused at the root (defence in depth).
        var unchecked = try Fixtures.defaults(["app.reviewers.m2.provider=openai", "app.reviewers.m2.model=gpt-4o-mini",
                                               "app.reviewers.m2.api_key_env=OPENAI_KEY"])
        unchecked.app.reviewers.m2.apiKeyEnv = "COINBASE_API_PRIVATE_KEY"
        #expect(throws: CLIError.self) { try ReviewSetup.keys(unchecked, environment: environment) }
        unchecked.app.reviewers.m2.apiKeyEnv = "OPENAI_KEY"
        unchecked.app.reviewers.m2.baseUrl = "http://llm.example.com/v1"
        #expect(throws: CLIError.self) { try ReviewSetup.keys(unchecked, environment: environment) }
    }

    /// Each reviewer is handed only its own key: M1's server sees M1's key and never M2's, and the other way round.
    @Test func eachReviewerGetsOnlyItsOwnKey() async throws {
        let data = Fixtures.tempDir()
        let server = try FakeLLMServer { FakeLLM.valid($0, FakeLLM.neutral($0)) }
        defer { server.stop() }
        var runner = try makeRunner(dataDir: data, overrides: llmOverrides(server) + [
            "app.reviewers.m2.api_key_env=M2_KEY", "app.reviewers.m3.api_key_env=M3_KEY"])
        let keys = try ReviewSetup.keys(runner.config, environment: ["FAKE_LLM_KEY": "key-of-m1-not-real", "M2_KEY": "key-of-m2-not-real",
                                                                     "M3_KEY": "key-of-m3-not-real", "BINANCE_API_SECRET": "venue-secret-not-real"])
        runner.board = try ReviewBoard.make(config: runner.config, keys: keys)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.proposalsGenerated > 0)
        let seen = server.requests.compactMap { r -> (String, String)? in
            guard let auth = r.header("authorization") else { return nil }
            let tier = String(decoding: r.body, as: UTF8.self).contains("m2_verdicts") ? "M2" : "M3"
            return (tier, auth)
        }
        #expect(seen.count == 2)  // M1 had no news: no call
        for (tier, auth) in seen { #expect(auth == "Bearer key-of-\(tier.lowercased())-not-real") }
        #expect(!server.requests.contains { String(decoding: $0.body, as: UTF8.self).contains("venue-secret") })
    }

    /// Item 6: the history kept across cycles equals a full rebuild at every cycle, including decision times
    /// that go backwards (a rebuild) and events recorded for a later time (not counted until then).
    @Test func theIncrementalReviewHistoryEqualsAFullRebuild() throws {
        let data = Fixtures.tempDir()
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let policy = try Fixtures.defaults().policy.reviewers.newsRisk
        let t0: Int64 = 1_790_000_000
        func record(_ i: Int, at time: Int64) throws {
            let call = CallRecord(attempt: 1, status: 200, finishReason: "stop", rawAnswer: "{}", reportedUsage: nil, inputTokens: 10,
                                  outputTokens: 10, costUsd: 0.01, worstCaseUsd: 0.02, usageNote: nil, problem: nil, elapsedMs: 1)
            let answer = ReviewerAnswer(verdicts: [], source: "llm", model: "m", calls: [call], cacheKey: "rk-\(i % 7)")
            let tier = TierRecord(reviewer: .m1, answer: answer, applied: [], violations: [],
                                  newsRiskRated: i % 5 == 0 ? ["BTC-USD": .high] : nil)
            try ledger.append(NewEvent.json("c-\(i)", "review", time, tier))
        }
        var times: [Int64] = []
        for i in 0..<120 {
            let now = t0 + Int64(i) * 1_200 - (i == 60 ? 50_000 : 0)
            times.append(now)
            try record(i, at: now)
            if i % 10 == 3 { try record(1_000 + i, at: now + 7_200) }  // recorded for a later decision time
            let kept = try ReviewHistory.load(ledger: ledger, now: now, ttlMinutes: 30, policy: policy)
            let full = try ReviewHistory.rebuild(store: ledger, now: now, ttlMinutes: 30, policy: policy)
            #expect(kept.spend == full.spend, "cycle \(i)")
            #expect(kept.cache == full.cache, "cycle \(i)")
            #expect(kept.newsRisk == full.newsRisk, "cycle \(i)")
        }
        #expect(times.count == 120)
    }

    /// Item 13: after a slow cycle, the interval loop skips the slots it missed instead of running them in a burst.
    @Test func missedIntervalSlotsAreSkippedAndRecorded() throws {
        let schedule = IntervalSchedule(intervalSeconds: 60)
        #expect(schedule.nextSlot(after: 0, elapsedSeconds: 10) == 1)     // on time
        #expect(schedule.nextSlot(after: 0, elapsedSeconds: 59.9) == 1)
        #expect(schedule.nextSlot(after: 0, elapsedSeconds: 545) == 10)   // ran 9 minutes: slots 1-9 are gone
        #expect(schedule.nextSlot(after: 4, elapsedSeconds: 250) == 5)
        let data = Fixtures.tempDir()
        let ledger = try Ledger(path: data + "/agent.sqlite")
        var log = Logger(label: "test")
        log.logLevel = .critical
        try schedule.recordSkipped(1..<10, from: decisionTime, store: ledger, log: log)
        let event = try #require(try ledger.events(types: ["slots_skipped"]).first)
        let note = try event.value(IntervalSchedule.Skipped.self)
        #expect(note.skipped == 9)
        #expect(note.firstSlot == UTC.iso8601(decisionTime + 60) && note.lastSlot == UTC.iso8601(decisionTime + 540))
    }
}
