import Config
import Engine
import Foundation
import Ledger
import Model
import Review

/// The result of replaying one recorded cycle.
public struct ReplayReport: Codable, Sendable, Equatable {
    public struct Difference: Codable, Sendable, Equatable {
        /// e.g. `decisions[p1].final_conviction`.
        public var field: String
        public var recorded: String
        public var replayed: String
    }

    public var cycleId: String
    public var timestamp: String
    /// Always "replay": no provider was called.
    public var source: String
    public var matches: Bool
    public var decisionsCompared: Int
    public var violatedChecksRecorded: [String]
    public var violatedChecksReplayed: [String]
    public var differences: [Difference]
    /// Set when the policy now differs from the one the cycle ran with (differences may come from that).
    @Nullable public var policyHashNote: String?
    /// Set when there was nothing to compare (e.g. an ERROR cycle recorded no decisions): `matches` then
    /// only means that no difference could be found.
    @Nullable public var nothingCompared: String? = nil
}

/// Re-runs a recorded cycle's review and policy stages from the ledger: recorded proposals, inputs (tape,
/// portfolio state, news, news risk flags) and reviewer answers; no market, no network, nothing written.
enum Replayer {
    struct NotReplayable: Error, CustomStringConvertible {
        var description: String
    }

    static func replay(cycleId: String, ledger: Ledger, config: LoadedConfig) async throws -> ReplayReport {
        let events = try ledger.events(cycleId: cycleId)
        guard let first = events.first else { throw NotReplayable(description: "no cycle '\(cycleId)' in the ledger") }
        let time = first.time
        let proposals = try events.filter { $0.kind == .proposal }.map { try $0.value(.proposal) }
        let recordedDecisions = try events.filter { $0.kind == .policyEvaluation }.map { try $0.value(.policyEvaluation) }
        let tiers = try events.filter { $0.kind == .review }.map { try $0.value(.review) }
        let summary = try events.last { $0.kind == .cycleFinished }.map { try $0.value(.cycleFinished) }
        let started = try events.first { $0.kind == .cycleStarted }.map { try $0.value(.cycleStarted) }

        var replayedDecisions: [Decision] = []
        if !proposals.isEmpty, !recordedDecisions.isEmpty || !tiers.isEmpty {
            guard let inputs = try events.first(where: { $0.kind == .cycleInputs }).map({ try $0.value(.cycleInputs) }) else {
                throw NotReplayable(description: "cycle \(cycleId) has no recorded cycle_inputs (recorded before replay support?)")
            }
            let board = ReviewBoard(reviewers: tiers.map { ReplayReviewer(tier: $0.reviewer, recorded: $0.answer) },
                                    policy: config.policy)
            let outcome = await board.run(ReviewContext(cycleId: cycleId, time: time, proposals: proposals, tape: inputs.tape,
                                                        policy: config.policy, news: inputs.news),
                                          newsRiskHistory: inputs.newsRiskHistory)
            replayedDecisions = CycleRunner.decide(config: config, proposals: proposals, outcome: outcome,
                                                   inputs: inputs, time: time).0
        }

        var differences: [ReplayReport.Difference] = []
        let recordedById = Dictionary(recordedDecisions.map { ($0.proposalId, $0) }, uniquingKeysWith: { a, _ in a })
        let replayedById = Dictionary(replayedDecisions.map { ($0.proposalId, $0) }, uniquingKeysWith: { a, _ in a })
        for id in Set(recordedById.keys).union(replayedById.keys).sorted() {
            let a = try recordedById[id].map(jsonValue) ?? .null
            let b = try replayedById[id].map(jsonValue) ?? .null
            differences += diff(a, b, path: "decisions[\(id)]")
        }
        let recordedChecks = summary?.violatedChecks ?? Array(Set(recordedDecisions.flatMap(\.violatedChecks))).sorted()
        let replayedChecks = Array(Set(replayedDecisions.flatMap(\.violatedChecks))).sorted()
        if recordedChecks != replayedChecks {
            differences.append(.init(field: "violated_checks", recorded: recordedChecks.joined(separator: ","),
                                     replayed: replayedChecks.joined(separator: ",")))
        }
        let note = started.flatMap { $0.policyHash == config.policyHash ? nil
            : "the cycle ran with policy \($0.policyHash); replayed with \(config.policyHash)" }
        var report = ReplayReport(cycleId: cycleId, timestamp: UTC.iso8601(time), source: "replay", matches: differences.isEmpty,
                                  decisionsCompared: recordedDecisions.count, violatedChecksRecorded: recordedChecks,
                                  violatedChecksReplayed: replayedChecks, differences: differences, policyHashNote: note)
        if recordedDecisions.isEmpty && replayedDecisions.isEmpty {
            let status = summary.map { " (status \($0.status.rawValue)\($0.error.map { ": \($0)" } ?? ""))" } ?? " (it never finished)"
            report.nothingCompared = "nothing was compared: the cycle recorded no decisions" + status
        }
        return report
    }

