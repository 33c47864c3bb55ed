// Ledger events -> operator alerts. After each cycle the run loop calls `cycleFinished()`, which returns at
// once: a detached task reads the events appended since the last pass (by seq), turns the interesting ones
// into messages and hands them to the dispatcher; every outcome is recorded as a ledger event. A slow or
// unreachable channel therefore never delays or fails a cycle.

import Alerts
import Config
import Engine
import Execution
import Foundation
import Ledger
import LiveExecution
import Logging
import Model
import Review
import Risk

/// The alert outcome events (`AlertDelivery` payloads).
extension EventType where Payload == AlertDelivery {
    static var alertDelivered: Self { Self(.alertDelivered) }
    static var alertFailed: Self { Self(.alertFailed) }
    static var alertSuppressed: Self { Self(.alertSuppressed) }
}

enum AlertRecord {
    static func type(_ outcome: AlertDelivery.Outcome) -> EventType<AlertDelivery> {
        switch outcome {
        case .delivered: .alertDelivered
        case .failed: .alertFailed
        case .suppressed: .alertSuppressed
        }
    }
}

final class AlertFeed: Sendable {
    static let sourceKinds: [EventKind] = [.cycleFinished, .halted, .circuitBreaker, .reviewRequired, .reconciliation,
                                           .paperFill, .liveFill, .protectionAlarm, .guardAction]
    static let cursorKey = "alerts.cursor"
    static let dailyKey = "alerts.daily_summary_day"

    let ledger: Ledger
    let dispatcher: AlertDispatcher
    let logger: Logger
    private let pump: Pump
    /// Passes requested and not yet finished (counted before the task starts, so `drain` cannot miss one).
    private let inFlight = PassCount()

    /// Nil when no channel is configured. Channels whose variable is unset are named in a warning (never a URL).
    static func make(config: AlertsConfig, ledger: Ledger, environment: [String: String], logger: Logger) -> AlertFeed? {
        guard !config.channels.isEmpty else { return nil }
        let (channels, missing) = AlertChannel.resolve(config, environment: environment)
        if !missing.isEmpty { logger.warning("alert channels without a URL are skipped", metadata: ["channels": "\(missing.joined(separator: "; "))"]) }
        guard !channels.isEmpty else { return nil }
        var sent: [String: Set<String>] = [:]
        for e in (try? ledger.events(kinds: [.alertDelivered], beforeSeq: nil, limit: 2_000)) ?? [] {
            if let d = try? e.value(.alertDelivered) { sent[d.channel, default: []].insert(d.key) }
        }
        let start = (try? ledger.meta(cursorKey)).flatMap { $0.flatMap { Int64($0) } } ?? ((try? ledger.lastSeq()) ?? 0)
        return AlertFeed(ledger: ledger, dispatcher: AlertDispatcher(settings: config, channels: channels, alreadySent: sent),
                         logger: logger, cursor: start)
    }

    init(ledger: Ledger, dispatcher: AlertDispatcher, logger: Logger, cursor: Int64) {
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.logger = logger
        self.pump = Pump(cursor: cursor)
    }

    /// Returns immediately; the delivery pass runs on its own task.
    func cycleFinished() {
        let feed = self
        inFlight.add(1)
        Task.detached(priority: .utility) {
            await feed.pump.run(feed)
            feed.inFlight.add(-1)
        }
    }

