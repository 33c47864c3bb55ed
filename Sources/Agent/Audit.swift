import Engine
import Foundation
import Ledger
import Model
import Review
import Risk

/// The policy audit: which checks blocked what, which reviewers vetoed, what AI cost. Read only from the ledger.
public struct AuditReport: Codable, Sendable, Equatable {
    public struct CheckCount: Codable, Sendable, Equatable {
        public var check: String
        public var violations: Int
        /// Symbol -> count, most frequent first.
        public var symbols: [SymbolCount]
        /// Most recent cycles where it happened, newest first (at most 5).
        public var recentCycles: [String]
    }

    public struct SymbolCount: Codable, Sendable, Equatable {
        public var symbol: String
        public var count: Int
    }

    public struct VetoCount: Codable, Sendable, Equatable {
        public var reviewer: ReviewerTier
        public var vetoes: Int
        public var symbols: [SymbolCount]
        public var recentCycles: [String]
        /// The most recent veto reasons (at most 3).
        public var recentReasons: [String]
    }

    public var since: String?
    public var cycles: Int
    public var statuses: [String: Int]
    public var proposalsEvaluated: Int
    public var proposalsApproved: Int
    public var proposalsRejected: Int
    public var violatedChecks: [CheckCount]
    public var reviewerVetoes: [VetoCount]
    public var reviewerViolations: Int
    public var aiCalls: Int
    public var aiCacheHits: Int
    public var aiCostUsd: Double
    public var halts: Int
    public var abandonedCycles: Int
    /// Events whose payload could not be read (skipped, not fatal).
    public var unreadableEvents: Int = 0
    /// Circuit breaker trips by breaker, most frequent first.
    public var circuitBreakers: [BreakerCount] = []

    public struct BreakerCount: Codable, Sendable, Equatable {
        public var breaker: String
        public var trips: Int
        public var latest: String
        public var recentCycles: [String]
    }
    /// AI tokens counted against the budget.
    public var aiInputTokens: Int = 0
    public var aiOutputTokens: Int = 0
    /// Cycles where the budget fallback (`skip` or `no_trade`) was taken, by fallback.
    public var budgetFallbacks: [String: Int] = [:]
    /// Reviewer tiers that failed (timeout, invalid output...) and fell back to their failure mode.
    public var reviewFailures: Int = 0
    /// The shadow comparison: proposals decided both ways (with reviews, and rules only).
    public var shadow: ShadowAudit = ShadowAudit()

    /// How often the AI tier changed the rules-only decision, and in which direction.
    public struct ShadowAudit: Codable, Sendable, Equatable {
        public var proposals: Int = 0
        public var changed: Int = 0
        /// Rules alone would have approved; the reviewers' vetoes or deltas made the policy reject.
        public var blocked: Int = 0
        /// Rules alone would have been rejected; a positive delta made the policy approve.
        public var enabled: Int = 0
        /// Approved either way, at a different size.
        public var resized: Int = 0
        /// Symbols of blocked and enabled proposals, most frequent first.
        public var blockedSymbols: [SymbolCount] = []
        public var enabledSymbols: [SymbolCount] = []
    }
}

enum Auditor {
    /// Where the audit reads its counts from.
    enum Source: Sendable {
        /// The audit index: GROUP BY queries over the columns written beside each payload (AuditIndex.swift).
        case index
        /// Every event decoded in seq order: the definition the index must equal, and what a ledger written by an
        /// older version, opened read-only before any writer migrated it, is read with.
        case events
    }

    /// `since` filters on when cycles were recorded (wall clock); `check` keeps one check's proposals.
    /// Reads the audit index when the ledger has one, else every event.
    static func report(ledger: Ledger, since: Int64?, check: String?) throws -> AuditReport {
        try report(ledger: ledger, since: since, check: check, from: ledger.hasAuditIndex() ? .index : .events)
    }

    static func report(ledger: Ledger, since: Int64?, check: String?, from source: Source) throws -> AuditReport {
        switch source {
        case .index:
            guard let tally = try ledger.auditTally(since: since, check: check) else {
                throw CLIError.failed("the ledger \(ledger.path) has no audit index yet: open it once with a writing command (e.g. `agent ledger check`)")
            }
            return report(tally, since: since, check: check)
        case .events:
            return try reportFromEvents(ledger: ledger, since: since, check: check)
        }
    }

