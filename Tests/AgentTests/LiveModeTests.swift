@testable import Agent
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import TestSupport
import Testing

/// `agent --once --mode LIVE` as a user runs it, against the fake Binance venue on 127.0.0.1 with fake keys
/// generated per test: the four LIVE conditions, a real entry with its stop, and SIGKILL-style crashes at each
/// step of an entry followed by a restart.
@Suite(.serialized) struct LiveModeTests {
    struct Setup {
        let fake: FakeBinanceVenue
        let key = LiveRig.randomHex(16)
        let secret = LiveRig.randomHex(32)
        let data = Fixtures.tempDir("agent-live-e2e")

        init() throws {
            fake = try FakeBinanceVenue(seedPosition: false, apiKey: key, secret: secret)
            fake.setTrend(percentPerHour: 0.4)      // a steady climb: trend and momentum rules propose longs
            fake.setWallet(20_000)
        }

        func environment(keys: Bool = true, crashAt: String? = nil) -> [String: String] {
            var env = ProcessInfo.processInfo.environment
            for name in ["BINANCE_API_KEY", "BINANCE_API_SECRET", "COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY", "AGENT_TEST_CRASH_AT"] {
                env[name] = nil
            }
            if keys {
                env["BINANCE_API_KEY"] = key
                env["BINANCE_API_SECRET"] = secret
            }
            if let crashAt { env["AGENT_TEST_CRASH_AT"] = crashAt }
            return env
        }

        func arguments(mode: Bool = true, confirm: Bool = true, allow: Bool = true) -> [String] {
            var args = ["--once", "--exchange", "binance", "--set", "app.venues.binance.base_url=\(fake.baseURL)",
                        "--set", "app.venues.binance.max_retries=0", "--set", "policy.risk.min_24h_volume_usd=1000",
                        "--set", "signals.rules.max_proposals=1", "--set", "universe.tiers.tier_1_core.min_24h_volume_usd=1000",
                        "--set", "universe.tiers.tier_1_core.min_depth_usd=1000"]
            if mode { args += ["--mode", "LIVE"] }
            if confirm { args.append("--confirm-live") }
            if allow { args += ["--set", "policy.execution.allow_live=true"] }
            return args + AgentProcess.common(dataDir: data)
        }

        func run(keys: Bool = true, mode: Bool = true, confirm: Bool = true, allow: Bool = true, crashAt: String? = nil) async throws -> AgentProcess.Output {
            try await AgentProcess.run(arguments(mode: mode, confirm: confirm, allow: allow), environment: environment(keys: keys, crashAt: crashAt))
        }

        var ledger: Ledger { get throws { try Ledger(path: data + "/agent.sqlite") } }

        /// Every order the venue holds was sent exactly once, the ledger's positions equal the venue's, and every
        /// position has a working stop for its whole size.
        func expectConsistent(_ context: String) throws {
            for id in fake.clientIds {
                #expect(fake.orderRequests(clientId: id) == 1, "\(context): \(id) sent \(fake.orderRequests(clientId: id)) times")
            }
            let book = try LiveBook.rebuild(ledger: ledger)
            for symbol in ["BTC-USD", "ETH-USD", "SOL-USD"] {
                let venueSymbol = symbol.replacingOccurrences(of: "-USD", with: "USDT")
                let held = fake.positionAmount(venueSymbol)
                #expect(LiveDesk.same(book.positions[symbol]?.quantity ?? 0, held), "\(context): \(symbol) ledger \(book.positions[symbol]?.quantity ?? 0) venue \(held)")
                // Every stop the ledger calls working is working on the venue, and together they cover the position.
                let stops = book.stops(on: symbol).filter(\.isLive).map(\.intent.clientOrderId)
                #expect(stops.allSatisfy { fake.order($0)?["status"] == "NEW" }, "\(context): \(symbol) stops \(stops)")
                let covered = stops.reduce(0.0) { $0 + (Double(fake.order($1)?["origQty"] ?? "") ?? 0) }
                #expect(LiveDesk.same(covered, abs(held)), "\(context): \(symbol) position \(held), stops cover \(covered)")
            }
        }
    }

    // MARK: The four conditions

    @Test func refusesWithoutConfirmLive() async throws {
        let s = try Setup()
        let out = try await s.run(confirm: false)
        #expect(out.status == 2)
        #expect(out.stderr.contains("refusing to run LIVE") && out.stderr.contains("--confirm-live was not given"))
        #expect(s.fake.requests.isEmpty)
    }

