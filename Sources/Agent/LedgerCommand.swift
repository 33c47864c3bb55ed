import ArgumentParser
import Engine
import Foundation
import Ledger
import LiveExecution
import Model
import Risk

/// `agent ledger check` and `agent ledger quarantine SEQ --reason TEXT`: what to do when one recorded event
/// is malformed and every later run stops on it. Events are never edited or deleted; a quarantine is itself a
/// recorded, auditable event, and the ledger's reading API leaves the quarantined event out of every projection.
struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Ledger integrity: `check` (SQLite integrity and a dry run of every projection), `quarantine SEQ --reason` (skip one event from now on, recorded), `migrate` (bring an older ledger's schema and indexes up to date).",
        subcommands: [Check.self, Quarantine.self, Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open the ledger for writing once: applies the schema migrations an older version's ledger lacks (the audit index, filled from the events already stored). Appends no event.")

        @Option(help: "Folder holding agent.sqlite.")
        var dataDir: String = "data"

        func run() async throws {
            try await AgentMain.guarded {
                let ledger = try LedgerAccess.writing(dataDir: dataDir, mustExist: true, checked: true)
                let indexed = try ledger.hasAuditIndex()
                FileHandle.standardOutput.write(Data("ledger \(ledger.path): \(try ledger.count()) events, audit index \(indexed ? "ready" : "missing")\n".utf8))
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "PRAGMA integrity_check, then rebuild the PAPER and LIVE portfolios, the LIVE book and the trade history without recording anything (exit 1 on any problem).")

        @Option(help: "Folder holding agent.sqlite.")
        var dataDir: String = "data"

        func run() async throws {
            try await AgentMain.guarded {
                let ledger = try LedgerAccess.reading(dataDir: dataDir)
                let report = try LedgerCheck.run(ledger)
                FileHandle.standardOutput.write(Data((report.lines.joined(separator: "\n") + "\n").utf8))
                if !report.ok { throw ExitCode(1) }
            }
        }
    }

    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that event SEQ is skipped by every projection from now on (the event itself stays, unchanged).")

        @Argument(help: "The seq of the event to set aside (as named by the error or by `agent ledger check`).")
        var seq: Int64

        @Option(help: "Why (required; recorded with the quarantine).")
        var reason: String

        @Option(help: "Folder holding agent.sqlite.")
        var dataDir: String = "data"

        func validate() throws {
            if seq < 1 { throw ValidationError("SEQ must be a positive event seq") }
            if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("--reason must say why the event is set aside")
            }
        }

        func run() async throws {
            try await AgentMain.guarded {
                try await DataDirLock.holding(dataDir: dataDir, command: DataDirLock.commandLine) { lock in
                    let ledger = try LedgerAccess.writing(dataDir: dataDir, mustExist: true, checked: true)
                    let now = UTC.now()
                    try lock.recordTakeover(in: ledger, time: now)
                    guard let target = try ledger.event(seq: seq) else {
                        throw CLIError.badInput("no event #\(seq) in \(ledger.path) (the last is #\(try ledger.lastSeq()))")
                    }
                    let recorded: Int64
                    do {
                        recorded = try ledger.quarantine(seq: seq, reason: KillSwitch.excerpt(reason),
                                                         cycleId: "manual-\(UTC.compact(now))", time: now)
                    } catch {
                        throw CLIError.badInput("\(error)")
                    }
                    FileHandle.standardOutput.write(Data("quarantined event #\(seq) (\(target.type), cycle \(target.cycleId)) as event #\(recorded): projections skip it from now on\n".utf8))
                }
            }
        }
    }
}

/// The checks behind `agent ledger check`.
enum LedgerCheck {
    struct Report {
        var ok: Bool
        var lines: [String]
    }

    static func run(_ ledger: Ledger) throws -> Report {
        var ok = true
        var lines = ["ledger \(ledger.path): \(try ledger.count()) events, last seq \(try ledger.lastSeq())"]
        let findings = try ledger.integrityCheck()
        if findings.isEmpty {
            lines.append("integrity: ok")
        } else {
            ok = false
            lines.append("integrity: DAMAGED")
            lines += findings.map { "  \($0)" }
        }
        for q in try ledger.quarantines() {
            lines.append("quarantined: event #\(q.seq): \(q.reason)")
        }
        let projections: [(String, () throws -> Void)] = [
            ("PAPER portfolio", { _ = try Portfolio.replay(store: ledger, mode: .paper, startingEquity: 10_000) }),
            ("LIVE portfolio", { _ = try Portfolio.replay(store: ledger, mode: .live, startingEquity: nil) }),
            ("LIVE book", { _ = try LiveBook.replay(ledger: ledger) }),
            ("trade history", {
                for mode in Mode.allCases {
                    _ = try StateProjection.rebuild(ledger: ledger, mode: mode, now: UTC.now(), startingEquity: 10_000)
                }
            }),
        ]
        for (name, rebuild) in projections {
            do {
                try rebuild()
                lines.append("projection \(name): ok")
            } catch let e as PayloadError {
                ok = false
                lines.append("projection \(name): FAILS at \(e)")
                lines.append("  to set it aside: agent ledger quarantine \(e.seq) --reason \"...\"")
            } catch {
                ok = false
                lines.append("projection \(name): FAILS: \(error)")
            }
        }
        return Report(ok: ok, lines: lines)
    }
}