    /// The report from the index's grouped counts, sorted and trimmed exactly as ``reportFromEvents`` does.
    static func report(_ t: AuditTally, since: Int64?, check: String?) -> AuditReport {
        func counts(_ groups: [AuditTally.Group], _ name: String) -> [AuditReport.SymbolCount] {
            sortedCounts(groups.filter { $0.name == name }.map { AuditReport.SymbolCount(symbol: $0.symbol, count: $0.count) })
        }
        let checkNames = Set(t.checks.map(\.name))
        func total(_ symbols: [AuditReport.SymbolCount]) -> Int { symbols.reduce(0) { $0 + $1.count } }
        let checkCounts = checkNames.map { (name: String) -> AuditReport.CheckCount in
            let symbols = counts(t.checks, name)
            let cycles: [String] = t.checkCycles[name] ?? []
            return AuditReport.CheckCount(check: name, violations: total(symbols), symbols: symbols, recentCycles: cycles)
        }.sorted { (a: AuditReport.CheckCount, b: AuditReport.CheckCount) in a.violations != b.violations ? a.violations > b.violations : a.check < b.check }
        let vetoCounts = Set(t.vetoes.map(\.name)).compactMap { name -> AuditReport.VetoCount? in
            guard let tier = ReviewerTier(rawValue: name) else { return nil }
            let symbols = counts(t.vetoes, name)
            return AuditReport.VetoCount(reviewer: tier, vetoes: total(symbols), symbols: symbols,
                                         recentCycles: t.vetoCycles[name] ?? [], recentReasons: t.vetoReasons[name] ?? [])
        }.sorted { $0.reviewer.rawValue < $1.reviewer.rawValue }
        var shadow = AuditReport.ShadowAudit()
        shadow.proposals = t.shadow.reduce(0) { $0 + $1.count }
        shadow.blocked = t.shadow.filter { $0.name == "blocked" }.reduce(0) { $0 + $1.count }
        shadow.enabled = t.shadow.filter { $0.name == "enabled" }.reduce(0) { $0 + $1.count }
        shadow.resized = t.shadow.filter { $0.name == "resized" }.reduce(0) { $0 + $1.count }
        shadow.changed = shadow.blocked + shadow.enabled + shadow.resized
        shadow.blockedSymbols = counts(t.shadow, "blocked")
        shadow.enabledSymbols = counts(t.shadow, "enabled")
        var report = AuditReport(since: since.map(UTC.iso8601), cycles: t.cycles, statuses: t.statuses,
                                 proposalsEvaluated: t.evaluated, proposalsApproved: t.approved,
                                 proposalsRejected: t.evaluated - t.approved, violatedChecks: checkCounts,
                                 reviewerVetoes: check == nil ? vetoCounts : [], reviewerViolations: t.reviewerViolations,
                                 aiCalls: t.calls, aiCacheHits: t.cacheHits, aiCostUsd: Format.round(t.costUsd, 6), halts: t.halts,
                                 abandonedCycles: t.abandoned, unreadableEvents: t.unreadable)
        report.circuitBreakers = t.breakers.map { (name: String, trips: Int) -> AuditReport.BreakerCount in
            let latest: String = t.breakerLatest[name] ?? ""
            let cycles: [String] = t.breakerCycles[name] ?? []
            return AuditReport.BreakerCount(breaker: name, trips: trips, latest: latest, recentCycles: cycles)
        }.sorted { (a: AuditReport.BreakerCount, b: AuditReport.BreakerCount) in a.trips != b.trips ? a.trips > b.trips : a.breaker < b.breaker }
        report.aiInputTokens = t.inputTokens
        report.aiOutputTokens = t.outputTokens
        report.budgetFallbacks = t.fallbacks
        report.reviewFailures = t.reviewFailures
        report.shadow = shadow
        return report
    }

    /// The kinds of event the audit reads.
    static let eventTypes = ["cycle_finished", "policy_evaluation", "review", "halted", "cycle_abandoned", "shadow", "circuit_breaker"]

    /// Most frequent first, then by symbol.
    static func sortedCounts(_ counts: [AuditReport.SymbolCount]) -> [AuditReport.SymbolCount] {
        counts.sorted { $0.count != $1.count ? $0.count > $1.count : $0.symbol < $1.symbol }
    }

