@testable import Agent
import Alerts
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Logging
import Model
@testable import Risk
import TestSupport
import Testing

/// Ledger events -> operator alerts, end to end through a loopback webhook.
@Suite struct AlertFeedTests {
    func summaryJSON(status: String, error: String?, fallback: String?) async throws -> Data {
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: Fixtures.tempDir()))
        var s = try jsonObject(out.lines.last ?? "")
        s["status"] = status
        s["error"] = error ?? NSNull()
        var review = s["review"] as? [String: Any] ?? [:]
        review["fallback"] = fallback ?? NSNull()
        s["review"] = review
        s["dry_run_orders"] = [Any]()  // DRY_RUN orders are `trade` alerts too; this test counts PAPER fills
        return try JSONSerialization.data(withJSONObject: s)
    }

    @Test func eachKindOfEventBecomesItsAlertOnceAndEveryOutcomeIsRecorded() async throws {
        let receiver = try LoopbackHTTPServer { _ in .text("ok") }
        defer { receiver.stop() }
        let ledger = try Ledger(path: Fixtures.tempDir("alert-feed") + "/agent.sqlite")
        let settings = AlertsConfig(channels: [AlertChannelConfig(name: "hook", kind: .webhook, urlEnv: "HOOK", events: AlertEventKind.allCases)],
                                    timeoutSeconds: 2, maxAttempts: 1)
        let channels = AlertChannel.resolve(settings, environment: ["HOOK": receiver.baseURL + "/hook"]).channels
        let feed = AlertFeed(ledger: ledger, dispatcher: AlertDispatcher(settings: settings, channels: channels),
                             logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, cursor: 0)
        let t = UTC.parse(pinnedNow) ?? 0
        func fill(_ reason: String) -> PaperFill {
            PaperFill(clientOrderId: "o-\(reason)", symbol: "BTC-USD", tier: .core, side: reason == "entry" ? .buy : .sell,
                      quantity: 0.01, price: 90_000, feeUsd: 0.5, liquidity: "taker", time: t, reason: reason)
        }
        try ledger.setMeta(AlertFeed.dailyKey, "2026-11-19")
        try ledger.append([
            try NewEvent.json("c-1", .paperFill, t, symbol: "BTC-USD", fill("entry")),
            try NewEvent.json("c-2", .paperFill, t, symbol: "BTC-USD", fill("stop_loss")),
            try NewEvent.json("c-3", .circuitBreaker, t, BreakerTrip(breaker: "max_daily_loss", value: 6, limit: 5, detail: "down 6% today", action: "halt")),
            try NewEvent.json("c-4", .reviewRequired, t, ReviewRequired(reasons: ["unknown_position ETH-USD: the venue holds 1"])),
            try NewEvent.json("c-5", .reconciliation, t, ReconcileReport(
                venue: "binance", timestamp: UTC.iso8601(t), acted: true,
                discrepancies: [.init(kind: .positionWithoutStop, symbol: "BTC-USD", detail: "0.1 BTC-USD has no working stop", critical: true)])),
            try NewEvent.json("c-6", .halted, t, CycleNote(reason: "kill switch is on: <maintenance>")),
            NewEvent(cycleId: "c-7", type: "cycle_finished", time: t, payload: try await summaryJSON(status: "ERROR", error: "venue timeout", fallback: "skip")),
            try NewEvent.json("c-7", .guardAction, t, symbol: "BTC-USD", GuardAction(
                rule: .flashMove, action: .flatten, symbol: "BTC-USD", value: 6, limit: 5, detail: "BTC-USD -6% in 30 s",
                timeMs: t * 1_000, price: 60_000)),
        ])
        let end = await feed.pass(after: 0)
        #expect(end == (try ledger.lastSeq()) - Int64(receiver.requests.count))
        let sent = try receiver.requests.map { try #require(try JSONSerialization.jsonObject(with: $0.body) as? [String: Any]) }
        let events = sent.compactMap { $0["event"] as? String }
        #expect(Set(events) == ["trade", "exit", "circuit_breaker", "manual_review", "protection_alarm", "halted", "error",
                                "budget_exhausted", "daily_summary", "guard_action"])
        #expect(events.count == 10)
        #expect(sent.first { $0["event"] as? String == "guard_action" }?["text"].map { "\($0)".contains("guard flash_move: flatten BTC-USD") } == true)
        for message in sent {
            #expect((message["text"] as? String)?.contains("(cycle \(message["cycle_id"] as? String ?? "?"))") == true)
        }
        #expect(sent.first { $0["event"] as? String == "daily_summary" }?["text"].map { "\($0)".contains("since 2026-11-19") } == true)
        #expect(try ledger.events(types: ["alert_delivered"]).count == 10)
        #expect(try ledger.meta(AlertFeed.cursorKey) == String(end))

        // The same halt again that day: suppressed, and recorded as such.
        try ledger.append(try NewEvent.json("c-8", .halted, t, CycleNote(reason: "kill switch is on: <maintenance>")))
        _ = await feed.pass(after: end)
        #expect(receiver.requests.count == 10)
        let suppressed = try ledger.events(types: ["alert_suppressed"])
        #expect(suppressed.count == 1)
        #expect(try suppressed.first?.value(AlertDelivery.self).problem == "duplicate: already delivered")
    }
}
