@testable import Agent
import Backtest
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Logging
import Market
import Model
import Pipeline
import Review
@testable import Risk
import TestSupport
import Testing

/// Backtest, PAPER and LIVE run one cycle: the same stages, the same portfolio state, the same exits and the same
/// breakers. These tests would fail if any mode grew its own copy again.
@Suite(.serialized) struct OneEngineTests {
    static let btcPath: String? = {
        let p = URL(fileURLWithPath: Fixtures.repoRoot).deletingLastPathComponent().appendingPathComponent("shared/data/coinbase_btcusd_1h.csv").path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }()
    static let relaxed = ["universe.tiers.tier_1_core.min_24h_volume_usd=1000000", "universe.tiers.tier_1_core.min_depth_usd=10000",
                          "policy.risk.min_24h_volume_usd=1000000"]

    /// A window of `count` consecutive hourly bars from the shared BTC data with no gap, written as a kline CSV.
    static func window(count: Int, dir: String) throws -> (path: String, first: Int64)? {
        guard let path = btcPath else { return nil }
        let all = try CandleCSV.load(path: path, symbol: "BTC-USD").candles
        var start = 0
        for i in 1..<all.count where all[i].time - all[i - 1].time != 3_600 { if i - start >= count { break }; start = i }
        let bars = Array(all[start..<min(all.count, start + count)])
        guard bars.count == count else { return nil }
        var text = "timestamp,open,high,low,close,volume\n"
        for c in bars { text += "\(UTC.iso8601(c.time)),\(c.open),\(c.high),\(c.low),\(c.close),\(c.volume)\n" }
        let out = dir + "/btc.csv"
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        return (out, bars[0].time)
    }

