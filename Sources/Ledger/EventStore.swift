import Foundation
import Model

/// Where a cycle's events go: the SQLite `Ledger` for PAPER and LIVE (and DRY_RUN), or a `MemoryEventStore` for
/// backtests. The cycle cannot tell them apart; what differs is only what is kept.
public protocol EventStore: Sendable {
    /// Whether events of `kind` are kept. A store that drops a kind is never handed its payload, so a backtest
    /// does not pay for encoding the universe of every bar.
    func keeps(_ kind: EventKind) -> Bool
    /// Appends atomically, in order; returns the assigned seqs.
    @discardableResult
    func append(_ events: [NewEvent]) throws(LedgerError) -> [Int64]
    /// Streams kept events with `seq > afterSeq` (of `types`, nil = all) in seq order.
    func forEach(afterSeq: Int64, types: [String]?, _ body: (LedgerEvent) throws -> Void) throws
    /// Kept events matching the filter (see `Ledger.events`).
    func events(types: [String]?, since: Int64?, symbol: String?, afterSeq: Int64, limit: Int?,
                newestFirst: Bool) throws(LedgerError) -> [LedgerEvent]
    /// The highest seq assigned so far (0 when empty).
    func lastSeq() throws(LedgerError) -> Int64
}

extension Ledger: EventStore {
    public func keeps(_ kind: EventKind) -> Bool { true }
}

extension EventStore {
    /// Kept events of `types` from `since` on, oldest first.
    public func events(types: [String], since: Int64? = nil, limit: Int? = nil, newestFirst: Bool = false) throws(LedgerError) -> [LedgerEvent] {
        try events(types: types, since: since, symbol: nil, afterSeq: 0, limit: limit, newestFirst: newestFirst)
    }

    /// Streams every kept event of `types`.
    public func forEach(types: [String], _ body: (LedgerEvent) throws -> Void) throws {
        try forEach(afterSeq: 0, types: types, body)
    }

    /// Streams every kept event of `kinds` after `afterSeq`, in seq order.
    public func forEach(afterSeq: Int64 = 0, kinds: [EventKind], _ body: (LedgerEvent) throws -> Void) throws {
        try forEach(afterSeq: afterSeq, types: kinds.map(\.rawValue), body)
    }

    /// Kept events of `kinds` from `since` on, oldest first (or newest first).
    public func events(kinds: [EventKind], since: Int64? = nil, limit: Int? = nil, newestFirst: Bool = false) throws(LedgerError) -> [LedgerEvent] {
        try events(types: kinds.map(\.rawValue), since: since, symbol: nil, afterSeq: 0, limit: limit, newestFirst: newestFirst)
    }
}

extension NewEvent {
    /// An event of `kind` with an already-encoded JSON payload.
    public init(cycleId: String, kind: EventKind, time: Int64, symbol: String? = nil, payload: Data) {
        self.init(cycleId: cycleId, type: kind.rawValue, time: time, symbol: symbol, payload: payload)
    }
}

extension LedgerEvent {
    /// The event's kind (nil for a type this build does not know, e.g. written by a newer one).
    public var kind: EventKind? { EventKind(rawValue: type) }
}

/// The store of a backtest: in memory, and only the kinds the cycle reads back (reviews for spend and cache,
/// news). Everything else a cycle records is dropped unencoded; the engine keeps the portfolio itself.
public final class MemoryEventStore: EventStore, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [LedgerEvent] = []
    private var next: Int64 = 1
    private let kept: Set<EventKind>

    /// The kinds a cycle reads back from its store besides the portfolio: spend windows, the review cache and news.
    public static let readBack: Set<EventKind> = [.review, .newsItem, .newsFetch]

    public init(keeping kinds: Set<EventKind> = MemoryEventStore.readBack) {
        kept = kinds
    }

    public func keeps(_ kind: EventKind) -> Bool { kept.contains(kind) }

    @discardableResult
    public func append(_ events: [NewEvent]) throws(LedgerError) -> [Int64] {
        lock.withLock {
            var seqs: [Int64] = []
            for e in events {
                let seq = next
                next += 1
                seqs.append(seq)
                guard let kind = EventKind(rawValue: e.type), kept.contains(kind) else { continue }
                stored.append(LedgerEvent(seq: seq, cycleId: e.cycleId, type: e.type, time: e.time, recordedAt: 0,
                                          symbol: e.symbol, payload: e.payload))
            }
            return seqs
        }
    }

    public func forEach(afterSeq: Int64, types: [String]?, _ body: (LedgerEvent) throws -> Void) throws {
        let wanted = types.map(Set.init)
        for event in snapshot() where event.seq > afterSeq && (wanted?.contains(event.type) ?? true) {
            try body(event)
        }
    }

    public func events(types: [String]?, since: Int64?, symbol: String?, afterSeq: Int64, limit: Int?,
                       newestFirst: Bool) throws(LedgerError) -> [LedgerEvent] {
        let wanted = types.map(Set.init)
        var out = snapshot().filter { e in
            e.seq > afterSeq && (wanted?.contains(e.type) ?? true) && (since.map { e.time >= $0 } ?? true)
                && (symbol.map { e.symbol == $0 } ?? true)
        }
        if newestFirst { out.reverse() }
        if let limit { out = Array(out.prefix(max(0, limit))) }
        return out
    }

    public func lastSeq() throws(LedgerError) -> Int64 { lock.withLock { next - 1 } }

    private func snapshot() -> [LedgerEvent] { lock.withLock { stored } }
}
