import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Model
import Config
import Risk
import TestSupport
import Testing
@testable import Agent

/// `agent --interval` with the venue streams open between cycles, against the fake Binance REST venue and a loopback
/// WebSocket server speaking Binance's stream formats. The next cycle is an hour away in every test: whatever
/// happens, happens between cycles.
@Suite(.serialized) struct StreamWatchTests {
    static func waitFor(_ seconds: Double = 40, _ condition: () throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try condition()
    }

    func intervalArguments(_ s: LiveModeTests.Setup, ws: String, extra: [String] = []) -> [String] {
        var args = s.arguments().filter { $0 != "--once" }
        args = ["--interval", "60", "--cycles", "2"] + args
        return args + ["--set", "app.venues.binance.ws_base_url=\(ws)", "--set", "app.streams.backoff_initial_ms=10",
                       "--set", "app.streams.rest_poll_seconds=0.2", "--log-level", "error"] + extra
    }

    func firstSummary(_ agent: AgentProcess) async throws -> [String: Any] {
        let lines = try await agent.lines(1, timeout: 120)
        return try jsonObject(lines.first ?? "{}")
    }

    /// LIVE: a take-profit fill on the user stream goes into the ledger and resizes the stop at once; a `kill -9` with
    /// the stream open loses nothing (a fill the stream never delivered is found by reconciliation on restart); after
    /// the restart, a mark-price path past 85% margin closes the position, all before the next cycle is due.
    @Test func liveFillsStopResizeKillAndMarginCloseBetweenCycles() async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        defer { ws.stop() }

