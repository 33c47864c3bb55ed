// The append-only SQLite event store.
//
// Every decision the agent takes is recorded here as an event; state is a projection rebuilt from
// the events (DESIGN.md section 6). The store is SQLite in WAL mode through GRDB's `DatabasePool`:
// one serialized writer connection and concurrent snapshot readers.

import Foundation
import GRDB
import Model

// MARK: - Errors

/// A ledger failure. Says which file, which operation, and SQLite's (or the file system's) message.
public struct LedgerError: Error, Sendable, CustomStringConvertible {
    /// The database file the failing operation worked on.
    public var path: String
    /// What the ledger was doing, e.g. `"append"`, `"open"`, `"decode payload"`.
    public var operation: String
    /// The underlying message (SQLite's error message, a file-system error, or a JSON error).
    public var message: String

    /// Creates an error.
    public init(path: String, operation: String, message: String) {
        self.path = path
        self.operation = operation
        self.message = message
    }

    /// `ledger <path>: <operation>: <message>`.
    public var description: String {
        "ledger \(path): \(operation): \(message)"
    }
}

extension LedgerError {
    /// Wraps any error, using SQLite's own message when the error comes from the database.
    static func wrap(_ error: any Error, path: String, operation: String) -> LedgerError {
        if let ledgerError = error as? LedgerError {
            return ledgerError
        }
        if let databaseError = error as? DatabaseError {
            let message = databaseError.message ?? "\(databaseError.resultCode)"
            return LedgerError(path: path, operation: operation,
                               message: "\(message) (SQLite \(databaseError.resultCode.primaryResultCode.rawValue))")
        }
        return LedgerError(path: path, operation: operation, message: Self.describe(error))
    }

    /// A readable message for a non-database error, including the POSIX reason when there is one.
    static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        var parts = [nsError.localizedDescription]
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            parts.append(String(cString: strerror(code.rawValue)))
        }
        return parts.joined(separator: ": ")
    }
}

// MARK: - Events

/// A recorded event. `time` is the cycle's decision time (Unix seconds); `recordedAt` the wall clock at
/// append (fractional Unix seconds).
public struct LedgerEvent: Sendable, Equatable {
    /// Monotonically increasing, assigned by the store (`INTEGER PRIMARY KEY AUTOINCREMENT`: never reused).
    public var seq: Int64
    /// The cycle that produced the event.
    public var cycleId: String
    /// The event type, e.g. `"cycle_started"`, `"universe"`, `"triggers"`, `"proposal"`, `"review"`,
    /// `"policy_evaluation"`, `"decision"`, `"order_intent"`, `"cycle_finished"`.
    public var type: String
    /// The cycle's decision time (Unix seconds).
    public var time: Int64
    /// The wall clock when the event was appended (fractional Unix seconds).
    public var recordedAt: Double
    /// The symbol the event concerns, if any.
    public var symbol: String?
    /// The JSON payload (stored as TEXT).
    public var payload: Data

    /// Creates an event value (normally the store creates these when reading).
    public init(seq: Int64, cycleId: String, type: String, time: Int64, recordedAt: Double,
                symbol: String?, payload: Data) {
        self.seq = seq
        self.cycleId = cycleId
        self.type = type
        self.time = time
        self.recordedAt = recordedAt
        self.symbol = symbol
        self.payload = payload
    }

    /// Decodes the JSON payload with the product's one codec (`JSONCoding`).
    public func decode<T: Decodable>(_ type: T.Type) throws(LedgerError) -> T {
        do {
            return try JSONCoding.decoder().decode(T.self, from: payload)
        } catch {
            throw LedgerError(path: "", operation: "decode \(self.type) event \(seq) as \(T.self)",
                              message: "\(error)")
        }
    }
}

/// An event to append. The store assigns `seq` and `recordedAt`.
public struct NewEvent: Sendable {
    /// The cycle that produced the event.
    public var cycleId: String
    /// The event type.
    public var type: String
    /// The cycle's decision time (Unix seconds).
    public var time: Int64
    /// The symbol the event concerns, if any.
    public var symbol: String?
    /// The JSON payload. `Ledger.append` rejects payloads that are not valid UTF-8 JSON.
    public var payload: Data

    /// Creates an event from an already-encoded JSON payload.
    public init(cycleId: String, type: String, time: Int64, symbol: String? = nil, payload: Data) {
        self.cycleId = cycleId
        self.type = type
        self.time = time
        self.symbol = symbol
        self.payload = payload
    }

