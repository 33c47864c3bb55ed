import Config
import Foundation
import HTTP
import Model

/// An API key held in memory only. It prints as `<redacted>` and is not Codable, so it cannot reach a log,
/// the ledger or the output by accident.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// A reviewer tier backed by an LLM over the project's libcurl client: one batched call per cycle covering
/// every proposal, structured output validated here, at most one repair retry, every call reserved against
/// the budget before it is made, cache hits for unchanged decision inputs.
///
/// `review` never throws: problems are reported in `failure` (the tier's failure mode then applies) or in
/// `budgetDenied` (the policy's `on_budget_exhausted` applies).
public struct LLMReviewer: Reviewer {
    public let tier: ReviewerTier
    public let kind: ProviderKind
    public let config: ReviewerConfig
    public let prompt: PromptTemplate
    public let cost: CostModel
    public let cacheConfig: ReviewCacheConfig
    /// At most this many news items per proposal are given to M1.
    public let newsPerProposal: Int
    let apiKey: APIKey?
    let transport: any HTTPTransport

    public init(tier: ReviewerTier, kind: ProviderKind, config: ReviewerConfig, prompt: PromptTemplate, cost: CostModel,
                cacheConfig: ReviewCacheConfig, newsPerProposal: Int = 5, apiKey: APIKey?, transport: any HTTPTransport) {
        self.tier = tier
        self.kind = kind
        self.config = config
        self.prompt = prompt
        self.cost = cost
        self.cacheConfig = cacheConfig
        self.newsPerProposal = newsPerProposal
        self.apiKey = apiKey
        self.transport = transport
    }

    /// The HTTP stack for a tier: libcurl with the configured timeouts, bounded retries with backoff on
    /// 429/5xx/529, none on other 4xx, and none on timeouts (a timed-out call may have been billed).
    public static func transport(for config: ReviewerConfig, base: any HTTPTransport = CurlHTTPClient()) -> any HTTPTransport {
        RetryingHTTPClient(base, policy: RetryPolicy(maxAttempts: config.maxAttempts, baseDelay: 0.5, maxDelay: 8,
                                                     retryStatuses: [429, 500, 502, 503, 504, 529],
                                                     retryOnTimeout: false, honourRetryAfter: true))
    }

    static let rawLimit = 20_000

    /// The largest `max_tokens` a truncated answer is retried with (the first try's limit, doubled, at most this).
    static let widenedMaxTokensCap = 65_536

