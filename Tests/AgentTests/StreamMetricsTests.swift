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

/// Message rates: the watch counts every stream message per kind, the next cycle's summary carries the counts, and
/// `/metrics` sums them from the ledger's summaries (so they survive restarts), and `agent show` prints them.
@Suite struct StreamMessageRateTests {
    @Test func theKeeperHandsTheCountsToOneCycleOnly() throws {
        let keeper = GuardKeeper(BetweenCycleGuard(policy: try Fixtures.defaults([]).policy))
        for _ in 0..<3 { keeper.countMessage(.mark) }
        keeper.countMessage(.quote)
        keeper.countMessage(.order)
        let first = keeper.takeForCycle().messages
        #expect(first == [StreamMessageCount(kind: .mark, count: 3), StreamMessageCount(kind: .order, count: 1),
                          StreamMessageCount(kind: .quote, count: 1)])
        #expect(keeper.takeForCycle().messages.isEmpty)
    }

    /// The cycle takes the counts the watch made since the last cycle into its summary, and the ledger's copy.
    @Test func theNextCycleSummaryCarriesTheCounts() async throws {
        let dir = Fixtures.tempDir("stream-rates-cycle")
        var runner = try makeRunner(dataDir: dir)
        let keeper = GuardKeeper(BetweenCycleGuard(policy: runner.config.policy))
        runner.guardKeeper = keeper
        for _ in 0..<2 { keeper.countMessage(.mark) }
        keeper.countMessage(.heartbeat)
        let summary = await runner.run(at: decisionTime)
        #expect(summary.streamMessages == [StreamMessageCount(kind: .heartbeat, count: 1), StreamMessageCount(kind: .mark, count: 2)])
        let recorded = try #require(try runner.ledger?.events(types: ["cycle_finished"]).last).value(.cycleFinished)
        #expect(recorded.streamMessages == summary.streamMessages)
        #expect(await runner.run(at: decisionTime + 3_600).streamMessages.isEmpty)
    }

    @Test func summariesAddUpToTheMessageCounter() async throws {
        let dir = Fixtures.tempDir("stream-rates")
        let template = await (try makeRunner(dataDir: dir + "/template")).run(at: decisionTime)
        let ledger = try Ledger(path: dir + "/agent.sqlite")
        let t: Int64 = 1_795_212_000
        var first = template
        first.cycleId = "c-1"
        first.streamMessages = [StreamMessageCount(kind: .mark, count: 60), StreamMessageCount(kind: .quote, count: 200)]
        var second = template
        second.cycleId = "c-2"
        second.streamMessages = [StreamMessageCount(kind: .mark, count: 59)]
        try ledger.append([try NewEvent.json("c-1", .cycleFinished, t, first), try NewEvent.json("c-2", .cycleFinished, t + 60, second)])
        let text = LedgerMetricsFeed(ledger: ledger, dataDir: dir).render()
        #expect(text.contains(#"agent_stream_messages_total{kind="mark"} 119"#), "\(text)")
        #expect(text.contains(#"agent_stream_messages_total{kind="quote"} 200"#))
        let shown = try CycleTrail.text(cycleId: "c-1", events: ledger.events(cycleId: "c-1"))
        #expect(shown.contains("stream messages since the last cycle: mark 60, quote 200"), "\(shown)")
    }
}
