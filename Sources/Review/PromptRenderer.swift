import Config
import Crypto
import Foundation
import Model

/// Fills a tier's prompt template (`prompts/m*.md`) with the cycle's facts. Placeholders are `{{name}}`.
public enum PromptRenderer {
    /// The fixed system message; the filled template is the user message.
    public static func system(_ tier: ReviewerTier) -> String {
        "You are reviewer \(tier.rawValue) of a rules-first trading system. Answer only with JSON matching the "
            + "\(VerdictSchema.name(tier)) schema. Use only the proposal ids and symbols you are given."
    }

    /// The filled template and the news ids given per proposal (M1).
    public static func render(_ template: String, tier: ReviewerTier, context: ReviewContext,
                              newsPerProposal: Int) -> (text: String, newsIds: [String: [String]]) {
        let f = Format.number
        let policy = context.policy
        var newsIds: [String: [String]] = [:]
        var newsLines: [String] = []
        var seenNews = Set<String>()
        if tier == .m1 {
            for p in context.proposals {
                let items = context.news(for: p, limit: newsPerProposal)
                newsIds[p.id] = items.map(\.id)
                for item in items where seenNews.insert(item.id).inserted {
                    let hours = max(Double(context.time - item.published) / 3_600, 0)
                    newsLines.append("- \(item.id) [\(item.source), \(f(hours))h ago] (\(item.symbols.joined(separator: ", "))) \(oneLine(item.title))")
                }
            }
        }
        let proposals = context.proposals.map { p -> String in
            var line = "- \(p.id) \(p.symbol) \(p.side.rawValue) size \(f(p.sizePct))% of equity, conviction \(f(p.conviction)), "
                + "stop \(f(p.stopLossPct))%, take profit \(f(p.takeProfitPct))%, leverage \(f(p.leverage)), \(p.tier.rawValue); "
                + "triggers \(p.triggers.map(\.rawValue).joined(separator: ", ")); reason: \(oneLine(p.reason))"
            if tier == .m1 {
                let ids = newsIds[p.id] ?? []
                line += "\n  news items: \(ids.isEmpty ? "none" : ids.joined(separator: ", "))"
            }
            if tier == .m3 {
                for r in context.priorReviews where r.proposalId == p.id {
                    line += "\n  \(r.reviewer.rawValue): \(r.veto ? "VETO" : "delta \(r.delta >= 0 ? "+" : "")\(f(r.delta))") (\(oneLine(r.reason)))"
                }
                if let t = context.tape(for: p.symbol) {
                    line += "\n  tape: spread \(f(t.spreadBps)) bps, 24h volume \(Format.usd(t.volume24hUsd))"
                }
            }
            return line
        }.joined(separator: "\n")
        let tape = context.proposals.map(\.symbol).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            .map { symbol -> String in
                guard let t = context.tape(for: symbol) else { return "- \(symbol): no tape" }
                return "- \(symbol): spread \(f(t.spreadBps)), depth \(f(t.depthUsd)), 24h change \(f(t.change24hPct))%, "
                    + "24h volume \(f(t.volume24hUsd)), volume ratio \(f(t.volumeRatio)), funding \(t.fundingRate.map { f($0 * 100) + "%" } ?? "n/a")"
            }.joined(separator: "\n")
        let r = policy.risk
        let limits = [
            "- min_combined_conviction: \(f(r.minCombinedConviction))",
            "- max_spread_bps: \(f(r.maxSpreadBps))",
            "- min_24h_volume: \(Format.usd(r.min24hVolumeUsd))",
            "- max_leverage: \(f(r.maxLeverage))",
            "- max_open_positions: \(r.maxOpenPositions)",
            "- max_position_pct: core \(f(r.maxPositionPct.tier1Core))%, rotational \(f(r.maxPositionPct.tier2Rotational))%, event \(f(r.maxPositionPct.tier3EventDriven))%",
            "- max_total_at_risk_pct: \(f(r.maxTotalAtRiskPct))%",
            "- daily_stop_loss: -\(f(r.dailyStopLossPct))%",
        ].joined(separator: "\n")
        let values: [String: String] = [
            "delta_bound": f(policy.reviewers.deltaBound),
            "proposals": proposals,
            "news": newsLines.isEmpty ? "(no relevant news items)" : newsLines.joined(separator: "\n"),
            "tape": tape,
            "max_spread_bps": f(policy.reviewers.m2.maxSpreadBps),
            "parabolic_move_pct": f(policy.reviewers.m2.parabolicMovePct),
            "thin_depth_usd": f(policy.reviewers.m2.thinDepthUsd),
            "policy": limits,
        ]
        var text = stripComments(template)
        if !text.contains("{{answer_format}}") { text += "\n\n{{answer_format}}" }
        var filled = values
        filled["answer_format"] = answerFormat(tier, context: context, newsIds: newsIds)
        for (name, value) in filled {
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        return (text, newsIds)
    }

    /// The template without `<!-- ... -->` comments (the version tag is for people and the prompt hash, not
    /// the model, which would copy it into its answer), and without the blank lines they leave.
    static func stripComments(_ template: String) -> String {
        var text = template
        while let open = text.range(of: "<!--") {
            guard let close = text.range(of: "-->", range: open.upperBound..<text.endIndex) else {
                text.removeSubrange(open.lowerBound..<text.endIndex)
                break
            }
            var end = close.upperBound
            if end < text.endIndex, text[end] == "\n" { end = text.index(after: end) }
            text.removeSubrange(open.lowerBound..<end)
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The fields in the order to write them, and one verdict as an example: servers such as llama.cpp turn
    /// the schema into a grammar without ever showing it to the model.
    static func answerFormat(_ tier: ReviewerTier, context: ReviewContext, newsIds: [String: [String]]) -> String {
        let f = Format.number
        let bound = f(context.policy.reviewers.deltaBound)
        let n = context.proposals.count
        let ids = context.proposals.map(\.id).joined(separator: ", ")
        var lines = ["Answer with one JSON object {\"verdicts\": [...]} holding exactly \(n) verdict\(n == 1 ? "" : "s"), one per proposal id (\(ids)), each with these fields in this order:",
                     "- proposal_id: the proposal's id",
                     "- symbol: the proposal's symbol",
                     "- reason: one short sentence (at most \(reasonMaxLength) characters) on the evidence"]
        switch tier {
        case .m1:
            lines.append("- cited_news_ids: the ids of the news items given for this proposal that support your verdict ([] if none)")
            lines.append("- news_risk: HIGH, MEDIUM or LOW")
            lines.append("- delta: a number from -\(bound) to \(bound); 0 leaves conviction unchanged")
        case .m2:
            lines.append("- delta: a number from -\(bound) to \(bound); 0 leaves conviction unchanged")
        case .m3:
            lines.append("- violated_checks: names of the policy limits above you believe it violates ([] if none)")
        }
        lines.append("- veto: true to block the proposal, otherwise false")
        guard let first = context.proposals.first else { return lines.joined(separator: "\n") }
        var example = [JSONMember("proposal_id", .string(first.id)), JSONMember("symbol", .string(first.symbol)),
                       JSONMember("reason", .string(tier == .m3 ? "within policy" : "no strong evidence either way"))]
        switch tier {
        case .m1:
            example += [JSONMember("cited_news_ids", .array((newsIds[first.id] ?? []).prefix(1).map(JSONValue.string))),
                        JSONMember("news_risk", .string(NewsRiskLevel.low.rawValue)), JSONMember("delta", .number(0))]
        case .m2:
            example.append(JSONMember("delta", .number(0)))
        case .m3:
            example.append(JSONMember("violated_checks", .array([])))
        }
        example.append(JSONMember("veto", .bool(false)))
        lines.append("Example verdict: " + JSONValue.orderedObject(example).text)
        return lines.joined(separator: "\n")
    }

    /// The longest `reason` asked for (and enforced by local servers' grammars).
    public static let reasonMaxLength = 240

    static func oneLine(_ s: String) -> String {
        String(s.replacingOccurrences(of: "\n", with: " ").prefix(300))
    }

    static func sha256(_ s: String) -> String {
        "sha256:" + SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
