import Config
import Foundation
import HTTP
import Model
import Policy
@testable import Review
@testable import Risk
import TestSupport
import Testing

let fakeKey = "test-key-not-real"

/// A reviewer config pointing at the fake server.
func llmConfig(_ server: FakeLLMServer?, model: String = "gpt-4o-mini", maxTokens: Int = 512, timeout: Double = 5,
               provider: String = "openai") -> ReviewerConfig {
    ReviewerConfig(provider: provider, model: model, baseUrl: server?.baseURL ?? "http://127.0.0.1:9/v1", apiKeyEnv: "FAKE_KEY",
                   maxTokens: maxTokens, temperature: 0, timeoutSeconds: timeout, connectTimeoutSeconds: 2, maxAttempts: 3)
}

/// Fast retries for tests (real backoff shape, tiny delays).
func testTransport(_ config: ReviewerConfig) -> any HTTPTransport {
    RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(maxAttempts: config.maxAttempts, baseDelay: 0.01, maxDelay: 0.05,
                                                             retryOnTimeout: false))
}

func llmReviewer(_ tier: ReviewerTier, _ config: ReviewerConfig, kind: ProviderKind = .openai, loaded: LoadedConfig,
                 transport: (any HTTPTransport)? = nil, cache: Bool = false) -> LLMReviewer {
    LLMReviewer(tier: tier, kind: kind, config: config, prompt: loaded.prompt(tier) ?? loaded.prompts[0],
                cost: CostModel.make(kind: kind, model: config.model, baseURL: config.baseUrl, table: loaded.app.prices),
                cacheConfig: ReviewCacheConfig(enabled: cache, ttlMinutes: 30, roundDecimals: 2),
                apiKey: APIKey(fakeKey), transport: transport ?? testTransport(config))
}

let twoProposals = [proposal("p1", "BTC-USD"), proposal("p2", "ETH-USD", conviction: 0.7)]

/// One news item per proposal symbol, so M1 has something to read and makes its call.
func headlines(_ proposals: [Proposal], time: Int64) -> [NewsItem] {
    proposals.enumerated().map { i, p in
        NewsItem(id: String(format: "n-%016x", i + 1), source: "test", title: "\(p.symbol) headline", link: nil,
                 published: time - 600, symbols: [p.symbol])
    }
}

/// Runs a board of the given reviewers over `proposals` with a fresh budget (news: one headline per symbol).
func runBoard(_ reviewers: [any Reviewer], loaded: LoadedConfig, proposals: [Proposal] = twoProposals,
              history: [SpendEntry] = [], news: [NewsItem]? = nil, cache: ReviewCache? = nil, time: Int64 = 1_000_000,
              checkNames: [String] = []) async -> ReviewOutcome {
    let board = ReviewBoard(reviewers: reviewers, policy: loaded.policy, checkNames: checkNames)
    let spend = SpendGuard(budget: loaded.policy.aiBudget, now: time, history: history)
    return await board.run(ReviewContext(cycleId: "c-test", time: time, proposals: proposals,
                                         tape: proposals.map { tape($0.symbol) }, policy: loaded.policy,
                                         news: news ?? headlines(proposals, time: time), spend: spend, cache: cache))
}

