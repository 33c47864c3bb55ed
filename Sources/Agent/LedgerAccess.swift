import Foundation
import Ledger
import Model

/// How commands open `<data-dir>/agent.sqlite`: readers read-only (they work in a read-only data dir and never
/// change the file), writers read-write; either may first run `PRAGMA quick_check` and refuse a damaged file
/// instead of reading wrong numbers from it or writing into it.
enum LedgerAccess {
    static func path(dataDir: String) throws -> String {
        guard !dataDir.isEmpty else { throw CLIError.badInput("--data-dir is empty: name a folder") }
        return (dataDir as NSString).appendingPathComponent("agent.sqlite")
    }

    /// An existing ledger, opened read-only.
    static func reading(dataDir: String, checked: Bool = false) throws -> Ledger {
        try open(dataDir: dataDir, mustExist: true, checked: checked) { path throws(LedgerError) in try Ledger(readingAt: path) }
    }

    /// The ledger opened for appending (created when absent, unless `mustExist`).
    static func writing(dataDir: String, mustExist: Bool = false, checked: Bool = false) throws -> Ledger {
        try open(dataDir: dataDir, mustExist: mustExist, checked: checked) { path throws(LedgerError) in try Ledger(path: path) }
    }

    private static func open(dataDir: String, mustExist: Bool, checked: Bool,
                             _ make: (String) throws(LedgerError) -> Ledger) throws -> Ledger {
        let path = try path(dataDir: dataDir)
        if mustExist && !FileManager.default.fileExists(atPath: path) {
            throw CLIError.badInput("no ledger at \(path): run `agent --once` first, or pass --data-dir")
        }
        let ledger: Ledger
        do {
            ledger = try make(path)
        } catch {
            throw CLIError.failed("cannot open the ledger: \(error)")
        }
        if checked { try check(ledger) }
        return ledger
    }

    /// Throws when SQLite finds the file damaged.
    static func check(_ ledger: Ledger) throws {
        let findings: [String]
        do {
            findings = try ledger.quickCheck()
        } catch {
            throw CLIError.failed("the ledger \(ledger.path) is damaged: \(error)")
        }
        guard findings.isEmpty else {
            throw CLIError.failed("the ledger \(ledger.path) is damaged (PRAGMA quick_check): \(findings.prefix(5).joined(separator: "; ")). "
                                  + "Nothing was read from or written to it; restore it from a backup, and see `agent ledger check`.")
        }
    }
}
