import ArgumentParser
import Config
import Engine
import Execution
import Foundation
import Ledger
import LiveExecution
import Logging
import Market
import Model
import Review
import Risk
import Venues

extension Mode: ExpressibleByArgument {}
extension Exchange: ExpressibleByArgument {}

/// Where the configuration is, and `--set` overrides: every command that reads the YAML files.
struct ConfigOptions: ParsableArguments {
    @Option(help: "Folder with app.yaml, universe.yaml, signals.yaml (default: config). policy/ and prompts/ default to its siblings.")
    var configDir: String?

    @Option(help: "Folder with policy.yaml (default: policy, beside the config folder).")
    var policyDir: String?

    @Option(help: "Folder with the reviewer prompt templates (default: prompts, beside the config folder).")
    var promptsDir: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override any YAML key: file.dotted.key=value (repeatable), e.g. policy.risk.max_open_positions=3.", valueName: "key=value"))
    var overrides: [String] = []

    var paths: ConfigPaths { ConfigPaths(configDir: configDir, policyDir: policyDir, promptsDir: promptsDir, given: true) }

    func loadConfig() throws -> LoadedConfig {
        do {
            return try ConfigLoader(paths: paths, overrides: overrides).load()
        } catch {
            throw CLIError.badInput("invalid configuration:\n" + error.problems.map(\.description).joined(separator: "\n"))
        }
    }
}

/// `--data-dir`: where the ledger and the kill switch live.
struct DataDirOption: ParsableArguments {
    @Option(help: "Folder for the ledger (agent.sqlite) and the KILL_SWITCH file.")
    var dataDir: String = "data"

    func validate() throws {
        if dataDir.isEmpty { throw ValidationError("--data-dir is empty: name a folder (the default is data)") }
    }
}

/// `--exchange`.
struct VenueOption: ParsableArguments {
    @Option(help: "sim, coinbase or binance (overrides app.yaml's exchange).")
    var exchange: Exchange?
}

/// `--now`: a pinned decision clock.
struct ClockOption: ParsableArguments {
    @Option(help: "Pin the decision clock (ISO 8601, e.g. 2026-11-20T22:00:00Z) for reproducible runs.")
    var now: String?

    func pinnedTime() throws -> Int64? {
        guard let now else { return nil }
        guard let t = UTC.parse(now) else {
            throw CLIError.badInput("--now '\(now)': expected a real ISO 8601 time such as 2026-11-20T22:00:00Z (no Feb 30, no leap second)")
        }
        return t
    }
}

/// The options of the commands that run cycles or act on them (`run`, `kill`).
struct CommonOptions: ParsableArguments {
    @Option(help: "DRY_RUN, PAPER or LIVE (overrides app.yaml's mode).")
    var mode: Mode?

    @OptionGroup var venue: VenueOption
    @OptionGroup var config: ConfigOptions
    @OptionGroup var data: DataDirOption

    @Flag(help: "Required, with execution.allow_live and keys in the environment, to trade real money in LIVE mode.")
    var confirmLive = false

    @OptionGroup var clock: ClockOption

    @Option(help: "trace, debug, info, notice, warning, error or critical (overrides app.yaml).")
    var logLevel: String?

    var exchange: Exchange? { venue.exchange }
    var dataDir: String { data.dataDir }
    var now: String? { clock.now }
    var overrides: [String] { config.overrides }
    var paths: ConfigPaths { config.paths }
    func loadConfig() throws -> LoadedConfig { try config.loadConfig() }
    func pinnedTime() throws -> Int64? { try clock.pinnedTime() }
}

/// `market`: a venue, its configuration, a clock.
struct MarketOptions: ParsableArguments {
    @OptionGroup var venue: VenueOption
    @OptionGroup var config: ConfigOptions
    @OptionGroup var clock: ClockOption

    var exchange: Exchange? { venue.exchange }
    func loadConfig() throws -> LoadedConfig { try config.loadConfig() }
    func pinnedTime() throws -> Int64? { try clock.pinnedTime() }
}

