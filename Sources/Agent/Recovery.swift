import Engine
import Ledger
import Logging
import Model

/// After a crash, cycles that started but never finished are closed with a `cycle_abandoned` event so
/// audits don't mistake them for running ones; nothing they recorded is lost or rewritten.
enum Recovery {
    static let terminalTypes: Set<String> = ["cycle_finished", "cycle_abandoned"]

    static func closeAbandonedCycles(ledger: Ledger, logger: Logger) throws {
        do {
            for cycleId in try ledger.cycleIds(limit: 20) where cycleId.hasPrefix("c-") {
                let events = try ledger.events(cycleId: cycleId)
                guard let first = events.first, !events.contains(where: { terminalTypes.contains($0.type) }) else { continue }
                let stages = events.map(\.type)
                try ledger.append(NewEvent.json(cycleId, "cycle_abandoned", first.time,
                                                CycleNote(reason: "process stopped mid-cycle after: \(stages.joined(separator: ", "))")))
                logger.warning("closed a cycle abandoned mid-way", metadata: ["cycle_id": "\(cycleId)", "last_stage": "\(stages.last ?? "")"])
            }
        } catch let error as LedgerError {
            throw CLIError.failed("cannot check the ledger for abandoned cycles: \(error)")
        }
    }
}