    /// The same candles through `agent backtest` and through PAPER on the simulated clock give the same trades,
    /// field by field (the backtest also closes what is open at the end of the data; PAPER keeps it open).
    @Test func backtestAndPaperOnASimulatedClockTradeIdentically() async throws {
        let dir = Fixtures.tempDir("agent-parity")
        guard let (csv, first) = try Self.window(count: 900, dir: dir) else {
            print("skipped: shared data not found or no gap-free window")
            return
        }
        // CryptoDataDownload rows must be at least `history_hours` old before the first decision.
        let history = 192
        let from = first + Int64(history) * 3_600
        let cycles = 900 - history
        let to = from + Int64(cycles - 1) * 3_600
        let sets = Self.relaxed.flatMap { ["--set", $0] }

        let btTrades = dir + "/bt.csv"
        let bt = try await AgentProcess.run(["backtest", "--data", csv, "--symbol", "BTC-USD", "--from", UTC.iso8601(from),
                                             "--to", UTC.iso8601(to), "--trades", btTrades, "--reviewers", "offline"]
                                            + sets + ["--config-dir", Fixtures.repoRoot + "/config"])
        #expect(bt.status == 0, "\(bt.stderr.suffix(2000))")

        let data = dir + "/paper"
        let config = dir + "/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        try "sim:\n  csv: [{path: \(csv), symbol: BTC-USD}]\n".write(toFile: config + "/app.yaml", atomically: true, encoding: .utf8)
        try "tiers:\n  tier_1_core: {symbols: [BTC-USD]}\n  tier_2_rotational: {symbols: []}\n  tier_3_event_driven: {symbols: []}\n"
            .write(toFile: config + "/universe.yaml", atomically: true, encoding: .utf8)
        let paper = try await AgentProcess.run(["--interval", "60", "--cycles", "\(cycles)", "--now", UTC.iso8601(from),
                                                "--clock", "simulated", "--mode", "PAPER", "--config-dir", config,
                                                "--policy-dir", Fixtures.repoRoot + "/policy", "--prompts-dir", Fixtures.repoRoot + "/prompts",
                                                "--data-dir", data] + sets, timeout: 240)
        #expect(paper.status == 0, "\(paper.stderr.suffix(2000))")
        let paperTrades = dir + "/paper.csv"
        let listed = try await AgentProcess.run(["trades", "--data-dir", data, "--csv", paperTrades])
        #expect(listed.status == 0, "\(listed.stderr)")

        let a = try String(contentsOfFile: btTrades, encoding: .utf8).split(separator: "\n").filter { !$0.hasSuffix(",end_of_data") }
        let b = try String(contentsOfFile: paperTrades, encoding: .utf8).split(separator: "\n")
        #expect(a.first == b.first)
        #expect(a.count > 3, "the window must trade, or the comparison proves nothing: \(a.count - 1) trades")
        #expect(a.count == b.count, "backtest \(a.count - 1) trades, PAPER \(b.count - 1)")
        for (x, y) in zip(a, b) { #expect(x == y) }
    }

    /// A 4h series resampled from a 1h one gives the same regime inputs at 4h-aligned instants: windows are in
    /// hours, not bars.
    @Test func aFourHourSeriesGivesTheRegimeInputsOfItsHourlySource() async throws {
        var hourly: [Candle] = []
        var price = 100.0
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<(24 * 20) {
            // Independent returns (a deterministic generator), so 4h volatility annualises to the 1h one.
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double(seed >> 11) / Double(UInt64(1) << 53) - 0.5
            let next = price * (1 + 0.01 * u + 0.0005)
            hourly.append(Candle(time: 1_700_006_400 + Int64(i) * 3_600, open: price, high: max(price, next) * 1.001,
                                 low: min(price, next) * 0.999, close: next, volume: 10))
            price = next
        }
        var fourHourly: [Candle] = []
        for start in stride(from: 0, to: hourly.count, by: 4) {
            let group = hourly[start..<start + 4]
            fourHourly.append(Candle(time: group.first!.time, open: group.first!.open, high: group.map(\.high).max()!,
                                     low: group.map(\.low).min()!, close: group.last!.close, volume: group.reduce(0) { $0 + $1.volume }))
        }
        let config = try Fixtures.defaults([]).signals.regime
        let one = ReplayMarket(series: [CandleSeries(symbol: "BTC-USD", candles: hourly, source: "1h")])
        let four = ReplayMarket(series: [CandleSeries(symbol: "BTC-USD", candles: fourHourly, source: "4h", interval: 14_400)])
        var compared = 0
        for close in stride(from: hourly[24 * 9].time, to: hourly.last!.time, by: 14_400) {
            guard let a = one.symbolSnapshot("BTC-USD", at: close, historyHours: 240),
                  let b = four.symbolSnapshot("BTC-USD", at: close, historyHours: 240) else { continue }
            #expect(b.interval.seconds == 14_400)
            let ra = RegimeDetector.detect(config, benchmark: a), rb = RegimeDetector.detect(config, benchmark: b)
            #expect(ra.trendPct != nil && ra.trendPct == rb.trendPct)
            #expect(ra.change24hPct == rb.change24hPct)
            // Volatility is sampled at another rate, but annualised with the bar length it agrees within sampling
            // error (scaled as if hourly, the 4h figure would be half as large).
            if let va = ra.volatilityPct, let vb = rb.volatilityPct { #expect(abs(va - vb) / va < 0.35, "\(va) vs \(vb)") }
            #expect(TapeFacts(a).change24hPct == TapeFacts(b).change24hPct)
            compared += 1
        }
        #expect(compared > 20)
        #expect(BarInterval("6h")?.seconds == 21_600 && BarInterval("12h")?.bars(hours: 24) == 2 && BarInterval("2h") != nil)
        #expect(BarInterval("90s") == nil && BarInterval("2d") == nil)
        #expect(BarInterval.inferred(from: fourHourly.map(\.time)) == BarInterval("4h"))
    }

    /// The kill switch turned on while a cycle runs (here: while the market is read) stops that very cycle before
    /// any reviewer is consulted or any order sent.
    @Test func aKillSwitchTurnedOnDuringACycleStopsIt() async throws {
        struct Flipping: MarketDataSource {
            var inner: SimMarket
            var kill: KillSwitch
            var name: String { "sim" }
            func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
                let s = try await inner.snapshot(symbols: symbols, at: time, historyHours: historyHours)
                try kill.turnOn(reason: "pulled mid-cycle", at: time)
                return s
            }
        }
        let data = Fixtures.tempDir()
        var runner = try makeRunner(dataDir: data, mode: .paper)
        runner.market = Flipping(inner: SimMarket(seed: runner.config.app.sim.seed), kill: KillSwitch(dataDir: data))
        let s = await runner.run(at: decisionTime)
        #expect(s.status == .halted)
        #expect(s.violatedChecks == ["kill_switch"])
        #expect(s.review.calls == 0 && s.decisions.isEmpty && s.executedTrades.isEmpty)
        let kinds = try runner.ledger!.events(cycleId: s.cycleId).map(\.type)
        #expect(!kinds.contains("review") && !kinds.contains("order_intent"))
        #expect(kinds.contains("halted"))
    }

    /// The same runner without a ledger: a backtest store keeps no per-bar decoration, and the portfolio lives in
    /// the runner, so nothing is decoded back.
    @Test func aBacktestStoreKeepsOnlyWhatTheCycleReadsBack() throws {
        let store = MemoryEventStore()
        try store.append([NewEvent(cycleId: "c", type: "universe", time: 1, payload: Data("{}".utf8)),
                          NewEvent(cycleId: "c", type: "review", time: 1, payload: Data("{}".utf8))])
        #expect(try store.lastSeq() == 2)
        #expect(try store.events(types: ["universe", "review"]).map(\.type) == ["review"])
        #expect(!store.keeps(.universe) && store.keeps(.review))
    }
}

/// LIVE through the same cycle against the fake Binance venue: breakers read the venue's equity and the losses
/// its fills made, and a drawdown trip flattens on the venue.
@Suite(.serialized) struct LiveBreakerTests {
    static func runner(fake: FakeBinanceVenue, data: String, overrides: [String]) throws -> CycleRunner {
        let key = "k", secret = "s"
        _ = (key, secret)
        let config = try Fixtures.defaults(["app.venues.binance.base_url=\(fake.baseURL)", "app.venues.binance.max_retries=0",
                                            "policy.risk.min_24h_volume_usd=1000", "signals.rules.max_proposals=1",
                                            "universe.tiers.tier_1_core.min_24h_volume_usd=1000",
                                            "universe.tiers.tier_1_core.min_depth_usd=1000", "policy.execution.allow_live=true"] + overrides)
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let desk = try LiveDesk.make(exchange: "binance", config: config, ledger: ledger,
                                     environment: ["BINANCE_API_KEY": fake.apiKey, "BINANCE_API_SECRET": fake.secret])
        let kill = KillSwitch(dataDir: data)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        guard let market = desk.venue as? any MarketDataSource else { throw TestFailure("no market data") }
        var runner = CycleRunner(config: config, mode: .live, exchange: "binance", market: market, ledger: ledger,
                                 board: .offline(policy: config.policy), executor: desk.executor(haltReason: { kill.status().reason }),
                                 killSwitch: kill, logger: logger)
        runner.desk = LivePositions(desk: desk, exits: config.signals.exits, atrPeriod: config.signals.triggers.trend.atrPeriod)
        return runner
    }

