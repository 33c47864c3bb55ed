import Foundation
import Ledger
import TestSupport
import Testing

/// Bad input of every kind, through the real executable. Each case asserts its exit code (never a crash signal),
/// that stderr names the place (flag, file or file:line), and that the ledger it was pointed at is unchanged.
/// Large inputs are generated here, never shipped.
@Suite(.serialized) struct BadInputCorpusTests {
    struct Case: Sendable {
        var name: String
        var arguments: @Sendable (_ data: String, _ files: String) -> [String]
        var status: Int32
        /// Every string must appear on stderr.
        var names: [String]
    }

    static let config = Fixtures.repoRoot + "/config"

    /// Files the cases point at, written once per run.
    static func writeFiles(_ dir: String) throws {
        let fm = FileManager.default
        func write(_ path: String, _ text: String) throws {
            try fm.createDirectory(atPath: ((dir + "/" + path) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: dir + "/" + path, atomically: true, encoding: .utf8)
        }
        var candles = ""
        for i in 0..<300 { candles += "\(1_700_000_000_000 + Int64(i) * 3_600_000),100,101,99,100.5,10\n" }
        try write("k.csv", candles)
        try write("bad.csv", "1700000000000,100,101,99,100.5,10\n1700003600000,1,x,1,1,1\n")
        try write("grid.yaml", "strategy: ema_cross\ngrid:\n  fast: [5]\n  slow: [21]\n")
        try write("biggrid.yaml", "strategy: ema_cross\ngrid:\n  fast: [\((1...50).map(String.init).joined(separator: ", "))]\n"
                  + "  slow: [\((51...90).map(String.init).joined(separator: ", "))]\n")
        try write("universe/config/universe.yaml", "tiers:\n  tier_1_core:\n    symbols: [BTC-USD, ../../etc]\n")
        try write("deepflow/config/app.yaml", "mode: " + String(repeating: "[", count: 4_000) + String(repeating: "]", count: 4_000) + "\n")
        var block = ""
        for level in 0..<2_000 { block += String(repeating: " ", count: level) + "k\(level):\n" }
        try write("deepblock/config/app.yaml", block)
        try write("yml/config/app.yaml", "mode: DRY_RUN\n")
        try write("yml/policy/policy.yml", "risk:\n  max_open_positions: 2\n")
        try write("dangling/config/app.yaml", "mode: DRY_RUN\n")
        try fm.createDirectory(atPath: dir + "/dangling/policy", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir + "/dangling/policy/policy.yaml", withDestinationPath: dir + "/nowhere.yaml")
        try write("huge/config/app.yaml", "mode: " + String(repeating: "y", count: 5_000_000) + "\n")
    }

    static let cases: [Case] = [
        // Command line.
        Case(name: "misspelt command", arguments: { _, _ in ["audti"] }, status: 2, names: ["'audti'", "did you mean 'audit'"]),
        Case(name: "misspelt subcommand", arguments: { _, _ in ["ledger", "chek"] }, status: 2, names: ["'chek'", "did you mean 'check'"]),
        Case(name: "misspelt flag", arguments: { d, _ in ["--onc", "--data-dir", d] }, status: 2, names: ["'--onc'"]),
        Case(name: "interval 1e15", arguments: { d, _ in ["--interval", "1e15", "--cycles", "2", "--data-dir", d, "--config-dir", config] },
             status: 2, names: ["--interval"]),
        Case(name: "interval 1e308", arguments: { d, _ in ["--interval", "1e308", "--data-dir", d] }, status: 2, names: ["--interval"]),
        Case(name: "negative interval", arguments: { d, _ in ["--interval", "-5", "--data-dir", d] }, status: 2, names: ["--interval"]),
        Case(name: "audit since overflow", arguments: { d, _ in ["audit", "--since", "99999999999999999999m", "--data-dir", d] },
             status: 2, names: ["--since"]),
        Case(name: "replay-since overflow",
             arguments: { d, _ in ["--interval", "1", "--replay-since", "99999999999999999999m", "--data-dir", d, "--config-dir", config] },
             status: 2, names: ["--replay-since"]),
        Case(name: "walk-forward step overflow",
             arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--strategy", "ema_cross", "--walk-forward",
                                   "train=1M,test=1M,step=9999999999999M", "--grid", f + "/grid.yaml"] },
             status: 2, names: ["--walk-forward", "step=9999999999999M"]),
        Case(name: "walk-forward grid above the cap",
             arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--strategy", "ema_cross", "--walk-forward",
                                   "train=1M,test=1M", "--grid", f + "/biggrid.yaml"] },
             status: 2, names: ["biggrid.yaml", "2000 combinations", "--max-combinations"]),
        Case(name: "equity nan", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--equity", "nan"] }, status: 2, names: ["--equity"]),
        Case(name: "equity inf", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--equity", "inf"] }, status: 2, names: ["--equity"]),
        Case(name: "equity 0", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--equity", "0"] }, status: 2, names: ["--equity"]),
        Case(name: "equity negative", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--equity", "-5"] }, status: 2,
             names: ["--equity", "-5"]),
        Case(name: "fee nan", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--fee-bps", "nan"] }, status: 2, names: ["--fee-bps"]),
        Case(name: "funding rate 5", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--funding-rate", "5"] }, status: 2,
             names: ["--funding-rate"]),
        Case(name: "size 1e12", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--strategy", "ema_cross", "--size", "1e12"] },
             status: 2, names: ["--size"]),
        Case(name: "from after to",
             arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--from", "2024-02-01", "--to", "2024-01-01"] },
             status: 2, names: ["--from", "--to"]),
        Case(name: "backtest takes no --confirm-live", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--confirm-live"] },
             status: 2, names: ["--confirm-live"]),
        Case(name: "backtest takes no --now", arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--now", "2024-01-01"] },
             status: 2, names: ["--now"]),
        Case(name: "February 30", arguments: { d, _ in ["--once", "--now", "2026-02-30", "--data-dir", d, "--config-dir", config] },
             status: 2, names: ["--now", "2026-02-30"]),
        Case(name: "leap second", arguments: { d, _ in ["--once", "--now", "2026-02-28T23:59:60Z", "--data-dir", d, "--config-dir", config] },
             status: 2, names: ["--now"]),
        Case(name: "empty data dir", arguments: { _, _ in ["--once", "--data-dir", ""] }, status: 2, names: ["--data-dir"]),
        Case(name: "config dir typo", arguments: { d, _ in ["--once", "--config-dir", "/nonexistent-agent-cfg", "--data-dir", d] },
             status: 2, names: ["/nonexistent-agent-cfg"]),
        Case(name: "--set keeps its file", arguments: { d, _ in ["--once", "--set", "policy.risk.nope=1", "--data-dir", d, "--config-dir", config] },
             status: 2, names: ["--set policy.risk.nope"]),
        // YAML.
        Case(name: "deep flow YAML", arguments: { d, f in ["--once", "--config-dir", f + "/deepflow/config", "--data-dir", d] },
             status: 2, names: ["deepflow/config/app.yaml:1:", "nested more than 256"]),
        Case(name: "deep block YAML", arguments: { d, f in ["config", "check", "--config-dir", f + "/deepblock/config"] },
             status: 2, names: ["deepblock/config/app.yaml:257:", "nested more than 256"]),
        Case(name: "policy.yml", arguments: { d, f in ["--once", "--config-dir", f + "/yml/config", "--data-dir", d] },
             status: 2, names: ["policy.yml", "policy.yaml"]),
        Case(name: "dangling policy symlink", arguments: { d, f in ["--once", "--config-dir", f + "/dangling/config", "--data-dir", d] },
             status: 2, names: ["dangling/policy/policy.yaml:1:1"]),
        Case(name: "huge YAML value", arguments: { d, f in ["config", "check", "--config-dir", f + "/huge/config"] },
             status: 2, names: ["huge/config/app.yaml:1:7", "more characters"]),
        Case(name: "universe symbol syntax", arguments: { d, f in ["--once", "--config-dir", f + "/universe/config", "--data-dir", d] },
             status: 2, names: ["universe/config/universe.yaml:3:", "invalid symbol '../../etc'"]),
        // Candle files.
        Case(name: "bad CSV row", arguments: { _, f in ["backtest", "--data", f + "/bad.csv", "--strategy", "ema_cross"] },
             status: 2, names: ["bad.csv:2"]),
        Case(name: "trades into a file's path",
             arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--strategy", "ema_cross", "--quiet", "--trades", f + "/k.csv/t.csv"] },
             status: 1, names: ["--trades", "k.csv is a file, not a folder"]),
        Case(name: "report into a file's path",
             arguments: { _, f in ["backtest", "--data", f + "/k.csv", "--strategy", "ema_cross", "--quiet", "--report", f + "/k.csv/r"] },
             status: 2, names: ["k.csv/r", "k.csv is a file, not a folder"]),
        Case(name: "missing candle file", arguments: { _, f in ["backtest", "--data", f + "/none.csv"] }, status: 2, names: ["none.csv"]),
    ]

    /// A data dir with a real ledger in it, shared by the cases (each must leave it unchanged).
    static func seededDataDir() async throws -> String {
        let data = Fixtures.tempDir("corpus-data")
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0, "\(out.stderr)")
        return data
    }

    static func ledgerBytes(_ data: String) -> Data? {
        FileManager.default.contents(atPath: data + "/agent.sqlite")
    }

    @Test func everyBadInputIsRefusedByName() async throws {
        let files = Fixtures.tempDir("corpus-files")
        try Self.writeFiles(files)
        let seeded = try await Self.seededDataDir()
        let before = try #require(Self.ledgerBytes(seeded))
        // Each case gets its own copy of the ledger, so they run four at a time and a change is attributed.
        let failures = try await withThrowingTaskGroup(of: [String].self) { group in
            var next = Self.cases.makeIterator()
            func start(_ c: Case) throws {
                let data = Fixtures.tempDir("corpus-case")
                try FileManager.default.removeItem(atPath: data)
                try FileManager.default.copyItem(atPath: seeded, toPath: data)
                group.addTask {
                    var failures: [String] = []
                    let out = try await AgentProcess.run(c.arguments(data, files), timeout: 60)
                    if out.status != c.status { failures.append("\(c.name): exit \(out.status), stderr: \(out.stderr.prefix(400))") }
                    for name in c.names where !out.stderr.contains(name) {
                        failures.append("\(c.name): stderr does not name \(name): \(out.stderr.prefix(400))")
                    }
                    if out.stderr.contains("NSCocoaErrorDomain") { failures.append("\(c.name): Foundation's error code reached the user") }
                    if out.stderr.count >= 5_000 { failures.append("\(c.name): \(out.stderr.count) characters on stderr") }
                    if Self.ledgerBytes(data) != before { failures.append("\(c.name) changed the ledger") }
                    return failures
                }
            }
            for _ in 0..<4 { if let c = next.next() { try start(c) } }
            var all: [String] = []
            while let found = try await group.next() {
                all += found
                if let c = next.next() { try start(c) }
            }
            return all
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(Self.cases.count >= 30)
    }

    @Test func damagedLedgerFilesAreNamedAndLeftAlone() async throws {
        var random = Fixtures.SeededRandom(seed: 15)
        let garbage = Data((0..<8_192).map { _ in UInt8.random(in: 0...255, using: &random) })
        for (name, bytes) in [("empty", Data()), ("garbage", garbage)] {
            let data = Fixtures.tempDir("corpus-ledger")
            FileManager.default.createFile(atPath: data + "/agent.sqlite", contents: bytes)
            for arguments in [["audit"], ["show", "last"], ["ledger", "check"], ["--once", "--config-dir", Self.config], ["kill", "off"]] {
                let out = try await AgentProcess.run(arguments + ["--data-dir", data])
                #expect(out.status == 1, "\(name) \(arguments): exit \(out.status) \(out.stderr)")
                #expect(out.stderr.contains(data + "/agent.sqlite"), "\(name) \(arguments): \(out.stderr)")
                #expect(Self.ledgerBytes(data) == bytes, "\(name) \(arguments) changed the file")
            }
        }
    }

    @Test func theKillSwitchFailsClosed() async throws {
        let data = try await Self.seededDataDir()
        let path = data + "/KILL_SWITCH"
        // A dangling symlink, a directory, and a 5 MB reason all count as on.
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: data + "/nowhere")
        var status = try await AgentProcess.run(["kill", "status", "--data-dir", data])
        #expect(status.stdout.hasPrefix("ON"), "\(status.stdout)")
        let once = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(try jsonObject(once.lines.first ?? "")["status"] as? String == "HALTED")
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        status = try await AgentProcess.run(["kill", "status", "--data-dir", data])
        #expect(status.stdout.hasPrefix("ON"), "\(status.stdout)")
        try FileManager.default.removeItem(atPath: path)
        try String(repeating: "r", count: 5_000_000).write(toFile: path, atomically: true, encoding: .utf8)
        let halted = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        let summary = try jsonObject(halted.lines.first ?? "")
        #expect(summary["status"] as? String == "HALTED")
        let ledger = try Ledger(readingAt: data + "/agent.sqlite")
        let longest = try ledger.events().map(\.payload.count).max() ?? 0
        #expect(longest < 100_000, "a ledger payload of \(longest) bytes")
        // `kill on` caps the reason it records too.
        let on = try await AgentProcess.run(["kill", "on", "--reason", String(repeating: "q", count: 100_000), "--data-dir", data])
        #expect(on.status == 0, "\(on.stderr)")
        let note = try ledger.events(types: ["kill_switch"]).last
        #expect((note?.payload.count ?? .max) < 1_000)
        // A full disk: the file can be created but its reason not written (/dev/full refuses every write).
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        let full = try await AgentProcess.run(["kill", "on", "--reason", "disk full", "--data-dir", data])
        #expect(full.status == 0, "\(full.stderr)")
        #expect(full.stdout.contains("kill switch ON"))
        #expect(full.stderr.contains("reason could not be written"), "\(full.stderr)")
        #expect(try await AgentProcess.run(["kill", "status", "--data-dir", data]).stdout.hasPrefix("ON"))
    }

    @Test func aMalformedEventCanBeQuarantinedAndIsThenSkipped() async throws {
        let data = Fixtures.tempDir("corpus-quarantine")
        do {
            let ledger = try Ledger(path: data + "/agent.sqlite")
            try ledger.append(NewEvent(cycleId: "c-20261120T000000Z-0000", type: "paper_fill", time: 1_795_000_000,
                                       symbol: "BTC-USD", payload: Data("{\"not\":\"a fill\"}".utf8)))
        }
        let paper = ["--once", "--mode", "PAPER", "--now", pinnedNow] + AgentProcess.common(dataDir: data)
        let blocked = try await AgentProcess.run(paper)
        #expect(blocked.status != 0)
        let check = try await AgentProcess.run(["ledger", "check", "--data-dir", data])
        #expect(check.status == 1)
        #expect(check.stdout.contains("#1"), "\(check.stdout)")
        #expect(check.stdout.contains("agent ledger quarantine 1"), "\(check.stdout)")
        let noReason = try await AgentProcess.run(["ledger", "quarantine", "1", "--reason", " ", "--data-dir", data])
        #expect(noReason.status == 2)
        let quarantine = try await AgentProcess.run(["ledger", "quarantine", "1", "--reason", "hand-written test row", "--data-dir", data])
        #expect(quarantine.status == 0, "\(quarantine.stderr)")
        let clean = try await AgentProcess.run(["ledger", "check", "--data-dir", data])
        #expect(clean.status == 0, "\(clean.stdout)")
        #expect(clean.stdout.contains("quarantined: event #1: hand-written test row"))
        let runs = try await AgentProcess.run(paper)
        #expect(runs.status == 0, "\(runs.stderr)")
        let audit = try await AgentProcess.run(["audit", "--data-dir", data])
        #expect(audit.status == 0, "\(audit.stderr)")
    }
}

/// One data dir, one agent: a second writer is refused and told who holds the lock; readers are never blocked.
@Suite(.serialized) struct DataDirLockTests {
    @Test func aSecondWriterIsRefusedNamingTheHolder() async throws {
        let data = Fixtures.tempDir("lock")
        let first = try AgentProcess(["--interval", "0.01", "--cycles", "400"] + AgentProcess.common(dataDir: data))
        _ = try await first.lines(1)  // its first cycle is recorded: it holds the lock
        let holder = try String(contentsOfFile: data + "/agent.lock", encoding: .utf8)
        #expect(holder.contains("pid \(first.process.processIdentifier)"), "\(holder)")

        let second = try await AgentProcess.run(["--once"] + AgentProcess.common(dataDir: data))
        #expect(second.status == 2)
        #expect(second.stderr.contains("in use by another agent: pid \(first.process.processIdentifier)"), "\(second.stderr)")
        #expect(second.stdout.isEmpty)
        let flatten = try await AgentProcess.run(["kill", "on", "--flatten"] + AgentProcess.common(dataDir: data))
        #expect(flatten.status == 2, "\(flatten.stderr)")
        #expect(FileManager.default.fileExists(atPath: data + "/KILL_SWITCH"), "the switch is on even though flatten had to wait")
        try FileManager.default.removeItem(atPath: data + "/KILL_SWITCH")
        let quarantine = try await AgentProcess.run(["ledger", "quarantine", "1", "--reason", "x", "--data-dir", data])
        #expect(quarantine.status == 2)

        // Readers run alongside.
        for reader in [["audit"], ["show", "last"], ["ledger", "check"]] {
            let out = try await AgentProcess.run(reader + ["--data-dir", data])
            #expect(out.status == 0, "\(reader): \(out.stderr)")
        }
        first.process.terminate()
        _ = try await first.finish()
        #expect((try String(contentsOfFile: data + "/agent.lock", encoding: .utf8)).isEmpty, "a clean stop empties the lock file")
        let after = try await AgentProcess.run(["--once"] + AgentProcess.common(dataDir: data))
        #expect(after.status == 0, "\(after.stderr)")
    }

    @Test func aLockLeftByADeadProcessIsTakenOverAndRecorded() async throws {
        let data = Fixtures.tempDir("lock-stale")
        try "pid 999999 started 2026-11-20T21:00:00Z running `agent --interval 15`\n"
            .write(toFile: data + "/agent.lock", atomically: true, encoding: .utf8)
        let out = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0, "\(out.stderr)")
        let ledger = try Ledger(readingAt: data + "/agent.sqlite")
        let takeover = try ledger.events(types: ["data_dir_lock_takeover"])
        #expect(takeover.count == 1)
        let payload = String(decoding: takeover.first?.payload ?? Data(), as: UTF8.self)
        #expect(payload.contains("pid 999999"), "\(payload)")
    }
}
