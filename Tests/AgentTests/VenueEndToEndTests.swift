@testable import Agent
import Foundation
import Ledger
import Testing
import TestSupport

/// `agent --once --exchange binance|coinbase` against the fake venues on 127.0.0.1.
@Suite(.serialized) struct VenueEndToEndTests {
    static let statuses: Set<String> = ["APPROVED_DRY_RUN", "NO_TRADE", "NO_OPPORTUNITIES"]

    func runOnce(exchange: String, baseURL: String, dataDir: String = Fixtures.tempDir("agent-venue-e2e")) async throws -> [String: Any] {
        let data = dataDir
        let out = try await AgentProcess.run(["--once", "--exchange", exchange,
                                        "--set", "app.venues.\(exchange).base_url=\(baseURL)"] + AgentProcess.common(dataDir: data))
        #expect(out.status == 0, "stderr: \(out.stderr.suffix(2000))")
        let line = try #require(out.lines.last, "no summary on stdout; stderr: \(out.stderr.suffix(2000))")
        let summary = try jsonObject(line)
        #expect(summary["exchange"] as? String == exchange)
        #expect(summary["mode"] as? String == "DRY_RUN")
        #expect(Self.statuses.contains(summary["status"] as? String ?? ""), "status \(summary["status"] ?? "nil"): \(line.prefix(600))")
        #expect((summary["cycle_id"] as? String)?.hasPrefix("c-") == true)
        #expect(summary["universe_size"] is Int)
        return summary
    }

    @Test func binanceOnceAgainstTheFakeVenue() async throws {
        let fake = try FakeBinanceVenue()
        fake.setReportedWeight(600)
        let data = Fixtures.tempDir("agent-venue-e2e")
        let summary = try await runOnce(exchange: "binance", baseURL: fake.baseURL, dataDir: data)
        // The request weight the venue reported, over app.venues.binance.weight_limit_per_minute (2400), in the
        // summary and, from the ledger, on /metrics.
        #expect(summary["venue_weight_used"] as? Double == 0.25, "\(summary["venue_weight_used"] ?? "missing")")
        let metrics = LedgerMetricsFeed(ledger: try Ledger(path: data + "/agent.sqlite"), dataDir: data).render()
        #expect(metrics.contains("agent_venue_weight_used 0.25"), "\(metrics)")
        #expect(fake.requests("/fapi/v1/exchangeInfo").count == 1)
        let klines = fake.requests("/fapi/v1/klines").map(\.path)
        #expect(klines.contains { $0.contains("symbol=BTCUSDT") && $0.contains("interval=1h") })
        #expect(fake.requests("/fapi/v1/premiumIndex").count >= 2)
        #expect(fake.requests("/fapi/v1/order").isEmpty)           // DRY_RUN never trades
    }

    @Test func coinbaseOnceAgainstTheFakeVenue() async throws {
        let fake = try FakeCoinbaseVenue()
        let summary = try await runOnce(exchange: "coinbase", baseURL: fake.baseURL)
        // 24 of 30 requests left in the window: a fifth of the budget used.
        #expect(abs((summary["venue_weight_used"] as? Double ?? -1) - 0.2) < 1e-9, "\(summary["venue_weight_used"] ?? "missing")")
        #expect(fake.requests("/market/products").count == 1)
        #expect(fake.requests("/market/products/BTC-USD/candles").count >= 1)
        #expect(fake.requests("/orders").isEmpty)
    }

    @Test func marketCommandShowsWhatTheConnectorSees() async throws {
        let fake = try FakeBinanceVenue()
        let set = ["--set", "app.venues.binance.base_url=\(fake.baseURL)", "--config-dir", Fixtures.repoRoot + "/config"]
        let products = try await AgentProcess.run(["market", "products", "--exchange", "binance", "--json"] + set)
        #expect(products.status == 0, "\(products.stderr)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(products.stdout.utf8)) as? [[String: Any]])
        #expect(list.compactMap { $0["venue_symbol"] as? String } == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"])
        let funding = try await AgentProcess.run(["market", "funding", "--exchange", "binance", "--symbol", "BTC-USD"] + set)
        #expect(funding.status == 0, "\(funding.stderr)")
        #expect(funding.stdout.contains("BTC-USD mark 50000") && funding.stdout.contains("funding 0.01%"))
        let candles = try await AgentProcess.run(["market", "candles", "--exchange", "binance", "--symbol", "ETH-USD", "--interval", "4h", "--limit", "3", "--json"] + set)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(candles.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 3)
        let missing = try await AgentProcess.run(["market", "book", "--exchange", "binance"] + set)
        #expect(missing.status == 2)
        let bad = try await AgentProcess.run(["--once", "--exchange", "binance", "--set", "app.venues.binance.base_url=ftp://x"] + AgentProcess.common(dataDir: Fixtures.tempDir()))
        #expect(bad.status == 2 && bad.stderr.contains("venues.binance.base_url"))
    }
}
