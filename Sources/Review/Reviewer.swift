import Config
import Model

/// Everything a reviewer tier may see about a cycle. There are no candles, venues or executors here:
/// the Review target cannot import Market or Execution, so a reviewer can only read facts and answer.
public struct ReviewContext: Sendable {
    public var cycleId: String
    public var time: Int64
    public var proposals: [Proposal]
    /// Tape facts per symbol of the proposals.
    public var tape: [TapeFacts]
    /// The policy limits, for M3 and the prompts.
    public var policy: PolicyConfig
    /// Reviews already applied this cycle (M3 sees M1's and M2's).
    public var priorReviews: [AppliedReview]
    /// Recent news items from the allow-listed feeds (M1 sees only those tagged with a proposal's symbol).
    public var news: [NewsItem]
    /// The AI budget of this cycle (nil = no paid calls possible).
    public var spend: SpendGuard?
    /// The review cache (nil = no cache).
    public var cache: ReviewCache?
    /// The policy's check names, which M3's `violated_checks` is restricted to in the request (set by the board).
    public var checkNames: [String] = []
    /// Opened by a tier once its first call has been admitted or refused by the budget, so tiers that run
    /// concurrently still claim the budget in tier order (set by the board).
    public var admission: AdmissionGate?

    public init(cycleId: String, time: Int64, proposals: [Proposal], tape: [TapeFacts], policy: PolicyConfig,
                priorReviews: [AppliedReview] = [], news: [NewsItem] = [], spend: SpendGuard? = nil,
                cache: ReviewCache? = nil) {
        self.cycleId = cycleId
        self.time = time
        self.proposals = proposals
        self.tape = tape
        self.policy = policy
        self.priorReviews = priorReviews
        self.news = news
        self.spend = spend
        self.cache = cache
    }

    public func tape(for symbol: String) -> TapeFacts? { tape.first { $0.symbol == symbol } }

    /// The news items relevant to a proposal (tagged with its symbol), newest first, at most `limit`.
    public func news(for proposal: Proposal, limit: Int) -> [NewsItem] {
        Array(news.filter { $0.symbols.contains(proposal.symbol) }
            .sorted { $0.published != $1.published ? $0.published > $1.published : $0.id < $1.id }
            .prefix(max(limit, 0)))
    }
}

/// One HTTP call of a tier (the first try, or the repair retry), as recorded in the ledger.
public struct CallRecord: Codable, Sendable, Equatable {
    /// 1 = first call, 2 = repair retry.
    public var attempt: Int
    /// HTTP status, nil when the transport failed.
    public var status: Int?
    public var finishReason: String?
    /// The raw structured answer text (truncated to 20 000 characters), or the error body.
    public var rawAnswer: String?
    public var reportedUsage: ReportedUsage?
    /// What was counted against the budget.
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUsd: Double
    public var worstCaseUsd: Double
    /// Why the counted usage differs from the reported one, if it does.
    public var usageNote: String?
    /// Why this call's answer was not usable, if it was not.
    public var problem: String?
    public var elapsedMs: Double
    /// HTTP requests sent for this call, retries on 429/5xx included (nil in records before they were counted).
    public var httpAttempts: Int?
    /// The `max_tokens` this call asked for (larger than the tier's on the retry of a truncated answer).
    public var maxTokens: Int?

    public init(attempt: Int, status: Int?, finishReason: String?, rawAnswer: String?, reportedUsage: ReportedUsage?,
                inputTokens: Int, outputTokens: Int, costUsd: Double, worstCaseUsd: Double, usageNote: String?,
                problem: String?, elapsedMs: Double) {
        self.attempt = attempt
        self.status = status
        self.finishReason = finishReason
        self.rawAnswer = rawAnswer
        self.reportedUsage = reportedUsage
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUsd = costUsd
        self.worstCaseUsd = worstCaseUsd
        self.usageNote = usageNote
        self.problem = problem
        self.elapsedMs = elapsedMs
    }
}

/// What was asked of a provider (never headers or keys).
public struct RequestRecord: Codable, Sendable, Equatable {
    /// The endpoint, with sensitive query values redacted.
    public var url: String
    public var maxTokens: Int
    public var temperature: Double
    /// `json_schema` (OpenAI and local servers) or `tool_use` (Anthropic).
    public var structuredOutput: String
    public var schemaName: String
    /// sha256 of the rendered prompt (system + user).
    public var renderedPromptHash: String
    /// The rendered user prompt: the facts the tier was given.
    public var renderedPrompt: String
    /// News item ids given to M1, per proposal id.
    public var newsIds: [String: [String]]

