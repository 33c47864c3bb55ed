import Foundation
import GRDB

// Saved projections. A projection (the portfolio, say) is a fold over the events in seq order; a process that starts
// on a long ledger would replay it from seq 0. A snapshot is the fold's state as of a seq, so a start replays only
// the events after it. Snapshots live in the ledger file, in their own mutable table beside the append-only events:
// they are derived data, replaced as they go stale, and never the truth. Whoever reads one checks it (format version,
// checksum, seq within the ledger) and replays from 0 when in doubt.

/// A stored snapshot: the projection's state as of `seq`, in the projection's own encoding.
public struct StoredSnapshot: Sendable, Equatable {
    /// The projection's name, e.g. `portfolio.PAPER`.
    public var name: String
    /// The last event seq the state reflects.
    public var seq: Int64
    /// The state, as the projection encoded it.
    public var body: Data
    /// FNV-1a 64 of `body` when it was saved.
    public var checksum: String

    public init(name: String, seq: Int64, body: Data) {
        self.name = name
        self.seq = seq
        self.body = body
        checksum = Self.checksum(body)
    }

    init(name: String, seq: Int64, body: Data, checksum: String) {
        self.name = name
        self.seq = seq
        self.body = body
        self.checksum = checksum
    }

    /// Whether the body is still what was saved.
    public var isIntact: Bool { checksum == Self.checksum(body) }

    /// FNV-1a 64, hex.
    public static func checksum(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

extension Ledger {
    static let snapshotsMigration = "v3-snapshots"

    static func createSnapshots(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE snapshots (
                name TEXT PRIMARY KEY,
                seq INTEGER NOT NULL,
                body TEXT NOT NULL,
                checksum TEXT NOT NULL,
                saved_at REAL NOT NULL
            );
            """)
    }

    /// The snapshot saved under `name`, or nil (none saved, or a ledger from before snapshots, opened read-only).
    public func snapshot(named name: String) throws(LedgerError) -> StoredSnapshot? {
        try read("read snapshot \(name)") { db in
            guard try db.tableExists("snapshots") else { return nil }
            return try Row.fetchOne(db, sql: "SELECT seq, body, checksum FROM snapshots WHERE name = ?", arguments: [name]).map { row in
                let body: String = row["body"]
                return StoredSnapshot(name: name, seq: row["seq"], body: Data(body.utf8), checksum: row["checksum"])
            }
        }
    }

    /// Saves (replacing) a snapshot. Refused on a read-only ledger, and for a seq beyond the ledger's last.
    public func save(_ snapshot: StoredSnapshot) throws(LedgerError) {
        let operation = "save snapshot \(snapshot.name) at seq \(snapshot.seq)"
        guard !isReadOnly else { throw LedgerError(path: path, operation: operation, message: "the ledger is open read-only") }
        guard let body = String(data: snapshot.body, encoding: .utf8) else {
            throw LedgerError(path: path, operation: operation, message: "the body is not UTF-8 text")
        }
        do {
            try pool.write { db in
                let last = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0
                guard snapshot.seq <= last else {
                    throw LedgerError(path: path, operation: operation, message: "the ledger ends at seq \(last)")
                }
                try db.execute(sql: """
                    INSERT INTO snapshots (name, seq, body, checksum, saved_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, body = excluded.body, checksum = excluded.checksum,
                                                    saved_at = excluded.saved_at
                    """, arguments: [snapshot.name, snapshot.seq, body, snapshot.checksum, Date().timeIntervalSince1970])
            }
        } catch {
            throw LedgerError.wrap(error, path: path, operation: operation)
        }
    }
}