    @Test func aDrawdownTripInLiveFlattensTheVenue() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false, apiKey: LiveRig.randomHex(16), secret: LiveRig.randomHex(32))
        fake.setTrend(percentPerHour: 0.4)
        fake.setWallet(20_000)
        let data = Fixtures.tempDir("agent-live-dd")
        let runner = try Self.runner(fake: fake, data: data, overrides: ["policy.circuit_breakers.flatten_on_kill=true"])
        let now = UTC.now()
        let first = await runner.run(at: now)
        #expect(first.status == .executed, "\(first.noTradeReason ?? "") \(first.error ?? "")")
        let held = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].filter { fake.positionAmount($0) != 0 }
        #expect(!held.isEmpty)
        // The summary shows the portfolio after the orders (issue: it used to show the state before them).
        #expect(first.portfolio.openPositions == held.count)
        fake.setWallet(10_000)   // half the equity gone: far past max_drawdown
        let tripped = await runner.run(at: now + 60)
        #expect(tripped.status == .halted)
        #expect(tripped.violatedChecks.contains("max_drawdown"))
        #expect(runner.killSwitch.status().isOn)
        for symbol in held { #expect(fake.positionAmount(symbol) == 0, "\(symbol) still open on the venue") }
        let kinds = try runner.ledger!.events(cycleId: tripped.cycleId).map(\.type)
        #expect(kinds.contains("circuit_breaker") && kinds.contains("live_order_intent"))
    }

    @Test func lossesFromLiveFillsTriggerTheCooldown() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false, apiKey: LiveRig.randomHex(16), secret: LiveRig.randomHex(32))
        fake.setTrend(percentPerHour: 0.4)
        fake.setWallet(20_000)
        let data = Fixtures.tempDir("agent-live-loss")
        let runner = try Self.runner(fake: fake, data: data, overrides: [
            "policy.risk.consecutive_loss_cooldown.losses=1", "policy.risk.consecutive_loss_cooldown.cooldown_minutes=600",
            "policy.risk.daily_stop_loss_pct=50", "policy.risk.max_drawdown_pct=50"])
        let now = UTC.now()
        let first = await runner.run(at: now)
        #expect(first.status == .executed, "\(first.noTradeReason ?? "") \(first.error ?? "")")
        // The venue triggers our stop (below the entry): a losing trade, recorded from the venue's fill.
        let stops = try LiveBook.rebuild(ledger: runner.ledger!).liveOrders.filter { $0.intent.purpose == .stop }
        let stop = try #require(stops.first)
        fake.executeAlgo(stop.intent.clientOrderId, quantity: stop.intent.quantity, finish: true)
        let next = await runner.run(at: now + 60)
        #expect(next.status == .halted, "\(next.noTradeReason ?? "")")
        #expect(next.violatedChecks.contains("consecutive_loss_cooldown"))
        let state = try #require(runner.portfolio).state(now: now + 60, marks: [:])
        #expect(state.consecutiveLosses == 1 && state.lastLossTime != nil && state.lossTimes.count == 1)
    }

    /// The exit policy in LIVE: the ladder rests on the venue as reduce-only take-profits; when the first rung fills,
    /// the stop moves to breakeven and still covers the whole remaining position.
    @Test func theLadderRestsAndTheStopMovesToBreakevenAfterTheFirstRung() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false, apiKey: LiveRig.randomHex(16), secret: LiveRig.randomHex(32))
        fake.setTrend(percentPerHour: 0.4)
        fake.setWallet(20_000)
        let data = Fixtures.tempDir("agent-live-ladder")
        let runner = try Self.runner(fake: fake, data: data, overrides: [])
        let now = UTC.now()
        let first = await runner.run(at: now)
        #expect(first.status == .executed, "\(first.noTradeReason ?? "") \(first.error ?? "")")
        var book = try LiveBook.rebuild(ledger: runner.ledger!)
        let position = try #require(book.positions.values.first)
        let entry = try #require(position.entryClientOrderId)
        let ladder = runner.config.signals.exits.ladder
        let rungs = (1...ladder.count).map { ClientOrderId.derived(from: entry, suffix: "tp\($0)") }
        for id in rungs {
            let o = try #require(fake.order(id), "rung \(id) is not resting on the venue")
            #expect(o["type"] == "TAKE_PROFIT_MARKET" && o["reduceOnly"] == "true" && o["status"] == "NEW")
            #expect((Double(o["triggerPrice"] ?? "") ?? 0) > position.entryPrice)
        }
        let firstStop = try #require(book.stops(on: position.symbol).first { $0.isLive })
        // The market reaches 1R: the venue executes the first rung.
        let rungQty = Double(fake.order(rungs[0])?["origQty"] ?? "") ?? 0
        fake.executeAlgo(rungs[0], quantity: rungQty, finish: true)
        let second = await runner.run(at: now + 60)
        #expect(second.status != .error, "\(second.error ?? "")")
        book = try LiveBook.rebuild(ledger: runner.ledger!)
        let venueSymbol = position.symbol.replacingOccurrences(of: "-USD", with: "USDT")
        let remaining = abs(fake.positionAmount(venueSymbol))
        #expect(LiveDesk.same(remaining, abs(position.quantity) - rungQty))
        let stops = book.stops(on: position.symbol).filter(\.isLive)
        #expect(stops.count == 1)
        let moved = try #require(stops.first)
        #expect(moved.intent.clientOrderId != firstStop.intent.clientOrderId)
        #expect(fake.order(firstStop.intent.clientOrderId)?["status"] == "CANCELED")
        let trigger = Double(fake.order(moved.intent.clientOrderId)?["triggerPrice"] ?? "") ?? 0
        #expect(abs(trigger - position.entryPrice) / position.entryPrice < 1e-3, "stop at \(trigger), entry \(position.entryPrice)")
        #expect(LiveDesk.same(Double(fake.order(moved.intent.clientOrderId)?["origQty"] ?? "") ?? 0, remaining))
        for id in rungs.dropFirst() { #expect(fake.order(id)?["status"] == "NEW") }
        let state = try #require(runner.portfolio).account.position(position.symbol)
        #expect(state?.rungsTaken == 1)
        // A third cycle changes nothing: no churn of orders when the policy has not moved.
        let orders = fake.orderCount
        _ = await runner.run(at: now + 120)
        #expect(fake.orderCount == orders)
    }
}
