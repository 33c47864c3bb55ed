import Engine
import Foundation
import Ledger
import Model
import Review
import Risk
import Serve

/// Derives the `/metrics` families from the ledger: counters from every event since seq 0 (so they survive
/// restarts), gauges from the latest state. Each scrape reads only the events appended since the last one.
/// Blocking (ledger reads): callers run it off the cooperative pool. Scrapes are serialized by a lock.
final class LedgerMetricsFeed: @unchecked Sendable {
    static let eventKinds: [EventKind] = [.cycleFinished, .cycleFailed, .cycleAbandoned, .review, .policyEvaluation, .alertFailed,
                                          .streamConnected, .streamDisconnected, .streamStalled, .streamResync, .guardAction]

    let ledger: Ledger
    let dataDir: String
    private let metrics = OperatorMetrics()
    private var cursor: Int64 = 0
    private var lastSummary: CycleSummary?
    private let lock = NSLock()

    init(ledger: Ledger, dataDir: String) {
        self.ledger = ledger
        self.dataDir = dataDir
    }

    /// Reads new events and renders the exposition.
    func render() -> String {
        lock.withLock {
            do {
                try refresh()
            } catch {
                metrics.error(kind: "metrics_read")
            }
            return metrics.render()
        }
    }

    private func refresh() throws {
        let end = try ledger.lastSeq()
        guard end > cursor else { return updateGauges() }
        try ledger.forEach(afterSeq: cursor, kinds: Self.eventKinds) { e in
            guard e.seq <= end else { return }
            switch e.kind {
            case .cycleFinished:
                guard let s = try? e.value(.cycleFinished) else { metrics.error(kind: "unreadable_event"); return }
                let t = s.timingsMs
                metrics.cycleFinished(status: s.status.rawValue, stageMilliseconds: [
                    "universe": t.universe, "triggers": t.triggers, "rules": t.rules, "review": t.review,
                    "risk": t.risk, "execution": t.execution, "total": t.total,
                ])
                if s.status == .error { metrics.error(kind: "cycle") }
                for m in s.streamMessages { metrics.streamMessages(kind: m.kind.rawValue, count: m.count) }
                lastSummary = s
            case .cycleFailed: break  // counted through its cycle_finished (status ERROR)
            case .cycleAbandoned: metrics.error(kind: "cycle_abandoned")
            case .alertFailed: metrics.error(kind: "alert_delivery")
            case .review:
                guard let tier = try? e.value(.review) else { return }
                metrics.aiCalls(tier: tier.reviewer.rawValue, source: tier.answer.source)
                if tier.answer.failure != nil { metrics.error(kind: "reviewer") }
            case .policyEvaluation:
                guard let d = try? e.value(.policyEvaluation) else { return }
                for check in d.violatedChecks { metrics.policyViolation(check: check) }
            case .streamConnected, .streamDisconnected, .streamStalled, .streamResync:
                guard let note = try? e.value(oneOf: EventType.streamEvents) else { return }
                metrics.streamEvent(stream: note.stream, event: String(e.type.dropFirst("stream_".count)))
            case .guardAction:
                guard let a = try? e.value(.guardAction) else { return }
                metrics.guardAction(rule: a.rule.rawValue, action: a.action.rawValue)
            default: break
            }
        }
        cursor = end
        updateGauges()
    }

    private func updateGauges() {
        let kill = KillSwitch(dataDir: dataDir).status()
        metrics.halted(kill.isOn || lastSummary?.status == .halted)
        if let s = lastSummary {
            metrics.equity(usd: s.portfolio.equityUsd)
            metrics.openPositions(s.portfolio.openPositions)
            metrics.aiSpend(window: "cycle", usd: s.review.costUsd)
            if let rem = s.review.remaining {
                metrics.aiSpend(window: "day", usd: rem.daySpentUsd)
            }
        }
        // The share of the venue's request budget the last cycle ended at (0 for sim and replays).
        metrics.venueWeightUsed(lastSummary?.venueWeightUsed ?? 0)
    }
}
