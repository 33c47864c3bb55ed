import Config
import Foundation
import Model

/// Spend already recorded (rebuilt from the ledger's `review` events on every cycle, so the hour and day
/// windows survive restarts).
public struct SpendEntry: Codable, Sendable, Equatable {
    /// Decision time of the cycle that spent it, Unix seconds.
    public var time: Int64
    public var costUsd: Double
    public var calls: Int

    public init(time: Int64, costUsd: Double, calls: Int) {
        self.time = time
        self.costUsd = costUsd
        self.calls = calls
    }
}

/// A reservation of a call's worst-case cost, to be settled with its counted cost.
public struct Reservation: Sendable, Equatable {
    public var id: Int
    public var worstCaseUsd: Double
    /// HTTP requests claimed for this call so far (retries on 429/5xx included), counted against the hourly cap.
    public var attempts: Int = 1
}

/// Why a call was not made: which window its worst case would not fit.
public struct BudgetDenied: Error, Sendable, Equatable, CustomStringConvertible {
    public var window: String
    public var detail: String
    public var description: String { "AI budget exhausted (\(window)): \(detail)" }
}

/// The budget as it stands, for the `--once` summary.
public struct BudgetStatus: Codable, Sendable, Equatable {
    public var cycleSpentUsd: Double
    public var cycleRemainingUsd: Double
    public var daySpentUsd: Double
    public var dayRemainingUsd: Double
    public var callsLastHour: Int
    public var callsRemainingThisHour: Int
}

/// Enforces invariant 5: a call is made only if its worst-case cost fits the cycle, rolling-hour (calls) and
/// rolling-day (USD) windows of policy.yaml `ai_budget`, counting outstanding reservations as spent.
public actor SpendGuard {
    public let budget: AIBudget
    public let now: Int64
    private let history: [SpendEntry]
    private var settledThisCycle = 0.0
    private var callsThisCycle = 0
    private var outstanding: [Int: Reservation] = [:]
    private var nextId = 1
    /// Tolerance for float noise only (a billionth of a dollar): a cent over any cap is refused.
    static let epsilon = 1e-9

    public init(budget: AIBudget, now: Int64, history: [SpendEntry]) {
        self.budget = budget
        self.now = now
        self.history = history.filter { $0.time > now - 86_400 && $0.time <= now }
    }

    private var reservedUsd: Double { outstanding.values.reduce(0) { $0 + $1.worstCaseUsd } }
    private var cycleUsd: Double { settledThisCycle + reservedUsd }
    private var dayUsd: Double { history.reduce(0) { $0 + $1.costUsd } + cycleUsd }
    private var hourCalls: Int { history.filter { $0.time > now - 3_600 }.reduce(0) { $0 + $1.calls } + callsThisCycle }

    /// Reserves `worstCaseUsd` and one request of the hourly cap for a call if both fit every window; otherwise
    /// says which window is full.
    public func reserve(worstCaseUsd: Double) -> Result<Reservation, BudgetDenied> {
        let worst = worstCaseUsd.isFinite ? max(worstCaseUsd, 0) : .infinity
        if hourCalls + 1 > budget.maxCallsPerHour {
            return .failure(BudgetDenied(window: "hour", detail:
                "\(hourCalls) requests in the last hour, max_calls_per_hour \(budget.maxCallsPerHour)"))
        }
        if cycleUsd + worst > budget.maxCostPerCycleUsd + Self.epsilon {
            return .failure(BudgetDenied(window: "cycle", detail:
                "worst case $\(usd(worst)) on top of $\(usd(cycleUsd)) exceeds max_cost_per_cycle_usd $\(usd(budget.maxCostPerCycleUsd))"))
        }
        if dayUsd + worst > budget.maxCostPerDayUsd + Self.epsilon {
            return .failure(BudgetDenied(window: "day", detail:
                "worst case $\(usd(worst)) on top of $\(usd(dayUsd)) in the last 24h exceeds max_cost_per_day_usd $\(usd(budget.maxCostPerDayUsd))"))
        }
        let reservation = Reservation(id: nextId, worstCaseUsd: worst)
        nextId += 1
        outstanding[reservation.id] = reservation
        callsThisCycle += 1
        return .success(reservation)
    }

    /// Claims one more request (an HTTP retry after a 429/5xx) for a reserved call, if the hourly cap has room:
    /// `max_calls_per_hour` counts requests sent, retries included.
    public func claimRetry(_ reservation: Reservation) -> Bool {
        guard outstanding[reservation.id] != nil, hourCalls + 1 <= budget.maxCallsPerHour else { return false }
        outstanding[reservation.id]?.attempts += 1
        callsThisCycle += 1
        return true
    }

    /// Replaces a reservation by the counted cost of the call (which the caller never lets fall below its floor).
    /// Returns the requests the call was granted (its first and every retry claimed).
    @discardableResult
    public func settle(_ reservation: Reservation, costUsd: Double) -> Int {
        guard let held = outstanding.removeValue(forKey: reservation.id) else { return 0 }
        settledThisCycle += costUsd.isFinite ? max(costUsd, 0) : held.worstCaseUsd
        return held.attempts
    }

    /// Releases a reservation for a call that was never sent (counts no cost, but the call slot stays used).
    public func release(_ reservation: Reservation) {
        settle(reservation, costUsd: 0)
    }

    public func status() -> BudgetStatus {
        BudgetStatus(cycleSpentUsd: Format.round(cycleUsd, 6),
                     cycleRemainingUsd: Format.round(max(budget.maxCostPerCycleUsd - cycleUsd, 0), 6),
                     daySpentUsd: Format.round(dayUsd, 6),
                     dayRemainingUsd: Format.round(max(budget.maxCostPerDayUsd - dayUsd, 0), 6),
                     callsLastHour: hourCalls,
                     callsRemainingThisHour: max(budget.maxCallsPerHour - hourCalls, 0))
    }

    private func usd(_ x: Double) -> String { String(format: "%.6f", x) }
}

