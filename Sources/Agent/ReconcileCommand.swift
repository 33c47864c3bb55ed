import ArgumentParser
import Config
import Engine
import Execution
import Foundation
import Ledger
import LiveExecution
import Model

/// `agent reconcile [--json] [--ack]`: compares the ledger's LIVE book with the venue (read-only), and with `--ack`
/// clears REQUIRES_MANUAL_REVIEW after a person has looked.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare the LIVE ledger with the venue (positions, orders, stops, futures risk); --ack clears REQUIRES_MANUAL_REVIEW.",
        discussion: """
        Needs --exchange coinbase|binance and that venue's keys in the environment. Without --ack nothing is \
        recorded and nothing is sent: it only reads. With --ack, an `review_ack` event is recorded: new entries \
        resume, and positions or orders on the venue that the agent did not place are adopted as known (tracked, \
        never traded by the agent). The next LIVE cycle reconciles again and flags anything still wrong.
        """)

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Acknowledge the discrepancies: clears REQUIRES_MANUAL_REVIEW (recorded in the ledger).")
    var ack = false

    @OptionGroup var common: ReconcileOptions

    func run() async throws {
        try await AgentMain.guarded {
            // --ack records and may adopt positions: one writer per data dir. Comparing only reads.
            guard ack else { return try await reconcile(lock: nil) }
            try await DataDirLock.holding(dataDir: common.dataDir, command: DataDirLock.commandLine) { lock in
                try await reconcile(lock: lock)
            }
        }
    }

    private func reconcile(lock: DataDirLock?) async throws {
        do {
            let config = try common.loadConfig()
            let exchange = common.exchange ?? config.app.exchange
            guard exchange.trades else {
                throw CLIError.badInput("reconcile needs a LIVE venue: --exchange coinbase or binance (got '\(exchange.rawValue)')")
            }
            let absent = LiveGate.requiredKeys(exchange: exchange).filter { (ProcessInfo.processInfo.environment[$0] ?? "").isEmpty }
            guard absent.isEmpty else {
                throw CLIError.badInput("reconcile needs the venue's keys: missing environment variables \(absent.joined(separator: ", "))")
            }
            let path = (common.dataDir as NSString).appendingPathComponent("agent.sqlite")
            let ledger: Ledger
            do {
                ledger = try Ledger(path: path)
            } catch {
                throw CLIError.failed("cannot open the ledger: \(error)")
            }
            let time = try common.pinnedTime() ?? UTC.now()
            try lock?.recordTakeover(in: ledger, time: time)
            let desk = try LiveDesk.make(exchange: exchange, config: config, ledger: ledger,
                                         backoff: VenueBackoffLedger.keeper(venue: exchange, ledger: ledger))
            let id = "r-" + String(CycleId.make(time: time).dropFirst(2))
            var report: ReconcileReport
            do {
                report = try await desk.reconcile(cycleId: id, time: time, act: false)
            } catch {
                throw CLIError.failed("reconcile against \(exchange.rawValue): \(error)")
            }
            var acknowledged: ReviewAck?
            if ack {
                do {
                    let universe = config.universe
                    acknowledged = try await desk.acknowledge(cycleId: id, time: time, stopLossPct: { symbol in
                        universe.tiers.config(for: universe.tier(of: symbol) ?? .eventDriven).stopLossPct
                    })
                } catch {
                    throw CLIError.failed("reconcile --ack against \(exchange.rawValue): \(error)")
                }
                report.requiresManualReview = false
                report.reviewReasons = []
            }
            if json {
                struct Out: Encodable { var report: ReconcileReport; var ack: ReviewAck? }
                let text = try JSONCoding.string(Out(report: report, ack: acknowledged), pretty: true)
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            } else {
                FileHandle.standardOutput.write(Data(Self.text(report, ack: acknowledged).utf8))
            }
        }
    }

    static func text(_ r: ReconcileReport, ack: ReviewAck?) -> String {
        var lines = ["reconcile \(r.venue) at \(r.timestamp) (compare only)"]
        lines.append("positions (ledger vs venue):")
        if r.positions.isEmpty { lines.append("  none") }
        for p in r.positions {
            let mark = LiveDesk.same(p.ledgerQuantity, p.venueQuantity) ? "ok" : "DIFFERS"
            lines.append("  \(p.symbol): ledger \(Format.number(p.ledgerQuantity)), venue \(Format.number(p.venueQuantity)) \(mark)"
                         + (p.managed ? "" : " (not managed by the agent)")
                         + (p.stops.isEmpty ? (p.managed && p.ledgerQuantity != 0 ? "; NO STOP" : "") : "; stop \(p.stops.joined(separator: ", "))"))
        }
        for f in r.futuresRisk {
            lines.append("  \(f.symbol) margin ratio \(Format.number(f.marginRatio)), liquidation \(f.liquidationPrice.map(Format.number) ?? "n/a")"
                         + (f.liquidationDistancePct.map { " (\(Format.number($0))% away)" } ?? "") + ", guard: \(f.action.rawValue)")
        }
        lines.append("discrepancies:")
        if r.discrepancies.isEmpty { lines.append("  none") }
        for d in r.discrepancies {
            lines.append("  \(d.critical ? "CRITICAL " : "")\(d.kind.rawValue)\(d.symbol.map { " \($0)" } ?? ""): \(d.detail)")
        }
        if let equity = r.equityUsd { lines.append("equity: \(Format.usd(equity))") }
        if let ack {
            lines.append("acknowledged: REQUIRES_MANUAL_REVIEW cleared (\(ack.acknowledged.count) reasons)"
                         + (ack.adoptedPositions.isEmpty ? "" : "; adopted positions \(ack.adoptedPositions.map(\.symbol).joined(separator: ", "))")
                         + (ack.adoptedOrders.isEmpty ? "" : "; adopted orders \(ack.adoptedOrders.joined(separator: ", "))"))
        } else if r.requiresManualReview {
            lines.append("REQUIRES_MANUAL_REVIEW: no new entries until `agent reconcile --ack`:")
            lines += r.reviewReasons.map { "  - \($0)" }
        } else {
            lines.append("no manual review required")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
