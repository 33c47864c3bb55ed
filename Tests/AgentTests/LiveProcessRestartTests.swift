@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
@testable import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// The real `agent` process against the strict fakes: Coinbase crashes at each step of an entry, back-off kept
/// across processes, and a bounded random-kill harness on LIVE `--interval` runs.
@Suite(.serialized) struct LiveProcessRestartTests {
    static func environment(_ rig: RestartRig, crashAt: String? = nil) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for name in ["BINANCE_API_KEY", "BINANCE_API_SECRET", "COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY", "AGENT_TEST_CRASH_AT"] {
            env[name] = nil
        }
        switch rig.venue {
        case .binance:
            env["BINANCE_API_KEY"] = rig.key
            env["BINANCE_API_SECRET"] = rig.secret
        case .coinbase:
            env["COINBASE_API_KEY_NAME"] = FakeCoinbaseVenue.keyName
            env["COINBASE_API_PRIVATE_KEY"] = rig.coinbase?.privateKeyPEM
        }
        if let crashAt { env["AGENT_TEST_CRASH_AT"] = crashAt }
        return env
    }

    /// A LIVE run on the rig's venue; `run` is `["--once"]` or `["--interval", ...]`.
    static func arguments(_ rig: RestartRig, run: [String] = ["--once"], live: Bool = true) -> [String] {
        let venue = rig.venue.rawValue
        let url = rig.binance?.baseURL ?? rig.coinbase?.baseURL ?? ""
        var args = run + ["--exchange", venue, "--set", "app.venues.\(venue).base_url=\(url)",
                          "--set", "app.venues.\(venue).max_retries=0", "--set", "policy.risk.min_24h_volume_usd=1000",
                          "--set", "signals.rules.max_proposals=1", "--set", "universe.tiers.tier_1_core.min_24h_volume_usd=1000",
                          "--set", "universe.tiers.tier_1_core.min_depth_usd=1000"]
        if live { args += ["--mode", "LIVE", "--confirm-live", "--set", "policy.execution.allow_live=true"] }
        return args + AgentProcess.common(dataDir: rig.data)
    }

    static func trending(_ venue: RestartRig.Venue) throws -> RestartRig {
        let rig = try RestartRig(venue)
        rig.binance?.setTrend(percentPerHour: 0.4)       // a steady climb: trend and momentum rules propose longs
        rig.binance?.setWallet(20_000)
        rig.coinbase?.setTrend(percentPerHour: 0.4)
        return rig
    }

    // MARK: Coinbase crashes at each step of an entry

    @Test func aCoinbaseLiveRunTradesWithAStopLimit() async throws {
        let rig = try Self.trending(.coinbase)
        let out = try await AgentProcess.run(Self.arguments(rig), environment: Self.environment(rig))
        #expect(out.status == 0, "\(out.stderr.suffix(2000))")
        let summary = try jsonObject(out.lines.last ?? "")
        #expect(summary["status"] as? String == "EXECUTED", "\(out.stdout.suffix(2000))")
        // The entry, then its full-size stop-limit; the exits stage then lays the take-profit ladder out as brackets
        // (issue 9), which `violations()` checks still cover every coin.
        #expect(rig.venueClientIds.count >= 2, "\(rig.venueClientIds)")
        #expect(rig.venueClientIds.dropFirst().first.flatMap { rig.coinbase?.order($0)?["kind"] } == "stop_limit_stop_limit_gtc")
        #expect(try rig.violations() == [])
        let again = try await AgentProcess.run(Self.arguments(rig), environment: Self.environment(rig))
        #expect(try jsonObject(again.lines.last ?? "")["status"] as? String != "HALTED", "\(again.stdout.suffix(1500))")
        #expect(try rig.violations() == [])
    }

    @Test(arguments: ["before_send", "after_send", "after_entry_result", "after_fill", "before_stop_send", "after_stop_send", "after_stop_result"])
    func aCoinbaseCrashAtEachStepOfAnEntryLeavesNoDuplicateAndAProtectedPosition(point: String) async throws {
        let rig = try Self.trending(.coinbase)
        let crashed = try await AgentProcess.run(Self.arguments(rig), environment: Self.environment(rig, crashAt: point))
        #expect(crashed.status == 137, "\(point): \(crashed.stderr.suffix(1500))")
        let entry = try #require(try rig.ledger.events(types: ["live_order_intent"]).first?.value(LiveOrderIntent.self))
        let restarted = try await AgentProcess.run(Self.arguments(rig), environment: Self.environment(rig))
        #expect(restarted.status == 0, "\(point): \(restarted.stderr.suffix(1500))")
        #expect(try rig.violations() == [], "\(point)")
        let book = try LiveBook.rebuild(ledger: rig.ledger)
        switch point {
        case "before_send":
            #expect(rig.sends(entry.clientOrderId) == 0)
            #expect(book.orders[entry.clientOrderId]?.result?.status == .notFound)
        case "after_send", "after_entry_result", "after_fill", "before_stop_send":
            // Filled without a stop: protected at restart, and a person must look.
            #expect(book.positions[entry.symbol] != nil)
            #expect(book.requiresManualReview, "\(point)")
        default:
            #expect(!book.requiresManualReview, "\(point): \(book.reviewReasons)")
        }
    }

    // MARK: Back-off kept across processes (issue 10 item 4)

    /// A 418 ban seen by one process: the next one sends nothing until it ends, and says why.
    @Test func aBanSeenByOneProcessKeepsTheNextOneFromCalling() async throws {
        let rig = try RestartRig(.binance)
        let fake = try #require(rig.binance)
        fake.faults.inject(.banned(retryAfter: 600), path: "/fapi/v1/exchangeInfo")
        let first = try await AgentProcess.run(Self.arguments(rig, live: false), environment: Self.environment(rig))
        let hold = try #require(try rig.ledger.events(types: ["venue_backoff"]).last?.value(VenueBackoff.self), "\(first.stderr.suffix(1500))")
        #expect(hold.venue == "binance" && hold.cause == .banned && hold.bannedUntil > Date().timeIntervalSince1970 + 500)
        let sent = fake.requests.count
        let second = try await AgentProcess.run(Self.arguments(rig), environment: Self.environment(rig))
        #expect(fake.requests.count == sent, "the restarted process called the venue during its ban")
        #expect(second.stdout.contains("banned") || second.stderr.contains("banned"), "\(second.stdout.suffix(800)) \(second.stderr.suffix(800))")
    }

    /// A 429 with Retry-After: the next process started at once waits for the window to end before its first call.
    @Test func aRetryAfterWindowSeenByOneProcessIsWaitedOutByTheNext() async throws {
        let rig = try RestartRig(.binance)
        let fake = try #require(rig.binance)
        fake.faults.inject(.tooManyRequests(retryAfter: 4), path: "/fapi/v1/exchangeInfo")
        _ = try await AgentProcess.run(Self.arguments(rig, live: false), environment: Self.environment(rig))
        let hold = try #require(try rig.ledger.events(types: ["venue_backoff"]).last?.value(VenueBackoff.self))
        #expect(hold.cause == .rateLimited)
        let sent = fake.requests.count
        let startedAt = Date().timeIntervalSince1970
        #expect(startedAt < hold.pausedUntil - 1, "the first process outlived the window; nothing is tested")
        let second = try AgentProcess(Self.arguments(rig, live: false), environment: Self.environment(rig))
        var firstCall: Double?
        while firstCall == nil {
            if fake.requests.count > sent { firstCall = Date().timeIntervalSince1970 }
            if !second.process.isRunning && fake.requests.count == sent { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        _ = try await second.finish()
        let called = try #require(firstCall, "the second process never called the venue")
        #expect(called >= hold.pausedUntil - 0.1, "called \(hold.pausedUntil - called) s before the window ended")
    }

    // MARK: Random kills

    /// Every cycle may trade again: the pacing checks would otherwise keep all but the first run idle.
    static let noCooldowns = ["--set", "policy.risk.min_seconds_between_trades=0", "--set", "policy.risk.per_symbol_cooldown_minutes=0",
                              "--set", "policy.risk.max_trades_per_hour=1000", "--set", "policy.risk.max_trades_per_day=1000",
                              "--set", "policy.circuit_breakers.max_losses_24h=1000", "--set", "policy.risk.consecutive_loss_cooldown.losses=1000"]

    /// A fixed-seed sequence of SIGKILLs at random moments of LIVE `--interval` runs against the strict fake
    /// Binance venue. After each kill a new process reconciles (here: a desk on the same ledger and venue), and
    /// the invariants must hold: no duplicate order, no unknown outcome, ledger = venue, stops cover every position.
    @Test func randomKillsDuringIntervalRunsNeverLeaveADuplicateAnUnknownOrAnUncoveredPosition() async throws {
        let rig = try Self.trending(.binance)
        var kills = 0
        var reconciled = 0
        let fake = try #require(rig.binance)
        let rounds = 24   // a few dozen kills, bounded: about 2 s each
        for round in 0..<rounds {
            // A person closes what is open (its stops stay on the venue), so every run has orders to send and
            // cancel: the kills land in reconciliation, entries, stops and the ladder, not only in idle cycles.
            for symbol in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] { fake.setPosition(symbol, amount: 0, entry: 0) }
            let calls = fake.requests.count
            let run = try AgentProcess(Self.arguments(rig, run: ["--interval", "0.002", "--cycles", "50"] + Self.noCooldowns),
                                       environment: Self.environment(rig))
            // The schedule counts from the process's first call to the venue, so a loaded machine's slow start
            // does not turn every kill into one before anything happened.
            while fake.requests.count == calls && run.process.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
            let delay = 0.05 + 1.6 * SimHash.uniform(20_261_201, 1, Int64(round))   // the fixed-seed schedule
            try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            if run.process.isRunning {
                kill(run.process.processIdentifier, SIGKILL)
                kills += 1
            }
            let out = try await run.finish(timeout: 30)
            #expect(out.status == 9 || out.status == 0, "round \(round): \(out.stderr.suffix(1000))")
            let report = try await rig.desk().reconcile(cycleId: "c-kill-\(round)", time: UTC.now(), act: true)
            reconciled += 1
            #expect(try rig.violations() == [], "round \(round) after a kill at \(delay) s: \(report.discrepancies)")
            // A kill between a fill and its stop rightly asks for a person: the person looks and acknowledges.
            if report.requiresManualReview {
                _ = try await rig.desk().acknowledge(cycleId: "r-ack-\(round)", time: UTC.now(), stopLossPct: { _ in 5 })
            }
        }
        #expect(kills >= rounds * 3 / 4 && reconciled == rounds, "\(kills) kills in \(rounds) rounds")
        #expect(!rig.venueClientIds.isEmpty)                       // the runs did trade between the kills
    }
}
