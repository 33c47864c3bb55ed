import Foundation
import GRDB
import Model

// The audit index: the few fields `agent audit` groups by (cycle, status, check, symbol, reviewer, breaker...),
// written beside the JSON payload in side tables, so the audit is GROUP BY queries over indexed columns instead
// of decoding every event.
//
// The `events` table refuses every UPDATE, so the fields cannot be columns of `events` filled in later. They are
// filled by `AFTER INSERT` triggers on `events`, with SQLite's JSON functions, in the append's own transaction:
// whichever build or connection appends, the index follows. The migration that creates the tables runs the very
// same SELECTs over the events already stored (the one-time backfill of a ledger written by an older version).
//
// A payload the index cannot read (a field it groups by is missing or of the wrong type) goes to
// `audit_unreadable` instead, which the audit counts as "skipped", as the JSON path counts an event it cannot
// decode.

extension Ledger {
    /// The migration that adds the audit index (GRDB's `grdb_migrations` holds it once applied).
    static let auditIndexMigration = "v2-audit-index"

    /// One kind of event the index reads: the tables it fills and how.
    struct AuditIndexSource {
        var kind: EventKind
        /// What makes the payload readable for the index (`p` is the payload).
        var readable: String
        /// INSERT ... SELECT statements over `e` (the event: seq, cycle_id, type, recorded_at, payload).
        var inserts: [String]
    }

    private static func number(_ path: String) -> String { "json_type(p, '\(path)') IN ('integer', 'real')" }
    private static func integer(_ path: String) -> String { "json_type(p, '\(path)') = 'integer'" }
    private static func text(_ path: String) -> String { "json_type(p, '\(path)') = 'text'" }
    private static func array(_ path: String) -> String { "json_type(p, '\(path)') = 'array'" }
    private static func optionalInteger(_ path: String) -> String { "json_type(p, '\(path)') IS NULL OR json_type(p, '\(path)') IN ('integer', 'null')" }

