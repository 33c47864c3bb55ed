import ArgumentParser
import Config
import Execution
import Foundation
import Ledger
import Logging
import Market
import Model
import Review

/// Errors the command line reports. `badInput` exits 2, everything else 1.
public enum CLIError: Error, CustomStringConvertible {
    case badInput(String)
    case failed(String)
    case io(String)

    public var description: String {
        switch self {
        case .badInput(let m), .failed(let m), .io(let m): m
        }
    }

    var exitCode: Int32 {
        if case .badInput = self { return 2 }
        return 1
    }
}

extension Mode: ExpressibleByArgument {}

/// Options shared by the commands that run cycles or read configuration.
struct CommonOptions: ParsableArguments {
    @Option(help: "DRY_RUN, PAPER or LIVE (overrides app.yaml's mode).")
    var mode: Mode?

    @Option(help: "sim, coinbase or binance (overrides app.yaml's exchange).")
    var exchange: String?

    @Option(help: "Folder with app.yaml, universe.yaml, signals.yaml (default: config). policy/ and prompts/ default to its siblings.")
    var configDir: String?

    @Option(help: "Folder with policy.yaml (default: policy, beside the config folder).")
    var policyDir: String?

    @Option(help: "Folder with the reviewer prompt templates (default: prompts, beside the config folder).")
    var promptsDir: String?

    @Option(help: "Folder for the ledger (agent.sqlite) and the KILL_SWITCH file.")
    var dataDir: String = "data"