    public init(url: String, maxTokens: Int, temperature: Double, structuredOutput: String, schemaName: String,
                renderedPromptHash: String, renderedPrompt: String, newsIds: [String: [String]]) {
        self.url = url
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.structuredOutput = structuredOutput
        self.schemaName = schemaName
        self.renderedPromptHash = renderedPromptHash
        self.renderedPrompt = renderedPrompt
        self.newsIds = newsIds
    }
}

/// One tier's raw answer for a whole cycle (one batched call covering every proposal), untrusted.
public struct ReviewerAnswer: Codable, Sendable, Equatable {
    public var verdicts: [ReviewerVerdict]
    /// "offline", "cache", "replay" or a provider name.
    public var source: String
    public var model: String
    /// sha256 of the prompt template used (empty when none).
    public var promptHash: String
    /// The raw text the reviewer returned (for the ledger and replay).
    public var rawAnswer: String?
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUsd: Double
    /// Set when the tier failed (timeout, invalid output...). The tier's failure mode then applies.
    public var failure: String?
    /// The provider family (`openai`, `anthropic`, `openai_compatible`); nil for offline reviewers.
    public var provider: String?
    /// What was asked (parameters and rendered facts; never keys).
    public var request: RequestRecord?
    /// Every HTTP call made for this answer (at most two: the first and one repair retry).
    public var calls: [CallRecord]?
    /// The decision-input key of the review cache.
    public var cacheKey: String?
    /// For `source: "cache"`: the cycle whose review was reused.
    public var cachedFrom: String?
    /// Set when the budget refused the call: the reason. The board then applies `on_budget_exhausted`.
    public var budgetDenied: String?

    public init(verdicts: [ReviewerVerdict], source: String, model: String, promptHash: String = "",
                rawAnswer: String? = nil, inputTokens: Int = 0, outputTokens: Int = 0, costUsd: Double = 0,
                failure: String? = nil, provider: String? = nil, request: RequestRecord? = nil,
                calls: [CallRecord]? = nil, cacheKey: String? = nil, cachedFrom: String? = nil,
                budgetDenied: String? = nil) {
        self.verdicts = verdicts
        self.source = source
        self.model = model
        self.promptHash = promptHash
        self.rawAnswer = rawAnswer
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUsd = costUsd
        self.failure = failure
        self.provider = provider
        self.request = request
        self.calls = calls
        self.cacheKey = cacheKey
        self.cachedFrom = cachedFrom
        self.budgetDenied = budgetDenied
    }

    /// Paid HTTP calls made for this answer.
    public var callCount: Int { calls?.count ?? 0 }

    /// HTTP requests sent for this answer, retries included (what `max_calls_per_hour` counts).
    public var httpAttempts: Int { calls?.reduce(0) { $0 + ($1.httpAttempts ?? 1) } ?? 0 }
}

/// What produced a tier's answer (`ReviewerAnswer.source`, `AppliedReview.source`). The provider family is
/// in its own field. Stored as text: records written before these values showed the provider here.
public enum ReviewSource: String, Codable, Sendable, CaseIterable {
    /// A validated answer from a provider call this cycle.
    case llm
    /// A validated answer reused from an earlier cycle with the same decision inputs.
    case cache
    /// A recorded answer used again by `--replay`.
    case replay
    /// The call failed or its answer was invalid: the tier's failure mode applied.
    case fallback
    /// The AI budget refused the call: `on_budget_exhausted` (and for M3 `reviewers.m3.on_skip`) applied.
    case budgetSkip = "budget_skip"
    /// The deterministic offline reviewer.
    case offline
    /// M1 had no news item to read: no call was made, neutral.
    case noNews = "no_news"
}

/// A one-shot signal: `wait` returns once `open` has been called (at once if it already was).
public actor AdmissionGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func open() {
        guard !isOpen else { return }
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }

    public func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

/// A reviewer tier: M1 news, M2 tape or M3 governor. Offline and LLM-backed providers implement the same contract.
public protocol Reviewer: Sendable {
    var tier: ReviewerTier { get }
    /// Whether it answers from the context alone, at once, with no I/O and no budget (the offline tiers). A board of
    /// such reviewers runs them inline, in tier order, with the same answers (nothing to overlap).
    var answersAtOnce: Bool { get }
    /// Reviews all proposals of a cycle at once. Must not throw: failures are reported in `failure`.
    func review(_ context: ReviewContext) async -> ReviewerAnswer
}

