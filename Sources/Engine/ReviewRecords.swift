import Config
import Foundation
import Ledger
import Model
import Review
import Risk

/// Payload of `cycle_inputs`: everything besides proposals and reviews that the policy and the reviewers saw,
/// so a recorded cycle can be replayed without the market or the network.
public struct CycleInputs: Codable, Sendable, Equatable {
    public var tape: [TapeFacts]
    public var state: PortfolioState
    /// News items given to M1 this cycle.
    public var news: [NewsItem]
    /// M1's earlier news risk flags still in play.
    public var newsRiskHistory: [NewsRiskFlag]
    public var killSwitchOn: Bool

    package init(tape: [TapeFacts], state: PortfolioState, news: [NewsItem], newsRiskHistory: [NewsRiskFlag], killSwitchOn: Bool) {
        self.tape = tape
        self.state = state
        self.news = news
        self.newsRiskHistory = newsRiskHistory
        self.killSwitchOn = killSwitchOn
    }
}

/// Payload of `shadow`: the rules-only decision of every proposal next to the decision with reviews.
public struct ShadowOutcome: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var proposalId: String
        public var symbol: String
        public var rulesOnlyApproved: Bool
        public var rulesOnlySizePct: Double
        public var rulesOnlyViolatedChecks: [String]
        public var approved: Bool
        public var sizePct: Double
        /// `unchanged`, `blocked` (the AI tier turned an approval into a rejection), `enabled` (the reverse),
        /// `resized` (approved either way, different size).
        public var effect: String

        package init(proposalId: String, symbol: String, rulesOnlyApproved: Bool, rulesOnlySizePct: Double, rulesOnlyViolatedChecks: [String], approved: Bool, sizePct: Double, effect: String) {
            self.proposalId = proposalId
            self.symbol = symbol
            self.rulesOnlyApproved = rulesOnlyApproved
            self.rulesOnlySizePct = rulesOnlySizePct
            self.rulesOnlyViolatedChecks = rulesOnlyViolatedChecks
            self.approved = approved
            self.sizePct = sizePct
            self.effect = effect
        }
    }

    /// Counts for the `--once` summary and the audit.
    public struct Counts: Codable, Sendable, Equatable {
        public var changed: Int
        public var blocked: Int
        public var enabled: Int
        public var resized: Int

        package init(changed: Int, blocked: Int, enabled: Int, resized: Int) {
            self.changed = changed
            self.blocked = blocked
            self.enabled = enabled
            self.resized = resized
        }
    }

    public var entries: [Entry]

    public init(withReviews: [Decision], rulesOnly: [Decision]) {
        entries = zip(withReviews, rulesOnly).map { d, r in
            let effect: String
            switch (r.approved, d.approved) {
            case (true, false): effect = "blocked"
            case (false, true): effect = "enabled"
            case (true, true) where abs(d.sizePct - r.sizePct) > 1e-9: effect = "resized"
            default: effect = "unchanged"
            }
            return Entry(proposalId: d.proposalId, symbol: d.symbol, rulesOnlyApproved: r.approved,
                         rulesOnlySizePct: Format.round(r.sizePct), rulesOnlyViolatedChecks: r.violatedChecks,
                         approved: d.approved, sizePct: Format.round(d.sizePct), effect: effect)
        }
    }

    public var counts: Counts {
        Counts(changed: entries.filter { $0.effect != "unchanged" }.count,
               blocked: entries.filter { $0.effect == "blocked" }.count,
               enabled: entries.filter { $0.effect == "enabled" }.count,
               resized: entries.filter { $0.effect == "resized" }.count)
    }
}

/// What earlier `review` events say: AI spend in the rolling day (hour windows are a subset), live cache
/// entries and M1's news risk flags. Derived from the ledger alone, so nothing depends on process memory; the
/// process only keeps the derived records between cycles (`ReviewHistoryStore`) so that a cycle decodes the
/// review events appended since the previous one instead of every review event of the last day.
package struct ReviewHistory {
    package var spend: [SpendEntry] = []
    package var cache: [String: CachedReview] = [:]
    package var newsRisk: [NewsRiskFlag] = []

    /// The history from the cycle's store: incremental over the SQLite ledger, a full read of the window otherwise
    /// (a backtest's memory store holds only the reviews of its own run).
    package static func load(store: any EventStore, now: Int64, ttlMinutes: Double, policy: NewsRiskPolicy) throws -> ReviewHistory {
        if let ledger = store as? Ledger { return try load(ledger: ledger, now: now, ttlMinutes: ttlMinutes, policy: policy) }
        return try rebuild(store: store, now: now, ttlMinutes: ttlMinutes, policy: policy)
    }

    package static func load(ledger: Ledger, now: Int64, ttlMinutes: Double, policy: NewsRiskPolicy) throws -> ReviewHistory {
        try ReviewHistoryStore.shared.history(ledger: ledger, now: now, ttlMinutes: ttlMinutes, policy: policy)
    }

    /// The same history from a full read of the window (no state kept): the definition the store must equal.
    package static func rebuild(store: any EventStore, now: Int64, ttlMinutes: Double, policy: NewsRiskPolicy) throws -> ReviewHistory {
        var derived = ReviewHistoryStore.Derived(ledger: store as? Ledger, settings: .init(ttlMinutes: ttlMinutes, policy: policy))
        try derived.advance(to: now, in: store)
        return derived.history(at: now)
    }

    package init(spend: [SpendEntry] = [], cache: [String: CachedReview] = [:], newsRisk: [NewsRiskFlag] = []) {
        self.spend = spend
        self.cache = cache
        self.newsRisk = newsRisk
    }
}

