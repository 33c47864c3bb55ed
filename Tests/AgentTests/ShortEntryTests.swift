@testable import Agent
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Model
import TestSupport
import Testing

/// Shorts on perpetuals end to end (issue 14 item 5): a falling tape on the fake Binance venue gives DOWNTREND
/// setups, and with `rules.allow_shorts` the one cycle opens a short in PAPER and in LIVE, protected by a stop
/// above the entry. Without the flag the same tape opens nothing.
@Suite(.serialized) struct ShortEntryTests {
    static let shorts = ["--set", "signals.rules.allow_shorts=true"]

    static func falling() throws -> LiveModeTests.Setup {
        let s = try LiveModeTests.Setup()
        s.fake.setTrend(percentPerHour: -0.4)   // a steady fall: downtrend and momentum-down rules propose shorts
        return s
    }

    @Test func paperOnBinanceShortsADowntrendWithItsStopAbove() async throws {
        let s = try Self.falling()
        let args = ["--once", "--exchange", "binance", "--mode", "PAPER", "--set", "app.venues.binance.base_url=\(s.fake.baseURL)",
                    "--set", "app.venues.binance.max_retries=0", "--set", "policy.risk.min_24h_volume_usd=1000",
                    "--set", "signals.rules.max_proposals=1", "--set", "universe.tiers.tier_1_core.min_24h_volume_usd=1000",
                    "--set", "universe.tiers.tier_1_core.min_depth_usd=1000"] + AgentProcess.common(dataDir: s.data) + Self.shorts
        let out = try await AgentProcess.run(args, environment: s.environment(keys: false))
        #expect(out.status == 0, "\(out.stderr.suffix(1500))")
        let summary = try jsonObject(out.lines.last ?? "")
        #expect(summary["mode"] as? String == "PAPER")
        #expect(summary["status"] as? String == "EXECUTED", "\(out.stdout.prefix(3000))")
        let book = try Portfolio.rebuild(store: s.ledger, mode: .paper, startingEquity: 10_000).0
        let held = try #require(book.account.positions.first)
        #expect(held.side == .sell)
        #expect(held.stopPrice > held.entryPrice)
        let proposals = try s.ledger.events(types: ["proposal"]).map { try $0.value(Proposal.self) }
        #expect(proposals.first?.side == .sell)
        #expect(proposals.first?.triggers.contains { $0 == .trendPullback || $0 == .trendBreakout } == true, "\(proposals.first?.triggers ?? [])")
        #expect(s.fake.clientIds.isEmpty)   // PAPER never sends an order
    }

    @Test func liveOnBinanceShortsADowntrendWithAReduceOnlyBuyStopAbove() async throws {
        let s = try Self.falling()
        let out = try await AgentProcess.run(s.arguments() + Self.shorts, environment: s.environment())
        #expect(out.status == 0, "\(out.stderr.suffix(2000))")
        let summary = try jsonObject(out.lines.last ?? "")
        #expect(summary["mode"] as? String == "LIVE")
        #expect(summary["status"] as? String == "EXECUTED", "\(out.stdout.prefix(3000))")
        let entries = s.fake.clientIds.filter { !$0.hasSuffix("-sl") && !$0.contains("-tp") }
        let entry = try #require(entries.count == 1 ? s.fake.order(entries[0]) : nil)
        #expect(entry["side"] == "SELL" && entry["reduceOnly"] == "false")
        let venueSymbol = try #require(entry["symbol"])
        #expect(s.fake.positionAmount(venueSymbol) < 0)
        let stop = try #require(s.fake.clientIds.first { $0.hasSuffix("-sl") }.flatMap { s.fake.order($0) })
        #expect(stop["side"] == "BUY" && stop["reduceOnly"] == "true")
        #expect((Double(stop["triggerPrice"] ?? "") ?? 0) > (Double(entry["avgPrice"] ?? "") ?? .infinity))
        // The take-profit ladder rests below the entry, reduce-only buys.
        let rungs = s.fake.clientIds.filter { $0.contains("-tp") }.compactMap { s.fake.order($0) }
        #expect(!rungs.isEmpty && rungs.allSatisfy { $0["side"] == "BUY" && $0["reduceOnly"] == "true" })
        try s.expectConsistent("live short")
    }

    @Test func withoutAllowShortsTheSameFallOpensNothing() async throws {
        let s = try Self.falling()
        let out = try await AgentProcess.run(s.arguments(), environment: s.environment())
        #expect(out.status == 0, "\(out.stderr.suffix(2000))")
        let summary = try jsonObject(out.lines.last ?? "")
        #expect(summary["status"] as? String != "EXECUTED")
        #expect(s.fake.clientIds.isEmpty)
    }
}
