import Config
import Foundation
import HTTP
import Model
import TestSupport
import Testing
@testable import Review

/// Records every request a stub transport receives (bodies and when each started and ended).
final class RequestLog: @unchecked Sendable {
    struct Entry {
        var request: HTTPRequest
        var started: ContinuousClock.Instant
        var ended: ContinuousClock.Instant?
    }
    private let lock = NSLock()
    private var entries: [Entry] = []

    func begin(_ r: HTTPRequest) -> Int {
        lock.withLock {
            entries.append(Entry(request: r, started: ContinuousClock.now))
            return entries.count - 1
        }
    }
    func end(_ i: Int) { lock.withLock { entries[i].ended = ContinuousClock.now } }
    var all: [Entry] { lock.withLock { entries } }
    var bodies: [String] { all.map { String(decoding: $0.request.body ?? Data(), as: UTF8.self) } }
}

/// A transport answering in-process after `delay`, with the answer chosen per request.
struct LoggingTransport: HTTPTransport {
    let log: RequestLog
    var delay: Double = 0
    let reply: @Sendable (HTTPRequest) -> HTTPResponse
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let i = log.begin(request)
        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1_000))) }
        log.end(i)
        return reply(request)
    }
}

/// A thread-safe flag.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    var value: Bool { lock.withLock { set } }
    func raise() { lock.withLock { set = true } }
}