    @Option(name: .customLong("set"), help: ArgumentHelp("Override any YAML key: file.dotted.key=value (repeatable), e.g. policy.risk.max_open_positions=3.", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Required, with execution.allow_live and keys in the environment, to trade real money in LIVE mode.")
    var confirmLive = false

    @Option(help: "Pin the decision clock (ISO 8601, e.g. 2026-11-20T22:00:00Z) for reproducible runs.")
    var now: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (overrides app.yaml).")
    var logLevel: String?

    var paths: ConfigPaths { ConfigPaths(configDir: configDir, policyDir: policyDir, promptsDir: promptsDir) }

    func loadConfig() throws -> LoadedConfig {
        do {
            return try ConfigLoader(paths: paths, overrides: overrides).load()
        } catch {
            throw CLIError.badInput("invalid configuration:\n" + error.problems.map(\.description).joined(separator: "\n"))
        }
    }

    func pinnedTime() throws -> Int64? {
        guard let now else { return nil }
        guard let t = UTC.parse(now) else {
            throw CLIError.badInput("--now '\(now)': expected an ISO 8601 time such as 2026-11-20T22:00:00Z")
        }
        return t
    }
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
        """,
        subcommands: [Run.self, Audit.self, Show.self, ConfigCommand.self, Kill.self, MarketCommand.self, ReconcileCommand.self,
                      BacktestCommand.self, BenchCommand.self, TradesCommand.self, ServeCommand.self, AlertsCommand.self],
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

    @Option(help: ArgumentHelp("Run a cycle every MINUTES (fractions allowed) until SIGINT/SIGTERM; one JSON summary per line.", valueName: "minutes"))
    var interval: Double?

    @Option(help: ArgumentHelp("With --interval: stop after N cycles.", valueName: "n"))
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
        if !once && interval == nil { throw ValidationError("say how to run: --once, or --interval MINUTES (see --help)") }
        if let interval, !(interval > 0 && interval.isFinite) { throw ValidationError("--interval must be a positive number of minutes") }
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
        try await AgentMain.guarded {
            if replay != nil || replaySince != nil {
                let ok = try await ReplayCommand.run(common: common, cycle: replay, since: replaySince, pretty: pretty)
                if !ok { throw ExitCode(1) }
                return
            }
            let setup = try RunSetup(common)
            if once {
                let time = try common.pinnedTime() ?? UTC.now()
                let summary = await setup.runner.run(at: time)
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
        var count = 0
        while true {
            let time = pinned.map { $0 + Int64((Double(count) * interval * 60).rounded()) } ?? UTC.now()
            let summary = await setup.runner.run(at: time)
            try printSummary(summary)
            setup.alerts?.cycleFinished()
            count += 1
            if let cycles, count >= cycles { break }
            if stop.isStopped { break }
            if self.clock == .simulated { continue }
            let next = start + .milliseconds(Int64(Double(count) * interval * 60_000))
            while clock.now < next, !stop.isStopped {
                try? await Task.sleep(for: min(.milliseconds(50), next - clock.now))
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

/// What a run needs, built once: config, gates, ledger, market, reviewers, executor.
struct RunSetup {
    var config: LoadedConfig
    var runner: CycleRunner
    /// Operator alerts, delivered off the cycle's path (nil when no channel is configured).
    var alerts: AlertFeed?
    /// `--once` waits this long at most for its alerts before the process exits.
    var alertsDrainSeconds: Double { min(config.app.alerts.timeoutSeconds * Double(config.app.alerts.maxAttempts) + 1, 20) }

    init(_ common: CommonOptions) throws {
        config = try common.loadConfig()
        let mode = common.mode ?? config.app.mode
        let exchange = common.exchange ?? config.app.exchange
        let logger = AgentLogging.logger(level: common.logLevel ?? config.app.logging.level)

        // Invariant 7: LIVE needs every one of its conditions; say which are missing.
        if mode == .live {
            let missing = LiveGate.missing(exchange: exchange, confirmLive: common.confirmLive, policy: config.policy,
                                           environment: ProcessInfo.processInfo.environment)
            if !missing.isEmpty {
                throw CLIError.badInput("refusing to run LIVE: " + missing.joined(separator: "; "))
            }
        }
        guard ["sim", "coinbase", "binance"].contains(exchange) else {
            throw CLIError.badInput("unknown exchange '\(exchange)': use sim, coinbase or binance")
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
            let desk = try LiveDesk.make(exchange: exchange, config: config, ledger: ledger)
            liveDesk = desk
            guard let data = desk.venue as? any MarketDataSource else {
                throw CLIError.failed("the \(exchange) connector gives no market data")
            }
            market = data
        } else {
            market = try MarketSource.make(exchange: exchange, config: config.app, logger: logger)
        }
        let killSwitch = KillSwitch(dataDir: common.dataDir)
        let executor: any Executor = switch mode {
        case .paper: PaperExecutor(settings: config.app.paper)
        case .live: liveDesk.map { desk in desk.executor(haltReason: { killSwitch.status().reason }) } ?? DryRunExecutor()
        case .dryRun: DryRunExecutor()
        }
        runner = CycleRunner(config: config, mode: mode, exchange: exchange, market: market, ledger: ledger,
                             board: try ReviewSetup.board(config), executor: executor,
                             killSwitch: killSwitch, logger: logger)
        if let liveDesk { runner.desk = LivePositions(desk: liveDesk, exits: config.signals.exits, atrPeriod: config.signals.triggers.trend.atrPeriod) }
        if mode == .live {
            logger.warning("LIVE mode: real orders on \(exchange)", metadata: ["exchange": "\(exchange)"])
        }
        runner.newsSource = NewsIngest.make(config: config)
        alerts = AlertFeed.make(config: config.app.alerts, ledger: ledger, environment: ProcessInfo.processInfo.environment, logger: logger)
    }
}

/// The four conditions of LIVE trading (invariant 7).
public enum LiveGate {
    public static func requiredKeys(exchange: String) -> [String] {
        switch exchange {
        case "coinbase": ["COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY"]
        case "binance": ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
        default: []
        }
    }

    /// What is missing to trade LIVE (empty = all present). Never includes key values.
    public static func missing(exchange: String, confirmLive: Bool, policy: PolicyConfig, environment: [String: String]) -> [String] {
        var missing: [String] = []
        if !confirmLive { missing.append("--confirm-live was not given") }
        if !policy.execution.allowLive { missing.append("policy.yaml execution.allow_live is false") }
        if exchange == "sim" {
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
    /// Parses the command line and runs; maps errors to exit codes (2 bad input, 1 failure).
    public static func main() async {
        do {
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

    /// Runs `body`, turning unexpected errors into a clear `CLIError`.
    static func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as CLIError {
            throw e
        } catch let e as ExitCode {
            throw e
        } catch {
            throw CLIError.failed("\(error)")
        }
    }
}