@Suite struct LLMReviewerTests {
    @Test func openAIValidVerdictsAreAppliedAndRecordedWithoutTheKey() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, r.proposals.map { FakeLLM.verdict(tier: r.tier, id: $0.id, symbol: $0.symbol, delta: -0.05, reason: "thin") })
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.applied.map(\.delta) == [-0.05, -0.05])
        #expect(tier.answer.source == "llm" && tier.answer.provider == "openai")
        #expect(tier.answer.failure == nil)
        #expect(tier.violations.isEmpty)
        #expect(outcome.calls == 1)
        // Cost from the reported usage (900 in, 120 out) at gpt-4o-mini prices.
        #expect(abs(outcome.costUsd - (900 * 0.15 + 120 * 0.60) / 1e6) < 1e-12)
        #expect(tier.answer.promptHash == loaded.prompt(.m2)?.hash)
        #expect(tier.answer.request?.structuredOutput == "json_schema")
        #expect(tier.answer.request?.renderedPrompt.contains("p1 BTC-USD BUY") == true)

        let request = try #require(server.requests.first)
        #expect(request.pathWithoutQuery == "/v1/chat/completions")
        #expect(request.header("authorization") == "Bearer \(fakeKey)")
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        let format = try #require(body["response_format"] as? [String: Any])
        #expect(format["type"] as? String == "json_schema")
        #expect((format["json_schema"] as? [String: Any])?["strict"] as? Bool == true)
        #expect(body["max_tokens"] as? Int == 512)
        // The key never reaches the ledger record.
        let recorded = try JSONCoding.string(tier)
        #expect(!recorded.contains(fakeKey))
        #expect(recorded.contains("\"raw_answer\""))
    }

    @Test func anthropicUsesAForcedToolAndItsAnswerIsValidated() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, r.proposals.map { FakeLLM.verdict(tier: r.tier, id: $0.id, symbol: $0.symbol, veto: $0.id == "p2",
                                                               checks: $0.id == "p2" ? ["max_spread_bps"] : []) })
        }
        let outcome = await runBoard([llmReviewer(.m3, llmConfig(server, model: "claude-haiku-4-5", provider: "anthropic"),
                                                  kind: .anthropic, loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.applied.map(\.veto) == [false, true])
        #expect(tier.applied[1].violatedChecks == ["max_spread_bps"])
        #expect(tier.answer.request?.structuredOutput == "tool_use")
        let request = try #require(server.requests.first)
        #expect(request.pathWithoutQuery == "/v1/messages")
        #expect(request.header("x-api-key") == fakeKey)
        #expect(request.header("anthropic-version") == "2023-06-01")
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect((body["tool_choice"] as? [String: Any])?["name"] as? String == "m3_verdicts")
        #expect(abs(outcome.costUsd - (900 * 1.0 + 120 * 5.0) / 1e6) < 1e-12)
    }

    /// Invariant 2 over the wire: +/-0.9 is clamped to the policy bound and the clamp recorded.
    @Test func hugeDeltasAreClampedAndRecorded() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, [FakeLLM.verdict(tier: r.tier, id: "p1", symbol: "BTC-USD", delta: 0.9),
                              FakeLLM.verdict(tier: r.tier, id: "p2", symbol: "ETH-USD", delta: -0.9)])
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.applied.map(\.delta) == [0.15, -0.15])
        #expect(tier.applied.map(\.requestedDelta) == [0.9, -0.9])
        #expect(tier.violations.count == 2)
        #expect(tier.violations.allSatisfy { $0.detail.contains("clamped to ±0.15") })
    }

    /// Invariant 1 over the wire: verdicts for symbols or ids never proposed are dropped and recorded.
    @Test func verdictsForUnknownProposalsAndSymbolsAreDropped() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, [FakeLLM.verdict(tier: r.tier, id: "p1", symbol: "BTC-USD", delta: 0.05),
                              FakeLLM.verdict(tier: r.tier, id: "p7", symbol: "DOGE-USD", delta: 0.15),
                              FakeLLM.verdict(tier: r.tier, id: "p2", symbol: "PEPE-USD", delta: 0.1)])
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.applied.map(\.proposalId) == ["p1", "p2"])
        #expect(tier.applied.map(\.delta) == [0.05, 0])
        #expect(tier.applied[1].reason.contains("no verdict"))
        #expect(tier.violations.map(\.proposalId) == ["p7", "p2"])
        #expect(tier.violations[0].detail.contains("unknown proposal 'p7' (DOGE-USD)"))
        #expect(tier.violations[1].detail.contains("PEPE-USD"))
    }

    @Test func invalidJSONGetsOneRepairRetryThatCanSucceed() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            r.isRepair ? FakeLLM.valid(r, FakeLLM.neutral(r, delta: 0.02)) : FakeLLM.answer(r, content: "{\"verdicts\": [ oops")
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(server.requests.count == 2)
        #expect(tier.answer.failure == nil)
        #expect(tier.applied.map(\.delta) == [0.02, 0.02])
        #expect(tier.answer.calls?.map(\.attempt) == [1, 2])
        #expect(tier.answer.calls?.first?.problem?.contains("not valid JSON") == true)
        #expect(outcome.calls == 2)
    }

    /// Never a silent default: still invalid after the repair -> the tier's failure mode, with the reason.
    @Test func stillInvalidAfterRepairAppliesTheFailureMode() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.answer(r, content: #"{"verdicts": [{"proposal_id": "p1", "delta": "a lot"}]}"#)
        }
        let outcome = await runBoard([llmReviewer(.m1, llmConfig(server), loaded: loaded),
                                      llmReviewer(.m3, llmConfig(server), loaded: loaded)], loaded: loaded)
        #expect(server.requests.count == 4)  // two tiers, one repair each, no more
        let m1 = try #require(outcome.tiers.first { $0.reviewer == .m1 })
        let m3 = try #require(outcome.tiers.first { $0.reviewer == .m3 })
        #expect(m1.answer.failure?.contains("still invalid after one repair retry") == true)
        #expect(m1.answer.failure?.contains("schema") == true)
        #expect(m1.applied.allSatisfy { !$0.veto && $0.delta == 0 && $0.reason.contains("failure mode neutral") })
        #expect(m3.applied.allSatisfy { $0.veto && $0.reason.contains("failure mode veto") })
    }

    @Test func truncatedOutputIsInvalidAndSaysSo() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.answer(r, content: #"{"verdicts": [{"proposal_id": "p1", "sym"#, finish: "length", usage: (900, 512))
        }
        let outcome = await runBoard([llmReviewer(.m3, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(server.requests.count == 2)  // the retry asked for twice the max_tokens, and was cut too
        #expect(tier.answer.failure?.contains("truncated at max_tokens 512") == true)
        #expect(tier.answer.calls?.last?.problem?.contains("truncated at max_tokens 1024") == true)
        #expect(tier.applied.allSatisfy { $0.veto })
    }

    @Test func aRefusalIsAFailureWithoutARepair() async throws {
        let loaded = try Fixtures.defaults()
        for kind in [ProviderKind.openai, .anthropic] {
            let server = try FakeLLMServer { r in FakeLLM.answer(r, content: nil, refusal: "I can't help with trading.") }
            let config = llmConfig(server, model: kind == .openai ? "gpt-4o-mini" : "claude-haiku-4-5", provider: kind.rawValue)
            let outcome = await runBoard([llmReviewer(.m3, config, kind: kind, loaded: loaded)], loaded: loaded)
            let tier = try #require(outcome.tiers.first)
            #expect(server.requests.count == 1)
            #expect(tier.answer.failure?.contains("refused") == true)
            #expect(tier.applied.allSatisfy { $0.veto && $0.reason.contains("refused") })
        }
    }

    @Test func rateLimitedThenSuccessIsRetried() async throws {
        let loaded = try Fixtures.defaults()
        let count = CallCounter()
        let server = try FakeLLMServer { r in
            count.bump()
            return count.count == 1 ? FakeLLM.error(r, status: 429, message: "slow down").with(header: "Retry-After", "0")
                                    : FakeLLM.valid(r, FakeLLM.neutral(r))
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        #expect(server.requests.count == 2)
        #expect(outcome.tiers.first?.answer.failure == nil)
        #expect(outcome.calls == 1)  // one logical call; the 429 was not billed
    }

    @Test func aClientErrorIsNotRetried() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in FakeLLM.error(r, status: 400, message: "bad schema") }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
        #expect(server.requests.count == 1)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.answer.failure?.contains("HTTP 400: bad schema") == true)
        #expect(outcome.costUsd == 0)
    }

    /// A slow answer past the timeout fails the tier, and the call is counted at its worst case (it may be billed).
    @Test func aSlowAnswerTimesOutAndCountsTheWorstCase() async throws {
        let loaded = try Fixtures.defaults()
        // The server would answer after 20 s; the tier gives up at its 0.4 s timeout (no wall-clock assertion:
        // the failure reason proves it, whatever the machine's load).
        let server = try FakeLLMServer { r in FakeLLM.valid(r, FakeLLM.neutral(r)).delayed(by: 20) }
        let outcome = await runBoard([llmReviewer(.m3, llmConfig(server, timeout: 0.4), loaded: loaded)], loaded: loaded)
        server.stop()
        #expect(server.requests.count == 1)  // timeouts are not retried: the call may have been billed
        let tier = try #require(outcome.tiers.first)
        #expect(tier.answer.failure?.contains("timed out") == true)
        #expect(tier.applied.allSatisfy { $0.veto })
        let call = try #require(tier.answer.calls?.first)
        #expect(call.costUsd == call.worstCaseUsd)
        #expect(call.costUsd > 0)
    }

    /// Missing, zero or enormous usage counts the call at its worst case (item 2: zero used to count a floor).
    @Test func missingZeroOrEnormousUsageIsCountedSanely() async throws {
        let loaded = try Fixtures.defaults()
        let cases: [((input: Double, output: Double)?, String)] = [(nil, "missing"), ((0, 0), "below the floor"),
                                                                  ((1e13, 1e13), "above the possible maximum")]
        for (usage, note) in cases {
            let server = try FakeLLMServer { r in FakeLLM.valid(r, FakeLLM.neutral(r), usage: usage) }
            let outcome = await runBoard([llmReviewer(.m2, llmConfig(server), loaded: loaded)], loaded: loaded)
            let call = try #require(outcome.tiers.first?.answer.calls?.first)
            #expect(call.usageNote?.contains(note) == true, "\(note)")
            #expect(call.costUsd > 0)
            #expect(call.costUsd <= call.worstCaseUsd + 1e-12)
            #expect(abs(call.costUsd - call.worstCaseUsd) < 1e-12)
        }
    }

    @Test func m1MustCiteGivenNewsForAPositiveDelta() async throws {
        let loaded = try Fixtures.defaults()
        let items = [NewsItem(id: "n-00000000000000aa", source: "wire", title: "Bitcoin ETF inflows", link: nil,
                              published: 1_000_000 - 600, symbols: ["BTC-USD"]),
                     NewsItem(id: "n-00000000000000bb", source: "wire", title: "Ether upgrade", link: nil,
                              published: 1_000_000 - 600, symbols: ["ETH-USD"])]
        let three = twoProposals + [proposal("p3", "SOL-USD")]
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, [
                FakeLLM.verdict(tier: "M1", id: "p1", symbol: "BTC-USD", delta: 0.1, cited: ["n-00000000000000aa"]),
                FakeLLM.verdict(tier: "M1", id: "p2", symbol: "ETH-USD", delta: 0.1, cited: ["n-00000000000000aa"]), // not given for p2
                FakeLLM.verdict(tier: "M1", id: "p3", symbol: "SOL-USD", delta: 0.1, cited: []),
            ])
        }
        let outcome = await runBoard([llmReviewer(.m1, llmConfig(server), loaded: loaded)], loaded: loaded, proposals: three, news: items)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.answer.request?.newsIds == ["p1": ["n-00000000000000aa"], "p2": ["n-00000000000000bb"], "p3": []])
        #expect(server.requests.first?.text.contains("n-00000000000000aa") == true)
        #expect(tier.applied.map(\.delta) == [0.1, 0, 0])
        #expect(tier.violations.contains { $0.proposalId == "p2" && $0.detail.contains("unsupported claim") })
        #expect(tier.violations.contains { $0.proposalId == "p3" && $0.detail.contains("cites no news item") })
    }

    @Test func highNewsRiskBlocksEntriesThenDecays() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in
            FakeLLM.valid(r, r.proposals.map { FakeLLM.verdict(tier: "M1", id: $0.id, symbol: $0.symbol,
                                                               risk: $0.symbol == "BTC-USD" ? "HIGH" : "LOW") })
        }
        let outcome = await runBoard([llmReviewer(.m1, llmConfig(server), loaded: loaded)], loaded: loaded)
        let tier = try #require(outcome.tiers.first)
        #expect(tier.applied.map(\.veto) == [true, false])
        #expect(tier.applied[0].reason.contains("news risk HIGH on BTC-USD"))
        #expect(tier.newsRiskRated == ["BTC-USD": .high, "ETH-USD": .low])

        // Decay of an earlier flag (6h HIGH, then 12h MEDIUM, then LOW), applied by the offline M1 too.
        let policy = loaded.policy.reviewers.newsRisk
        let flag = NewsRiskFlag(symbol: "ETH-USD", level: .high, time: 0)
        #expect(NewsRiskDecay.level(of: flag, at: 5 * 3_600, policy: policy) == .high)
        #expect(NewsRiskDecay.level(of: flag, at: 7 * 3_600, policy: policy) == .medium)
        #expect(NewsRiskDecay.level(of: flag, at: 19 * 3_600, policy: policy) == .low)
        let board = ReviewBoard.offline(policy: loaded.policy)
        let within = await board.run(ReviewContext(cycleId: "c", time: 5 * 3_600, proposals: twoProposals,
                                                   tape: twoProposals.map { tape($0.symbol) }, policy: loaded.policy),
                                     newsRiskHistory: [flag])
        #expect(within.tiers[0].applied.map(\.veto) == [false, true])
        let after = await board.run(ReviewContext(cycleId: "c", time: 7 * 3_600, proposals: twoProposals,
                                                  tape: twoProposals.map { tape($0.symbol) }, policy: loaded.policy),
                                    newsRiskHistory: [flag])
        #expect(after.tiers[0].applied.map(\.veto) == [false, false])
        #expect(after.tiers[0].newsRiskEffective?["ETH-USD"] == .medium)
    }

    @Test func aCacheHitCostsNothingAndIsMarked() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in FakeLLM.valid(r, FakeLLM.neutral(r, delta: 0.01)) }
        let cache = ReviewCache()
        let reviewers: [any Reviewer] = [llmReviewer(.m2, llmConfig(server), loaded: loaded, cache: true)]
        let first = await runBoard(reviewers, loaded: loaded, cache: cache)
        let second = await runBoard(reviewers, loaded: loaded, cache: cache, time: 1_000_060)
        #expect(server.requests.count == 1)
        #expect(first.calls == 1 && first.cacheHits == 0)
        #expect(second.calls == 0 && second.cacheHits == 1 && second.costUsd == 0)
        #expect(second.tiers[0].answer.source == "cache")
        #expect(second.tiers[0].answer.cachedFrom == "c-test")
        #expect(second.tiers[0].applied.map(\.delta) == [0.01, 0.01])
        // Changed facts (conviction beyond the rounding) miss; expired entries miss.
        let moved = [proposal("p1", "BTC-USD", conviction: 0.65), proposal("p2", "ETH-USD", conviction: 0.7)]
        _ = await runBoard(reviewers, loaded: loaded, proposals: moved, cache: cache, time: 1_000_120)
        #expect(server.requests.count == 2)
        _ = await runBoard(reviewers, loaded: loaded, cache: cache, time: 1_000_000 + 31 * 60)
        #expect(server.requests.count == 3)
    }

    @Test func noProposalsMeansNoCalls() async throws {
        let loaded = try Fixtures.defaults()
        let server = try FakeLLMServer { r in FakeLLM.valid(r, FakeLLM.neutral(r)) }
        let outcome = await runBoard(ReviewerTier.allCases.map { llmReviewer($0, llmConfig(server), loaded: loaded) },
                                     loaded: loaded, proposals: [])
        #expect(outcome.calls == 0)
        #expect(server.requests.isEmpty)
    }

    @Test func theBoardIsBuiltFromConfigAndNeedsTheKeyVariable() throws {
        let loaded = try Fixtures.defaults(["app.reviewers.m1.provider=openai", "app.reviewers.m1.model=gpt-4o-mini",
                                            "app.reviewers.m1.api_key_env=FAKE_KEY",
                                            "app.reviewers.m3.provider=openai_compatible", "app.reviewers.m3.model=llama3"])
        #expect(throws: ReviewSetupError.self) { try ReviewBoard.make(config: loaded, keys: ReviewerKeys()) }
        let board = try ReviewBoard.make(config: loaded, keys: ReviewerKeys([.m1: APIKey(fakeKey)]))
        #expect(board.reviewers.map { ($0 as? LLMReviewer)?.kind } == [.openai, nil, .openaiCompatible])
        #expect(board.hasPaidReviewers)
        #expect(!"\(board)".contains(fakeKey))
        // A paid provider without a price, or without a key variable, is a config error with its position.
        #expect(throws: ConfigDiagnostics.self) { try Fixtures.defaults(["app.reviewers.m2.provider=openai", "app.reviewers.m2.model=gpt-9"]) }
        #expect(throws: ConfigDiagnostics.self) { try Fixtures.defaults(["app.reviewers.m2.provider=anthropic", "app.reviewers.m2.model=claude-haiku-4-5"]) }
    }
}