    @Test func refusesWithoutAllowLiveInThePolicy() async throws {
        let s = try Setup()
        let out = try await s.run(allow: false)
        #expect(out.status == 2)
        #expect(out.stderr.contains("execution.allow_live is false"))
        #expect(s.fake.requests.isEmpty)
    }

    @Test func refusesWithoutKeysInTheEnvironment() async throws {
        let s = try Setup()
        let out = try await s.run(keys: false)
        #expect(out.status == 2)
        #expect(out.stderr.contains("missing environment variables BINANCE_API_KEY, BINANCE_API_SECRET"))
        #expect(s.fake.requests.isEmpty)
    }

    @Test func withoutModeLiveItStaysInDryRunAndSignsNothing() async throws {
        let s = try Setup()
        let out = try await s.run(mode: false)
        #expect(out.status == 0, "\(out.stderr.suffix(1500))")
        #expect(try jsonObject(out.lines.last ?? "")["mode"] as? String == "DRY_RUN")
        #expect(s.fake.requests.allSatisfy { $0.header("x-mbx-apikey") == nil })
        #expect(s.fake.clientIds.isEmpty)
    }

    @Test func withAllFourItTradesWithAStopAndNeverShowsTheKeys() async throws {
        let s = try Setup()
        let out = try await s.run()
        #expect(out.status == 0, "\(out.stderr.suffix(2000))")
        let summary = try jsonObject(out.lines.last ?? "")
        #expect(summary["mode"] as? String == "LIVE")
        let trail = try s.ledger.events().filter { ["universe", "triggers", "regime"].contains($0.type) }
            .map { "\($0.type): \(String(decoding: $0.payload, as: UTF8.self).prefix(1500))" }.joined(separator: "\n")
        #expect(summary["status"] as? String == "EXECUTED", "\(out.stdout.prefix(3000))\n\(trail)")
        let entries = s.fake.clientIds.filter { !$0.hasSuffix("-sl") && !$0.contains("-tp") }
        #expect(entries.count == 1)
        // The entry, its stop, and the three rungs of the take-profit ladder resting reduce-only.
        #expect(s.fake.clientIds.count == 2 + 3)
        #expect(s.fake.clientIds.filter { $0.contains("-tp") }.allSatisfy { s.fake.order($0)?["reduceOnly"] == "true" })
        try s.expectConsistent("live run")
        let types = try s.ledger.events().map(\.type)
        let intent = try #require(types.firstIndex(of: "order_intent"))
        let sent = try #require(types.firstIndex(of: "live_order_intent"))
        #expect(intent < sent)
        #expect(types.contains("reconciliation"))
        // Keys never appear in output, logs or the ledger.
        let ledgerBytes = (try? Data(contentsOf: URL(fileURLWithPath: s.data + "/agent.sqlite"))) ?? Data()
        for secret in [s.key, s.secret] {
            #expect(!out.stdout.contains(secret) && !out.stderr.contains(secret))
            #expect(ledgerBytes.range(of: Data(secret.utf8)) == nil)
        }
        // A second cycle finds everything in order and does not re-enter blindly.
        let again = try await s.run()
        #expect(again.status == 0)
        let second = try jsonObject(again.lines.last ?? "")
        #expect(second["status"] as? String != "HALTED", "\(again.stdout.prefix(2000))")
        try s.expectConsistent("second run")
    }

    /// Invariant 6 in LIVE: with all four conditions met and a signal to trade, the kill switch means the venue
    /// receives no order at all; turning it off lets the same run trade.
    @Test func theKillSwitchStopsEveryLiveOrder() async throws {
        let s = try Setup()
        let on = try await AgentProcess.run(["kill", "on", "--reason", "test", "--data-dir", s.data])
        #expect(on.status == 0)
        let halted = try await s.run()
        #expect(halted.status == 0, "\(halted.stderr.suffix(2000))")
        #expect(try jsonObject(halted.lines.last ?? "")["status"] as? String == "HALTED")
        #expect(s.fake.clientIds.isEmpty)
        #expect(try s.ledger.events().filter { ["order_intent", "live_order_intent"].contains($0.type) }.isEmpty)
        #expect(try await AgentProcess.run(["kill", "off", "--data-dir", s.data]).status == 0)
        let resumed = try await s.run()
        #expect(try jsonObject(resumed.lines.last ?? "")["status"] as? String == "EXECUTED")
        #expect(!s.fake.clientIds.isEmpty)
    }

