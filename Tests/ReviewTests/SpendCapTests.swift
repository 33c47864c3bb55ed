import Config
import Foundation
import HTTP
import Model
import Policy
import TestSupport
import Testing
@testable import Review

/// An in-process transport: answers without a socket, for fast property tests of the provider path.
struct StubTransport: HTTPTransport {
    let reply: @Sendable (HTTPRequest) -> HTTPResponse
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse { reply(request) }
}

/// An OpenAI envelope around `content` with the given usage (nil = no usage field).
func openAIBody(_ content: String, finish: String = "stop", usage: (Int, Int)? = nil) -> Data {
    var body: [String: Any] = ["choices": [["message": ["role": "assistant", "content": content], "finish_reason": finish]]]
    if let usage { body["usage"] = ["prompt_tokens": usage.0, "completion_tokens": usage.1] }
    return (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
}

@Suite struct SpendCapTests {
    /// Invariant 5 as a sweep: with usage missing every call counts its full worst case; for every cycle cap
    /// from $0 to $0.12 by one cent, the cycle's counted spend never exceeds the cap, and each tier that was
    /// refused took the `skip` fallback with its reason. Spending one cent over any cap fails this test.
    @Test func theCycleCapIsNeverExceeded() async throws {
        for cents in 0...12 {
            let cap = Double(cents) / 100
            let loaded = try Fixtures.defaults(["policy.ai_budget.max_cost_per_cycle_usd=\(cap)"])
            let config = llmConfig(nil, model: "claude-sonnet-4", maxTokens: 1024)
            let transport = StubTransport { _ in
                HTTPResponse(status: 200, body: openAIBody(#"{"verdicts": []}"#))  // no usage: worst case counted
            }
            let reviewers = ReviewerTier.allCases.map { llmReviewer($0, config, loaded: loaded, transport: transport) }
            let outcome = await runBoard(reviewers, loaded: loaded)
            #expect(outcome.costUsd <= cap + 1e-9, "cap \(cap): spent \(outcome.costUsd)")
            let worst = outcome.tiers.compactMap { $0.answer.calls?.first?.worstCaseUsd }
            #expect(worst.allSatisfy { $0 > 0.02 && $0 < 0.04 })  // each call is worth a few cents here
            for tier in outcome.tiers where tier.answer.callCount == 0 {
                #expect(tier.fallback == "skip")
                #expect(tier.answer.budgetDenied?.contains("cycle") == true)
                // A skipped governor vetoes (reviewers.m3.on_skip veto, the default); M1 and M2 are rules only.
                #expect(tier.applied.allSatisfy { $0.veto == (tier.reviewer == .m3) && $0.delta == 0 && $0.reason.contains("on_budget_exhausted skip") })
            }
            #expect(outcome.calls == outcome.tiers.filter { $0.answer.callCount > 0 }.count)
            if cents == 0 { #expect(outcome.calls == 0 && outcome.fallback == "skip") }
            if cents == 12 { #expect(outcome.calls == 3 && outcome.fallback == nil) }
        }
    }

    /// The day window counts earlier spend (from the ledger) and lying usage cannot stretch it.
    @Test func theDayCapCountsEarlierSpendAndEnormousUsageCannotStretchIt() async throws {
        let loaded = try Fixtures.defaults(["policy.ai_budget.max_cost_per_day_usd=1.0"])
        let config = llmConfig(nil, model: "claude-sonnet-4", maxTokens: 1024)
        let transport = StubTransport { _ in
            HTTPResponse(status: 200, body: openAIBody(#"{"verdicts": []}"#, usage: (Int(1e12), Int(1e12))))
        }
        let reviewers = ReviewerTier.allCases.map { llmReviewer($0, config, loaded: loaded, transport: transport) }
        let now: Int64 = 1_000_000
        // $0.96 spent 2 hours ago: only one 2-4 cent worst case fits; $5 spent 25 hours ago no longer counts.
        let history = [SpendEntry(time: now - 7_200, costUsd: 0.96, calls: 3), SpendEntry(time: now - 90_000, costUsd: 5, calls: 3)]
        let outcome = await runBoard(reviewers, loaded: loaded, history: history, time: now)
        #expect(outcome.calls == 1)
        #expect(0.96 + outcome.costUsd <= 1.0 + 1e-9)
        // The enormous reported usage was counted at the call's worst case, not at face value.
        let call = try #require(outcome.tiers[0].answer.calls?.first)
        #expect(call.costUsd == call.worstCaseUsd && call.costUsd > 0.02)
        #expect(outcome.tiers[1].answer.budgetDenied?.contains("(day)") == true)
        #expect(outcome.budget?.dayRemainingUsd ?? 1 < 0.04)
    }

    @Test func theHourlyCallCapAndNoTradeFallback() async throws {
        let loaded = try Fixtures.defaults(["policy.ai_budget.max_calls_per_hour=2", "policy.ai_budget.on_budget_exhausted=no_trade"])
        let config = llmConfig(nil)
        let transport = StubTransport { _ in HTTPResponse(status: 200, body: openAIBody(#"{"verdicts": []}"#, usage: (900, 10))) }
        let reviewers = ReviewerTier.allCases.map { llmReviewer($0, config, loaded: loaded, transport: transport) }
        let now: Int64 = 1_000_000
        let fresh = await runBoard(reviewers, loaded: loaded, history: [SpendEntry(time: now - 3_700, costUsd: 0.01, calls: 50)], time: now)
        #expect(fresh.calls == 2)
        #expect(fresh.fallback == "no_trade")
        let m3 = fresh.tiers[2]
        #expect(m3.answer.budgetDenied?.contains("max_calls_per_hour 2") == true)
        #expect(m3.applied.allSatisfy { $0.veto && $0.reason.contains("no_trade") })
        let busy = await runBoard(reviewers, loaded: loaded, history: [SpendEntry(time: now - 60, costUsd: 0.01, calls: 2)], time: now)
        #expect(busy.calls == 0)
    }

    /// Invariants 1-3 through the provider path: thousands of random provider answers (valid, out of bounds,
    /// hostile ids and symbols, garbage, truncated) never yield a delta beyond the bound, a proposal Rules did
    /// not make, or a size above the rules' size.
    @Test func randomProviderAnswersNeverBreakTheBounds() async throws {
        let loaded = try Fixtures.defaults()
        let bound = loaded.policy.reviewers.deltaBound
        let engine = PolicyEngine(policy: loaded.policy, universe: loaded.universe)
        var rng = Fixtures.SeededRandom(seed: 77)
        let ids = ["p1", "p2", "p3", "p9", "", "P1"]
        let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"]
        let deltas = ["0", "0.05", "-0.05", "0.15", "0.9", "-0.9", "12", "-1e300", "1e400", "\"x\"", "null", "true"]
        let tails = ["", "}", "]}", "garbage", "```"]
        for _ in 0..<700 {  // 2 100 tier answers
            await Task.yield()  // share the two cooperative threads with the timing-sensitive HTTP tests
            var contents: [String] = []
            for tier in ReviewerTier.allCases {
                let verdicts = (0..<Int.random(in: 0...4, using: &rng)).map { _ -> String in
                    let id = ids.randomElement(using: &rng) ?? "p1"
                    let symbol = symbols.randomElement(using: &rng) ?? "BTC-USD"
                    let delta = deltas.randomElement(using: &rng) ?? "0"
                    let veto = Bool.random(using: &rng)
                    var fields = [#""proposal_id": "\#(id)""#, #""symbol": "\#(symbol)""#, #""veto": \#(veto)"#, #""reason": "r""#]
                    if tier != .m3 { fields.append(#""delta": \#(delta)"#) }
                    if tier == .m1 { fields += [#""cited_news_ids": []"#, #""news_risk": "LOW""#] }
                    if tier == .m3 { fields.append(#""violated_checks": ["min_conviction"]"#) }
                    return "{" + fields.joined(separator: ", ") + "}"
                }
                let tail = Int.random(in: 0..<6, using: &rng) == 0 ? (tails.randomElement(using: &rng) ?? "") : ""
                contents.append(#"{"verdicts": [\#(verdicts.joined(separator: ", "))]}"# + tail)
            }
            let finish = Int.random(in: 0..<15, using: &rng) == 0 ? "length" : "stop"
            let fixed = contents
            let reviewers = ReviewerTier.allCases.enumerated().map { i, tier in
                llmReviewer(tier, llmConfig(nil), loaded: loaded, transport: StubTransport { _ in
                    HTTPResponse(status: 200, body: openAIBody(fixed[i], finish: finish, usage: (900, 50)))
                })
            }
            let count = Int.random(in: 1...3, using: &rng)
            let rules = (1...count).map { proposal("p\($0)", ["BTC-USD", "ETH-USD", "SOL-USD"][$0 - 1],
                                                   conviction: Double.random(in: 0...1, using: &rng),
                                                   size: Double.random(in: 0.1...5, using: &rng)) }
            let outcome = await runBoard(reviewers, loaded: loaded, proposals: rules)
            expectBoundsHold(outcome, rules: rules, engine: engine, bound: bound, tape: rules.map { tape($0.symbol) })
        }
    }

    @Test func schemaValidationNamesThePath() {
        let bad = VerdictSchema.verdicts(from: #"{"verdicts": [{"proposal_id": 3, "symbol": "BTC-USD", "veto": false, "reason": "", "delta": 0, "extra": 1}]}"#, tier: .m2)
        guard case .failure(let invalid) = bad else {
            Issue.record("expected a schema failure")
            return
        }
        #expect(invalid.reason.contains("$.verdicts[0].proposal_id: expected string"))
        #expect(invalid.reason.contains("unexpected field 'extra'"))
        let fenced = VerdictSchema.verdicts(from: "```json\n{\"verdicts\": []}\n```", tier: .m3)
        #expect((try? fenced.get()) == [])
    }
}