extension Reviewer {
    public var answersAtOnce: Bool { false }
}

/// Enforces the reviewer contract on an untrusted answer. This is where invariants 1 and 2 live.
public enum ReviewBounds {
    public struct Result: Sendable, Equatable {
        public var applied: [AppliedReview]
        public var violations: [ReviewerViolation]
    }

    /// - Unknown proposal ids, mismatched symbols and duplicates are dropped and recorded as violations.
    /// - Deltas are clamped to `±bound` (recorded); non-finite deltas count as 0 (recorded).
    /// - M3 may only veto: any delta it sends is ignored (recorded).
    /// - A proposal without a verdict, or every proposal when the tier failed, gets the failure mode:
    ///   `neutral` (no effect) or `veto`; either way the reason says so.
    /// - With `givenNewsIds` (M1): a positive delta must cite at least one news item, and only items given for
    ///   that proposal; otherwise the delta is void (0) and the unsupported claim recorded.
    public static func apply(_ answer: ReviewerAnswer, tier: ReviewerTier, proposals: [Proposal], bound: Double,
                             failureMode: FailureMode, givenNewsIds: [String: Set<String>]? = nil) -> Result {
        let b = abs(bound.isFinite ? bound : 0)
        var applied: [AppliedReview] = []
        var violations: [ReviewerViolation] = []
        var seen = Set<String>()
        let byId = Dictionary(proposals.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })

        if answer.failure == nil {
            for verdict in answer.verdicts {
                guard let proposal = byId[verdict.proposalId] else {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: verdict.proposalId,
                        detail: "verdict for unknown proposal '\(verdict.proposalId)'\(verdict.symbol.map { " (\($0))" } ?? "") ignored"))
                    continue
                }
                if let symbol = verdict.symbol, symbol != proposal.symbol {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: verdict.proposalId,
                        detail: "verdict names symbol \(symbol) but proposal \(proposal.id) is \(proposal.symbol): ignored"))
                    continue
                }
                guard seen.insert(proposal.id).inserted else {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "second verdict for proposal \(proposal.id) ignored"))
                    continue
                }
                var requested = verdict.delta ?? 0
                if !requested.isFinite {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "non-finite delta treated as 0"))
                    requested = 0
                }
                var delta = requested
                if let given = givenNewsIds, delta > 0 {
                    let cited = verdict.citedNewsIds ?? []
                    let allowed = given[proposal.id] ?? []
                    let unknown = cited.filter { !allowed.contains($0) }
                    if cited.isEmpty {
                        violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                            detail: "positive delta \(Format.number(delta)) cites no news item: void"))
                        delta = 0
                    } else if !unknown.isEmpty {
                        violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                            detail: "unsupported claim: cited news id\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")) not given for \(proposal.id): delta \(Format.number(delta)) void"))
                        delta = 0
                    }
                }
                if tier == .m3, requested != 0 {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "M3 may only veto; delta \(Format.number(requested)) ignored"))
                    delta = 0
                }
                let clamped = abs(delta) > b
                if clamped {
                    violations.append(ReviewerViolation(reviewer: tier, proposalId: proposal.id,
                        detail: "delta \(Format.number(delta)) clamped to ±\(Format.number(b))"))
                    delta = min(max(delta, -b), b)
                }
                applied.append(AppliedReview(reviewer: tier, source: answer.source, proposalId: proposal.id,
                                             requestedDelta: requested, delta: delta, clamped: clamped,
                                             veto: verdict.veto, reason: verdict.reason,
                                             violatedChecks: tier == .m3 ? verdict.violatedChecks : []))
            }
        }
        // Proposals without a usable verdict get the tier's failure mode, explicitly recorded.
        for proposal in proposals where !seen.contains(proposal.id) {
            let why = answer.failure ?? "no verdict for this proposal"
            applied.append(AppliedReview(reviewer: tier, source: answer.source, proposalId: proposal.id,
                                         requestedDelta: 0, delta: 0, clamped: false, veto: failureMode == .veto,
                                         reason: "\(why): failure mode \(failureMode.rawValue)"))
        }
        // Keep proposal order for stable output.
        let order = Dictionary(proposals.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        applied.sort { (order[$0.proposalId] ?? 0) < (order[$1.proposalId] ?? 0) }
        return Result(applied: applied, violations: violations)
    }
}
