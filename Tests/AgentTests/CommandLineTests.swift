import Foundation
import Ledger
import TestSupport
import Testing

/// The CLI contract, through the real executable. A pinned clock where proposals appear in the sim market.
let pinnedNow = "2026-11-20T22:00:00Z"

@Suite(.serialized) struct CommandLineTests {
    static let summaryFields = [
        "cycle_id", "timestamp", "mode", "exchange", "status", "regime", "universe_size", "universe_breakdown",
        "triggers_detected", "top_triggers", "proposals_generated", "proposals_approved", "base_trades", "decisions",
        "violated_checks", "no_trade_reason", "review", "executed_trades", "portfolio", "timings_ms", "config_hash",
        "policy_hash", "venue_weight_used",
    ]

    func checkSummaryShape(_ s: [String: Any]) {
        for field in Self.summaryFields { #expect(s.keys.contains(field), "missing \(field)") }
        #expect((s["cycle_id"] as? String)?.hasPrefix("c-") == true)
        #expect(s["mode"] as? String == "DRY_RUN")
        #expect(s["exchange"] as? String == "sim")
        #expect(s["venue_weight_used"] is NSNull)  // sim has no request budget
        #expect(["APPROVED_DRY_RUN", "NO_TRADE", "NO_OPPORTUNITIES"].contains(s["status"] as? String ?? ""))
        #expect(["bull", "chop", "bear", "crash"].contains(s["regime"] as? String ?? ""))
        let breakdown = s["universe_breakdown"] as? [String: Int]
        #expect(Set(breakdown?.keys.map { $0 } ?? []) == ["tier_1_core", "tier_2_rotational", "tier_3_event_driven"])
        #expect(breakdown?.values.reduce(0, +) == s["universe_size"] as? Int)
        let review = s["review"] as? [String: Any]
        for field in ["calls", "cache_hits", "cost_usd", "budget_usd", "fallback"] { #expect(review?.keys.contains(field) == true, "review.\(field)") }
        let portfolio = s["portfolio"] as? [String: Any]
        #expect(portfolio?["equity_usd"] as? Double == 10_000)
        #expect(portfolio?["open_positions"] as? Int == 0)
        let timings = s["timings_ms"] as? [String: Any]
        for field in ["universe", "triggers", "rules", "review", "risk", "execution"] { #expect(timings?[field] is Double, "timings_ms.\(field)") }
        #expect((s["config_hash"] as? String)?.hasPrefix("sha256:") == true)
        #expect((s["policy_hash"] as? String)?.hasPrefix("sha256:") == true)
        let decisions = s["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.count == s["proposals_generated"] as? Int)
        for d in decisions {
            for field in ["proposal_id", "base_conviction", "reviews", "final_conviction", "approved", "violated_checks", "size_pct"] {
                #expect(d.keys.contains(field), "decisions[].\(field)")
            }
            let reviews = d["reviews"] as? [[String: Any]] ?? []
            #expect(reviews.map { $0["reviewer"] as? String } == ["M1", "M2", "M3"])
            #expect(reviews.allSatisfy { $0["source"] as? String == "offline" })
        }
    }

    @Test func onceprintsOneJSONSummaryAndNothingElseOnStdout() async throws {
        let data = Fixtures.tempDir()
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.lines.count == 1)
        let summary = try jsonObject(out.lines.first ?? "")
        checkSummaryShape(summary)
        #expect(summary["timestamp"] as? String == pinnedNow)
        // Logs go to stderr as JSON lines.
        for line in out.stderr.split(separator: "\n") { #expect((try? jsonObject(String(line))) != nil, "stderr: \(line)") }
    }

    @Test func aPinnedClockGivesTheSameDecisions() async throws {
        func run() async throws -> [String: Any] {
            let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: Fixtures.tempDir()))
            var s = try jsonObject(out.lines.first ?? "")
            s["cycle_id"] = nil
            s["timings_ms"] = nil
            var orders = s["dry_run_orders"] as? [[String: Any]] ?? []
            for i in orders.indices { orders[i]["client_order_id"] = nil; orders[i]["cycle_id"] = nil }
            s["dry_run_orders"] = orders
            return s
        }
        let a = try await run(), b = try await run()
        #expect(NSDictionary(dictionary: a).isEqual(to: b))
    }

    @Test func intervalRunsTheRequestedCycles() async throws {
        let data = Fixtures.tempDir()
        let out = try await AgentProcess.run(["--interval", "0.02", "--cycles", "3", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.lines.count == 3)
        let stamps = try out.lines.map { try jsonObject($0)["timestamp"] as? String }
        #expect(Set(stamps.compactMap { $0 }).count == 3)  // the pinned clock advances by the interval
        let ledger = try Ledger(path: data + "/agent.sqlite")
        #expect(try ledger.events(types: ["cycle_finished"]).count == 3)
    }

    @Test func sigtermStopsAfterTheCurrentCycleWithEveryCycleInTheLedger() async throws {
        let data = Fixtures.tempDir()
        let p = try AgentProcess(["--interval", "0.02"] + AgentProcess.common(dataDir: data))
        let first = try await p.lines(2)
        #expect(first.count == 2)
        kill(p.process.processIdentifier, SIGTERM)
        let out = try await p.finish(timeout: 60)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("SIGTERM"))
        let printed = first.count + out.lines.count
        let ledger = try Ledger(path: data + "/agent.sqlite")
        #expect(try ledger.events(types: ["cycle_finished"]).count == printed)
        #expect(try ledger.events(types: ["cycle_abandoned"]).isEmpty)
    }

    /// Invariant 9 / WAL: a process killed with SIGKILL loses nothing it had recorded; the next run continues.
    @Test func aKilledProcessLeavesALedgerTheNextRunContinues() async throws {
        let data = Fixtures.tempDir()
        let p = try AgentProcess(["--interval", "0.001", "--cycles", "100000"] + AgentProcess.common(dataDir: data))
        let printed = try await p.lines(3)
        #expect(printed.count == 3)
        kill(p.process.processIdentifier, SIGKILL)
        _ = try await p.finish(timeout: 30)

        let before = try Ledger(path: data + "/agent.sqlite")
        let finished = try before.events(types: ["cycle_finished"]).count
        #expect(finished >= 3)
        let started = try before.events(types: ["cycle_started"]).count
        #expect(started - finished <= 1)

        let next = try await AgentProcess.run(["--once"] + AgentProcess.common(dataDir: data))
        #expect(next.status == 0, "\(next.stderr)")
        let after = try Ledger(path: data + "/agent.sqlite")
        #expect(try after.events(types: ["cycle_finished"]).count == finished + 1)
        // A cycle cut off mid-way is closed, never left looking like it is running.
        #expect(try after.events(types: ["cycle_abandoned"]).count == started - finished)
    }

    @Test func aCycleCutOffMidwayIsClosedOnTheNextStart() async throws {
        let data = Fixtures.tempDir()
        let ledger = try Ledger(path: data + "/agent.sqlite")
        try ledger.append(NewEvent(cycleId: "c-20261120T210000Z-dead", type: "cycle_started", time: 1_763_672_400, payload: Data("{}".utf8)))
        try ledger.append(NewEvent(cycleId: "c-20261120T210000Z-dead", type: "regime", time: 1_763_672_400, payload: Data("{}".utf8)))
        let out = try await AgentProcess.run(["--once"] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0)
        let trail = try ledger.events(cycleId: "c-20261120T210000Z-dead")
        #expect(trail.map(\.type) == ["cycle_started", "regime", "cycle_abandoned"])
    }

    @Test func theKillSwitchHaltsBeforeAnyReview() async throws {
        let data = Fixtures.tempDir()
        let on = try await AgentProcess.run(["kill", "on", "--reason", "maintenance", "--data-dir", data])
        #expect(on.status == 0)
        #expect(try await AgentProcess.run(["kill", "status", "--data-dir", data]).stdout.hasPrefix("ON"))
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0)
        let s = try jsonObject(out.lines.first ?? "")
        #expect(s["status"] as? String == "HALTED")
        #expect((s["no_trade_reason"] as? String)?.contains("maintenance") == true)
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let types = try ledger.events(cycleId: s["cycle_id"] as? String ?? "").map(\.type)
        #expect(types == ["cycle_started", "halted", "cycle_finished"])

        #expect(try await AgentProcess.run(["kill", "off", "--data-dir", data]).status == 0)
        let resumed = try jsonObject(try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data)).lines.first ?? "")
        #expect(resumed["status"] as? String != "HALTED")
        #expect(try ledger.events(types: ["kill_switch"]).count == 2)
    }

    /// PAPER end to end: a cycle opens positions, `kill on --flatten` closes them all at market, ledger first.
    @Test func paperThenKillFlatten() async throws {
        let data = Fixtures.tempDir()
        let paper = ["--mode", "PAPER"] + AgentProcess.common(dataDir: data)
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + paper)
        try #require(out.status == 0, "\(out.stderr)")
        let s = try jsonObject(out.lines.first ?? "")
        #expect(s["status"] as? String == "EXECUTED")
        let portfolio = s["portfolio"] as? [String: Any]
        let opened = portfolio?["open_positions"] as? Int ?? 0
        #expect(opened > 0)
        #expect(portfolio?["cash_usd"] is Double)
        let flat = try await AgentProcess.run(["kill", "on", "--flatten", "--reason", "test", "--now", "2026-11-20T23:00:00Z"] + paper)
        #expect(flat.status == 0, "\(flat.stderr)")
        #expect(flat.stdout.components(separatedBy: "closed ").count - 1 == opened)
        let ledger = try Ledger(path: data + "/agent.sqlite")
        let closes = try ledger.events(types: ["paper_fill"]).filter { $0.cycleId.hasPrefix("manual-") }
        #expect(closes.count == opened)
        let next = try jsonObject(try await AgentProcess.run(["--once", "--now", "2026-11-21T00:00:00Z"] + paper).lines.first ?? "")
        #expect(next["status"] as? String == "HALTED")
        #expect((next["portfolio"] as? [String: Any])?["open_positions"] as? Int == 0)
        #expect(try await AgentProcess.run(["kill", "off", "--flatten", "--data-dir", data]).status == 2)
    }

    @Test func badConfigurationExitsTwoWithPositions() async throws {
        let root = Fixtures.tempDir()
        let config = root + "/config", policy = root + "/policy"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: policy, withIntermediateDirectories: true)
        try "mode: DRY_RUN\nloop:\n  interval_minutes: -5\n".write(toFile: config + "/app.yaml", atomically: true, encoding: .utf8)
        try "risk:\n  max_open_position: 3\n".write(toFile: policy + "/policy.yaml", atomically: true, encoding: .utf8)
        let check = try await AgentProcess.run(["config", "check", "--config-dir", config])
        #expect(check.status == 2)
        // Problems on stderr, like every other command's.
        #expect(check.stdout.isEmpty)
        #expect(check.stderr.contains(config + "/app.yaml:3:21: "))
        #expect(check.stderr.contains(policy + "/policy.yaml:2:3: unknown key 'max_open_position'"))
        let once = try await AgentProcess.run(["--once", "--config-dir", config, "--data-dir", root + "/data"])
        #expect(once.status == 2)
        #expect(once.stdout.isEmpty)
        #expect(once.stderr.contains("app.yaml:3:21"))
    }

    @Test func theShippedConfigurationIsValid() async throws {
        let out = try await AgentProcess.run(["config", "check", "--config-dir", Fixtures.repoRoot + "/config"])
        #expect(out.status == 0, "\(out.stdout)")
        #expect(out.stdout.hasPrefix("configuration ok"))
    }

    @Test func badInputExitsTwo() async throws {
        let data = Fixtures.tempDir()
        #expect(try await AgentProcess.run(["--once", "--now", "yesterday"] + AgentProcess.common(dataDir: data)).status == 2)
        #expect(try await AgentProcess.run(["--interval", "0"] + AgentProcess.common(dataDir: data)).status == 2)
        #expect(try await AgentProcess.run(AgentProcess.common(dataDir: data)).status == 2)
        #expect(try await AgentProcess.run(["--once", "--set", "nofile.x=1"] + AgentProcess.common(dataDir: data)).status == 2)
    }

    /// Invariant 7: LIVE refuses and says which conditions are missing.
    @Test func liveRefusesWithoutItsConditions() async throws {
        let data = Fixtures.tempDir()
        let out = try await AgentProcess.run(["--once", "--mode", "LIVE", "--exchange", "binance"] + AgentProcess.common(dataDir: data))
        #expect(out.status == 2)
        #expect(out.stderr.contains("--confirm-live was not given"))
        #expect(out.stderr.contains("execution.allow_live is false"))
        #expect(out.stderr.contains("BINANCE_API_KEY"))
        #expect(out.stdout.isEmpty)
    }

    @Test func auditAndShowExplainWhatBlockedWhat() async throws {
        let data = Fixtures.tempDir()
        let strict = ["--set", "policy.risk.min_combined_conviction=0.99"]
        let out = try await AgentProcess.run(["--interval", "0.001", "--cycles", "2", "--now", pinnedNow] + strict + AgentProcess.common(dataDir: data))
        try #require(out.status == 0 && out.lines.count == 2, "interval run: status \(out.status), \(out.lines.count) lines, stderr \(out.stderr)")
        let summaries = try out.lines.map(jsonObject)
        let rejected = summaries.filter { ($0["proposals_generated"] as? Int ?? 0) > 0 }
        try #require(!rejected.isEmpty, "the pinned sim hour should produce proposals")
        #expect(rejected.allSatisfy { $0["status"] as? String == "NO_TRADE" })
        #expect(rejected.allSatisfy { ($0["violated_checks"] as? [String])?.contains("min_combined_conviction") == true })

        let audit = try await AgentProcess.run(["audit", "--json", "--data-dir", data])
        try #require(audit.status == 0, "audit failed: \(audit.stderr)")
        let report = try jsonObject(audit.stdout)
        #expect(report["cycles"] as? Int == 2)
        let checks = report["violated_checks"] as? [[String: Any]] ?? []
        let combined = checks.first { $0["check"] as? String == "min_combined_conviction" }
        #expect((combined?["violations"] as? Int ?? 0) >= rejected.count)
        #expect((combined?["symbols"] as? [[String: Any]])?.isEmpty == false)
        let recent = combined?["recent_cycles"] as? [String] ?? []
        #expect(recent.first == rejected.last?["cycle_id"] as? String)

        let filtered = try await AgentProcess.run(["audit", "--check", "min_combined_conviction", "--since", "1h", "--data-dir", data])
        #expect(filtered.status == 0)
        #expect(filtered.stdout.contains("min_combined_conviction"))
        #expect(try await AgentProcess.run(["audit", "--check", "no_such_check", "--data-dir", data]).status == 2)

        let id = rejected.last?["cycle_id"] as? String ?? ""
        let show = try await AgentProcess.run(["show", id, "--data-dir", data])
        #expect(show.status == 0)
        for needle in ["Universe:", "Triggers:", "Proposals", "Review M1", "Review M2", "Review M3",
                       "FAIL min_combined_conviction", "pass kill_switch", "Outcome: NO_TRADE"] {
            #expect(show.stdout.contains(needle), "show lacks \(needle)")
        }
        // The shortest prefix that tells this cycle from the other one (both share the pinned time).
        let ids = summaries.compactMap { $0["cycle_id"] as? String }
        let common = ids.count == 2 ? zip(ids[0], ids[1]).prefix { $0 == $1 }.count : id.count - 1
        let showJSON = try await AgentProcess.run(["show", String(id.prefix(common + 1)), "--json", "--data-dir", data])
        try #require(showJSON.status == 0, "show --json failed: \(showJSON.stderr)")
        let trail = try jsonObject(showJSON.stdout)
        let events = trail["events"] as? [[String: Any]] ?? []
        #expect(events.first?["type"] as? String == "cycle_started")
        #expect(events.last?["type"] as? String == "cycle_finished")
        #expect(events.contains { $0["type"] as? String == "policy_evaluation" && ($0["payload"] as? [String: Any])?["checks"] != nil })
        #expect(try await AgentProcess.run(["show", "c-nope", "--data-dir", data]).status == 2)
    }
}