    /// Encodes `value` with the product's one codec (`JSONCoding`: snake_case keys, sorted, no escaped slashes).
    public init<T: Encodable>(cycleId: String, type: String, time: Int64, symbol: String? = nil,
                              encoding value: T) throws(LedgerError) {
        let encoder = JSONCoding.encoder()
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw LedgerError(path: "", operation: "encode \(type) payload from \(T.self)", message: "\(error)")
        }
        self.init(cycleId: cycleId, type: type, time: time, symbol: symbol, payload: data)
    }
}

// MARK: - Store

/// The append-only event store: SQLite in WAL mode (`synchronous = FULL`) through a GRDB `DatabasePool`.
///
/// Events can only be inserted: SQLite triggers reject every `UPDATE` or `DELETE` on the `events` table,
/// whichever connection issues it. The small `meta` key/value table is mutable.
///
/// All methods are synchronous and thread-safe; writes are serialized, reads run concurrently on
/// snapshot readers.
public final class Ledger: Sendable {
    /// The database file.
    public let path: String
    let pool: DatabasePool

    /// The message the append-only triggers raise.
    public static let appendOnlyMessage = "ledger events are append-only"

    /// Rows fetched per page by `forEach`.
    static let pageSize = 1_000

    /// Whether this store was opened by ``init(readingAt:)``: no writes, no migration, no lock files written.
    public let isReadOnly: Bool