/// `reconcile`: a venue, the ledger it is compared with, a clock.
struct ReconcileOptions: ParsableArguments {
    @OptionGroup var venue: VenueOption
    @OptionGroup var config: ConfigOptions
    @OptionGroup var data: DataDirOption
    @OptionGroup var clock: ClockOption

    var exchange: Exchange? { venue.exchange }
    var dataDir: String { data.dataDir }
    func loadConfig() throws -> LoadedConfig { try config.loadConfig() }
    func pinnedTime() throws -> Int64? { try clock.pinnedTime() }
}

/// `backtest`: the configuration (with `--set`, also per grid point) and the data dir for recorded reviews.
struct BacktestOptions: ParsableArguments {
    @OptionGroup var config: ConfigOptions
    @OptionGroup var data: DataDirOption

    var dataDir: String { data.dataDir }
    var overrides: [String] {
        get { config.overrides }
        set { config.overrides = newValue }
    }
    func loadConfig() throws -> LoadedConfig { try config.loadConfig() }
}

public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Rules-first crypto trading decisions, with bounded AI reviewers and a policy engine that decides last.",
        discussion: """
        Every cycle runs Universe -> Triggers -> Rules -> M1 news -> M2 tape -> M3 governor -> Risk -> Execution \
        and records each stage in the ledger (data/agent.sqlite).

        Examples:
          agent --once                          one cycle, JSON summary on stdout
          agent --interval 15 --cycles 4        a cycle every 15 minutes, 4 times
          agent audit --since 24h               which policy checks blocked what
          agent show <cycle id>                 one cycle's full trail
          agent --version                       version, git commit and build configuration
        """,
        subcommands: [Run.self, Audit.self, Show.self, ConfigCommand.self, Kill.self, LedgerCommand.self, MarketCommand.self, ReconcileCommand.self,
                      BacktestCommand.self, BenchCommand.self, TradesCommand.self, ServeCommand.self, AlertsCommand.self,
                      DataCommand.self],
        defaultSubcommand: Run.self)

    public init() {}
}

