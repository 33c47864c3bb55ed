import ArgumentParser
import Backtest
import Engine
import Execution
import Foundation
import Ledger
import Model

/// `agent trades`: closed trades and partial exits, rebuilt from the ledger by the same portfolio the cycle uses,
/// with the columns of `agent backtest --trades`.
struct TradesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trades",
        abstract: "Closed trades and partial exits from the ledger (PAPER or LIVE), with the columns of `agent backtest --trades`.")

    @Option(help: "Only trades that closed within this span (30m, 24h, 7d) or since an ISO 8601 time.")
    var since: String?

    @Option(help: ArgumentHelp("Also write the trades as CSV to this file.", valueName: "file"))
    var csv: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "PAPER or LIVE (default: LIVE when the ledger holds LIVE fills, else PAPER).")
    var mode: Mode?

    @Option(help: "Starting equity of the PAPER book, as in app.yaml portfolio.starting_equity_usd.")
    var equity: Double = 10_000

    @Option(help: "Folder holding agent.sqlite.")
    var dataDir: String = "data"

    func run() async throws {
        try await AgentMain.guarded {
            var cutoff: Int64?
            if let since {
                if let span = UTC.duration(since) { cutoff = UTC.now() - span }
                else if let t = UTC.parse(since) { cutoff = t }
                else { throw CLIError.badInput("--since '\(since)': expected a span like 24h or 7d (at most 100 years), or an ISO 8601 time") }
            }
            let ledger = try LedgerAccess.reading(dataDir: dataDir)
            let trades = try Self.trades(ledger: ledger, mode: mode, startingEquity: equity)
                .filter { t in cutoff.map { t.exitTime >= $0 } ?? true }
            if let csv {
                do {
                    try Data(ReportWriter.tradesCSV(trades).utf8).write(to: URL(fileURLWithPath: csv))
                } catch {
                    throw CLIError.io("--csv \(csv): cannot write: \(FileErrorText.cause(error))")
                }
            }
            let out = json ? try JSONCoding.string(trades, pretty: true) : Self.text(trades)
            FileHandle.standardOutput.write(Data((out + "\n").utf8))
        }
    }

    static func trades(ledger: any EventStore, mode: Mode?, startingEquity: Double) throws -> [BacktestTrade] {
        let chosen = try mode ?? (ledger.events(types: [EventKind.liveFill.rawValue], limit: 1).isEmpty ? .paper : .live)
        // Every trade: a running book keeps only the latest it reads, so this rebuilds from the events in full.
        let (portfolio, _) = try Portfolio.rebuild(store: ledger, mode: chosen, startingEquity: chosen == .live ? nil : startingEquity,
                                                   history: .all)
        return portfolio.account.tradeLegs.map(BacktestTrade.init)
    }

    static func text(_ trades: [BacktestTrade]) -> String {
        guard !trades.isEmpty else { return "no closed trades" }
        var lines = ["\(trades.count) closed trade\(trades.count == 1 ? "" : "s")"]
        for t in trades {
            lines.append("\(UTC.iso8601(t.entryTime)) -> \(UTC.iso8601(t.exitTime))  \(t.symbol) \(t.side.rawValue) "
                + "\(Format.number(t.size)) @ \(Format.number(t.entryPrice)) -> \(Format.number(t.exitPrice))  "
                + "fees \(Format.usd(t.fees))  pnl \(Format.usd(t.pnl))  \(t.exitReason)")
        }
        let total = trades.reduce(0) { $0 + $1.pnl }
        lines.append("total pnl \(Format.usd(total))")
        return lines.joined(separator: "\n")
    }
}
