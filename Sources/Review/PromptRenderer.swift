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
        var text = template
        for (name, value) in values {
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        return (text, newsIds)
    }

    static func oneLine(_ s: String) -> String {
        String(s.replacingOccurrences(of: "\n", with: " ").prefix(300))
    }

    static func sha256(_ s: String) -> String {
        "sha256:" + SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