/// The default command: `agent --once` or `agent --interval MINUTES`.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run decision cycles (the default command: `agent --once` is `agent run --once`).")

    @Flag(help: "Run one cycle and print its JSON summary.")
    var once = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Run a cycle every MINUTES (fractions allowed) until SIGINT/SIGTERM; one JSON summary per line.", valueName: "minutes"))
    var interval: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --interval: stop after N cycles.", valueName: "n"))
    var cycles: Int?

    @Flag(help: "Pretty-print the JSON summary.")
    var pretty = false

    @Option(help: "With --once: re-run a recorded cycle (id, unique prefix or `last`) from its recorded inputs and reviews, without the network, and report any difference from the recorded decisions field by field (exit 1 if any).")
    var replay: String?

    @Option(help: "With --interval: replay every recorded cycle in this span (24h, 7d or an ISO 8601 time) instead of running new ones.")
    var replaySince: String?

    @Option(help: ArgumentHelp("wall (default): cycles follow the real time. simulated: with --interval and --now, cycles run back to back and the decision clock advances by the interval each time (PAPER or DRY_RUN over replayed data at full speed).", valueName: "clock"))
    var clock: DecisionClock = .wall

    @Option(help: ArgumentHelp("With --interval: also serve the dashboard, API and /metrics on 127.0.0.1:PORT in this process (as `agent serve`).", valueName: "port"))
    var serve: Int?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if serve != nil && interval == nil { throw ValidationError("--serve goes with --interval (or run `agent serve` beside the loop)") }
        if once && interval != nil { throw ValidationError("use either --once or --interval, not both") }
        // The same range as app.yaml's loop.interval_minutes.
        if let interval, !(0.001...10_080).contains(interval) {
            throw ValidationError("--interval \(interval): must be between 0.001 and 10080 minutes (one week), like loop.interval_minutes")
        }
        if let cycles, cycles < 1 { throw ValidationError("--cycles must be at least 1") }
        if cycles != nil && interval == nil { throw ValidationError("--cycles goes with --interval") }
        if replay != nil && !once { throw ValidationError("--replay goes with --once (use --interval with --replay-since for a span)") }
        if replaySince != nil && interval == nil { throw ValidationError("--replay-since goes with --interval") }
        if clock == .simulated {
            if interval == nil || common.now == nil { throw ValidationError("--clock simulated needs --interval and --now (where the simulated clock starts)") }
            if cycles == nil { throw ValidationError("--clock simulated needs --cycles (it does not wait, so it would never stop)") }
            if common.mode == .live { throw ValidationError("--clock simulated cannot run LIVE: the venue's clock is real") }
        }
    }

    func run() async throws {
        // Checked here, not in validate(): ArgumentParser validates before it reports unknown flags, and
        // `agent --onc` must name '--onc' rather than ask how to run.
        if !once && interval == nil { throw ValidationError("say how to run: --once, or --interval MINUTES (see --help)") }
        try await AgentMain.guarded {
            if replay != nil || replaySince != nil {
                let ok = try await ReplayCommand.run(common: common, cycle: replay, since: replaySince, pretty: pretty)
                if !ok { throw ExitCode(1) }
                return
            }
            let time = try common.pinnedTime()
            try await DataDirLock.holding(dataDir: common.dataDir, command: DataDirLock.commandLine) { lock in
                let setup = try RunSetup(common)
                if let ledger = setup.runner.ledger { try lock.recordTakeover(in: ledger, time: time ?? UTC.now()) }
                if once {
                    let summary = await setup.runner.run(at: time ?? UTC.now())
                    try printSummary(summary)
                    setup.alerts?.cycleFinished()
                    await setup.alerts?.drain(seconds: setup.alertsDrainSeconds)
                    if summary.status == .error { throw ExitCode(1) }
                } else if let interval {
                    try await OperatorService.alongside(port: serve, dataDir: common.dataDir, config: setup.config) {
                        try await runLoop(setup: setup, interval: interval)
                    }
                    await setup.alerts?.drain(seconds: setup.alertsDrainSeconds)
                }
            }
        }
    }

    private func printSummary(_ summary: CycleSummary) throws {
        let line = try JSONCoding.string(summary, pretty: pretty)
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func runLoop(setup: RunSetup, interval: Double) async throws {
        let stop = StopSignal.install()
        let pinned = try common.pinnedTime()
        let log = setup.runner.logger
        log.info("interval run started", metadata: ["interval_minutes": "\(interval)", "cycles": "\(cycles.map(String.init) ?? "until stopped")"])
        let clock = ContinuousClock()
        let start = clock.now
        let firstTime = pinned ?? UTC.now()
        let schedule = IntervalSchedule(intervalSeconds: interval * 60)
        var count = 0
        var slot = 0
        let watch = try setup.watch(simulatedClock: self.clock == .simulated)
        defer { watch?.stop() }
        while true {
            let time = pinned.map { schedule.time(of: slot, from: $0) } ?? UTC.now()
            let summary = await setup.runner.run(at: time)
            try printSummary(summary)
            setup.alerts?.cycleFinished()
            count += 1
            if let cycles, count >= cycles { break }
            await watch?.refreshMarginBook()
            if stop.isStopped { break }
            if self.clock == .simulated {
                // No waiting: the decision clock advances one interval per cycle.
                slot += 1
                continue
            }
            let next = schedule.nextSlot(after: slot, elapsedSeconds: IntervalSchedule.seconds(clock.now - start))
            if next > slot + 1 {
                try schedule.recordSkipped(slot + 1..<next, from: firstTime, store: setup.runner.store, log: log)
            }
            slot = next
            let due = start + .milliseconds(Int64(schedule.offsetSeconds(of: slot) * 1_000))
            if let watch {
                await watch.watch(until: due, cycleId: summary.cycleId, stop: stop)
            }
            while clock.now < due, !stop.isStopped {
                try? await Task.sleep(for: min(.milliseconds(50), due - clock.now))
            }
            if stop.isStopped { break }
        }
        log.info("interval run stopped", metadata: ["cycles": "\(count)", "reason": "\(stop.signalName ?? "cycle count reached")"])
    }
}