    /// Opens an existing ledger for reading only: works in a read-only data dir and never changes the file.
    /// A missing or empty file is an error.
    public init(readingAt path: String) throws(LedgerError) {
        self.path = path
        self.isReadOnly = true
        try Self.refuseEmptyFile(path, mustExist: true)
        var configuration = Configuration()
        configuration.label = "Ledger.read"
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            pool = try Self.openForReading(path, configuration)
        } catch {
            throw LedgerError.wrap(error, path: path, operation: "open for reading")
        }
    }

    /// A WAL database needs its `-shm` index, which SQLite cannot create in a read-only folder. Nothing can be
    /// writing there either, so the file is then opened as immutable (SQLite's URI parameter for that case).
    private static func openForReading(_ path: String, _ configuration: Configuration) throws -> DatabasePool {
        func probe(_ pool: DatabasePool) throws -> DatabasePool {
            _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events LIMIT 1") }
            return pool
        }
        do {
            return try probe(DatabasePool(path: path, configuration: configuration))
        } catch {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard access(folder.isEmpty ? "." : folder, W_OK) != 0 else { throw error }
            var escaped = ""
            for c in path.unicodeScalars {
                switch c {
                case "%": escaped += "%25"
                case "?": escaped += "%3f"
                case "#": escaped += "%23"
                default: escaped.unicodeScalars.append(c)
                }
            }
            return try probe(DatabasePool(path: "file:\(escaped)?immutable=1", configuration: configuration))
        }
    }

    /// A 0-byte file is not a fresh ledger: SQLite would silently start over on it, hiding whatever emptied it.
    private static func refuseEmptyFile(_ path: String, mustExist: Bool) throws(LedgerError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            // Opening for writing creates the file; its own errors then say what is in the way.
            if mustExist { throw LedgerError(path: path, operation: "open", message: String(cString: strerror(errno))) }
            return
        }
        if info.st_size == 0 {
            throw LedgerError(path: path, operation: "open",
                              message: "the file is empty (0 bytes): not a ledger. Move it aside to start a new ledger, or restore it from a backup")
        }
    }

    /// Opens (creating the directory and file if needed) and migrates. The default location is
    /// `<data-dir>/agent.sqlite`.
    public init(path: String) throws(LedgerError) {
        self.path = path
        self.isReadOnly = false
        try Self.refuseEmptyFile(path, mustExist: false)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw LedgerError(path: path, operation: "create directory \(directory)",
                                  message: Self.diagnoseDirectoryFailure(directory, error))
            }
        }

        var configuration = Configuration()
        configuration.label = "Ledger"
        // Another process (e.g. `agent show` while the loop runs) may hold the write lock briefly.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA journal_mode = WAL")
            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB lowers the writer to `synchronous = NORMAL` when it enables WAL, after
            // `prepareDatabase` ran. A trading ledger wants durability over speed: every commit is
            // synced. The writer connection lives as long as the pool, so this sticks.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Self.migrator.migrate(pool)
        } catch {
            throw LedgerError.wrap(error, path: path, operation: "open")
        }
    }

    /// Explains why `directory` could not be created: names an ancestor that exists but is not a
    /// directory, or falls back to the file system's message.
    private static func diagnoseDirectoryFailure(_ directory: String, _ error: any Error) -> String {
        let fileManager = FileManager.default
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: prefix, isDirectory: &isDirectory) else { break }
            if !isDirectory.boolValue {
                return "\(prefix) exists and is not a directory"
            }
        }
        return LedgerError.describe(error)
    }

    /// The schema, one migration per version.
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    cycle_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    recorded_at REAL NOT NULL,
                    symbol TEXT,
                    payload TEXT NOT NULL
                );
                CREATE INDEX events_cycle_seq ON events(cycle_id, seq);
                CREATE INDEX events_type_time ON events(type, time);
                CREATE INDEX events_symbol_time ON events(symbol, time);
                CREATE TRIGGER events_no_update BEFORE UPDATE ON events
                BEGIN
                    SELECT RAISE(ABORT, '\(appendOnlyMessage)');
                END;
                CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                BEGIN
                    SELECT RAISE(ABORT, '\(appendOnlyMessage)');
                END;
                -- `INSERT OR REPLACE` deletes the old row without firing DELETE triggers (unless
                -- recursive_triggers is on), so also refuse explicit seqs at or below the highest one.
                -- When the seq is left to AUTOINCREMENT, SQLite presents NEW.seq as -1 here.
                CREATE TRIGGER events_no_rewrite BEFORE INSERT ON events
                WHEN NEW.seq > 0 AND NEW.seq <= (SELECT MAX(seq) FROM events)
                BEGIN
                    SELECT RAISE(ABORT, '\(appendOnlyMessage)');
                END;
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL
                );
                """)
        }
        // The audit index (AuditIndex.swift): side tables filled by triggers, and the events already stored indexed.
        migrator.registerMigration(auditIndexMigration) { db in
            try createAuditIndex(db)
        }
        // Saved projections (Snapshots.swift), so a process start replays only the events after them.
        migrator.registerMigration(snapshotsMigration) { db in
            try createSnapshots(db)
        }
        return migrator
    }

    // MARK: Appending

    /// Appends atomically in one transaction; returns the assigned seqs in order.
    ///
    /// Every payload must be valid UTF-8 JSON; if one is not, nothing of the batch is stored.
    /// All events of one call share the same `recordedAt`.
    @discardableResult
    public func append(_ events: [NewEvent]) throws(LedgerError) -> [Int64] {
        if events.isEmpty { return [] }
        var rows: [(event: NewEvent, json: String)] = []
        rows.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            rows.append((event, try validatedJSON(event, index: index)))
        }
        let recordedAt = Date().timeIntervalSince1970
        let batch = rows
        do {
            return try pool.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO events (cycle_id, type, time, recorded_at, symbol, payload)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
                var seqs: [Int64] = []
                seqs.reserveCapacity(batch.count)
                for (event, json) in batch {
                    try statement.execute(arguments: [
                        event.cycleId, event.type, event.time, recordedAt, event.symbol, json,
                    ])
                    seqs.append(db.lastInsertedRowID)
                }
                return seqs
            }
        } catch {
            throw LedgerError.wrap(error, path: path, operation: "append \(events.count) event(s)")
        }
    }

    /// Appends one event; returns its seq.
    @discardableResult
    public func append(_ event: NewEvent) throws(LedgerError) -> Int64 {
        let seqs = try append([event])
        guard let seq = seqs.first else {
            throw LedgerError(path: path, operation: "append \(event.type) event", message: "no seq assigned")
        }
        return seq
    }

    /// Checks that the payload is UTF-8 text holding one JSON value, and returns that text.
    private func validatedJSON(_ event: NewEvent, index: Int) throws(LedgerError) -> String {
        let operation = "append: payload of \(event.type) event #\(index) in batch (cycle \(event.cycleId))"
        guard let text = String(data: event.payload, encoding: .utf8) else {
            throw LedgerError(path: path, operation: operation, message: "payload is not valid UTF-8")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: event.payload, options: [.fragmentsAllowed])
        } catch {
            throw LedgerError(path: path, operation: operation,
                              message: "payload is not valid JSON: \(LedgerError.describe(error))")
        }
        return text
    }

    // MARK: Reading

    static let columns = "seq, cycle_id, type, time, recorded_at, symbol, payload"

    static func event(from row: Row) -> LedgerEvent {
        let payload: String = row["payload"]
        return LedgerEvent(seq: row["seq"], cycleId: row["cycle_id"], type: row["type"], time: row["time"],
                           recordedAt: row["recorded_at"], symbol: row["symbol"], payload: Data(payload.utf8))
    }

    /// Runs a read on a snapshot reader, turning failures into `LedgerError`.
    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws(LedgerError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw LedgerError.wrap(error, path: path, operation: operation)
        }
    }

    /// All events of one cycle in seq order (quarantined ones left out).
    public func events(cycleId: String) throws(LedgerError) -> [LedgerEvent] {
        let skipped = try quarantinedSeqs()
        return try read("events of cycle \(cycleId)") { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM events WHERE cycle_id = ? ORDER BY seq",
                             arguments: [cycleId]).map(Self.event(from:))
        }.filter { !skipped.contains($0.seq) }
    }

    /// Filtered query: `types` (nil = all, empty = none), `time >= since`, `symbol`, `seq > afterSeq`,
    /// at most `limit` events.
    ///
    /// Results are in ascending seq order, so `limit` keeps the oldest matching events. With
    /// `newestFirst` the results are in descending seq order and `limit` keeps the newest ones
    /// (e.g. "the last 20 decisions").
    public func events(types: [String]? = nil, since: Int64? = nil, symbol: String? = nil, afterSeq: Int64 = 0,
                       limit: Int? = nil, newestFirst: Bool = false) throws(LedgerError) -> [LedgerEvent] {
        if let types, types.isEmpty { return [] }
        if let limit, limit <= 0 { return [] }
        var clauses = ["seq > ?"]
        var arguments: StatementArguments = [afterSeq]
        if let types {
            clauses.append("type IN (\(Array(repeating: "?", count: types.count).joined(separator: ", ")))")
            arguments += StatementArguments(types)
        }
        if let since {
            clauses.append("time >= ?")
            arguments += [since]
        }
        if let symbol {
            clauses.append("symbol = ?")
            arguments += [symbol]
        }
        var sql = "SELECT \(Self.columns) FROM events WHERE \(clauses.joined(separator: " AND ")) "
        sql += newestFirst ? "ORDER BY seq DESC" : "ORDER BY seq"
        if let limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        let query = sql
        let queryArguments = arguments
        let skipped = try quarantinedSeqs()
        return try read("query events") { db in
            try Row.fetchAll(db, sql: query, arguments: queryArguments).map(Self.event(from:))
        }.filter { !skipped.contains($0.seq) }
    }

    /// Streams events in seq order without loading them all (for rebuilding state from a million events).
    /// The body may throw to stop; its error is rethrown unchanged. Database failures throw `LedgerError`.
    ///
    /// Events are read in pages of ``pageSize`` and `body` runs outside any database access, so it may
    /// call back into the ledger (even append). The stream covers events up to the last seq present
    /// when `forEach` was called.
    public func forEach(afterSeq: Int64 = 0, types: [String]? = nil, _ body: (LedgerEvent) throws -> Void) throws {
        if let types, types.isEmpty { return }
        let end = try lastSeq()
        let skipped = try quarantinedSeqs()
        var cursor = afterSeq
        var typeClause = ""
        var typeArguments = StatementArguments()
        if let types {
            typeClause = " AND type IN (\(Array(repeating: "?", count: types.count).joined(separator: ", ")))"
            typeArguments = StatementArguments(types)
        }
        while cursor < end {
            let sql = "SELECT \(Self.columns) FROM events WHERE seq > ? AND seq <= ?\(typeClause) ORDER BY seq LIMIT ?"
            let arguments: StatementArguments = [cursor, end] + typeArguments + [Self.pageSize]
            let page = try read("stream events after seq \(cursor)") { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.event(from:))
            }
            guard let last = page.last else { return }
            for event in page where !skipped.contains(event.seq) {
                try body(event)
            }
            cursor = last.seq
        }
    }

    /// Distinct cycle ids, most recent (by max seq) first, optionally only those with events at
    /// `time >= since`.
    public func cycleIds(since: Int64? = nil, limit: Int = 100) throws(LedgerError) -> [String] {
        let filter = since == nil ? "" : "WHERE time >= ?"
        var arguments = StatementArguments()
        if let since { arguments += [since] }
        arguments += [limit]
        let sql = "SELECT cycle_id FROM events \(filter) GROUP BY cycle_id ORDER BY MAX(seq) DESC LIMIT ?"
        let queryArguments = arguments
        return try read("list cycle ids") { db in
            try String.fetchAll(db, sql: sql, arguments: queryArguments)
        }
    }

    /// Cycle ids starting with `prefix` (case-sensitive; for `agent show c-2026...` abbreviations), most
    /// recent first.
    public func cycleIds(matching prefix: String, limit: Int = 10) throws(LedgerError) -> [String] {
        try read("find cycle ids matching \(prefix)") { db in
            try String.fetchAll(db, sql: """
                SELECT cycle_id FROM events
                WHERE substr(cycle_id, 1, length(?1)) = ?1
                GROUP BY cycle_id ORDER BY MAX(seq) DESC LIMIT ?2
                """, arguments: [prefix, limit])
        }
    }

    /// The highest seq assigned so far (0 for an empty ledger).
    public func lastSeq() throws(LedgerError) -> Int64 {
        try read("last seq") { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0
        }
    }

    /// The number of events.
    public func count() throws(LedgerError) -> Int {
        try read("count events") { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
        }
    }

    /// `"wal"` when WAL is active (for tests and `agent` diagnostics).
    public func journalMode() throws(LedgerError) -> String {
        try read("journal mode") { db in
            try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? ""
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    func writerSynchronous() throws(LedgerError) -> Int {
        do {
            return try pool.writeWithoutTransaction { db in
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            }
        } catch {
            throw LedgerError.wrap(error, path: path, operation: "synchronous mode")
        }
    }

    // MARK: Integrity and quarantine

    /// `PRAGMA quick_check`: empty when the database is sound, otherwise SQLite's findings (at most 20).
    public func quickCheck() throws(LedgerError) -> [String] {
        let rows = try read("quick_check") { db in
            try String.fetchAll(db, sql: "PRAGMA quick_check(20)")
        }
        return rows == ["ok"] ? [] : rows
    }

    /// `PRAGMA integrity_check`, the thorough form of ``quickCheck()``.
    public func integrityCheck() throws(LedgerError) -> [String] {
        let rows = try read("integrity_check") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check(20)")
        }
        return rows == ["ok"] ? [] : rows
    }

    /// The event type that quarantines another event. Its payload is ``Quarantine``.
    public static let quarantineType = EventKind.ledgerQuarantine.rawValue

    /// Why an event is set aside. Events are never changed or deleted: a quarantine is itself an event, and
    /// the reading API (``forEach(afterSeq:types:_:)``, ``events(types:since:symbol:afterSeq:limit:newestFirst:)``,
    /// ``events(cycleId:)``) leaves the quarantined event out, so every projection skips it.
    public struct Quarantine: Codable, Sendable, Equatable {
        public var seq: Int64
        public var reason: String
        public init(seq: Int64, reason: String) {
            self.seq = seq
            self.reason = reason
        }
    }

    /// Records that event `seq` is to be skipped from now on; returns the quarantine event's seq.
    @discardableResult
    public func quarantine(seq: Int64, reason: String, cycleId: String, time: Int64) throws(LedgerError) -> Int64 {
        let target = try read("find event \(seq)") { db in
            try String.fetchOne(db, sql: "SELECT type FROM events WHERE seq = ?", arguments: [seq])
        }
        guard let target else {
            throw LedgerError(path: path, operation: "quarantine event \(seq)", message: "no event with that seq")
        }
        guard target != Self.quarantineType else {
            throw LedgerError(path: path, operation: "quarantine event \(seq)", message: "it is itself a quarantine record")
        }
        if try quarantinedSeqs().contains(seq) {
            throw LedgerError(path: path, operation: "quarantine event \(seq)", message: "it is already quarantined")
        }
        return try append(NewEvent(cycleId: cycleId, type: Self.quarantineType, time: time,
                                   encoding: Quarantine(seq: seq, reason: reason)))
    }

    /// Every quarantine record in seq order.
    public func quarantines() throws(LedgerError) -> [Quarantine] {
        let payloads = try read("read quarantines") { db in
            try String.fetchAll(db, sql: "SELECT payload FROM events WHERE type = ? ORDER BY seq", arguments: [Self.quarantineType])
        }
        return payloads.compactMap { try? JSONDecoder().decode(Quarantine.self, from: Data($0.utf8)) }
    }

    /// The seqs the reading API leaves out.
    public func quarantinedSeqs() throws(LedgerError) -> Set<Int64> {
        Set(try quarantines().map(\.seq))
    }

    /// One event by seq, quarantined or not (for `agent ledger check` and quarantine messages).
    public func event(seq: Int64) throws(LedgerError) -> LedgerEvent? {
        try read("event \(seq)") { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM events WHERE seq = ?", arguments: [seq]).map(Self.event(from:))
        }
    }

    // MARK: Meta

    /// The value stored under `key` in the mutable `meta` table, or nil.
    public func meta(_ key: String) throws(LedgerError) -> String? {
        try read("read meta \(key)") { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
        }
    }

    /// Stores (inserting or replacing) `value` under `key` in the `meta` table.
    public func setMeta(_ key: String, _ value: String) throws(LedgerError) {
        do {
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO meta (key, value) VALUES (?, ?)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value
                    """, arguments: [key, value])
            }
        } catch {
            throw LedgerError.wrap(error, path: path, operation: "write meta \(key)")
        }
    }
}
