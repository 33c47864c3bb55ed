import Foundation
import GRDB
import Model

extension Ledger {
    /// Opens an existing ledger for reading only, so a reader such as `agent serve` never blocks the running loop:
    /// the one read-only open, `init(readingAt:)`, with the message a server wants when there is no ledger yet.
    public static func openReadOnly(path: String) throws(LedgerError) -> Ledger {
        guard FileManager.default.fileExists(atPath: path) else {
            throw LedgerError(path: path, operation: "open read-only", message: "no ledger file (run `agent --once` first, or pass --data-dir)")
        }
        return try Ledger(readingAt: path)
    }
}

extension Ledger {
    /// Events of `types` with `seq < beforeSeq` (nil: the newest), newest first, at most `limit`: one page of
    /// a newest-first listing such as the dashboard's cycle list.
    public func events(types: [String], beforeSeq: Int64?, limit: Int) throws(LedgerError) -> [LedgerEvent] {
        if types.isEmpty || limit <= 0 { return [] }
        let placeholders = Array(repeating: "?", count: types.count).joined(separator: ", ")
        let sql = "SELECT \(Self.columns) FROM events WHERE seq < ? AND type IN (\(placeholders)) ORDER BY seq DESC LIMIT ?"
        let arguments: StatementArguments = [beforeSeq ?? Int64.max] + StatementArguments(types) + [limit]
        let skipped = try quarantinedSeqs()
        return try read("page events before seq \(beforeSeq.map(String.init) ?? "end")") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.event(from:))
        }.filter { !skipped.contains($0.seq) }
    }

    /// ``events(types:beforeSeq:limit:)`` by kind.
    public func events(kinds: [EventKind], beforeSeq: Int64?, limit: Int) throws(LedgerError) -> [LedgerEvent] {
        try events(types: kinds.map(\.rawValue), beforeSeq: beforeSeq, limit: limit)
    }
}