/// Where the decision clock comes from.
enum DecisionClock: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// The real time (or `--now` plus the interval elapsed, waiting between cycles).
    case wall
    /// `--now` plus the interval per cycle, without waiting: replayed data at full speed.
    case simulated
}

/// The slots of `--interval`: slot k starts k intervals after the first. A cycle that runs past later slots
/// makes the loop skip them (recorded in the ledger as `slots_skipped`) instead of running them in a burst.
struct IntervalSchedule {
    var intervalSeconds: Double

    /// Payload of `slots_skipped`.
    struct Skipped: Codable, Sendable, Equatable {
        var skipped: Int
        var firstSlot: String
        var lastSlot: String
        var intervalMinutes: Double
        var reason: String
    }

    func offsetSeconds(of slot: Int) -> Double { Double(slot) * intervalSeconds }

    func time(of slot: Int, from first: Int64) -> Int64 { first + Int64(offsetSeconds(of: slot).rounded()) }

    /// The slot to run next, `elapsedSeconds` after the first slot started: the one after `slot`, or, when the
    /// cycle ran past it, the first slot that has not started yet.
    func nextSlot(after slot: Int, elapsedSeconds: Double) -> Int {
        guard intervalSeconds > 0, elapsedSeconds.isFinite else { return slot + 1 }
        let started = Int((elapsedSeconds / intervalSeconds).rounded(.down))
        return max(slot + 1, started + 1)
    }

