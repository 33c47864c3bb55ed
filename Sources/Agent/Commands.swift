import ArgumentParser
import Config
import Engine
import Execution
import Foundation
import Ledger
import LiveExecution
import Model
import Pipeline
import Policy
import Review
import Risk

private func write(_ text: String) {
    FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Policy audit from the ledger: violated checks by count and symbol, reviewer vetoes, AI spend.")

    @Option(help: "Only cycles recorded within this span: 30m, 24h, 7d, 2w, or since an ISO 8601 time.")
    var since: String?

    @Option(help: "Only proposals that violated this policy check (e.g. max_open_positions).")
    var check: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Folder holding agent.sqlite.")
    var dataDir: String = "data"

    func run() async throws {
        try await AgentMain.guarded {
            var cutoff: Int64?
            if let since {
                if let span = UTC.duration(since) {
                    cutoff = UTC.now() - span
                } else if let t = UTC.parse(since) {
                    cutoff = t
                } else {
                    throw CLIError.badInput("--since '\(since)': expected a span like 24h or 7d (at most 100 years), or an ISO 8601 time")
                }
            }
            if let check, !PolicyEngine.checkNames.contains(check) {
                throw CLIError.badInput("--check '\(check)' is not a policy check; the checks are: \(PolicyEngine.checkNames.joined(separator: ", "))")
            }
            let ledger = try LedgerAccess.reading(dataDir: dataDir, checked: true)
            if try !ledger.hasAuditIndex() {
                FileHandle.standardError.write(Data("note: this ledger predates the audit index, so every event is decoded (slower). `agent ledger migrate --data-dir \(dataDir)` (or the next writing command, e.g. `agent --once`) adds it.\n".utf8))
            }
            let report = try Auditor.report(ledger: ledger, since: cutoff, check: check)
            write(json ? try JSONCoding.string(report, pretty: true) : Auditor.text(report, check: check))
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The full trail of one cycle: universe, triggers, proposals, every review, every policy check, the decision.")

    @Argument(help: "A cycle id (a unique prefix is enough), or `last`.")
    var cycleId: String

    @Flag(help: "Print the recorded events as JSON.")
    var json = false

    @Option(help: "Folder holding agent.sqlite.")
    var dataDir: String = "data"

    func run() async throws {
        try await AgentMain.guarded {
            let ledger = try LedgerAccess.reading(dataDir: dataDir)
            let id = try resolve(ledger)
            let events = try ledger.events(cycleId: id)
            write(json ? try CycleTrail.json(cycleId: id, events: events) : try CycleTrail.text(cycleId: id, events: events))
        }
    }

    private func resolve(_ ledger: Ledger) throws -> String {
        if cycleId == "last" {
            guard let last = try ledger.cycleIds(limit: 50).first(where: { $0.hasPrefix("c-") }) else { throw CLIError.badInput("the ledger has no cycles yet") }
            return last
        }
        let matches = try ledger.cycleIds(matching: cycleId, limit: 10)
        if matches.contains(cycleId) { return cycleId }
        switch matches.count {
        case 0: throw CLIError.badInput("no cycle '\(cycleId)' in the ledger (try `agent audit` or `agent show last`)")
        case 1: return matches[0]
        default: throw CLIError.badInput("'\(cycleId)' matches several cycles: \(matches.joined(separator: ", "))")
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Configuration tools.", subcommands: [Check.self, Show.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate every YAML file; print each problem as file:line:column: message on stderr (exit 2 if any).")

        @OptionGroup var common: ConfigOptions

        func run() async throws {
            try await AgentMain.guarded {
                let loaded: Result<LoadedConfig, ConfigDiagnostics>
                do throws(ConfigDiagnostics) {
                    loaded = .success(try ConfigLoader(paths: common.paths, overrides: common.overrides).load())
                } catch {
                    loaded = .failure(error)
                }
                switch loaded {
                case .success(let config):
                    var lines = ["configuration ok"]
                    for source in config.sources {
                        lines.append("  \(source.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(source.path)\(source.fromFile ? "" : " (built-in default: file not found)")")
                    }
                    lines.append("  config_hash \(config.configHash)")
                    lines.append("  policy_hash \(config.policyHash)")
                    write(lines.joined(separator: "\n"))
                case .failure(let diagnostics):
                    // Problems go to stderr, as they do for every other command.
                    FileHandle.standardError.write(Data((diagnostics.problems.map(\.description).joined(separator: "\n") + "\n").utf8))
                    throw ExitCode(2)
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The effective configuration after defaults, files, ${ENV} and --set, with the origin of every value; secrets redacted.")

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @OptionGroup var common: ConfigOptions

        func run() async throws {
            try await AgentMain.guarded {
                let config = try common.loadConfig()
                let settings = config.settings
                if json {
                    write(try JSONCoding.string(settings, pretty: true))
                    return
                }
                let width = min(60, settings.map(\.key.count).max() ?? 0)
                write(settings.map { s in
                    s.key.padding(toLength: max(width, s.key.count), withPad: " ", startingAt: 0) + " = " + s.value + "    # " + s.origin
                }.joined(separator: "\n"))
            }
        }
    }
}

extension Kill {
    /// Closes every PAPER position at market, ledger first. DRY_RUN holds nothing.
    func flattenPositions(ledger: Ledger, id: String, now: Int64) async throws {
        let config = try common.loadConfig()
        let mode = common.mode ?? config.app.mode
        switch mode {
        case .dryRun:
            write("DRY_RUN holds no positions: nothing to flatten")
        case .live:
            // Closing real positions is a real-money action: the same four conditions as any LIVE run.
            let exchange = common.exchange ?? config.app.exchange
            let missing = LiveGate.missing(exchange: exchange, confirmLive: common.confirmLive, policy: config.policy,
                                           environment: ProcessInfo.processInfo.environment)
            guard missing.isEmpty else {
                throw CLIError.badInput("refusing to flatten LIVE: " + missing.joined(separator: "; ") + " (the kill switch is on)")
            }
            let desk = try LiveDesk.make(exchange: exchange, config: config, ledger: ledger,
                                         backoff: VenueBackoffLedger.keeper(venue: exchange, ledger: ledger))
            for r in try await desk.flatten(cycleId: id, time: now, reason: reason.isEmpty ? "kill switch" : reason) {
                write("close \(r.symbol) (\(r.clientOrderId)): \(r.status)")
            }
        case .paper:
            let (book, seq) = try Portfolio.rebuild(store: ledger, mode: .paper, startingEquity: config.app.portfolio.startingEquityUsd,
                                                    history: .running(config.signals))
            guard !book.account.positions.isEmpty else {
                write("no open PAPER positions: nothing to flatten")
                return
            }
            let logger = AgentLogging.logger(level: common.logLevel ?? config.app.logging.level)
            let market = try MarketSource.make(exchange: common.exchange ?? config.app.exchange, config: config.app, dataDir: common.dataDir, logger: logger)
            let snapshot = try await market.snapshot(symbols: book.account.positions.map(\.symbol), at: now,
                                                     historyHours: 48)
            let events = PaperDesk.flatten(book, snapshot: snapshot, settings: config.app.paper, time: now, reason: "flatten")
            var journal = CycleJournal(store: ledger, cycleId: id, time: now, portfolio: book, seq: seq)
            try journal.record(events)
            for case .fill(let f) in events {
                write("closed \(f.symbol): \(f.side.rawValue) \(Format.number(f.quantity)) @ \(Format.number(f.price))")
            }
        }
    }
}

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The kill switch: `on` halts every cycle before any review or order, `off` resumes, `status` shows it.")

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case on, off, status
    }

    @Argument(help: "on, off or status")
    var action: Action

    @Option(help: "With `on`: why (kept in the file and the ledger).")
    var reason: String = ""

    @Flag(help: "With `on`: also close every position at market (PAPER), recorded in the ledger.")
    var flatten = false

    @OptionGroup var common: CommonOptions

    var dataDir: String { common.dataDir }

    func validate() throws {
        if flatten && action != .on { throw ValidationError("--flatten goes with `kill on`") }
    }

    func run() async throws {
        try await AgentMain.guarded {
            let killSwitch = KillSwitch(dataDir: dataDir)
            let now = try common.pinnedTime() ?? UTC.now()
            switch action {
            case .status:
                let status = killSwitch.status()
                write(status.isOn ? "ON: \(status.reason ?? "")" : "OFF (\(killSwitch.path) absent)")
                return
            case .on:
                // The file first: it is what halts cycles, and it must work even when the ledger cannot.
                let warning: String?
                do { warning = try killSwitch.switchOn(reason: reason, at: now) } catch { throw CLIError.io("cannot turn the kill switch on: \(error)") }
                write("kill switch ON (\(killSwitch.path)): cycles halt before any review or order")
                if let warning { FileHandle.standardError.write(Data("agent: \(warning)\n".utf8)) }
            case .off:
                do { try killSwitch.turnOff() } catch { throw CLIError.io("cannot turn the kill switch off: \(FileErrorText.describe(error))") }
                write("kill switch OFF: cycles resume")
            }
            // A manual intervention: recorded in the ledger for the audit trail.
            let ledger: Ledger
            let id = "manual-\(UTC.compact(now))"
            do {
                ledger = try LedgerAccess.writing(dataDir: dataDir, checked: true)
                let note = "\(action.rawValue)\(flatten ? " --flatten" : "")\(reason.isEmpty ? "" : ": \(KillSwitch.excerpt(reason))")"
                try ledger.append(NewEvent.json(id, .killSwitch, now, CycleNote(reason: note)))
            } catch {
                throw CLIError.failed("the kill switch is \(action == .on ? "ON" : "OFF"), but it could not be recorded in the ledger: \(error)")
            }
            if flatten {
                try await DataDirLock.holding(dataDir: dataDir, command: DataDirLock.commandLine) { lock in
                    try lock.recordTakeover(in: ledger, time: now)
                    try await flattenPositions(ledger: ledger, id: id, now: now)
                }
            }
        }
    }
}