    /// Waits (at most `seconds`) for passes in flight: for `--once`, whose process ends after the cycle.
    func drain(seconds: Double) async {
        let deadline = Date().addingTimeInterval(seconds)
        while inFlight.value > 0, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Serializes passes; a pass requested while one runs is folded into a follow-up pass.
    actor Pump {
        var cursor: Int64
        var running = false
        var again = false

        init(cursor: Int64) { self.cursor = cursor }

        func run(_ feed: AlertFeed) async {
            if running { again = true; return }
            running = true
            repeat {
                again = false
                cursor = await feed.pass(after: cursor)
            } while again
            running = false
        }
    }

    /// One pass: events after `cursor` -> messages -> deliveries -> ledger. Returns the new cursor.
    func pass(after cursor: Int64) async -> Int64 {
        do {
            let end = try ledger.lastSeq()
            var messages: [AlertMessage] = []
            try ledger.forEach(afterSeq: cursor, types: Self.sourceKinds.map(\.rawValue)) { e in
                if e.seq <= end { messages += try self.messages(for: e) }
            }
            let outcomes = await dispatcher.deliver(messages)
            try ledger.append(outcomes.map { d in
                try NewEvent.json(d.cycleId, AlertRecord.type(d.outcome), UTC.now(), d)
            })
            for d in outcomes where d.outcome == .failed {
                logger.warning("alert not delivered", metadata: ["channel": "\(d.channel)", "event": "\(d.event.rawValue)",
                                                                  "attempts": "\(d.attempts)", "problem": "\(d.problem ?? "")"])
            }
            try ledger.setMeta(Self.cursorKey, String(end))
            return end
        } catch {
            logger.error("alert pass failed", metadata: ["error": "\(error)"])
            return cursor
        }
    }

    /// The alerts one ledger event gives (most give none).
    func messages(for e: LedgerEvent) throws -> [AlertMessage] {
        let day = UTC.iso8601(e.time).prefix(10)
        func message(_ kind: AlertEventKind, _ title: String, _ text: String, key: String) -> AlertMessage {
            AlertMessage(event: kind, cycleId: e.cycleId, title: title, text: text, key: key)
        }
        switch e.kind {
        case .cycleFinished?:
            guard let s = try? e.value(.cycleFinished) else { return [] }
            var out: [AlertMessage] = []
            if s.status == .error {
                out.append(message(.error, "cycle failed", s.error ?? "the cycle failed", key: "error#\(e.seq)"))
            }
            if let fallback = s.review.fallback {
                out.append(message(.budgetExhausted, "AI budget exhausted",
                                   "reviews fell back to \(fallback) (spent $\(Format.number(s.review.costUsd)) this cycle)", key: "budget:\(day):\(fallback)"))
            }
            for o in s.dryRunOrders {
                out.append(message(.trade, "DRY_RUN order", "would \(o.side.rawValue) \(o.symbol) \(Format.number(o.sizePct))% = $\(Format.number(o.notionalUsd))",
                                   key: "trade:\(o.clientOrderId)"))
            }
            out += try dailySummary(for: e, day: String(day))
            return out
        case .halted?:
            let reason = (try? e.value(.halted))?.reason ?? "halted"
            return [message(.halted, "HALTED", reason, key: "halted:\(day):\(reason)")]
        case .circuitBreaker?:
            guard let t = try? e.value(.circuitBreaker) else { return [] }
            return [message(.circuitBreaker, "circuit breaker \(t.breaker)", "\(t.detail) (\(t.action))", key: "circuit_breaker:\(day):\(t.breaker)")]
        case .guardAction?:
            guard let a = try? e.value(.guardAction) else { return [] }
            return [message(.guardAction, "guard \(a.rule.rawValue): \(a.action.rawValue)\(a.symbol.map { " \($0)" } ?? "")", a.detail,
                            key: "guard_action#\(e.seq)")]
        case .reviewRequired?:
            guard let r = try? e.value(.reviewRequired) else { return [] }
            return [message(.manualReview, "manual review needed",
                            r.reasons.prefix(3).joined(separator: "; ") + ". Check, then `agent reconcile --ack`.",
                            key: "manual_review:\(r.reasons.joined(separator: "|"))")]
        case .reconciliation?:
            guard let r = try? e.value(.reconciliation) else { return [] }
            return r.discrepancies.filter { $0.kind == .positionWithoutStop }.map {
                message(.protectionAlarm, "position without a stop", $0.detail, key: "protection:\(day):\($0.symbol ?? "")")
            }
        case .protectionAlarm?:
            let text = String(decoding: e.payload, as: UTF8.self).prefix(300)
            return [message(.protectionAlarm, "protection alarm", String(text), key: "protection_alarm#\(e.seq)")]
        case .paperFill?:
            guard let f = try? e.value(.paperFill) else { return [] }
            let what = "\(f.side.rawValue) \(Format.number(f.quantity)) \(f.symbol) @ \(Format.number(f.price))"
            return f.reason == "entry"
                ? [message(.trade, "PAPER entry", what, key: "fill#\(e.seq)")]
                : [message(.exit, "PAPER exit (\(f.reason))", what, key: "fill#\(e.seq)")]
        case .liveFill?:
            guard let f = try? e.value(.liveFill) else { return [] }
            let what = "\(f.side.rawValue) \(Dec.text(f.quantity)) \(f.symbol) @ \(Dec.text(f.price))"
            return f.purpose == .entry
                ? [message(.trade, "LIVE entry", what, key: "fill#\(e.seq)")]
                : [message(.exit, "LIVE exit (\(f.purpose.rawValue))", what, key: "fill#\(e.seq)")]
        default:
            return []
        }
    }

    /// On the first cycle of a new UTC day: a summary of the day before.
    private func dailySummary(for e: LedgerEvent, day: String) throws -> [AlertMessage] {
        let previous = try ledger.meta(Self.dailyKey)
        guard previous != day else { return [] }
        try ledger.setMeta(Self.dailyKey, day)
        guard let previous, previous < day, let start = UTC.parse(previous + "T00:00:00Z") else { return [] }
        let report = try Auditor.report(ledger: ledger, since: start, check: nil)
        let statuses = report.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let equity = (try? ledger.events(kinds: [.cycleFinished], beforeSeq: e.seq + 1, limit: 1).first?.value(.cycleFinished))?.portfolio.equityUsd
        let text = "since \(previous): \(report.cycles) cycles (\(statuses)), \(report.halts) halts, AI $\(String(format: "%.4f", report.aiCostUsd))"
            + (equity.map { ", equity $\(Format.number($0))" } ?? "")
        return [AlertMessage(event: .dailySummary, cycleId: e.cycleId, title: "daily summary", text: text, key: "daily:\(previous)")]
    }
}

/// A lock-guarded count of alert passes in flight.
final class PassCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add(_ n: Int) { lock.withLock { count += n } }
}