/// M1's answer waits (up to 5 s) for M2's request to arrive; every other request is answered at once.
struct WaitingTransport: HTTPTransport {
    let log: RequestLog
    let sawM2WhileM1Waited = Flag()
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let i = log.begin(request)
        if tierOf(request) == "M1" {
            for _ in 0..<500 {
                if log.all.contains(where: { tierOf($0.request) == "M2" }) {
                    sawM2WhileM1Waited.raise()
                    break
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        log.end(i)
        return neutralAnswer(request)
    }
}

/// The tier a request is for, from its schema name.
func tierOf(_ request: HTTPRequest) -> String {
    let body = String(decoding: request.body ?? Data(), as: UTF8.self)
    for t in ["m1", "m2", "m3"] where body.contains("\"\(t)_verdicts\"") { return t.uppercased() }
    return "?"
}

/// A valid neutral OpenAI answer for every proposal id named in the request's schema enum.
func neutralAnswer(_ request: HTTPRequest, usage: (Int, Int)? = (900, 120), finish: String = "stop") -> HTTPResponse {
    let tier = tierOf(request)
    let ids = ["p1", "p2", "p3"].filter { String(decoding: request.body ?? Data(), as: UTF8.self).contains("- \($0) ") }
    let symbols = ["p1": "BTC-USD", "p2": "ETH-USD", "p3": "SOL-USD"]
    let verdicts = ids.map { FakeLLM.verdict(tier: tier, id: $0, symbol: symbols[$0] ?? "", reason: "ok") }
    return HTTPResponse(status: 200, body: openAIBody(FakeLLM.verdictsText(verdicts), finish: finish, usage: usage))
}

@Suite struct ReviewerHardeningTests {
    // MARK: Items 2 and 3: usage that lies never stretches a cap

    /// One reviewer tier driven cycle after cycle for 26 hours (every 15 minutes) against a $0.25/day cap, with
    /// the spend of each cycle carried into the next one's windows. Returns the calls made and the spend counted.
    func schedule(usage: @escaping @Sendable (Int) -> ReportedUsage?, provider: String = "openai", model: String = "claude-sonnet-4",
                  baseURL: String = "https://llm.example.com/v1", dayCap: Double = 0.25, cycleCap: Double = 2,
                  seed: UInt64 = 1) async throws -> (calls: Int, history: [SpendEntry]) {
        let loaded = try Fixtures.defaults(["policy.ai_budget.max_cost_per_day_usd=\(dayCap)",
                                            "policy.ai_budget.max_cost_per_cycle_usd=\(cycleCap)",
                                            "policy.ai_budget.max_calls_per_hour=1000"])
        var config = llmConfig(nil, model: model, maxTokens: 512, provider: provider)
        config.baseUrl = baseURL
        let kind = try #require(ProviderKind(rawValue: provider))
        let counter = RequestLog()
        let transport = LoggingTransport(log: counter) { request in
            let n = counter.all.count
            let u = usage(n)
            let anthropic = kind == .anthropic
            var body: [String: Any] = anthropic
                ? ["content": [["type": "tool_use", "id": "t", "name": "m2_verdicts", "input": ["verdicts": [Any]()]]],
                   "stop_reason": "tool_use"]
                : ["choices": [["message": ["role": "assistant", "content": #"{"verdicts": []}"#], "finish_reason": "stop"]]]
            if let u {
                var fields: [String: Any] = [:]
                if let i = u.inputTokens { fields[anthropic ? "input_tokens" : "prompt_tokens"] = i }
                if let o = u.outputTokens { fields[anthropic ? "output_tokens" : "completion_tokens"] = o }
                body["usage"] = fields
            }
            return HTTPResponse(status: 200, body: (try? JSONSerialization.data(withJSONObject: body)) ?? Data())
        }
        let reviewer = llmReviewer(.m2, config, kind: kind, loaded: loaded, transport: transport)
        var history: [SpendEntry] = []
        var calls = 0
        for cycle in 0..<(26 * 4) {
            let now: Int64 = 1_000_000 + Int64(cycle) * 900
            let outcome = await runBoard([reviewer], loaded: loaded, history: history, time: now)
            calls += outcome.calls
            if outcome.calls > 0 { history.append(SpendEntry(time: now, costUsd: outcome.costUsd, calls: outcome.calls)) }
        }
        return (calls, history)
    }

    /// The most counted in any rolling 24 hours of `history`.
    func maxDaySpend(_ history: [SpendEntry]) -> Double {
        history.map { end in history.filter { $0.time > end.time - 86_400 && $0.time <= end.time }.reduce(0) { $0 + $1.costUsd } }
            .max() ?? 0
    }

    /// Invariant 5 (item 2): zero usage bought 95 calls where honest usage bought 57. Now an under-report is
    /// counted at the worst case, so it can never buy more calls than the truth.
    @Test func zeroReportedUsageNeverBuysMoreCallsThanHonestUsage() async throws {
        // Honest: a real tokenizer's ~4 bytes per token of a ~4 KB request, and a short answer.
        let honest = try await schedule(usage: { _ in ReportedUsage(inputTokens: 1_000, outputTokens: 20) })
        let zero = try await schedule(usage: { _ in ReportedUsage(inputTokens: 0, outputTokens: 0) })
        let missing = try await schedule(usage: { _ in nil })
        #expect(honest.calls > 0)
        #expect(zero.calls <= honest.calls, "zero usage bought \(zero.calls) calls, honest \(honest.calls)")
        #expect(missing.calls <= honest.calls)
        for run in [honest, zero, missing] { #expect(maxDaySpend(run.history) <= 0.25 + 1e-9) }
    }

    /// Property (items 2 and 3): random usage fields (missing, 0, negative, huge, NaN, plausible) from every
    /// provider family, including a priced remote `openai_compatible`, never let the counted spend exceed the
    /// day or the cycle cap.
    @Test func randomUsageNeverExceedsAnyCap() async throws {
        let values: [Double?] = [nil, 0, -5, 1e18, 1e13, .nan, .infinity, 3, 700, 1_000, 5_000]
        let providers = [("openai", "gpt-4o", "https://api.openai.com/v1"),
                         ("anthropic", "claude-sonnet-4", "https://api.anthropic.com"),
                         ("openai_compatible", "gpt-4o-mini", "https://llm.example.com/v1")]
        for (seed, (provider, model, url)) in providers.enumerated() {
            for capCents in [3, 10, 25] {
                let cap = Double(capCents) / 100
                let run = try await schedule(usage: { n in
                    var rng = SplitMix(seed: UInt64(seed * 7_919 + n * 31 + capCents))
                    let i = values[Int(rng.next() % UInt64(values.count))]
                    let o = values[Int(rng.next() % UInt64(values.count))]
                    return ReportedUsage(inputTokens: i.flatMap { ProviderWire.int($0) }, outputTokens: o.flatMap { ProviderWire.int($0) })
                }, provider: provider, model: model, baseURL: url, dayCap: cap, cycleCap: cap / 2)
                #expect(maxDaySpend(run.history) <= cap + 1e-9, "\(provider) cap \(cap)")
                #expect(run.history.allSatisfy { $0.costUsd <= cap / 2 + 1e-9 }, "\(provider) cycle cap \(cap / 2)")
            }
        }
    }

    /// Item 3: a remote `openai_compatible` endpoint needs a price (0 acknowledges a free one); unpriced it is
    /// refused by validation and priced prohibitively by the cost model, so no key is ever sent to it for free.
    @Test func aRemoteOpenAICompatibleEndpointNeedsAPrice() throws {
        let remote = ["app.reviewers.m2.provider=openai_compatible", "app.reviewers.m2.model=mystery-70b",
                      "app.reviewers.m2.base_url=https://llm.example.com/v1"]
        #expect(throws: ConfigDiagnostics.self) { try Fixtures.defaults(remote) }
        let acknowledged = try Fixtures.defaults(remote + ["app.prices.models.mystery-70b={input_per_mtok: 0, output_per_mtok: 0}"])
        #expect(acknowledged.app.prices.models["mystery-70b"]?.inputPerMtok == 0)
        _ = try Fixtures.defaults(["app.reviewers.m2.provider=openai_compatible", "app.reviewers.m2.model=llama3",
                                   "app.reviewers.m2.base_url=http://127.0.0.1:8080/v1"])
        var table = try Fixtures.defaults().app.prices
        table.models = [:]
        #expect(CostModel.make(kind: .openaiCompatible, model: "x", baseURL: "https://llm.example.com/v1", table: table).price.inputPerMtok >= 1e9)
        #expect(CostModel.make(kind: .openaiCompatible, model: "x", baseURL: "http://localhost:11434/v1", table: table).price.inputPerMtok == 0)
        #expect(CostModel.make(kind: .openaiCompatible, model: "x", baseURL: "", table: table).price.inputPerMtok == 0)
    }

    /// Item 1 at the config level: a venue credential as api_key_env, or a key over plain http to a remote host,
    /// is a config error (exit 2 before anything runs).
    @Test func aVenueCredentialOrAPlainHTTPKeyIsAConfigError() throws {
        for name in ["BINANCE_API_SECRET", "BINANCE_API_KEY", "COINBASE_API_PRIVATE_KEY", "coinbase_api_key_name", "BINANCE_OTHER"] {
            #expect(throws: ConfigDiagnostics.self, "\(name)") {
                try Fixtures.defaults(["app.reviewers.m1.provider=openai", "app.reviewers.m1.model=gpt-4o-mini",
                                       "app.reviewers.m1.api_key_env=\(name)"])
            }
        }
        #expect(throws: ConfigDiagnostics.self) {
            try Fixtures.defaults(["app.reviewers.m1.provider=openai", "app.reviewers.m1.model=gpt-4o-mini",
                                   "app.reviewers.m1.api_key_env=OPENAI_API_KEY", "app.reviewers.m1.base_url=http://llm.example.com/v1"])
        }
        _ = try Fixtures.defaults(["app.reviewers.m1.provider=openai", "app.reviewers.m1.model=gpt-4o-mini",
                                   "app.reviewers.m1.api_key_env=OPENAI_API_KEY", "app.reviewers.m1.base_url=http://127.0.0.1:8080/v1"])
        #expect(Endpoint.isLoopback("http://127.0.0.1:9/v1") && Endpoint.isLoopback("http://[::1]:80") && Endpoint.isLoopback("http://localhost"))
        #expect(!Endpoint.isLoopback("http://127.0.0.1.evil.com/v1") && !Endpoint.isLoopback("http://10.0.0.1"))
    }

    // MARK: Item 4: a budget-skipped governor

    @Test func aBudgetSkippedGovernorVetoesUnlessOnSkipAllows() async throws {
        let transport = StubTransport { neutralAnswer($0) }
        for (setting, vetoes) in [(nil as String?, true), ("veto", true), ("allow", false)] {
            var overrides = ["policy.ai_budget.max_calls_per_hour=2"]
            if let setting { overrides.append("policy.reviewers.m3.on_skip=\(setting)") }
            let loaded = try Fixtures.defaults(overrides)
            let reviewers = ReviewerTier.allCases.map { llmReviewer($0, llmConfig(nil), loaded: loaded, transport: transport) }
            let outcome = await runBoard(reviewers, loaded: loaded)
            let m3 = try #require(outcome.tiers.last)
            #expect(m3.reviewer == .m3 && m3.answer.budgetDenied != nil)
            #expect(m3.fallback == "skip")
            #expect(m3.onSkip == (vetoes ? "veto" : "allow"))
            #expect(outcome.m3OnSkip == m3.onSkip)
            #expect(m3.answer.source == "budget_skip")
            #expect(m3.applied.allSatisfy { $0.veto == vetoes && $0.reason.contains("reviewers.m3.on_skip \(vetoes ? "veto" : "allow")") })
            // M1 and M2 were answered; only the governor was skipped.
            #expect(outcome.tiers.prefix(2).allSatisfy { $0.answer.source == "llm" })
        }
    }

    // MARK: Item 7: retries count against the hourly cap

    /// Every call meets two 429s before it succeeds. Under a 5-request cap, one hour of cycles sends at most 5
    /// requests (it sent 15 when only calls were counted).
    @Test func retriesCountAgainstTheHourlyCap() async throws {
        let loaded = try Fixtures.defaults(["policy.ai_budget.max_calls_per_hour=5"])
        let log = RequestLog()
        let base = LoggingTransport(log: log) { request in
            log.all.count % 3 == 0 ? neutralAnswer(request) : HTTPResponse(status: 429, body: Data(#"{"error": {"message": "slow down"}}"#.utf8))
        }
        let transport = RetryingHTTPClient(base, policy: RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.002, retryOnTimeout: false))
        let reviewer = llmReviewer(.m2, llmConfig(nil), loaded: loaded, transport: transport)
        var history: [SpendEntry] = []
        for cycle in 0..<5 {
            let now: Int64 = 1_000_000 + Int64(cycle) * 600
            let outcome = await runBoard([reviewer], loaded: loaded, history: history, time: now)
            let attempts = outcome.tiers.reduce(0) { $0 + $1.answer.httpAttempts }
            if attempts > 0 { history.append(SpendEntry(time: now, costUsd: outcome.costUsd, calls: attempts)) }
        }
        #expect(log.all.count <= 5, "\(log.all.count) requests under a 5-request hourly cap")
        #expect(log.all.count >= 3)
        #expect(history.reduce(0) { $0 + $1.calls } == log.all.count)
    }

    // MARK: Items 8-10: the exact request

    /// The golden request of M2 on a local server: fields in a meaningful order, ids, symbols and the verdict
    /// count fixed to the cycle, the reason capped, no template comment, an example verdict in the prompt.
    @Test func theRequestBodyIsBuiltForTheCycle() async throws {
        let loaded = try Fixtures.defaults()
        let log = RequestLog()
        let transport = LoggingTransport(log: log) { neutralAnswer($0) }
        var config = llmConfig(nil, model: "smollm2-135m", maxTokens: 512, provider: "openai_compatible")
        config.baseUrl = "http://127.0.0.1:8080/v1"
        let reviewer = llmReviewer(.m2, config, kind: .openaiCompatible, loaded: loaded, transport: transport)
        let outcome = await runBoard([reviewer], loaded: loaded)
        #expect(outcome.tiers.first?.answer.failure == nil)
        let body = try #require(log.bodies.first)
        #expect(body == goldenM2OpenAICompatible)
        #expect(!body.contains("<!--"))
        #expect(body.contains(#""properties":{"proposal_id":{"type":"string","enum":["p1","p2"]},"symbol":{"type":"string","enum":["BTC-USD","ETH-USD"]},"reason":{"type":"string","maxLength":240},"delta":"#))
        #expect(body.contains(#""minItems":2,"maxItems":2"#))
    }

    /// M1's citations are limited to the news given (none: no items at all); M3's checks to the policy's names;
    /// OpenAI strict mode and Anthropic tools get no maxLength.
    @Test func schemasNarrowCitationsAndChecksAndDegradePerProvider() async throws {
        let loaded = try Fixtures.defaults()
        let log = RequestLog()
        let transport = LoggingTransport(log: log) { neutralAnswer($0) }
        let checks = ["max_open_positions", "max_spread_bps"]
        let news = headlines(twoProposals, time: 1_000_000)
        _ = await runBoard([llmReviewer(.m1, llmConfig(nil), loaded: loaded, transport: transport),
                            llmReviewer(.m3, llmConfig(nil), loaded: loaded, transport: transport)],
                           loaded: loaded, news: news, checkNames: checks)
        let bodies = log.bodies
        let m1 = try #require(bodies.first { $0.contains("m1_verdicts") })
        let m3 = try #require(bodies.first { $0.contains("m3_verdicts") })
        #expect(m1.contains(#""cited_news_ids":{"type":"array","items":{"type":"string","enum":["\#(news[0].id)","\#(news[1].id)"]}}"#))
        #expect(m1.contains(#""required":["proposal_id","symbol","reason","cited_news_ids","news_risk","delta","veto"]"#))
        #expect(m3.contains(#""violated_checks":{"type":"array","items":{"type":"string","enum":["max_open_positions","max_spread_bps"]}}"#))
        #expect(!m1.contains("maxLength") && !m3.contains("maxLength"))
        #expect(m1.contains(#""minimum":-0.15,"maximum":0.15"#))
        // Without news there is nothing to cite: an empty array is the only valid value.
        let schema = VerdictSchema.schema(.m1, facts: .init(proposalIds: ["p1"], symbols: ["BTC-USD"], newsIds: [], checkNames: [],
                                                             deltaBound: 0.15), kind: .openaiCompatible)
        #expect(schema.text.contains(#""cited_news_ids":{"type":"array","items":{"type":"string"},"maxItems":0}"#))
        // Answers are still validated structurally: an invented id is dropped by the bounds, not a failed answer.
        let structural = VerdictSchema.schema(.m2)
        #expect(!structural.text.contains("enum\":[\"p1"))
    }

    // MARK: Item 11: M1 without news

    @Test func m1WithoutNewsMakesNoCallAndIsNeutral() async throws {
        let loaded = try Fixtures.defaults()
        let log = RequestLog()
        let transport = LoggingTransport(log: log) { neutralAnswer($0) }
        let outcome = await runBoard([llmReviewer(.m1, llmConfig(nil), loaded: loaded, transport: transport)], loaded: loaded, news: [])
        #expect(log.all.isEmpty)
        let m1 = try #require(outcome.tiers.first)
        #expect(m1.answer.source == "no_news")
        #expect(m1.applied.allSatisfy { !$0.veto && $0.delta == 0 })
        #expect(outcome.calls == 0)
    }

    // MARK: Item 12: truncation

    @Test func aTruncatedAnswerIsRetriedWithRoomToFinishOrFailsFast() async throws {
        let loaded = try Fixtures.defaults()
        let log = RequestLog()
        let transport = LoggingTransport(log: log) { request in
            let body = String(decoding: request.body ?? Data(), as: UTF8.self)
            return body.contains(#""max_tokens":512"#)
                ? HTTPResponse(status: 200, body: openAIBody(#"{"verdicts": [{"proposal_id": "p1", "#, finish: "length", usage: (900, 512)))
                : neutralAnswer(request)
        }
        let outcome = await runBoard([llmReviewer(.m2, llmConfig(nil), loaded: loaded, transport: transport)], loaded: loaded)
        let m2 = try #require(outcome.tiers.first)
        #expect(m2.answer.failure == nil)
        #expect(m2.answer.calls?.map(\.maxTokens) == [512, 1_024])
        let bodies = log.bodies
        #expect(bodies.count == 2 && bodies[1].contains(#""max_tokens":1024"#))
        #expect(!bodies[1].contains("previous answer was rejected"))

        // When the larger retry does not fit the cycle budget, it is not made: the tier fails at once.
        let tight = try Fixtures.defaults(["policy.ai_budget.max_cost_per_cycle_usd=0.0011"])
        let log2 = RequestLog()
        let truncating = LoggingTransport(log: log2) { _ in
            HTTPResponse(status: 200, body: openAIBody(#"{"verdicts": ["#, finish: "length", usage: (900, 512)))
        }
        let failed = await runBoard([llmReviewer(.m2, llmConfig(nil), loaded: tight, transport: truncating)], loaded: tight)
        #expect(log2.all.count == 1)
        #expect(failed.tiers.first?.answer.failure?.contains("the retry was not made") == true)
        #expect(failed.tiers.first?.answer.source == "fallback")
    }

    // MARK: Item 13: M1 and M2 together, M3 after both

    /// M1's provider holds its answer until M2's request has arrived (5 s at most): run one after the other,
    /// M1 would give up waiting. M3's request comes only after both answered.
    @Test func m1AndM2RunConcurrentlyAndM3AfterBoth() async throws {
        let loaded = try Fixtures.defaults()
        let log = RequestLog()
        let transport = WaitingTransport(log: log)
        let reviewers = ReviewerTier.allCases.map { llmReviewer($0, llmConfig(nil), loaded: loaded, transport: transport) }
        let outcome = await runBoard(reviewers, loaded: loaded)
        #expect(outcome.calls == 3)
        #expect(transport.sawM2WhileM1Waited.value)
        let byTier = Dictionary(log.all.map { (tierOf($0.request), $0) }, uniquingKeysWith: { a, _ in a })
        let m1 = try #require(byTier["M1"]), m2 = try #require(byTier["M2"]), m3 = try #require(byTier["M3"])
        #expect(m3.started >= (m1.ended ?? m3.started) && m3.started >= (m2.ended ?? m3.started))
        #expect(outcome.tiers.map(\.reviewer) == [.m1, .m2, .m3])
    }

    @Test func openAICompatibleGetsALongerDefaultTimeout() throws {
        let loaded = try Fixtures.defaults(["app.reviewers.m3.provider=openai_compatible", "app.reviewers.m3.model=llama3",
                                            "app.reviewers.m2.provider=openai", "app.reviewers.m2.model=gpt-4o-mini",
                                            "app.reviewers.m2.api_key_env=FAKE_KEY"])
        let board = try ReviewBoard.make(config: loaded, keys: ReviewerKeys([.m2: APIKey(fakeKey)]))
        let timeouts = board.reviewers.compactMap { ($0 as? LLMReviewer).map { ($0.tier, $0.config.timeoutSeconds) } }
        #expect(timeouts.first { $0.0 == .m3 }?.1 == 180)
        #expect(timeouts.first { $0.0 == .m2 }?.1 == 30)
    }

    // MARK: Item 14: honest labels

    @Test func sourcesSayWhatHappenedAndTheProviderHasItsOwnField() async throws {
        let loaded = try Fixtures.defaults()
        let ok = StubTransport { neutralAnswer($0) }
        let broken = StubTransport { _ in HTTPResponse(status: 200, body: openAIBody("not json")) }
        let outcome = await runBoard([llmReviewer(.m1, llmConfig(nil), loaded: loaded, transport: ok),
                                      llmReviewer(.m2, llmConfig(nil), loaded: loaded, transport: broken)], loaded: loaded)
        #expect(outcome.tiers.map(\.answer.source) == ["llm", "fallback"])
        #expect(outcome.tiers.map(\.answer.provider) == ["openai", "openai"])
        #expect(outcome.tiers[1].applied.allSatisfy { $0.source == "fallback" })
        let local = try Fixtures.defaults(["app.reviewers.m2.provider=openai", "app.reviewers.m2.model=gpt-4o-mini",
                                           "app.reviewers.m2.api_key_env=FAKE_KEY", "app.reviewers.m2.base_url=http://127.0.0.1:11434/v1"])
        let warnings = ReviewBoard.setupWarnings(config: local)
        #expect(warnings.count == 1 && warnings[0].contains("priced as the paid model gpt-4o-mini"))
        #expect(ReviewBoard.setupWarnings(config: loaded).isEmpty)
    }
}

/// The exact body of `theRequestBodyIsBuiltForTheCycle` (M2, openai_compatible, two proposals).
let goldenM2OpenAICompatible = #"""
{"max_tokens":512,"messages":[{"content":"You are reviewer M2 of a rules-first trading system. Answer only with JSON matching the m2_verdicts schema. Use only the proposal ids and symbols you are given.","role":"system"},{"content":"You are M2, the tape reviewer of a rules-first crypto trading system. Deterministic rules made the\nproposals below; you cannot create proposals, change sides or sizes. For each proposal you may only\nnudge conviction by a delta within +/-0.15 or veto it.\n\nVeto illiquid books (spread above 60 bps) and parabolic moves (more than\n30% in 24h on depth under 250000 USD). Judge tape quality otherwise.\n\nProposals:\n- p1 BTC-USD BUY size 2% of equity, conviction 0.6, stop 6%, take profit 12%, leverage 1, tier_1_core; triggers momentum; reason: test\n- p2 ETH-USD BUY size 2% of equity, conviction 0.7, stop 6%, take profit 12%, leverage 1, tier_1_core; triggers momentum; reason: test\n\nTape (symbol, spread bps, depth USD within 20 bps, 24h change %, 24h volume USD, volume ratio, funding):\n- BTC-USD: spread 2, depth 5000000, 24h change 2%, 24h volume 1000000000, volume ratio 1, funding n/a\n- ETH-USD: spread 2, depth 5000000, 24h change 2%, 24h volume 1000000000, volume ratio 1, funding n/a\n\nAnswer with one JSON object {\"verdicts\": [...]} holding exactly 2 verdicts, one per proposal id (p1, p2), each with these fields in this order:\n- proposal_id: the proposal's id\n- symbol: the proposal's symbol\n- reason: one short sentence (at most 240 characters) on the evidence\n- delta: a number from -0.15 to 0.15; 0 leaves conviction unchanged\n- veto: true to block the proposal, otherwise false\nExample verdict: {\"proposal_id\":\"p1\",\"symbol\":\"BTC-USD\",\"reason\":\"no strong evidence either way\",\"delta\":0,\"veto\":false}\nAnswer only with that JSON: no other proposal ids, no text around it.","role":"user"}],"model":"smollm2-135m","response_format":{"json_schema":{"name":"m2_verdicts","schema":{"type":"object","additionalProperties":false,"required":["verdicts"],"properties":{"verdicts":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["proposal_id","symbol","reason","delta","veto"],"properties":{"proposal_id":{"type":"string","enum":["p1","p2"]},"symbol":{"type":"string","enum":["BTC-USD","ETH-USD"]},"reason":{"type":"string","maxLength":240},"delta":{"type":"number","minimum":-0.15,"maximum":0.15},"veto":{"type":"boolean"}}},"minItems":2,"maxItems":2}}},"strict":true},"type":"json_schema"},"temperature":0}
"""#

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