    static func jsonValue<T: Encodable>(_ v: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONCoding.encoder().encode(v))
    }

    /// Field-by-field differences between two JSON values.
    static func diff(_ a: JSONValue, _ b: JSONValue, path: String) -> [ReplayReport.Difference] {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return Set(x.keys).union(y.keys).sorted().flatMap { diff(x[$0] ?? .null, y[$0] ?? .null, path: "\(path).\($0)") }
        case (.array(let x), .array(let y)) where x.count == y.count:
            return zip(x, y).enumerated().flatMap { i, pair in diff(pair.0, pair.1, path: "\(path)[\(i)]") }
        default:
            return a == b ? [] : [.init(field: path, recorded: a.text, replayed: b.text)]
        }
    }
}

/// `agent --once --replay ID` and `agent --interval N --replay-since SPAN`.
enum ReplayCommand {
    /// Prints one report per cycle; returns whether every replay matched.
    static func run(common: CommonOptions, cycle: String?, since: String?, pretty: Bool) async throws -> Bool {
        let config = try common.loadConfig()
        let ledger = try LedgerAccess.reading(dataDir: common.dataDir)
        var ids: [String] = []
        if let cycle {
            if cycle == "last" {
                guard let last = try ledger.cycleIds(limit: 50).first(where: { $0.hasPrefix("c-") }) else {
                    throw CLIError.badInput("the ledger has no cycles yet")
                }
                ids = [last]
            } else {
                let matches = try ledger.cycleIds(matching: cycle, limit: 10)
                if matches.contains(cycle) { ids = [cycle] } else if matches.count == 1 { ids = matches } else {
                    throw CLIError.badInput(matches.isEmpty ? "no cycle '\(cycle)' in the ledger"
                                                            : "'\(cycle)' matches several cycles: \(matches.joined(separator: ", "))")
                }
            }
        } else if let since {
            let cutoff: Int64
            if let span = UTC.duration(since) { cutoff = UTC.now() - span } else if let t = UTC.parse(since) { cutoff = t } else {
                throw CLIError.badInput("--replay-since '\(since)': expected a span like 24h or 7d (at most 100 years), or an ISO 8601 time")
            }
            let started = try ledger.events(kinds: [.cycleStarted]).filter { $0.recordedAt >= Double(cutoff) || $0.time >= cutoff }
            ids = started.map(\.cycleId)
        }
        var allMatch = true
        for id in ids {
            let report: ReplayReport
            do {
                report = try await Replayer.replay(cycleId: id, ledger: ledger, config: config)
            } catch let e as Replayer.NotReplayable {
                throw CLIError.badInput(e.description)
            }
            allMatch = allMatch && report.matches
            let line = try JSONCoding.string(report, pretty: pretty)
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        return allMatch
    }
}