/// The records `ReviewHistory` is made of, per open ledger, carried from cycle to cycle. Equal to a full
/// rebuild as long as decision times do not go backwards; a ledger object it has not seen, other settings or
/// an earlier decision time start from a full read of the window again.
package final class ReviewHistoryStore: @unchecked Sendable {
    package static let shared = ReviewHistoryStore()
    private let lock = NSLock()
    private var states: [ObjectIdentifier: Derived] = [:]

    package struct Settings: Equatable {
        package var ttlMinutes: Double
        package var policy: NewsRiskPolicy

        /// How far back a review event can still matter: the spend day, the cache TTL, the news risk decay.
        package var horizon: Int64 {
            max(86_400, Int64((policy.highRiskBlockHours + policy.mediumRiskHours) * 3_600), Int64(ttlMinutes * 60))
        }

        package init(ttlMinutes: Double, policy: NewsRiskPolicy) {
            self.ttlMinutes = ttlMinutes
            self.policy = policy
        }
    }

    package struct CacheCandidate {
        package var seq: Int64
        package var time: Int64
        package var key: String
        package var review: CachedReview

        package init(seq: Int64, time: Int64, key: String, review: CachedReview) {
            self.seq = seq
            self.time = time
            self.key = key
            self.review = review
        }
    }

    /// What the review events up to `seq` contribute, pruned of what can no longer matter at `now`.
    package struct Derived {
        weak var ledger: Ledger?
        package var settings: Settings
        package var seq: Int64 = 0
        package var now: Int64 = .min
        package var spend: [SpendEntry] = []
        package var cache: [CacheCandidate] = []
        package var flags: [NewsRiskFlag] = []
        /// The latest decision time of any review event read (later than `now` when one was recorded ahead).
        package var latest: Int64 = .min

        package init(ledger: Ledger?, settings: Settings) {
            self.ledger = ledger
            self.settings = settings
        }

        /// Reads the review events appended since the last call (within the window) and drops what expired.
        package mutating func advance(to now: Int64, in store: any EventStore) throws {
            let from = now - settings.horizon
            // The first read takes the window's review events by type and time; later reads take everything
            // after the last event seen (by seq, the primary key: a cycle's worth) and keep the reviews.
            let fresh = seq == 0 ? try store.events(types: [EventKind.review.rawValue], since: from)
                : try store.events(types: nil, since: nil, symbol: nil, afterSeq: seq, limit: nil, newestFirst: false)
            for event in fresh {
                seq = max(seq, event.seq)
                guard event.kind == .review, event.time >= from else { continue }
                latest = max(latest, event.time)
                let record = try event.value(.review)
                let a = record.answer
                if a.callCount > 0 || a.costUsd > 0 {
                    spend.append(SpendEntry(time: event.time, costUsd: a.costUsd, calls: a.httpAttempts))
                }
                if let key = a.cacheKey, a.failure == nil, a.budgetDenied == nil, a.source != ReviewSource.cache.rawValue,
                   a.callCount > 0 {
                    cache.append(CacheCandidate(seq: event.seq, time: event.time, key: key, review: CachedReview(
                        answer: a, cycleId: event.cycleId, expires: event.time + Int64(settings.ttlMinutes * 60))))
                }
                for (symbol, level) in record.newsRiskRated ?? [:] where level != .low {
                    flags.append(NewsRiskFlag(symbol: symbol, level: level, time: event.time))
                }
            }
            self.now = now
            spend.removeAll { $0.time <= now - 86_400 }
            cache.removeAll { $0.review.expires <= now }
            flags.removeAll { $0.time < from }
        }

        /// The history at `now` (events recorded for a later decision time are kept but not counted yet).
        package func history(at now: Int64) -> ReviewHistory {
            var h = ReviewHistory()
            h.spend = latest <= now ? spend : spend.filter { $0.time <= now }
            for c in cache where c.time <= now { h.cache[c.key] = c.review }
            h.newsRisk = flags.filter { $0.time <= now }
                .sorted { $0.time != $1.time ? $0.time < $1.time : $0.symbol < $1.symbol }
            return h
        }
    }

    package func history(ledger: Ledger, now: Int64, ttlMinutes: Double, policy: NewsRiskPolicy) throws -> ReviewHistory {
        let id = ObjectIdentifier(ledger)
        let settings = Settings(ttlMinutes: ttlMinutes, policy: policy)
        // Taken out while it is advanced, so its arrays are not copied on write.
        var derived = lock.withLock { () -> Derived? in
            states = states.filter { $0.value.ledger != nil }
            return states.removeValue(forKey: id)
        }
        if let d = derived, d.ledger !== ledger || d.settings != settings || now < d.now { derived = nil }
        var current = derived ?? Derived(ledger: ledger, settings: settings)
        try current.advance(to: now, in: ledger)
        let result = current.history(at: now)
        lock.withLock { states[id] = current }
        return result
    }
}

extension EventType where Payload == CycleInputs {
    public static var cycleInputs: Self { Self(.cycleInputs) }
}

extension EventType where Payload == ShadowOutcome {
    public static var shadow: Self { Self(.shadow) }
}