    /// The audit from every event of the ledger, decoded one by one.
    static func reportFromEvents(ledger: Ledger, since: Int64?, check: String?) throws -> AuditReport {
        let types = eventTypes

        var statuses: [String: Int] = [:]
        var cycles = Set<String>()
        var calls = 0, cacheHits = 0, cost = 0.0, halts = 0, abandoned = 0, reviewerViolations = 0
        var evaluated = 0, approved = 0
        var checkHits: [String: [(symbol: String, cycle: String, seq: Int64)]] = [:]
        var vetoHits: [ReviewerTier: [(proposalId: String, cycle: String, seq: Int64, reason: String)]] = [:]
        var proposalSymbols: [String: String] = [:]  // "cycle/proposal" -> symbol
        var inputTokens = 0, outputTokens = 0, reviewFailures = 0
        var fallbacks: [String: Int] = [:]
        var shadow = AuditReport.ShadowAudit()
        var blockedSymbols: [String] = [], enabledSymbols: [String] = []

        var unreadable = 0
        var breakerHits: [String: [(cycle: String, seq: Int64, detail: String)]] = [:]
        // Streamed: memory stays flat however long the ledger grows.
        try ledger.forEach(types: types) { event in
          if let since, event.recordedAt < Double(since) { return }
          // One unreadable event (a payload from an older build, say) is counted, never fatal to the audit.
          do {
            switch event.type {
            case "cycle_finished":
                let s = try event.value(.cycleFinished)
                cycles.insert(event.cycleId)
                statuses[s.status.rawValue, default: 0] += 1
                calls += s.review.calls
                cacheHits += s.review.cacheHits
                cost += s.review.costUsd
                inputTokens += s.review.inputTokens
                outputTokens += s.review.outputTokens
                if let f = s.review.fallback { fallbacks[f, default: 0] += 1 }
            case "shadow":
                guard check == nil else { return }
                for entry in try event.value(.shadow).entries {
                    shadow.proposals += 1
                    switch entry.effect {
                    case "blocked": shadow.blocked += 1; blockedSymbols.append(entry.symbol)
                    case "enabled": shadow.enabled += 1; enabledSymbols.append(entry.symbol)
                    case "resized": shadow.resized += 1
                    default: break
                    }
                }
            case "policy_evaluation":
                let d = try event.value(.policyEvaluation)
                proposalSymbols["\(event.cycleId)/\(d.proposalId)"] = d.symbol
                if let check, !d.violatedChecks.contains(check) { return }
                evaluated += 1
                if d.approved { approved += 1 }
                for name in d.violatedChecks where check == nil || name == check {
                    checkHits[name, default: []].append((d.symbol, event.cycleId, event.seq))
                }
            case "review":
                let tier = try event.value(.review)
                reviewerViolations += tier.violations.count
                if tier.answer.failure != nil { reviewFailures += 1 }
                for review in tier.applied where review.veto {
                    vetoHits[tier.reviewer, default: []].append((review.proposalId, event.cycleId, event.seq, review.reason))
                }
            case "halted":
                halts += 1
            case "cycle_abandoned":
                abandoned += 1
            case "circuit_breaker":
                let trip = try event.value(.circuitBreaker)
                breakerHits[trip.breaker, default: []].append((event.cycleId, event.seq, trip.detail))
            default:
                break
            }
          } catch {
            unreadable += 1
          }
        }

        func symbolCounts(_ symbols: [String]) -> [AuditReport.SymbolCount] {
            sortedCounts(Dictionary(symbols.map { ($0, 1) }, uniquingKeysWith: +)
                .map { AuditReport.SymbolCount(symbol: $0.key, count: $0.value) })
        }
        func recent(_ hits: [(cycle: String, seq: Int64)]) -> [String] {
            var out: [String] = []
            for hit in hits.sorted(by: { $0.seq > $1.seq }) where !out.contains(hit.cycle) {
                out.append(hit.cycle)
                if out.count == 5 { break }
            }
            return out
        }

        let checkCounts = checkHits.map { name, hits in
            AuditReport.CheckCount(check: name, violations: hits.count, symbols: symbolCounts(hits.map(\.symbol)),
                                   recentCycles: recent(hits.map { ($0.cycle, $0.seq) }))
        }.sorted { $0.violations != $1.violations ? $0.violations > $1.violations : $0.check < $1.check }

        let vetoCounts = vetoHits.map { tier, hits -> AuditReport.VetoCount in
            let resolved = hits.map { hit in
                (symbol: proposalSymbols["\(hit.cycle)/\(hit.proposalId)"] ?? "?", cycle: hit.cycle, seq: hit.seq, reason: hit.reason)
            }
            return AuditReport.VetoCount(
                reviewer: tier, vetoes: resolved.count, symbols: symbolCounts(resolved.map(\.symbol)),
                recentCycles: recent(resolved.map { ($0.cycle, $0.seq) }),
                recentReasons: Array(resolved.sorted { $0.seq > $1.seq }.map(\.reason).prefix(3)))
        }.sorted { $0.reviewer.rawValue < $1.reviewer.rawValue }

        shadow.changed = shadow.blocked + shadow.enabled + shadow.resized
        shadow.blockedSymbols = symbolCounts(blockedSymbols)
        shadow.enabledSymbols = symbolCounts(enabledSymbols)
        var report = AuditReport(since: since.map(UTC.iso8601), cycles: cycles.count, statuses: statuses,
                           proposalsEvaluated: evaluated, proposalsApproved: approved,
                           proposalsRejected: evaluated - approved, violatedChecks: checkCounts,
                           reviewerVetoes: check == nil ? vetoCounts : [], reviewerViolations: reviewerViolations,
                           aiCalls: calls, aiCacheHits: cacheHits, aiCostUsd: Format.round(cost, 6), halts: halts,
                           abandonedCycles: abandoned, unreadableEvents: unreadable)
        report.circuitBreakers = breakerHits.map { name, hits in
            AuditReport.BreakerCount(breaker: name, trips: hits.count, latest: hits.max { $0.seq < $1.seq }?.detail ?? "",
                                     recentCycles: recent(hits.map { ($0.cycle, $0.seq) }))
        }.sorted { $0.trips != $1.trips ? $0.trips > $1.trips : $0.breaker < $1.breaker }
        report.aiInputTokens = inputTokens
        report.aiOutputTokens = outputTokens
        report.budgetFallbacks = fallbacks
        report.reviewFailures = reviewFailures
        report.shadow = shadow
        return report
    }

