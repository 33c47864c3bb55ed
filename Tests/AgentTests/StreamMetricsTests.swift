@testable import Agent
import Foundation
import Ledger
import Model
@testable import Risk
import TestSupport
import Testing

/// `/metrics` shows the venue streams (up or down, how often they reconnected) and the between-cycle guard's actions,
/// derived from the ledger like every other family.
@Suite struct StreamMetricsTests {
    @Test func streamsAndGuardActionsAreMetrics() throws {
        let dir = Fixtures.tempDir("stream-metrics")
        let ledger = try Ledger(path: dir + "/agent.sqlite")
        let t: Int64 = 1_795_212_000
        try ledger.append([
            try NewEvent.json("c-1", .streamConnected, t, StreamNote(stream: "binance_market", detail: "subscribed")),
            try NewEvent.json("c-1", .streamDisconnected, t, StreamNote(stream: "binance_market", detail: "closed")),
            try NewEvent.json("c-1", .streamConnected, t, StreamNote(stream: "binance_market", detail: "subscribed")),
            try NewEvent.json("c-1", .streamStalled, t, StreamNote(stream: "binance_user", detail: "no message for 30 s")),
            try NewEvent.json("c-1", .guardAction, t, symbol: "BTC-USD", GuardAction(
                rule: .margin, action: .reduce, symbol: "BTC-USD", value: 0.72, limit: 0.7, detail: "margin ratio 72%",
                timeMs: t * 1_000, price: 60_000)),
        ])
        let text = LedgerMetricsFeed(ledger: ledger, dataDir: dir).render()
        #expect(text.contains(#"agent_stream_events_total{stream="binance_market",event="connected"} 2"#), "\(text)")
        #expect(text.contains(#"agent_stream_events_total{stream="binance_market",event="disconnected"} 1"#))
        #expect(text.contains(#"agent_stream_up{stream="binance_market"} 1"#))
        #expect(text.contains(#"agent_stream_up{stream="binance_user"} 0"#))
        #expect(text.contains(#"agent_guard_actions_total{rule="margin",action="reduce"} 1"#))
    }
}
