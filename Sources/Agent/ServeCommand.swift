import Alerts
import ArgumentParser
import Config
import Foundation
import Ledger
import Model
import Serve

/// `agent serve`: the read-only dashboard, JSON API and /metrics over the ledger.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a read-only web dashboard, a JSON API and Prometheus /metrics from the ledger (beside a running loop).",
        discussion: """
        The first line on stdout is the URL. Loopback by default; any other --host needs AGENT_SERVE_TOKEN in the \
        environment, and then every route but /healthz needs `Authorization: Bearer <token>` or the login form's cookie. \
        The only write is turning the kill switch on (with a token), recorded in the ledger.
        """)

    @Option(help: "Address to listen on (default 127.0.0.1; anything else needs AGENT_SERVE_TOKEN).")
    var host = "127.0.0.1"

    @Option(help: "Port (0 picks a free one).")
    var port = 8080

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await AgentMain.guarded {
            // The dashboard yields to trading: on a small machine, a busy page must not slow the cycles beside it.
            OperatorService.yieldCPU()
            let server = try OperatorService.server(host: host, port: port, dataDir: common.dataDir, config: try? common.loadConfig())
            try await server.run(handleSignals: true) { url in
                FileHandle.standardOutput.write(Data((url + "\n").utf8))
            }
        }
    }
}

/// Builds the server over a data folder; shared by `agent serve` and `agent --interval ... --serve PORT`.
enum OperatorService {
    static let tokenVariable = "AGENT_SERVE_TOKEN"

    /// Lowers the main thread's CPU priority to the serve niceness; every thread started after it inherits it, so
    /// that `agent serve` never competes with a cycle for a core.
    static func yieldCPU() {
        if !ServePriority.lowerThisThread() {
            FileHandle.standardError.write(Data("agent serve: could not lower the CPU priority (errno \(errno)); serving anyway\n".utf8))
        }
    }

    static func server(host: String, port: Int, dataDir: String, config: LoadedConfig?,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OperatorServer {
        let token = environment[tokenVariable].flatMap { $0.isEmpty ? nil : $0 }
        let settings = ServeSettings(host: host, port: port, token: token)
        do { try settings.validate() } catch { throw CLIError.badInput(error.description) }
        let path = (dataDir as NSString).appendingPathComponent("agent.sqlite")
        let ledger: Ledger
        do { ledger = try Ledger.openReadOnly(path: path) } catch { throw CLIError.badInput("\(error)") }
        let site = DashboardSite(data: DashboardData(ledger: ledger, dataDir: dataDir, config: config),
                                 metrics: LedgerMetricsFeed(ledger: ledger, dataDir: dataDir), tokenConfigured: token != nil)
        return OperatorServer(settings: settings, site: site)
    }

    /// Runs `loop` with the server beside it in this process; the server stops when the loop returns.
    static func alongside(port: Int?, dataDir: String, config: LoadedConfig, _ loop: () async throws -> Void) async throws {
        guard let port else { return try await loop() }
        let server = try server(host: "127.0.0.1", port: port, dataDir: dataDir, config: config)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // The loop goes on if the server cannot start (port taken): say so instead of failing silently.
                do {
                    try await server.run(handleSignals: false) { url in
                        FileHandle.standardError.write(Data("agent: serving the dashboard at \(url)\n".utf8))
                    }
                } catch where !Task.isCancelled {
                    FileHandle.standardError.write(Data("agent: the dashboard server stopped: \(error)\n".utf8))
                }
            }
            try await loop()
            group.cancelAll()
        }
    }
}

/// `agent alerts test`: one test message to every configured channel (or one), ignoring their event lists.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Operator alerts (app.yaml `alerts.channels`).", subcommands: [Test.self])

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test message to each configured channel (or --channel NAME); exit 1 if any delivery failed.")

        @Option(help: "Only this channel (its `name` in app.yaml).")
        var channel: String?

        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await AgentMain.guarded {
                let config = try common.loadConfig().app.alerts
                var chosen = config
                if let channel {
                    chosen.channels = config.channels.filter { $0.name == channel }
                    guard !chosen.channels.isEmpty else {
                        throw CLIError.badInput("no alert channel '\(channel)': configured are \(config.channels.map(\.name).joined(separator: ", "))")
                    }
                }
                guard !chosen.channels.isEmpty else { throw CLIError.badInput("no alert channels configured (app.yaml alerts.channels)") }
                let (channels, missing) = AlertChannel.resolve(chosen, environment: ProcessInfo.processInfo.environment)
                for m in missing { FileHandle.standardOutput.write(Data("skipped \(m)\n".utf8)) }
                let now = UTC.now()
                let id = "alert-test-\(UTC.compact(now))"
                let message = AlertMessage(event: .dailySummary, cycleId: id, title: "test message",
                                           text: "alerts reach this channel", key: id)
                let outcomes = await AlertDispatcher(settings: chosen, channels: channels).deliver([message], ignoringSubscriptions: true)
                let ledger = try Ledger(path: (common.dataDir as NSString).appendingPathComponent("agent.sqlite"))
                try ledger.append(outcomes.map { try NewEvent.json(id, AlertRecord.type($0.outcome), now, $0) })
                for o in outcomes {
                    let line = "\(o.channel) (\(o.kind.rawValue)): \(o.outcome.rawValue) after \(o.attempts) attempt(s)"
                        + (o.problem.map { ": \($0)" } ?? "")
                    FileHandle.standardOutput.write(Data((line + "\n").utf8))
                }
                if !missing.isEmpty || outcomes.contains(where: { $0.outcome != .delivered }) { throw ExitCode(1) }
            }
        }
    }
}