    public func review(_ context: ReviewContext) async -> ReviewerAnswer {
        let rendered = PromptRenderer.render(prompt.text, tier: tier, context: context, newsPerProposal: newsPerProposal)
        let system = PromptRenderer.system(tier)
        let key = ReviewCacheKey.make(tier: tier, provider: kind.rawValue, model: config.model, promptHash: prompt.hash,
                                      maxTokens: config.maxTokens, temperature: config.temperature, context: context,
                                      newsIds: rendered.newsIds, decimals: cacheConfig.roundDecimals)
        let givenNews = context.proposals.flatMap { rendered.newsIds[$0.id] ?? [] }
            .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let facts = VerdictSchema.Facts(
            proposalIds: context.proposals.map(\.id),
            symbols: context.proposals.map(\.symbol).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } },
            newsIds: givenNews, checkNames: context.checkNames, deltaBound: context.policy.reviewers.deltaBound,
            reasonMaxLength: PromptRenderer.reasonMaxLength)
        let schema = VerdictSchema.schema(tier, facts: facts, kind: kind)
        let (firstRequest, _) = ProviderWire.request(kind: kind, config: config, apiKey: apiKey?.value, tier: tier,
                                                     system: system, user: rendered.text, schema: schema)
        let record = RequestRecord(url: SensitiveHeaders.redactedURL(firstRequest.url), maxTokens: config.maxTokens,
                                   temperature: config.temperature,
                                   structuredOutput: kind == .anthropic ? "tool_use" : "json_schema",
                                   schemaName: VerdictSchema.name(tier),
                                   renderedPromptHash: PromptRenderer.sha256(system + "\n" + rendered.text),
                                   renderedPrompt: rendered.text, newsIds: rendered.newsIds)
        var answer = ReviewerAnswer(verdicts: [], source: ReviewSource.llm.rawValue, model: config.model,
                                    promptHash: prompt.hash, provider: kind.rawValue, request: record, calls: [],
                                    cacheKey: key)

        // M1 with no news item for any proposal has nothing to cite: no call, neutral, recorded as such.
        if tier == .m1, givenNews.isEmpty {
            answer.source = ReviewSource.noNews.rawValue
            answer.verdicts = context.proposals.map {
                ReviewerVerdict(proposalId: $0.id, symbol: $0.symbol, delta: 0, veto: false,
                                reason: "no news items for this cycle's proposals: no call made, neutral")
            }
            return answer
        }
        if cacheConfig.enabled, let cache = context.cache, let hit = await cache.get(key, now: context.time) {
            var cached = hit.answer
            cached.source = ReviewSource.cache.rawValue
            cached.cachedFrom = hit.cycleId
            cached.calls = []
            cached.costUsd = 0
            cached.inputTokens = 0
            cached.outputTokens = 0
            cached.request = record
            cached.failure = nil
            cached.budgetDenied = nil
            return cached
        }
        guard let spend = context.spend else {
            answer.budgetDenied = "no AI budget available to this review: paid calls refused"
            return answer
        }

        var calls: [CallRecord] = []
        var user = rendered.text
        var callConfig = config
        var lastProblem = ""
        for attempt in 1...2 {
            let (request, _) = ProviderWire.request(kind: kind, config: callConfig, apiKey: apiKey?.value, tier: tier,
                                                    system: system, user: user, schema: schema)
            let requestBytes = request.body?.count ?? 0
            let worstCase = cost.usd(input: CostModel.worstInputTokens(requestBytes: requestBytes), output: callConfig.maxTokens)
            let reservation: Reservation
            let decision = await spend.reserve(worstCaseUsd: worstCase)
            if attempt == 1 { await context.admission?.open() }
            switch decision {
            case .failure(let denied):
                if attempt == 1 {
                    answer.budgetDenied = denied.description
                    return answer
                }
                return finish(answer, calls, failure: "\(lastProblem); the retry was not made: \(denied)")
            case .success(let r):
                reservation = r
            }
            var sent = request
            sent.beforeRetry = { await spend.claimRetry(reservation) }

            let clock = ContinuousClock()
            let started = clock.now
            let response: HTTPResponse
            do throws(HTTPError) {
                response = try await transport.send(sent)
            } catch {
                // A timeout (or a transfer cut mid-way) may have been billed: count the worst case.
                // A refused connection or exhausted 429/5xx retries were not.
                let billed: Bool
                switch error {
                case .timeout, .transport: billed = true
                default: billed = false
                }
                let counted = billed ? worstCase : 0
                let used = await spend.settle(reservation, costUsd: counted)
                var call = CallRecord(attempt: attempt, status: nil, finishReason: nil, rawAnswer: nil, reportedUsage: nil,
                                      inputTokens: billed ? CostModel.worstInputTokens(requestBytes: requestBytes) : 0,
                                      outputTokens: billed ? callConfig.maxTokens : 0, costUsd: counted,
                                      worstCaseUsd: worstCase,
                                      usageNote: billed ? "no answer: counted the worst case" : nil,
                                      problem: "\(error)", elapsedMs: Self.ms(clock.now - started))
                call.httpAttempts = used
                call.maxTokens = callConfig.maxTokens
                calls.append(call)
                return finish(answer, calls, failure: "\(kind.rawValue) call failed: \(error)")
            }
            let elapsed = Self.ms(clock.now - started)
            let rawBody = String(decoding: response.body.prefix(Self.rawLimit), as: UTF8.self)

            switch ProviderWire.parse(kind: kind, status: response.status, body: response.body) {
            case .failure(let problem):
                // Error statuses are not billed; an unreadable 2xx body might have been: count the worst case.
                let billed: Bool
                if case .badEnvelope = problem { billed = true } else { billed = false }
                let counted = billed ? worstCase : 0
                let used = await spend.settle(reservation, costUsd: counted)
                var call = CallRecord(attempt: attempt, status: response.status, finishReason: nil, rawAnswer: rawBody,
                                      reportedUsage: nil,
                                      inputTokens: billed ? CostModel.worstInputTokens(requestBytes: requestBytes) : 0,
                                      outputTokens: billed ? callConfig.maxTokens : 0, costUsd: counted,
                                      worstCaseUsd: worstCase, usageNote: billed ? "no usable usage: counted the worst case" : nil,
                                      problem: problem.description, elapsedMs: elapsed)
                call.httpAttempts = used
                call.maxTokens = callConfig.maxTokens
                calls.append(call)
                return finish(answer, calls, failure: "\(kind.rawValue) \(problem)")
            case .success(let reply):
                let content = reply.content ?? ""
                let counted = cost.count(reported: reply.usage, requestBytes: requestBytes,
                                         answerBytes: max(content.utf8.count, reply.refusal?.utf8.count ?? 0),
                                         maxTokens: callConfig.maxTokens)
                let used = await spend.settle(reservation, costUsd: counted.costUsd)
                var call = CallRecord(attempt: attempt, status: response.status, finishReason: reply.finishReason,
                                      rawAnswer: String((reply.content ?? reply.refusal ?? "").prefix(Self.rawLimit)),
                                      reportedUsage: reply.usage, inputTokens: counted.inputTokens,
                                      outputTokens: counted.outputTokens, costUsd: counted.costUsd, worstCaseUsd: worstCase,
                                      usageNote: counted.note, problem: nil, elapsedMs: elapsed)
                call.httpAttempts = used
                call.maxTokens = callConfig.maxTokens
                if let refusal = reply.refusal {
                    call.problem = "refused: \(PromptRenderer.oneLine(refusal))"
                    calls.append(call)
                    return finish(answer, calls, failure: "\(tier.rawValue) refused to answer: \(PromptRenderer.oneLine(refusal))")
                }
                if ProviderWire.truncated(reply.finishReason) {
                    // The same request at temperature 0 would be cut at the same place: retry once with room to
                    // finish (the budget decides whether that fits), or fail.
                    let problem = "output truncated at max_tokens \(callConfig.maxTokens) (finish reason \(reply.finishReason ?? "?"))"
                    call.problem = problem
                    calls.append(call)
                    if attempt == 2 {
                        return finish(answer, calls, failure: "\(lastProblem); the retry was \(problem)")
                    }
                    lastProblem = "invalid output: \(problem)"
                    let widened = min(callConfig.maxTokens * 2, Self.widenedMaxTokensCap)
                    guard widened > callConfig.maxTokens else { return finish(answer, calls, failure: lastProblem) }
                    callConfig.maxTokens = widened
                    user = rendered.text
                    continue
                }
                let parsed: Result<[ReviewerVerdict], InvalidAnswer>
                if let structured = reply.structured {
                    parsed = VerdictSchema.verdicts(from: structured, tier: tier)
                } else {
                    parsed = VerdictSchema.verdicts(from: content, tier: tier)
                }
                switch parsed {
                case .success(let verdicts):
                    calls.append(call)
                    answer.verdicts = verdicts
                    let done = finish(answer, calls, failure: nil)
                    if cacheConfig.enabled, let cache = context.cache {
                        await cache.put(key, CachedReview(answer: done, cycleId: context.cycleId,
                                                          expires: context.time + Int64(cacheConfig.ttlMinutes * 60)))
                    }
                    return done
                case .failure(let invalid):
                    call.problem = invalid.reason
                    calls.append(call)
                    lastProblem = "invalid output: \(invalid.reason)"
                    user = rendered.text + "\n\nYour previous answer was rejected: \(invalid.reason). "
                        + "Answer again with only JSON matching the schema: one verdict per proposal id above."
                }
            }
        }
        return finish(answer, calls, failure: "\(lastProblem) (still invalid after one repair retry)")
    }

    private func finish(_ base: ReviewerAnswer, _ calls: [CallRecord], failure: String?) -> ReviewerAnswer {
        var a = base
        a.calls = calls
        a.inputTokens = calls.reduce(0) { $0 + $1.inputTokens }
        a.outputTokens = calls.reduce(0) { $0 + $1.outputTokens }
        a.costUsd = calls.reduce(0) { $0 + $1.costUsd }
        a.rawAnswer = calls.last?.rawAnswer
        a.failure = failure
        if failure != nil {
            a.verdicts = []
            a.source = ReviewSource.fallback.rawValue
        }
        return a
    }

    static func ms(_ d: Duration) -> Double {
        let c = d.components
        return Format.round(Double(c.seconds) * 1_000 + Double(c.attoseconds) / 1e15, 3)
    }
}