    static let auditIndexSources: [AuditIndexSource] = {
        let tiers = ReviewerTier.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return [
            AuditIndexSource(kind: .cycleFinished, readable: [
                text("$.cycle_id"), text("$.status"), integer("$.review.calls"), integer("$.review.cache_hits"),
                number("$.review.cost_usd"), optionalInteger("$.review.input_tokens"), optionalInteger("$.review.output_tokens"),
            ].map { "(\($0))" }.joined(separator: " AND "), inserts: ["""
                INSERT INTO audit_cycles (seq, cycle_id, recorded_at, status, calls, cache_hits, cost_usd, input_tokens,
                                          output_tokens, fallback)
                SELECT e.seq, e.cycle_id, e.recorded_at, json_extract(e.payload, '$.status'),
                       json_extract(e.payload, '$.review.calls'), json_extract(e.payload, '$.review.cache_hits'),
                       json_extract(e.payload, '$.review.cost_usd'), COALESCE(json_extract(e.payload, '$.review.input_tokens'), 0),
                       COALESCE(json_extract(e.payload, '$.review.output_tokens'), 0), json_extract(e.payload, '$.review.fallback')
                FROM %@ e WHERE %where
                """]),
            AuditIndexSource(kind: .policyEvaluation, readable: [
                text("$.proposal_id"), text("$.symbol"), "COALESCE(json_type(p, '$.approved'), '') IN ('true', 'false')", array("$.violated_checks"),
                "NOT EXISTS (SELECT 1 FROM json_each(p, '$.violated_checks') WHERE type IS NOT 'text')",
            ].map { "(\($0))" }.joined(separator: " AND "), inserts: ["""
                INSERT INTO audit_evaluations (seq, cycle_id, recorded_at, proposal_id, symbol, approved)
                SELECT e.seq, e.cycle_id, e.recorded_at, json_extract(e.payload, '$.proposal_id'),
                       json_extract(e.payload, '$.symbol'), json_extract(e.payload, '$.approved')
                FROM %@ e WHERE %where
                """, """
                INSERT INTO audit_checks (seq, position, cycle_id, recorded_at, check_name, symbol)
                SELECT e.seq, c.key, e.cycle_id, e.recorded_at, c.value, json_extract(e.payload, '$.symbol')
                FROM %@ e, json_each(e.payload, '$.violated_checks') c WHERE %where
                """]),
            AuditIndexSource(kind: .review, readable: [
                "json_extract(p, '$.reviewer') IN (\(tiers))", array("$.violations"), array("$.applied"),
                "json_type(p, '$.answer') = 'object'",
                "NOT EXISTS (SELECT 1 FROM json_each(p, '$.applied') a WHERE CASE WHEN a.type = 'object' THEN "
                    + "COALESCE(json_type(a.value, '$.veto'), '') NOT IN ('true', 'false') "
                    + "OR json_type(a.value, '$.proposal_id') IS NOT 'text' OR json_type(a.value, '$.reason') IS NOT 'text' ELSE 1 END)",
            ].map { "(\($0))" }.joined(separator: " AND "), inserts: ["""
                INSERT INTO audit_reviews (seq, cycle_id, recorded_at, reviewer, violations, failed)
                SELECT e.seq, e.cycle_id, e.recorded_at, json_extract(e.payload, '$.reviewer'),
                       json_array_length(e.payload, '$.violations'),
                       COALESCE(json_type(e.payload, '$.answer.failure'), 'null') != 'null'
                FROM %@ e WHERE %where
                """, """
                INSERT INTO audit_vetoes (seq, position, cycle_id, recorded_at, reviewer, proposal_id, reason)
                SELECT e.seq, a.key, e.cycle_id, e.recorded_at, json_extract(e.payload, '$.reviewer'),
                       json_extract(a.value, '$.proposal_id'), json_extract(a.value, '$.reason')
                FROM %@ e, json_each(e.payload, '$.applied') a
                WHERE %where AND CASE WHEN a.type = 'object' THEN json_extract(a.value, '$.veto') ELSE 0 END
                """]),
            AuditIndexSource(kind: .shadow, readable: [
                array("$.entries"),
                "NOT EXISTS (SELECT 1 FROM json_each(p, '$.entries') s WHERE CASE WHEN s.type = 'object' THEN "
                    + "json_type(s.value, '$.effect') IS NOT 'text' OR json_type(s.value, '$.symbol') IS NOT 'text' ELSE 1 END)",
            ].map { "(\($0))" }.joined(separator: " AND "), inserts: ["""
                INSERT INTO audit_shadow (seq, position, recorded_at, effect, symbol)
                SELECT e.seq, s.key, e.recorded_at, json_extract(s.value, '$.effect'), json_extract(s.value, '$.symbol')
                FROM %@ e, json_each(e.payload, '$.entries') s WHERE %where
                """]),
            AuditIndexSource(kind: .circuitBreaker, readable: [text("$.breaker"), text("$.detail")]
                .map { "(\($0))" }.joined(separator: " AND "), inserts: ["""
                INSERT INTO audit_breakers (seq, cycle_id, recorded_at, breaker, detail)
                SELECT e.seq, e.cycle_id, e.recorded_at, json_extract(e.payload, '$.breaker'), json_extract(e.payload, '$.detail')
                FROM %@ e WHERE %where
                """]),
        ]
    }()

