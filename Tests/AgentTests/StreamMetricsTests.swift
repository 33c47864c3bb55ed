@testable import Agent
@testable import Engine
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

    /// `agent show` prints every stream event and guard action of a cycle, each with its own kind (the four stream
    /// events share one payload, read through `EventType.streamEvents`).
    @Test func theCycleTrailShowsStreamEventsAndGuardActions() throws {
        let dir = Fixtures.tempDir("stream-trail")
        let ledger = try Ledger(path: dir + "/agent.sqlite")
        let t: Int64 = 1_795_212_000
        try ledger.append([
            try NewEvent.json("c-9", .streamConnected, t, StreamNote(stream: "binance.market", detail: "subscribed")),
            try NewEvent.json("c-9", .streamDisconnected, t, StreamNote(stream: "binance.market", detail: "closed by the venue")),
            try NewEvent.json("c-9", .streamStalled, t, StreamNote(stream: "binance.private", detail: "no message for 30 s")),
            try NewEvent.json("c-9", .streamResync, t, StreamNote(stream: "coinbase", detail: "sequence gap")),
            try NewEvent.json("c-9", .guardAction, t, symbol: "BTC-USD", GuardAction(
                rule: .flashMove, action: .flatten, symbol: "BTC-USD", value: 6.1, limit: 5, detail: "6.1% in 30 s",
                timeMs: t * 1_000, price: 60_000)),
        ])
        let text = try CycleTrail.text(cycleId: "c-9", events: ledger.events(cycleId: "c-9"))
        #expect(text.contains("Stream binance.market connected: subscribed"), "\(text)")
        #expect(text.contains("Stream binance.market disconnected: closed by the venue"))
        #expect(text.contains("Stream binance.private stalled: no message for 30 s"))
        #expect(text.contains("Stream coinbase resync: sequence gap"))
        #expect(text.contains("GUARD flash_move -> flatten BTC-USD: 6.1% in 30 s"))
    }
}