    func recordSkipped(_ slots: Range<Int>, from first: Int64, store: any EventStore, log: Logger) throws {
        guard let firstSkipped = slots.first, let lastSkipped = slots.last else { return }
        let note = Skipped(skipped: slots.count, firstSlot: UTC.iso8601(time(of: firstSkipped, from: first)),
                           lastSlot: UTC.iso8601(time(of: lastSkipped, from: first)), intervalMinutes: intervalSeconds / 60,
                           reason: "the previous cycle ran past \(slots.count == 1 ? "this slot" : "these slots"): skipped, not caught up")
        log.warning("interval slots skipped", metadata: ["skipped": "\(slots.count)", "first": "\(note.firstSlot)"])
        let now = UTC.now()
        try store.append([NewEvent.json("loop-\(UTC.compact(now))", .slotsSkipped, now, note)])
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// What a run needs, built once: config, gates, ledger, market, reviewers, executor.
struct RunSetup {
    var config: LoadedConfig
    var runner: CycleRunner
    var liveDesk: LiveDesk?
    /// Operator alerts, delivered off the cycle's path (nil when no channel is configured).
    var alerts: AlertFeed?
    /// `--once` waits this long at most for its alerts before the process exits.
    var alertsDrainSeconds: Double { min(config.app.alerts.timeoutSeconds * Double(config.app.alerts.maxAttempts) + 1, 20) }

    init(_ common: CommonOptions) throws {
        config = try common.loadConfig()
        let mode = common.mode ?? config.app.mode
        let exchange = common.exchange ?? config.app.exchange
        let logger = AgentLogging.logger(level: common.logLevel ?? config.app.logging.level)
        // Reviewer keys are resolved (and a venue credential refused) before the ledger, market or venue is touched.
        let board = try ReviewSetup.board(config)
        for warning in ReviewBoard.setupWarnings(config: config) { logger.warning("\(warning)") }

        // Invariant 7: LIVE needs every one of its conditions; say which are missing.
        if mode == .live {
            let missing = LiveGate.missing(exchange: exchange, confirmLive: common.confirmLive, policy: config.policy,
                                           environment: ProcessInfo.processInfo.environment)
            if !missing.isEmpty {
                throw CLIError.badInput("refusing to run LIVE: " + missing.joined(separator: "; "))
            }
        }
        let symbolProblems = config.symbolProblems(exchange: exchange)
        if !symbolProblems.isEmpty {
            throw CLIError.badInput("invalid configuration:\n" + symbolProblems.map(\.description).joined(separator: "\n"))
        }

        let ledger: Ledger
        do {
            ledger = try Ledger(path: (common.dataDir as NSString).appendingPathComponent("agent.sqlite"))
        } catch {
            throw CLIError.failed("cannot open the ledger: \(error)")
        }
        try Recovery.closeAbandonedCycles(ledger: ledger, logger: logger)

        let market: any MarketDataSource
        var liveDesk: LiveDesk?
        if mode == .live {
            let desk = try LiveDesk.make(exchange: exchange, config: config, ledger: ledger,
                                         backoff: VenueBackoffLedger.keeper(venue: exchange, ledger: ledger))
            liveDesk = desk
            guard let data = desk.venue as? any MarketDataSource else {
                throw CLIError.failed("the \(exchange.rawValue) connector gives no market data")
            }
            market = data
        } else {
            market = try MarketSource.make(exchange: exchange, config: config.app, dataDir: common.dataDir, ledger: ledger, logger: logger)
        }
        let killSwitch = KillSwitch(dataDir: common.dataDir)
        let executor: any Executor = switch mode {
        case .paper: PaperExecutor(settings: config.app.paper, spotOnly: exchange.spotOnly)
        case .live: liveDesk.map { desk in desk.executor(haltReason: { killSwitch.status().reason }) } ?? DryRunExecutor()
        case .dryRun: DryRunExecutor()
        }
        runner = CycleRunner(config: config, mode: mode, exchange: exchange, market: market, ledger: ledger,
                             board: board, executor: executor,
                             killSwitch: killSwitch, logger: logger)
        self.liveDesk = liveDesk
        if mode != .dryRun { runner.guardKeeper = try GuardKeeper.restoring(BetweenCycleGuard(policy: config.policy), store: ledger) }
        if let liveDesk { runner.desk = LivePositions(desk: liveDesk, exits: config.signals.exits, atrPeriod: config.signals.triggers.trend.atrPeriod) }
        if mode == .live {
            logger.warning("LIVE mode: real orders on \(exchange.rawValue)", metadata: ["exchange": "\(exchange.rawValue)"])
        }
        runner.newsSource = NewsIngest.make(config: config)
        alerts = AlertFeed.make(config: config.app.alerts, ledger: ledger, environment: ProcessInfo.processInfo.environment, logger: logger)
    }
}

extension RunSetup {
    /// The streams and guard between `--interval` cycles: PAPER and LIVE on coinbase or binance with
    /// `streams.enabled`, on the wall clock (a simulated clock does not wait between cycles).
    func watch(simulatedClock: Bool) throws -> BetweenCycleWatch? {
        guard !simulatedClock, config.app.streams.enabled, runner.mode != .dryRun, runner.exchange.trades,
              let ledger = runner.ledger, let keeper = runner.guardKeeper else { return nil }
        let market: any VenueMarketData
        if let venue = liveDesk?.venue as? any VenueMarketData {
            market = venue
        } else if let venue = runner.market as? any VenueMarketData {
            market = venue
        } else {
            return nil
        }
        let watch = BetweenCycleWatch(config: config, runner: runner, ledger: ledger, market: market, liveDesk: liveDesk,
                                      keeper: keeper, logger: runner.logger)
        try watch.start()
        return watch
    }
}

/// The four conditions of LIVE trading (invariant 7).
public enum LiveGate {
    public static func requiredKeys(exchange: Exchange) -> [String] { VenueCredentials.names(exchange: exchange) }

    /// What is missing to trade LIVE (empty = all present). Never includes key values.
    public static func missing(exchange: Exchange, confirmLive: Bool, policy: PolicyConfig, environment: [String: String]) -> [String] {
        var missing: [String] = []
        if !confirmLive { missing.append("--confirm-live was not given") }
        if !policy.execution.allowLive { missing.append("policy.yaml execution.allow_live is false") }
        if !exchange.trades {
            missing.append("the sim market cannot trade LIVE (use --exchange coinbase or binance)")
        } else {
            let absent = requiredKeys(exchange: exchange).filter { (environment[$0] ?? "").isEmpty }
            if !absent.isEmpty { missing.append("missing environment variables \(absent.joined(separator: ", "))") }
        }
        return missing
    }
}

/// SIGINT/SIGTERM: finish the current cycle, then stop. A second signal exits at once.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var stoppedBy: String?
    private var sources: [DispatchSourceSignal] = []

    var isStopped: Bool { lock.withLock { stoppedBy != nil } }
    var signalName: String? { lock.withLock { stoppedBy } }

    static func install() -> StopSignal {
        let stop = StopSignal()
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let again = stop.lock.withLock { () -> Bool in
                    defer { stop.stoppedBy = stop.stoppedBy ?? name }
                    return stop.stoppedBy != nil
                }
                if again {
                    FileHandle.standardError.write(Data("second \(name): exiting now\n".utf8))
                    exit(130)
                }
                FileHandle.standardError.write(Data("\(name): finishing the current cycle, then stopping (send again to exit now)\n".utf8))
            }
            source.resume()
            stop.sources.append(source)
        }
        return stop
    }
}

