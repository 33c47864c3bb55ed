import Execution
import Foundation
import Ledger
import Model
import Pipeline
import Review
import Risk

private let fmt = Format.number

/// Renders one cycle's recorded events for `agent show`.
package enum CycleTrail {
    /// `{"cycle_id": ..., "events": [{"seq", "type", "time", "recorded_at", "symbol", "payload"}]}` with payloads as recorded.
    package static func json(cycleId: String, events: [LedgerEvent]) throws -> String {
        struct Header: Encodable {
            package var seq: Int64
            package var type: String
            package var time: String
            package var recordedAt: Double
            package var symbol: String?
        }
        var parts: [String] = []
        for e in events {
            var header = try JSONCoding.string(Header(seq: e.seq, type: e.type, time: UTC.iso8601(e.time),
                                                      recordedAt: e.recordedAt, symbol: e.symbol))
            header.removeLast()  // the closing brace: the recorded payload is spliced in verbatim
            parts.append(header + ",\"payload\":" + String(decoding: e.payload, as: UTF8.self) + "}")
        }
        return "{\"cycle_id\":" + (try JSONCoding.string(cycleId)) + ",\"events\":[" + parts.joined(separator: ",") + "]}"
    }

    package static func text(cycleId: String, events: [LedgerEvent]) throws -> String {
        var out: [String] = []
        func line(_ s: String = "") { out.append(s) }
        var proposals: [Proposal] = []

        for e in events {
          // An event this build cannot read is shown raw; the rest of the trail still prints.
          do {
            switch e.kind {
            case .cycleStarted:
                let s = try e.value(.cycleStarted)
                line("Cycle \(cycleId)")
                line("  decision time \(s.timestamp)   mode \(s.mode.rawValue)   exchange \(s.exchange.rawValue)")
                line("  config \(s.configHash)")
                line("  policy \(s.policyHash)")
                line("  prompts " + s.promptHashes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.prefix(19))…" }.joined(separator: "  "))
            case .halted:
                line()
                line("HALTED: \(try e.value(.halted).reason)")
            case .regime:
                let r = try e.value(.regime)
                line()
                line("Regime: \(r.regime.rawValue) (\(r.reason))")
            case .universe:
                let u = try e.value(.universe)
                line()
                line("Universe: \(u.eligible.count) eligible of \(u.members.count)")
                for tier in Tier.allCases {
                    let members = u.eligible.filter { $0.tier == tier }
                    guard !members.isEmpty else { continue }
                    line("  \(tier.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)) "
                         + members.map { "\($0.symbol) (\(fmt($0.spreadBps)) bps, max \(fmt($0.maxSizePct))%)" }.joined(separator: ", "))
                }
                for m in u.members where !m.eligible {
                    line("  excluded \(m.symbol): \(m.exclusions.joined(separator: "; "))")
                }
            case .triggers:
                let scan = try e.value(.triggers)
                line()
                line("Triggers: \(scan.triggers.count)")
                for t in scan.triggers {
                    line("  \(t.symbol.padding(toLength: 10, withPad: " ", startingAt: 0)) \(t.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)) \(t.direction.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0)) strength \(fmt(t.strength))  \(t.detail)")
                }
                for s in scan.suppressed {
                    line("  suppressed \(s.trigger.symbol) \(s.trigger.kind.rawValue): \(s.reason)")
                }
            case .proposal:
                let p = try e.value(.proposal)
                if proposals.isEmpty {
                    line()
                    line("Proposals (created by Rules only):")
                }
                proposals.append(p)
                let parts = p.components.map { "\($0.name) \(fmt($0.value))" }.joined(separator: " + ")
                line("  \(p.id) \(p.side.rawValue) \(p.symbol) \(fmt(p.sizePct))% of equity, conviction \(fmt(p.conviction)) = \(parts)")
                line("     stop -\(fmt(p.stopLossPct))%  take profit +\(fmt(p.takeProfitPct))%  at \(Format.price(p.referencePrice))  — \(p.reason)")
            case .review:
                let r = try e.value(.review)
                line()
                let tokens = r.answer.inputTokens + r.answer.outputTokens
                line("Review \(r.reviewer.rawValue): source \(r.answer.source)\(r.answer.provider.map { ", provider \($0)" } ?? ""), model \(r.answer.model)"
                     + (r.answer.promptHash.isEmpty ? "" : ", prompt \(r.answer.promptHash.prefix(19))…")
                     + (tokens > 0 ? ", \(tokens) tokens, $\(fmt(r.answer.costUsd))" : ""))
                if let failure = r.answer.failure { line("  FAILED: \(failure)") }
                if let fallback = r.fallback { line("  budget fallback \(fallback): \(r.answer.budgetDenied ?? "")") }
                if let onSkip = r.onSkip { line("  reviewers.m3.on_skip \(onSkip) applied") }
                if let from = r.answer.cachedFrom { line("  cached review from \(from)") }
                for call in r.answer.calls ?? [] {
                    line("  call \(call.attempt): HTTP \(call.status.map(String.init) ?? "-")\(call.httpAttempts.map { $0 > 1 ? " after \($0) requests" : "" } ?? ""), finish \(call.finishReason ?? "-"), \(call.inputTokens)+\(call.outputTokens) tokens, $\(String(format: "%.6f", call.costUsd)) (worst case $\(String(format: "%.6f", call.worstCaseUsd))), \(fmt(call.elapsedMs)) ms"
                         + (call.usageNote.map { "; \($0)" } ?? "") + (call.problem.map { "; problem: \($0)" } ?? ""))
                }
                if let risk = r.newsRiskEffective, !risk.isEmpty {
                    line("  news risk: " + risk.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.rawValue)" }.joined(separator: ", "))
                }
                for a in r.applied {
                    let effect = a.veto ? "VETO" : "delta \(a.delta >= 0 ? "+" : "")\(fmt(a.delta))" + (a.clamped ? " (clamped from \(fmt(a.requestedDelta)))" : "")
                    let checks = a.violatedChecks.isEmpty ? "" : " [checks: \(a.violatedChecks.joined(separator: ", "))]"
                    line("  \(a.proposalId) \(effect)\(checks) — \(a.reason)")
                }
                for v in r.violations { line("  contract violation: \(v.detail)") }
            case .cycleInputs:
                let i = try e.value(.cycleInputs)
                line()
                line("Review inputs: tape of \(i.tape.count) symbols, \(i.news.count) news items, \(i.newsRiskHistory.count) earlier news risk flags")
            case .newsItem:
                let n = try e.value(.newsItem)
                line("  news \(n.id) [\(n.source)] \(n.symbols.joined(separator: ",")): \(n.title)")
            case .newsFetch:
                line()
                line("News fetch: \(String(decoding: e.payload, as: UTF8.self))")
            case .shadow:
                let sh = try e.value(.shadow)
                line()
                line("Shadow (rules only, no reviews): " + sh.entries.map {
                    "\($0.proposalId) \($0.rulesOnlyApproved ? "approved \(fmt($0.rulesOnlySizePct))%" : "rejected") -> \($0.effect)"
                }.joined(separator: "; "))
            case .policyEvaluation:
                let d = try e.value(.policyEvaluation)
                line()
                let verdict = d.approved ? "APPROVED at \(fmt(d.sizePct))% (proposed \(fmt(d.proposedSizePct))%)" : "REJECTED"
                line("Policy on \(d.proposalId) \(d.symbol): \(verdict), final conviction \(fmt(d.finalConviction)) (base \(fmt(d.baseConviction)))")
                if !d.vetoedBy.isEmpty { line("  vetoed by \(d.vetoedBy.map(\.rawValue).joined(separator: ", "))") }
                for c in d.checks {
                    let numbers = [c.value.map { "value \(fmt($0))" }, c.limit.map { "limit \(fmt($0))" }].compactMap { $0 }.joined(separator: ", ")
                    line("  \(c.passed ? "pass" : "FAIL") \(c.name.padding(toLength: 27, withPad: " ", startingAt: 0)) \(c.detail)\(numbers.isEmpty ? "" : "  (\(numbers))")")
                }
            case .orderIntent:
                let o = try e.value(.orderIntent)
                line()
                line("Order intent \(o.clientOrderId): \(o.side.rawValue) \(o.symbol) \(fmt(o.sizePct))% = $\(fmt(o.notionalUsd)) (\(o.quantity) @ \(fmt(o.price))), stop -\(fmt(o.stopLossPct))%, take profit +\(fmt(o.takeProfitPct))%")
            case .orderResult:
                let o = try e.value(.orderResult)
                line("  \(o.clientOrderId): \(o.status.rawValue) (\(o.mode.rawValue))")
            case .cycleFailed:
                line()
                line("FAILED: \(try e.value(.cycleFailed).reason)")
            case .cycleAbandoned:
                line()
                line("ABANDONED: \(try e.value(.cycleAbandoned).reason)")
            case .cycleFinished:
                let s = try e.value(.cycleFinished)
                line()
                line("Outcome: \(s.status.rawValue), \(s.proposalsApproved) of \(s.proposalsGenerated) proposals approved")
                if let reason = s.noTradeReason { line("  \(reason)") }
                if !s.violatedChecks.isEmpty { line("  violated checks: \(s.violatedChecks.joined(separator: ", "))") }
                for a in s.guardActions { line("  guard since the last cycle: \(a.rule.rawValue) -> \(a.action.rawValue): \(a.detail)") }
                if !s.streamMessages.isEmpty {
                    line("  stream messages since the last cycle: \(s.streamMessages.map { "\($0.kind.rawValue) \($0.count)" }.joined(separator: ", "))")
                }
                line("  review: \(s.review.calls) calls, \(s.review.cacheHits) cache hits, $\(fmt(s.review.costUsd)) of $\(fmt(s.review.budgetUsd)) budget")
                line("  timings ms: universe \(fmt(s.timingsMs.universe)), triggers \(fmt(s.timingsMs.triggers)), rules \(fmt(s.timingsMs.rules)), review \(fmt(s.timingsMs.review)), risk \(fmt(s.timingsMs.risk)), execution \(fmt(s.timingsMs.execution)), total \(fmt(s.timingsMs.total))")
            case .guardAction:
                let a = try e.value(.guardAction)
                line()
                line("GUARD \(a.rule.rawValue) -> \(a.action.rawValue)\(a.symbol.map { " \($0)" } ?? ""): \(a.detail)")
            case .streamConnected, .streamDisconnected, .streamStalled, .streamResync:
                let n = try e.value(oneOf: EventType.streamEvents)
                line("Stream \(n.stream) \(e.type.dropFirst("stream_".count)): \(n.detail)")
            case .circuitBreaker:
                let t = try e.value(.circuitBreaker)
                line()
                line("CIRCUIT BREAKER \(t.breaker) (\(t.action)): \(t.detail)")
            case .paperFill:
                let f = try e.value(.paperFill)
                line("Paper fill (\(f.reason)): \(f.side.rawValue) \(f.symbol) \(fmt(f.quantity)) @ \(fmt(f.price)) = $\(fmt(f.notionalUsd)), fee $\(fmt(f.feeUsd))\(f.partial ? ", partial" : "")")
            case .paperFunding:
                let f = try e.value(.paperFunding)
                line("Funding \(f.symbol) at \(UTC.iso8601(f.settlementTime)): rate \(fmt(f.rate * 100))% on $\(fmt(f.notionalUsd)) = $\(fmt(f.paymentUsd)) \(f.paymentUsd >= 0 ? "paid" : "received")")
            case .protectionUpdate:
                let u = try e.value(.protectionUpdate)
                line("Protection \(u.symbol): stop \(fmt(u.stopPrice)), high \(fmt(u.highWater)), rungs taken \(u.rungsTaken) (\(u.reason))")
            case .equity:
                let p = try e.value(.equity)
                line()
                line("Equity $\(fmt(p.equityUsd)) (cash $\(fmt(p.cashUsd)), \(p.openPositions) open positions)")
            default:
                line()
                line("\(e.type): \(String(decoding: e.payload, as: UTF8.self))")
            }
          } catch {
            line()
            line("\(e.type) (#\(e.seq), unreadable: \(error)): \(String(decoding: e.payload, as: UTF8.self))")
          }
        }
        return out.joined(separator: "\n")
    }
}