/// Prices calls from the dated table and turns reported usage into the cost that is counted.
public struct CostModel: Sendable, Equatable {
    public var price: ModelPrice
    /// Extra prompt tokens per request for roles and message framing (added to the byte-count bound).
    public static let framingTokens = 256

    public init(price: ModelPrice) {
        self.price = price
    }

    /// The table's price for a model. Without an entry, an `openai_compatible` server on a loopback host is
    /// free; anything else (a paid provider, or a remote endpoint that may bill) is refused by config validation
    /// and priced prohibitively here as a second line of defence.
    public static func make(kind: ProviderKind, model: String, baseURL: String, table: PriceTable) -> CostModel {
        if let p = table.models[model] { return CostModel(price: p) }
        let local = kind == .openaiCompatible && Endpoint.isLoopback(kind.endpoint(base: baseURL))
        return local ? CostModel(price: ModelPrice(inputPerMtok: 0, outputPerMtok: 0))
                     : CostModel(price: ModelPrice(inputPerMtok: 1e9, outputPerMtok: 1e9))
    }

    public func usd(input: Int, output: Int) -> Double {
        (Double(input) * price.inputPerMtok + Double(output) * price.outputPerMtok) / 1_000_000
    }

    /// A true upper bound of prompt tokens: byte-level tokenizers never emit fewer than one byte per token.
    public static func worstInputTokens(requestBytes: Int) -> Int { requestBytes + framingTokens }

    /// A sane lower bound: one token per eight bytes (real tokenizers average three to five).
    public static func floorTokens(bytes: Int) -> Int { max(bytes / 8, 1) }

    /// What is counted for one call, and why when it differs from the report.
    public struct Counted: Codable, Sendable, Equatable {
        public var inputTokens: Int
        public var outputTokens: Int
        public var costUsd: Double
        /// Set when the reported usage was missing or implausible and something else was counted.
        public var note: String?
    }

    /// Counts a call: the reported usage when both halves are plausible (at least the byte floor, at most the
    /// worst case); otherwise (missing, zero, below the floor, above the worst case) the whole call at its worst
    /// case, so a provider that under-reports can never buy more calls than an honest one.
    public func count(reported: ReportedUsage?, requestBytes: Int, answerBytes: Int, maxTokens: Int) -> Counted {
        let worstIn = Self.worstInputTokens(requestBytes: requestBytes)
        let floorIn = Self.floorTokens(bytes: requestBytes)
        let floorOut = min(Self.floorTokens(bytes: answerBytes), maxTokens)
        func problem(_ value: Int?, floor: Int, worst: Int, name: String) -> String? {
            guard let value else { return "\(name) usage missing" }
            if value < floor { return "\(name) usage \(value) below the floor \(floor)" }
            if value > worst { return "\(name) usage \(value) above the possible maximum \(worst)" }
            return nil
        }
        let problems = [problem(reported?.inputTokens, floor: floorIn, worst: worstIn, name: "input"),
                        problem(reported?.outputTokens, floor: floorOut, worst: maxTokens, name: "output")].compactMap { $0 }
        guard problems.isEmpty, let input = reported?.inputTokens, let output = reported?.outputTokens else {
            return Counted(inputTokens: worstIn, outputTokens: maxTokens, costUsd: usd(input: worstIn, output: maxTokens),
                           note: problems.joined(separator: "; ") + ": counted the worst case \(worstIn) in, \(maxTokens) out")
        }
        return Counted(inputTokens: input, outputTokens: output, costUsd: usd(input: input, output: output), note: nil)
    }
}