        let agent = try AgentProcess(intervalArguments(s, ws: wsURL), environment: s.environment())
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        let first = try await firstSummary(agent)
        #expect(first["status"] as? String == "EXECUTED", "\(first)")
        #expect(await ws.waitUntil(seconds: 40) {
            ws.connections.contains { $0.path == "/private/ws/fakeListenKey1" } && ws.connections.contains { $0.path == "/market/ws" }
                && ws.connections.contains { $0.path == "/public/ws" }
        })
        let book = try LiveBook.rebuild(ledger: s.ledger)
        let managed = book.positions.values.first { $0.managed }
        let position = try #require(managed)
        let venueSymbol = position.symbol.replacingOccurrences(of: "-USD", with: "USDT")
        let entry = try #require(position.entryClientOrderId)
        let tp1 = ClientOrderId.derived(from: entry, suffix: "tp1"), tp2 = ClientOrderId.derived(from: entry, suffix: "tp2")
        let rung = try #require(book.orders[tp1]?.intent)
        let rungSize = Dec.double(rung.quantity)
        let exitSide = position.quantity > 0 ? "SELL" : "BUY"

        // 1. The first rung fills; the user stream reports it.
        s.fake.executeAlgo(tp1, quantity: rungSize, finish: true)
        ws.push(StreamMessages.binanceAlgoUpdate(venueSymbol, clientAlgoId: tp1, side: exitSide, type: "TAKE_PROFIT_MARKET",
                                                 quantity: rungSize, status: "FINISHED", executed: rungSize,
                                                 price: rung.triggerPrice.map(Dec.double) ?? position.entryPrice, timeMs: UTC.nowMs()),
                pathPrefix: "/private")
        let remaining = abs(position.quantity) - rungSize
        #expect(try await Self.waitFor {
            let b = try LiveBook.rebuild(ledger: s.ledger)
            let stops = b.stops(on: position.symbol).filter(\.isLive)
            return b.orders[tp1].map { Dec.double($0.filled) } == rungSize && stops.count == 1 && LiveDesk.same(stops[0].unfilled, remaining)
        }, "the stop was not resized to \(remaining)")
        let fills = try s.ledger.events(types: ["live_fill"]).map { try $0.value(LiveFill.self) }.filter { $0.clientOrderId == tp1 }
        #expect(fills.count == 1 && fills.first?.purpose == .takeProfit)
        try s.expectConsistent("after the rung filled between cycles")
        #expect(try s.ledger.events(types: ["stream_connected"]).count >= 3)

        // 2. A second rung fills on the venue, the stream never says so, and the agent is killed.
        s.fake.executeAlgo(tp2, quantity: Dec.double(try #require(book.orders[tp2]?.intent.quantity)), finish: true)
        kill(agent.process.processIdentifier, SIGKILL)
        _ = try? await agent.finish(timeout: 20)
        #expect(try s.ledger.events(types: ["live_fill"]).map { try $0.value(LiveFill.self) }.allSatisfy { $0.clientOrderId != tp2 })

        // 3. Restart: reconciliation finds the missed fill before anything else.
        let again = try AgentProcess(intervalArguments(s, ws: wsURL), environment: s.environment())
        defer { if again.process.isRunning { kill(again.process.processIdentifier, SIGKILL) } }
        let restarted = try await firstSummary(again)
        #expect(restarted["status"] != nil)
        let tp2Fills = try s.ledger.events(types: ["live_fill"]).map { try $0.value(LiveFill.self) }.filter { $0.clientOrderId == tp2 }
        #expect(tp2Fills.count == 1, "reconciliation did not record the fill the stream missed")
        try s.expectConsistent("after the restart")

        // 4. A thin isolated wallet, then marks falling toward liquidation: past 85% the guard closes the position.
        let held = s.fake.positionAmount(venueSymbol)
        #expect(held != 0)
        #expect(await ws.waitUntil(seconds: 40) { ws.openCount >= 3 })
        let entryPrice = position.entryPrice
        let wallet = abs(held) * entryPrice * 0.02
        // Margin ratio 0.9: wallet + q (M - E) = 0.004 q M / 0.9.
        let mark = (entryPrice - wallet / held) / (1 - 0.004 / 0.9)
        ws.push(StreamMessages.binanceAccountUpdate(venueSymbol, amount: held, entry: entryPrice, unrealized: 0, isolatedWallet: wallet,
                                                    timeMs: UTC.nowMs()), pathPrefix: "/private")
        try await Task.sleep(for: .milliseconds(300))
        s.fake.setMark(venueSymbol, mark)
        ws.push(StreamMessages.binanceMark(venueSymbol, price: mark, timeMs: UTC.nowMs()), pathPrefix: "/market")
        #expect(await Self.waitFor { s.fake.positionAmount(venueSymbol) == 0 }, "the position was not closed between cycles")
        let actions = try s.ledger.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }
        #expect(actions.contains { $0.rule == .margin && $0.action == .close && $0.symbol == position.symbol })
        let closes = try s.ledger.events(types: ["live_order_intent"]).map { try $0.value(LiveOrderIntent.self) }.filter { $0.purpose == .guardClose }
        #expect(closes.count == 1)
        // Ledger first: the guard's action precedes the order it sent.
        let seqs = try s.ledger.events(types: ["guard_action", "live_order_intent"]).filter {
            $0.type == "guard_action" || (try? $0.value(LiveOrderIntent.self).purpose) == .guardClose
        }.map(\.type)
        #expect(seqs.firstIndex(of: "guard_action") ?? 99 < seqs.firstIndex(of: "live_order_intent") ?? -1)
        // Still before the next cycle: only the restarted run's first cycle has finished.
        #expect(again.process.isRunning)
    }

    /// LIVE on the fake Binance with its streams at `ws`: the first cycle has entered, and every stream is open.
    func startLive(_ s: LiveModeTests.Setup, ws: FakeStreamServer, wsURL: String, interval: String = "60",
                   extra: [String]) async throws -> (AgentProcess, symbol: String, venueSymbol: String) {
        var args = intervalArguments(s, ws: wsURL, extra: extra)
        if let i = args.firstIndex(of: "--interval") { args[i + 1] = interval }
        let agent = try AgentProcess(args, environment: s.environment())
        let first = try await firstSummary(agent)
        #expect(first["status"] as? String == "EXECUTED", "\(first)")
        let symbol = try #require(try LiveBook.rebuild(ledger: s.ledger).positions.values.first { $0.managed }?.symbol)
        #expect(await ws.waitUntil(seconds: 40) { ws.openCount >= 3 })
        return (agent, symbol, symbol.replacingOccurrences(of: "-USD", with: "USDT"))
    }

    /// The LIVE flatten orders in the ledger, each checked against what the fake venue received: reduce-only.
    func flattenIntentsAreReduceOnly(_ s: LiveModeTests.Setup) throws -> [LiveOrderIntent] {
        let intents = try s.ledger.events(types: ["live_order_intent"]).map { try $0.value(LiveOrderIntent.self) }.filter { $0.purpose == .flatten }
        for i in intents {
            #expect(i.reduceOnly && s.fake.order(i.clientOrderId)?["reduceOnly"] == "true", "\(i.clientOrderId) was not reduce-only")
        }
        return intents
    }

    /// LIVE with the real watch: a 6% fall of the mark within 30 s with `flash_move.action: flatten` cancels the stops
    /// and closes the position reduce-only on the venue between cycles; the ledger says why, before the orders.
    @Test func liveFlashMoveFlattensTheVenueBetweenCycles() async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        defer { ws.stop() }
        let (agent, symbol, venueSymbol) = try await startLive(s, ws: ws, wsURL: wsURL, extra: [
            "--set", "policy.circuit_breakers.flash_move.action=flatten", "--set", "policy.circuit_breakers.flash_move.seconds=60"])
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        let entry = try #require(try LiveBook.rebuild(ledger: s.ledger).positions[symbol]?.entryPrice)
        #expect(s.fake.positionAmount(venueSymbol) != 0)
        let now = UTC.nowMs()
        ws.push(StreamMessages.binanceMark(venueSymbol, price: entry, timeMs: now), pathPrefix: "/market")
        ws.push(StreamMessages.binanceMark(venueSymbol, price: entry * 0.94, timeMs: now + 30_000), pathPrefix: "/market")
        #expect(await Self.waitFor { s.fake.positionAmount(venueSymbol) == 0 }, "the venue was not flattened between cycles")
        let actions = try s.ledger.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }
        #expect(actions.map(\.rule) == [.flashMove] && actions.first?.action == .flatten)
        #expect(actions.first?.detail.contains("\(symbol) moved down 6%") == true, "\(actions)")
        let intents = try flattenIntentsAreReduceOnly(s)
        #expect(!intents.isEmpty && intents.allSatisfy { $0.reason.contains("flash_move") })
        // Ledger first: the guard's action precedes the first order it sent.
        let guardSeq = try s.ledger.events(types: ["guard_action"]).first?.seq ?? .max
        let firstFlatten = try s.ledger.events(types: ["live_order_intent"])
            .first { (try? $0.value(LiveOrderIntent.self).purpose) == .flatten }?.seq ?? .min
        #expect(guardSeq < firstFlatten)
        try s.expectConsistent("after the flash-move flatten")
        #expect(agent.process.isRunning)  // the next cycle is an hour away
    }

    /// LIVE with the real watch: every stream down past `stream_lost_seconds` (1 s here). With `flatten` the position is
    /// closed reduce-only between cycles; with `hold` it keeps its resting stop and only entries stop, and a rung the
    /// venue fills meanwhile is found by the REST fallback before the next cycle. Either way the next cycle (6 s after
    /// the first) halts while the streams are still down.
    @Test(arguments: [StreamLostAction.flatten, .hold])
    func liveStreamLossBetweenCycles(action: StreamLostAction) async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        let (agent, symbol, venueSymbol) = try await startLive(s, ws: ws, wsURL: wsURL, interval: "0.1", extra: [
            "--set", "policy.circuit_breakers.stream_lost_seconds=1", "--set", "policy.circuit_breakers.on_stream_lost=\(action.rawValue)"])
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        let held = s.fake.positionAmount(venueSymbol)
        #expect(held != 0)
        let book = try LiveBook.rebuild(ledger: s.ledger)
        let firstCycle = try #require(try s.ledger.events(types: ["cycle_started"]).last?.cycleId)
        let tp1 = ClientOrderId.derived(from: try #require(book.positions[symbol]?.entryClientOrderId), suffix: "tp1")
        let rungSize = Dec.double(try #require(book.orders[tp1]?.intent.quantity))
        ws.stop()  // every stream drops, and reconnecting fails
        #expect(try await Self.waitFor(20) {
            try s.ledger.events(types: ["guard_action"]).contains { (try? $0.value(GuardAction.self).rule) == .streamLost }
        }, "no stream_lost action")
        if action == .hold {
            // A take-profit rung fills on the venue while no user stream can say so.
            s.fake.executeAlgo(tp1, quantity: rungSize, finish: true)
            #expect(try await Self.waitFor(20) {
                try s.ledger.events(types: ["live_fill"]).contains { (try? $0.value(LiveFill.self).clientOrderId) == tp1 }
            }, "the REST fallback did not find the fill between cycles")
        }
        let actions = try s.ledger.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }
        #expect(actions.map(\.action) == [action == .flatten ? .flatten : .haltEntries], "\(actions)")
        let second = try jsonObject(try await agent.lines(1, timeout: 60).first ?? "{}")
        #expect(second["status"] as? String == "HALTED" && (second["no_trade_reason"] as? String)?.contains("stream lost") == true,
                "\(second)")
        let entries = try s.ledger.events(types: ["live_order_intent"]).map { try $0.value(LiveOrderIntent.self) }.filter { $0.purpose == .entry }
        #expect(entries.count == 1, "an entry was placed while the streams were lost")
        switch action {
        case .flatten:
            #expect(s.fake.positionAmount(venueSymbol) == 0, "the position was not flattened")
            #expect(!(try flattenIntentsAreReduceOnly(s)).isEmpty)
        case .hold:
            #expect(try flattenIntentsAreReduceOnly(s).isEmpty)
            #expect(try LiveBook.rebuild(ledger: s.ledger).stops(on: symbol).contains(where: \.isLive), "the resting stop is gone")
            // Only the rung the venue filled while the streams were down left the position, and the REST fallback
            // found that fill between cycles (it is filed under the first cycle), not the second cycle.
            #expect(abs(s.fake.positionAmount(venueSymbol)) == abs(held) - rungSize, "hold must not touch the position")
            let found = try s.ledger.events(types: ["live_fill"]).filter { (try? $0.value(LiveFill.self).clientOrderId) == tp1 }
            #expect(found.count == 1 && found.first?.cycleId == firstCycle, "\(found.map(\.cycleId)) vs \(firstCycle)")
        }
        try s.expectConsistent("after the stream loss")
    }

    /// PAPER on the fake Binance with its streams at `ws`: the first cycle has entered.
    func startPaper(_ s: LiveModeTests.Setup, ws: String, extra: [String]) async throws -> AgentProcess {
        let args = intervalArguments(s, ws: ws, extra: extra).map { $0 == "LIVE" ? "PAPER" : $0 }.filter { $0 != "--confirm-live" }
        let agent = try AgentProcess(args, environment: s.environment(keys: false))
        let first = try await firstSummary(agent)
        #expect(first["status"] as? String == "EXECUTED", "\(first)")
        return agent
    }

    /// PAPER on Binance futures: the paper position is held at its proposal's leverage, the one LIVE would set (25x
    /// here: `rules.leverage` under the same `risk.max_leverage`, and a liquidation minimum the 3.5% at 25x passes),
    /// and marked on every `markPrice` update between cycles under the same margin rule: past 70% half of it is
    /// closed, past 85% the rest, ledger first, while the next cycle is an hour away. The stop (6% away) is farther
    /// than the limits (about 3.4%), so the margin rule acts first.
    @Test func paperMarginRuleHalvesThenClosesOnMarksBetweenCycles() async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        defer { ws.stop() }
        let agent = try await startPaper(s, ws: wsURL, extra: ["--set", "policy.risk.max_leverage=25", "--set", "signals.rules.leverage=25",
                                                                 "--set", "policy.futures.min_liquidation_distance_pct=3"])
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        func book() throws -> Portfolio { try Portfolio.rebuild(store: s.ledger, mode: .paper, startingEquity: 10_000).0 }
        let held = try #require(try book().account.positions.first)
        #expect(held.leverage == 25)
        let venueSymbol = held.symbol.replacingOccurrences(of: "-USD", with: "USDT")
        #expect(await ws.waitUntil(seconds: 40) { ws.openCount == 2 })
        // Wallet 4% of the entry notional; ratio = 0.005 m / (m - 0.96 E): 0.74 at 0.9665 E, 2.4 at 0.962 E.
        ws.push(StreamMessages.binanceMark(venueSymbol, price: held.entryPrice * 0.9665, timeMs: UTC.nowMs()), pathPrefix: "/market")
        #expect(try await Self.waitFor {
            try book().account.positions.first.map { abs($0.quantity - held.quantity / 2) < 1e-9 } ?? false
        }, "the paper position was not halved between cycles")
        ws.push(StreamMessages.binanceMark(venueSymbol, price: held.entryPrice * 0.962, timeMs: UTC.nowMs() + 1_000), pathPrefix: "/market")
        #expect(try await Self.waitFor { try book().account.positions.isEmpty }, "the paper position was not closed between cycles")
        let actions = try s.ledger.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }
        #expect(actions.map(\.rule) == [.margin, .margin] && actions.map(\.action) == [.reduce, .close])
        let fills = try s.ledger.events(types: ["paper_fill"]).map { try $0.value(PaperFill.self) }.filter { $0.reason != "entry" }
        #expect(fills.map(\.reason) == ["margin_reduce", "margin_close"])
        let order = try s.ledger.events(types: ["guard_action", "paper_fill"]).map(\.type).suffix(4)
        #expect(Array(order) == ["guard_action", "paper_fill", "guard_action", "paper_fill"])
        #expect(agent.process.isRunning)  // still waiting for the next cycle
    }

    /// PAPER on Binance's public streams: a 6% fall within 30 s with `flash_move.action: flatten` closes the paper
    /// book between cycles (the next one is an hour away), and the ledger says why, ledger first.
    @Test func paperFlashMoveFlattensBetweenCycles() async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        defer { ws.stop() }
        let agent = try await startPaper(s, ws: wsURL, extra: ["--set", "policy.circuit_breakers.flash_move.action=flatten",
                                                                 "--set", "policy.circuit_breakers.flash_move.seconds=60"])
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        let paper = try Portfolio.rebuild(store: s.ledger, mode: .paper, startingEquity: 10_000).0
        let held = try #require(paper.account.positions.first)
        let venueSymbol = held.symbol.replacingOccurrences(of: "-USD", with: "USDT")
        #expect(await ws.waitUntil(seconds: 40) { ws.openCount == 2 })
        let now = UTC.nowMs()
        ws.push(StreamMessages.binanceBookTicker(venueSymbol, bid: held.entryPrice, ask: held.entryPrice * 1.0001, timeMs: now), pathPrefix: "/public")
        ws.push(StreamMessages.binanceMark(venueSymbol, price: held.entryPrice, timeMs: now), pathPrefix: "/market")
        ws.push(StreamMessages.binanceMark(venueSymbol, price: held.entryPrice * 0.94, timeMs: now + 30_000), pathPrefix: "/market")
        #expect(try await Self.waitFor {
            try Portfolio.rebuild(store: s.ledger, mode: .paper, startingEquity: 10_000).0.account.positions.isEmpty
        }, "the paper book was not flattened between cycles")
        let actions = try s.ledger.events(types: ["guard_action"]).map { try $0.value(GuardAction.self) }
        #expect(actions.map(\.rule) == [.flashMove] && actions.first?.action == .flatten)
        #expect(actions.first?.detail.contains("moved down 6%") == true)
        let flat = try s.ledger.events(types: ["paper_fill"]).map { try $0.value(PaperFill.self) }.filter { $0.reason.hasPrefix("flash_move") }
        #expect(flat.count == paper.account.positions.count)
        // Ledger first: the action precedes the fills it caused.
        let order = try s.ledger.events(types: ["guard_action", "paper_fill"]).map(\.type)
        #expect(order.last == "paper_fill" && order.dropLast(flat.count).last == "guard_action")
        #expect(agent.process.isRunning)  // still waiting for the next cycle

        // `kill -9` before the next cycle: the halt the flash move left is rebuilt from its `guard_action` record, so
        // the restarted process's first cycle still refuses entries; the one after it trades again.
        kill(agent.process.processIdentifier, SIGKILL)
        _ = try? await agent.finish(timeout: 20)
        let once = s.arguments().map { $0 == "LIVE" ? "PAPER" : $0 }.filter { $0 != "--confirm-live" } + ["--log-level", "error"]
        let restarted = try jsonObject(try await AgentProcess.run(once, environment: s.environment(keys: false)).lines.last ?? "{}")
        #expect(restarted["status"] as? String == "HALTED", "\(restarted)")
        #expect((restarted["no_trade_reason"] as? String)?.contains("flash move") == true, "\(restarted)")
        let after = try jsonObject(try await AgentProcess.run(once, environment: s.environment(keys: false)).lines.last ?? "{}")
        #expect(after["status"] as? String != "HALTED", "\(after)")
    }
}