    static let auditIndexSchema = """
        CREATE TABLE audit_cycles (
            seq INTEGER PRIMARY KEY, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL, status TEXT NOT NULL,
            calls INTEGER NOT NULL, cache_hits INTEGER NOT NULL, cost_usd REAL NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, fallback TEXT);
        CREATE TABLE audit_evaluations (
            seq INTEGER PRIMARY KEY, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL, proposal_id TEXT NOT NULL,
            symbol TEXT NOT NULL, approved INTEGER NOT NULL);
        CREATE INDEX audit_evaluations_proposal ON audit_evaluations(cycle_id, proposal_id, seq);
        CREATE TABLE audit_checks (
            seq INTEGER NOT NULL, position INTEGER NOT NULL, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL,
            check_name TEXT NOT NULL, symbol TEXT NOT NULL, PRIMARY KEY (seq, position));
        CREATE INDEX audit_checks_check ON audit_checks(check_name, seq);
        CREATE TABLE audit_reviews (
            seq INTEGER PRIMARY KEY, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL, reviewer TEXT NOT NULL,
            violations INTEGER NOT NULL, failed INTEGER NOT NULL);
        CREATE TABLE audit_vetoes (
            seq INTEGER NOT NULL, position INTEGER NOT NULL, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL,
            reviewer TEXT NOT NULL, proposal_id TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (seq, position));
        CREATE INDEX audit_vetoes_reviewer ON audit_vetoes(reviewer, seq);
        CREATE TABLE audit_shadow (
            seq INTEGER NOT NULL, position INTEGER NOT NULL, recorded_at REAL NOT NULL, effect TEXT NOT NULL,
            symbol TEXT NOT NULL, PRIMARY KEY (seq, position));
        CREATE TABLE audit_breakers (
            seq INTEGER PRIMARY KEY, cycle_id TEXT NOT NULL, recorded_at REAL NOT NULL, breaker TEXT NOT NULL,
            detail TEXT NOT NULL);
        CREATE INDEX audit_breakers_breaker ON audit_breakers(breaker, seq);
        CREATE TABLE audit_unreadable (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, recorded_at REAL NOT NULL);
        """

    /// Creates the index tables and their triggers, and indexes the events already stored.
    static func createAuditIndex(_ db: Database) throws {
        try db.execute(sql: auditIndexSchema)
        for source in auditIndexSources {
            // CASE, not AND: SQLite's JSON functions raise on malformed JSON, and only CASE is sure to stop first.
            let body = source.readable.replacingOccurrences(of: "(p,", with: "(e.payload,")
            let readable = "(CASE WHEN json_valid(e.payload) THEN COALESCE(\(body), 0) ELSE 0 END)"
            func statements(over from: String, kind filter: String) -> [String] {
                source.inserts.map {
                    $0.replacingOccurrences(of: "%@", with: from).replacingOccurrences(of: "%where", with: "\(filter) AND \(readable)")
                } + ["""
                    INSERT INTO audit_unreadable (seq, type, recorded_at)
                    SELECT e.seq, e.type, e.recorded_at FROM \(from) e WHERE \(filter) AND NOT \(readable)
                    """]
            }
            let kind = "'\(source.kind.rawValue)'"
            let newRow = "(SELECT NEW.seq AS seq, NEW.cycle_id AS cycle_id, NEW.type AS type, NEW.recorded_at AS recorded_at, NEW.payload AS payload)"
            try db.execute(sql: """
                CREATE TRIGGER audit_index_\(source.kind.rawValue) AFTER INSERT ON events WHEN NEW.type = \(kind)
                BEGIN
                \(statements(over: newRow, kind: "1").map { $0 + ";" }.joined(separator: "\n"))
                END;
                """)
            for statement in statements(over: "events", kind: "e.type = \(kind)") {
                try db.execute(sql: statement)
            }
        }
    }

    /// Whether this ledger carries the audit index (a ledger written by an older version, opened only for reading,
    /// does not: it is migrated, and its events indexed, the first time a writing command opens it).
    public func hasAuditIndex() throws(LedgerError) -> Bool {
        try read("look for the audit index") { db in
            guard try db.tableExists("grdb_migrations") else { return false }
            return try Bool.fetchOne(db, sql: "SELECT COUNT(*) > 0 FROM grdb_migrations WHERE identifier = ?",
                                     arguments: [Self.auditIndexMigration]) ?? false
        }
    }
}

