@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
@testable import Risk
import TestSupport
import Testing

/// Each breaker trips at its threshold and not before.
@Suite struct CircuitBreakerTests {
    let policy: PolicyConfig
    let now: Int64 = 1_795_212_000

    init() throws { policy = try Fixtures.defaults().policy }

    /// A snapshot whose newest bar closed `minutesAgo` before `now`.
    func snapshot(closedMinutesAgo minutesAgo: Int64 = 30) -> MarketSnapshot {
        let close = now - minutesAgo * 60
        let bar = Candle(time: close - 3_600, open: 1, high: 1, low: 1, close: 1, volume: 1)
        return MarketSnapshot(time: now, symbols: [SymbolSnapshot(symbol: "BTC-USD", candles: [bar], bid: 1, ask: 1,
                                                                  bidDepthUSD: 1, askDepthUSD: 1, volume24hUSD: 1)])
    }

    func trips(_ state: PortfolioState, _ snap: MarketSnapshot? = nil) -> [String] {
        CircuitBreakers.evaluate(policy, state: state, snapshot: snap ?? snapshot(), now: now).map(\.breaker)
    }

    func state(equity: Double = 10_000, peak: Double? = nil, dayStart: Double? = nil, weekStart: Double? = nil) -> PortfolioState {
        PortfolioState(equityUsd: equity, peakEquityUsd: peak, dayStartEquityUsd: dayStart, weekStartEquityUsd: weekStart)
    }

    @Test func aCalmBookTripsNothing() {
        #expect(trips(state()).isEmpty)
    }

    @Test func drawdownTripsAtTheLimitWithTheKillSwitch() {
        #expect(trips(state(equity: 9_000.01, peak: 10_000, dayStart: 9_000.01, weekStart: 9_000.01)).isEmpty)   // 9.9999%
        let at = CircuitBreakers.evaluate(policy, state: state(equity: 9_000, peak: 10_000, dayStart: 9_000, weekStart: 9_000),
                                          snapshot: snapshot(), now: now)
        #expect(at.map(\.breaker) == ["max_drawdown"])
        #expect(at.first?.action == "kill_switch")
    }

    @Test func dailyAndWeeklyStopsTripAtTheirLimits() {
        #expect(trips(state(equity: 9_701, peak: 10_000, dayStart: 10_000, weekStart: 9_701)).isEmpty)
        #expect(trips(state(equity: 9_700, peak: 10_000, dayStart: 10_000, weekStart: 9_700)) == ["daily_stop_loss"])
        #expect(trips(state(equity: 9_301, peak: 9_301, dayStart: 9_301, weekStart: 10_000)).isEmpty)
        #expect(trips(state(equity: 9_300, peak: 9_300, dayStart: 9_300, weekStart: 10_000)) == ["weekly_stop_loss"])
    }

    @Test func consecutiveLossesCoolDownForTheirTime() {
        var s = state()
        s.consecutiveLosses = 2
        s.lastLossTime = now - 60
        #expect(trips(s).isEmpty)
        s.consecutiveLosses = 3
        #expect(trips(s) == ["consecutive_loss_cooldown"])
        s.lastLossTime = now - 240 * 60   // the cooldown is over
        #expect(trips(s).isEmpty)
    }

    @Test func lossesWithin24hCoolDown() {
        var s = state()
        s.lossTimes = [now - 80_000, now - 50_000, now - 20_000, now - 600]
        #expect(trips(s).isEmpty)
        s.lossTimes.append(now - 300)
        #expect(trips(s) == ["losses_24h_cooldown"])
        s.lossTimes[0] = now - 90_000    // outside the 24h window again
        #expect(trips(s).isEmpty)
    }

    @Test func staleDataStopsEntries() {
        #expect(trips(state(), snapshot(closedMinutesAgo: 120)).isEmpty)
        #expect(trips(state(), snapshot(closedMinutesAgo: 121)) == ["stale_data"])
        #expect(trips(state(), MarketSnapshot(time: now, symbols: [])) == ["stale_data"])
    }

    /// In a real PAPER cycle, a drawdown trip halts before any review, turns the kill switch on and, when the
    /// policy says so, flattens every position.
    @Test func aDrawdownTripHaltsKillsAndFlattens() async throws {
        let data = Fixtures.tempDir()
        let runner = try makeRunner(dataDir: data, overrides: ["policy.circuit_breakers.flatten_on_kill=true"], mode: .paper)
        let first = await runner.run(at: decisionTime)
        #expect(first.status == .executed)
        // An earlier peak far above today's equity: a 50% drawdown.
        try runner.ledger!.append(NewEvent.json("c-test", "equity", decisionTime - 86_400 * 3,
                                               EquityPoint(equityUsd: 20_000, cashUsd: 20_000, openPositions: 0, marks: [])))
        let halted = await runner.run(at: decisionTime + 3_600)
        #expect(halted.status == .halted)
        #expect(halted.circuitBreakers.map(\.breaker).contains("max_drawdown"))
        #expect(halted.review.calls == 0 && halted.decisions.isEmpty)
        #expect(runner.killSwitch.status().isOn)
        #expect(!halted.exits.isEmpty && halted.exits.allSatisfy { $0.reason == "flatten" })
        let book = try Portfolio.rebuild(store: runner.ledger!, mode: .paper, startingEquity: 10_000).0
        #expect(book.account.positions.isEmpty)
        let events = try runner.ledger!.events(cycleId: halted.cycleId).map(\.type)
        #expect(events.contains("circuit_breaker"))
        #expect(!events.contains("review"))
    }

    /// A market that cannot be read is a recorded breaker and an ERROR, never a crash.
    @Test func anUnreachableVenueIsRecorded() async throws {
        struct Down: MarketDataSource {
            var name: String { "down" }
            func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
                throw MarketError(source: "down", message: "connection refused")
            }
        }
        let data = Fixtures.tempDir()
        var runner = try makeRunner(dataDir: data)
        runner.market = Down()
        let s = await runner.run(at: decisionTime)
        #expect(s.status == .error)
        let trip = try runner.ledger!.events(types: ["circuit_breaker"]).first?.value(BreakerTrip.self)
        #expect(trip?.breaker == "venue_disconnected")
        #expect(trip?.detail.contains("connection refused") == true)
    }
}