public enum AgentMain {
    /// Parses the command line and runs; maps errors to exit codes (2 bad input, 1 failure). `agent --version`
    /// prints `build` and exits 0.
    public static func main(build: BuildInfo = .unstamped) async {
        if CommandLine.arguments.dropFirst().first == "--version" {
            FileHandle.standardOutput.write(Data((build.text + "\n").utf8))
            exit(0)
        }
        do {
            try refuseUnknownCommand(Array(CommandLine.arguments.dropFirst()))
            var command = try AgentCommand.parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("agent: \(error.description)\n".utf8))
            exit(error.exitCode)
        } catch {
            let code = AgentCommand.exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((AgentCommand.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            AgentCommand.exit(withError: error)
        }
    }

    /// A first word that is no flag and no command would otherwise be taken as an argument of the default
    /// command `run`, which then asks how to run: name the word and the closest command instead. Command groups
    /// (`config`, `ledger`) are checked the same way.
    static func refuseUnknownCommand(_ arguments: [String], in command: any ParsableCommand.Type = AgentCommand.self,
                                     path: String = "agent") throws {
        guard let word = arguments.first, !word.hasPrefix("-") else { return }
        let subcommands = command.configuration.subcommands
        guard !subcommands.isEmpty else { return }
        if let sub = subcommands.first(where: { $0._commandName == word }) {
            return try refuseUnknownCommand(Array(arguments.dropFirst()), in: sub, path: path + " " + word)
        }
        let names = subcommands.map { $0._commandName } + (command == AgentCommand.self ? ["help"] : [])
        guard !names.contains(word) else { return }
        let closest = names.map { (name: $0, distance: ConfigKeys.editDistance(word.lowercased(), $0)) }
            .min { $0.distance < $1.distance }
        let hint = closest.flatMap { $0.distance <= max(2, word.count / 2) ? "; did you mean '\($0.name)'?" : nil } ?? "."
        throw CLIError.badInput("unknown command '\(word)'\(hint) The commands of `\(path)` are: \(names.joined(separator: ", ")) (see `\(path) --help`).")
    }

    /// Runs `body`, turning unexpected errors into a clear `CLIError`.
    static func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as CLIError {
            throw e
        } catch let e as ExitCode {
            throw e
        } catch {
            throw CLIError.failed(FileErrorText.describe(error))
        }
    }
}

extension EventType where Payload == IntervalSchedule.Skipped {
    static var slotsSkipped: Self { Self(.slotsSkipped) }
}