/// What the audit index says about the events in scope: counts grouped in SQL, for `agent audit` to present.
/// Events set aside by a quarantine are left out, as the reading API leaves them out.
public struct AuditTally: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        /// The check, reviewer, breaker or shadow effect.
        public var name: String
        public var symbol: String
        public var count: Int
    }

    /// Distinct cycles with a `cycle_finished` event.
    public var cycles = 0
    public var statuses: [String: Int] = [:]
    public var calls = 0, cacheHits = 0, inputTokens = 0, outputTokens = 0
    /// Cost summed in seq order (as the event-by-event path sums it).
    public var costUsd = 0.0
    public var fallbacks: [String: Int] = [:]
    public var evaluated = 0, approved = 0
    /// Violated checks by check and symbol.
    public var checks: [Group] = []
    /// The cycles of each check's most recent violations, newest first (at most 5 distinct).
    public var checkCycles: [String: [String]] = [:]
    public var reviewerViolations = 0, reviewFailures = 0
    /// Vetoes by reviewer and by the vetoed proposal's symbol (`?` when no evaluation names it).
    public var vetoes: [Group] = []
    public var vetoCycles: [String: [String]] = [:]
    /// Each reviewer's most recent veto reasons, newest first (at most 3).
    public var vetoReasons: [String: [String]] = [:]
    /// Shadow entries by effect and symbol.
    public var shadow: [Group] = []
    public var halts = 0, abandoned = 0
    public var breakers: [String: Int] = [:]
    public var breakerLatest: [String: String] = [:]
    public var breakerCycles: [String: [String]] = [:]
    public var unreadable = 0

    public init() {}
}