    @Test func aPositionOpenedByHandHaltsEntriesUntilReconcileAck() async throws {
        let s = try Setup()
        s.fake.setPosition("XRPUSDT", amount: 100, entry: 0.6)
        let reconcileArgs = ["reconcile", "--exchange", "binance", "--set", "app.venues.binance.base_url=\(s.fake.baseURL)"]
            + AgentProcess.common(dataDir: s.data)
        // Compare only: shows the unknown position, records nothing, sends nothing.
        let compare = try await AgentProcess.run(reconcileArgs + ["--json"], environment: s.environment())
        #expect(compare.status == 0, "\(compare.stderr.suffix(1500))")
        let report = try #require(try jsonObject(compare.stdout)["report"] as? [String: Any])
        #expect(report["requires_manual_review"] as? Bool == true)
        #expect((report["discrepancies"] as? [[String: Any]])?.first?["kind"] as? String == "unknown_position")
        #expect(try s.ledger.count() == 0)
        let halted = try await s.run()
        let summary = try jsonObject(halted.lines.last ?? "")
        #expect(summary["status"] as? String == "HALTED")
        #expect((summary["no_trade_reason"] as? String)?.contains("REQUIRES_MANUAL_REVIEW") == true)
        #expect(s.fake.clientIds.isEmpty)                        // no entry while review is required
        let text = try await AgentProcess.run(reconcileArgs, environment: s.environment())
        #expect(text.stdout.contains("CRITICAL unknown_position XRP-USD") && text.stdout.contains("REQUIRES_MANUAL_REVIEW"))
        // XRPUSDT is not trading on the venue, so no protective stop can be placed for it: the ack is refused with
        // the reason, and nothing is adopted (an adopted position is never left without a stop).
        let refused = try await AgentProcess.run(reconcileArgs + ["--ack"], environment: s.environment())
        #expect(refused.status == 1 && refused.stderr.contains("refusing --ack") && refused.stderr.contains("XRP"), "\(refused.stderr.suffix(800))")
        #expect(try s.ledger.events(types: ["review_ack"]).isEmpty)
        #expect(s.fake.positionAmount("XRPUSDT") == 100)         // never traded by the agent
        // The person closes it by hand; now the ack goes through and entries resume.
        s.fake.setPosition("XRPUSDT", amount: 0, entry: 0)
        let ack = try await AgentProcess.run(reconcileArgs + ["--ack"], environment: s.environment())
        #expect(ack.status == 0 && ack.stdout.contains("acknowledged"), "\(ack.stdout) \(ack.stderr.suffix(800))")
        let resumed = try await s.run()
        #expect(try jsonObject(resumed.lines.last ?? "")["status"] as? String == "EXECUTED", "\(resumed.stdout.prefix(1500))")
        // Without keys, reconcile refuses before touching anything.
        let noKeys = try await AgentProcess.run(reconcileArgs, environment: s.environment(keys: false))
        #expect(noKeys.status == 2 && noKeys.stderr.contains("BINANCE_API_KEY"))
    }

    // MARK: Crash and restart

    @Test(arguments: ["before_send", "after_send", "after_fill", "after_stop_send"])
    func aCrashAtEachStepOfAnEntryLeavesNoDuplicateAndAProtectedPosition(point: String) async throws {
        let s = try Setup()
        let crashed = try await s.run(crashAt: point)
        #expect(crashed.status == 137, "\(point): \(crashed.stderr.suffix(1500))")
        #expect(crashed.stderr.contains("AGENT_TEST_CRASH_AT=\(point)"))
        let crashedEntry = try #require(try s.ledger.events(types: ["live_order_intent"]).first?.value(LiveOrderIntent.self))
        let restarted = try await s.run()
        #expect(restarted.status == 0, "\(point): \(restarted.stderr.suffix(1500))")
        try s.expectConsistent(point)
        let book = try LiveBook.rebuild(ledger: s.ledger)
        #expect(book.pendingOrders.isEmpty, "\(point): still pending \(book.pendingOrders.map(\.intent.clientOrderId))")
        switch point {
        case "before_send":
            #expect(s.fake.orderRequests(clientId: crashedEntry.clientOrderId) == 0)
            #expect(book.orders[crashedEntry.clientOrderId]?.result?.status == LiveOrderResult.notFound)
        case "after_send", "after_fill":
            // The fill was found by client id; the position had no stop: protected now, and a person must look.
            #expect(s.fake.positionAmount("BTCUSDT") != 0 || s.fake.positionAmount("ETHUSDT") != 0 || s.fake.positionAmount("SOLUSDT") != 0)
            #expect(try jsonObject(restarted.lines.last ?? "")["status"] as? String == "HALTED")
            #expect(book.requiresManualReview)
        default:
            #expect(!book.requiresManualReview)
        }
    }
}