    static func text(_ r: AuditReport, check: String?) -> String {
        var lines: [String] = []
        lines.append("Policy audit\(r.since.map { " since \($0)" } ?? " of the whole ledger")\(check.map { ", check \($0)" } ?? "")")
        let statuses = r.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("Cycles: \(r.cycles)\(statuses.isEmpty ? "" : " (\(statuses))")")
        if r.unreadableEvents > 0 {
            lines.append("Skipped \(r.unreadableEvents) ledger events this build cannot read (see `agent show` on their cycles)")
        }
        if !r.circuitBreakers.isEmpty {
            lines.append("Circuit breakers tripped:")
            for b in r.circuitBreakers {
                lines.append("  \(b.breaker.padding(toLength: 27, withPad: " ", startingAt: 0)) \(String(b.trips).leftPad(5))  latest: \(b.latest)")
                lines.append("  \(String(repeating: " ", count: 27))        recent: \(b.recentCycles.prefix(3).joined(separator: " "))")
            }
        }
        if r.halts > 0 || r.abandonedCycles > 0 {
            lines.append("Halted by the kill switch: \(r.halts); abandoned mid-cycle: \(r.abandonedCycles)")
        }
        lines.append("Proposals\(check == nil ? "" : " violating \(check ?? "")"): \(r.proposalsEvaluated) evaluated, \(r.proposalsApproved) approved, \(r.proposalsRejected) rejected")
        lines.append("")
        if r.violatedChecks.isEmpty {
            lines.append("Violated checks: none")
        } else {
            lines.append("Violated checks (count, symbols, recent cycles):")
            let width = max(r.violatedChecks.map(\.check.count).max() ?? 0, 10)
            for c in r.violatedChecks {
                let symbols = c.symbols.prefix(5).map { "\($0.symbol) \($0.count)" }.joined(separator: ", ")
                lines.append("  \(c.check.padding(toLength: width, withPad: " ", startingAt: 0))  \(String(c.violations).leftPad(5))  \(symbols)")
                lines.append("  \(String(repeating: " ", count: width))         recent: \(c.recentCycles.prefix(3).joined(separator: " "))")
            }
        }
        if check == nil {
            lines.append("")
            if r.reviewerVetoes.isEmpty {
                lines.append("Reviewer vetoes: none")
            } else {
                lines.append("Reviewer vetoes:")
                for v in r.reviewerVetoes {
                    let symbols = v.symbols.prefix(5).map { "\($0.symbol) \($0.count)" }.joined(separator: ", ")
                    lines.append("  \(v.reviewer.rawValue)  \(String(v.vetoes).leftPad(5))  \(symbols)")
                    if let reason = v.recentReasons.first { lines.append("            latest: \(reason)") }
                    lines.append("            recent: \(v.recentCycles.prefix(3).joined(separator: " "))")
                }
            }
            lines.append("Reviewer contract violations (ignored or clamped answers): \(r.reviewerViolations)")
            lines.append("AI spend: \(r.aiCalls) calls, \(r.aiCacheHits) cache hits, \(r.aiInputTokens) input + \(r.aiOutputTokens) output tokens, $\(String(format: "%.4f", r.aiCostUsd))")
            if !r.budgetFallbacks.isEmpty {
                lines.append("Budget fallbacks: " + r.budgetFallbacks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            if r.reviewFailures > 0 { lines.append("Reviewer tier failures (failure mode applied): \(r.reviewFailures)") }
            let s = r.shadow
            lines.append("AI tier vs rules only: \(s.changed) of \(s.proposals) proposals changed (\(s.blocked) blocked, \(s.enabled) enabled, \(s.resized) resized)")
            if !s.blockedSymbols.isEmpty {
                lines.append("  blocked: " + s.blockedSymbols.prefix(5).map { "\($0.symbol) \($0.count)" }.joined(separator: ", "))
            }
            if !s.enabledSymbols.isEmpty {
                lines.append("  enabled: " + s.enabledSymbols.prefix(5).map { "\($0.symbol) \($0.count)" }.joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