extension Ledger {
    /// The audit grouped in SQL over the audit index, in one read snapshot; nil when this ledger has no index yet
    /// (see ``hasAuditIndex()``). `since` keeps events recorded at or after it (wall clock, Unix seconds); `check`
    /// keeps one check's evaluations and leaves the shadow comparison out.
    public func auditTally(since: Int64?, check: String?) throws(LedgerError) -> AuditTally? {
        guard try hasAuditIndex() else { return nil }
        let from = since.map(Double.init) ?? -Double.greatestFiniteMagnitude
        let quarantineType = Self.quarantineType
        return try read("audit from the index") { db in
            let quarantined = "(SELECT json_extract(payload, '$.seq') FROM events WHERE type = '\(quarantineType)' AND json_type(payload, '$.seq') = 'integer')"
            func scope(_ t: String) -> String { "\(t).recorded_at >= ?1 AND \(t).seq NOT IN \(quarantined)" }
            func recent(_ table: String, _ column: String, _ name: String, limit: Int = 5) throws -> [String] {
                var out: [String] = []
                let rows = try String.fetchCursor(db, sql: "SELECT cycle_id FROM \(table) t WHERE \(column) = ?2 AND \(scope("t")) ORDER BY seq DESC",
                                                  arguments: [from, name])
                while out.count < limit, let cycle = try rows.next() {
                    if !out.contains(cycle) { out.append(cycle) }
                }
                return out
            }
            func groups(_ sql: String, _ arguments: StatementArguments) throws -> [AuditTally.Group] {
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { AuditTally.Group(name: $0[0], symbol: $0[1], count: $0[2]) }
            }
            var t = AuditTally()
            let args: StatementArguments = [from]

            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(DISTINCT cycle_id), COALESCE(SUM(calls), 0), COALESCE(SUM(cache_hits), 0),
                       COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0)
                FROM audit_cycles c WHERE \(scope("c"))
                """, arguments: args) {
                t.cycles = row[0]; t.calls = row[1]; t.cacheHits = row[2]; t.inputTokens = row[3]; t.outputTokens = row[4]
            }
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) FROM audit_cycles c WHERE \(scope("c")) GROUP BY status", arguments: args) {
                t.statuses[row[0]] = row[1]
            }
            for row in try Row.fetchAll(db, sql: "SELECT fallback, COUNT(*) FROM audit_cycles c WHERE \(scope("c")) AND fallback IS NOT NULL GROUP BY fallback",
                                        arguments: args) {
                t.fallbacks[row[0]] = row[1]
            }
            let costs = try Double.fetchCursor(db, sql: "SELECT cost_usd FROM audit_cycles c WHERE \(scope("c")) ORDER BY seq", arguments: args)
            while let cost = try costs.next() { t.costUsd += cost }

            if let check {
                let checkArgs: StatementArguments = [from, check]
                if let row = try Row.fetchOne(db, sql: """
                    SELECT COUNT(*), COALESCE(SUM(approved), 0) FROM audit_evaluations v
                    WHERE \(scope("v")) AND EXISTS (SELECT 1 FROM audit_checks c WHERE c.seq = v.seq AND c.check_name = ?2)
                    """, arguments: checkArgs) {
                    t.evaluated = row[0]; t.approved = row[1]
                }
                t.checks = try groups("SELECT check_name, symbol, COUNT(*) FROM audit_checks c WHERE check_name = ?2 AND \(scope("c")) GROUP BY check_name, symbol",
                                      checkArgs)
            } else {
                if let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(approved), 0) FROM audit_evaluations v WHERE \(scope("v"))",
                                              arguments: args) {
                    t.evaluated = row[0]; t.approved = row[1]
                }
                t.checks = try groups("SELECT check_name, symbol, COUNT(*) FROM audit_checks c WHERE \(scope("c")) GROUP BY check_name, symbol", args)
                t.shadow = try groups("SELECT effect, symbol, COUNT(*) FROM audit_shadow s WHERE \(scope("s")) GROUP BY effect, symbol", args)
            }
            for name in Set(t.checks.map(\.name)) { t.checkCycles[name] = try recent("audit_checks", "check_name", name) }

            if let row = try Row.fetchOne(db, sql: "SELECT COALESCE(SUM(violations), 0), COALESCE(SUM(failed), 0) FROM audit_reviews r WHERE \(scope("r"))",
                                          arguments: args) {
                t.reviewerViolations = row[0]; t.reviewFailures = row[1]
            }
            t.vetoes = try groups("""
                SELECT v.reviewer, COALESCE((SELECT e.symbol FROM audit_evaluations e
                                             WHERE e.cycle_id = v.cycle_id AND e.proposal_id = v.proposal_id AND \(scope("e"))
                                             ORDER BY e.seq DESC LIMIT 1), '?'), COUNT(*)
                FROM audit_vetoes v WHERE \(scope("v")) GROUP BY 1, 2
                """, args)
            for reviewer in Set(t.vetoes.map(\.name)) {
                t.vetoCycles[reviewer] = try recent("audit_vetoes", "reviewer", reviewer)
                t.vetoReasons[reviewer] = try String.fetchAll(db, sql: """
                    SELECT reason FROM audit_vetoes v WHERE reviewer = ?2 AND \(scope("v")) ORDER BY seq DESC, position LIMIT 3
                    """, arguments: [from, reviewer])
            }

            t.halts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events e WHERE type = 'halted' AND \(scope("e"))", arguments: args) ?? 0
            t.abandoned = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events e WHERE type = 'cycle_abandoned' AND \(scope("e"))", arguments: args) ?? 0
            for row in try Row.fetchAll(db, sql: "SELECT breaker, COUNT(*) FROM audit_breakers b WHERE \(scope("b")) GROUP BY breaker", arguments: args) {
                let name: String = row[0]
                t.breakers[name] = row[1]
                t.breakerLatest[name] = try String.fetchOne(db, sql: "SELECT detail FROM audit_breakers b WHERE breaker = ?2 AND \(scope("b")) ORDER BY seq DESC LIMIT 1",
                                                            arguments: [from, name]) ?? ""
                t.breakerCycles[name] = try recent("audit_breakers", "breaker", name)
            }
            let skipShadow = check == nil ? "" : " AND type != 'shadow'"
            t.unreadable = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_unreadable u WHERE \(scope("u"))\(skipShadow)", arguments: args) ?? 0
            return t
        }
    }
}

extension Ledger {
    /// Events and payload characters of each of `types`: one plain GROUP BY over the event rows themselves, with no
    /// index of its own (what `agent bench --only audit` sets the audit beside). Without `readingPayloads` it counts
    /// from the `(type, time)` index alone and never touches a row (characters are then 0).
    public func typeTally(types: [String], readingPayloads: Bool = true) throws(LedgerError) -> [String: (events: Int, payloadCharacters: Int)] {
        if types.isEmpty { return [:] }
        let placeholders = Array(repeating: "?", count: types.count).joined(separator: ", ")
        let characters = readingPayloads ? "SUM(LENGTH(payload))" : "0"
        return try read("tally events by type") { db in
            var out: [String: (events: Int, payloadCharacters: Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT type, COUNT(*), \(characters) FROM events WHERE type IN (\(placeholders)) GROUP BY type
                """, arguments: StatementArguments(types)) {
                out[row[0]] = (row[1], row[2])
            }
            return out
        }
    }
}
