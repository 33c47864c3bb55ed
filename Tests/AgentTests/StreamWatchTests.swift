import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Model
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

    /// PAPER on Binance's public streams: a 6% fall within 30 s with `flash_move.action: flatten` closes the paper
    /// book between cycles (the next one is an hour away), and the ledger says why, ledger first.
    @Test func paperFlashMoveFlattensBetweenCycles() async throws {
        let s = try LiveModeTests.Setup()
        let ws = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let wsURL = try await ws.start()
        defer { ws.stop() }
        var args = intervalArguments(s, ws: wsURL, extra: ["--set", "policy.circuit_breakers.flash_move.action=flatten",
                                                             "--set", "policy.circuit_breakers.flash_move.seconds=60"])
        args = args.map { $0 == "LIVE" ? "PAPER" : $0 }.filter { $0 != "--confirm-live" }
        let agent = try AgentProcess(args, environment: s.environment(keys: false))
        defer { if agent.process.isRunning { kill(agent.process.processIdentifier, SIGKILL) } }
        let first = try await firstSummary(agent)
        #expect(first["status"] as? String == "EXECUTED", "\(first)")
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
    }
}
