@testable import Agent
import Config
import Foundation
import Ledger
import Logging
import Market
import Model
import TestSupport
import Testing

/// `sim.stored`: PAPER and DRY_RUN replay the candle store (`agent data download`) the way `sim.csv` replays a
/// file, through the same store lookup as `agent backtest --symbol` (finer bars resampled).
@Suite struct StoredReplayTests {
    static let start: Int64 = 1_700_006_400  // a UTC day boundary

    /// 600 hourly bars of a deterministic walk, written both as a CSV file and into the store as coinbase 1h.
    static func fixture(_ dir: String) throws -> (csv: String, candles: [Candle]) {
        var price = 30_000.0
        var candles: [Candle] = []
        for i in 0..<600 {
            let open = price
            price *= 1 + 0.004 * sin(Double(i) / 7) + 0.002 * cos(Double(i) / 3)
            candles.append(Candle(time: start + Int64(i) * 3_600, open: open, high: max(open, price) * 1.002,
                                  low: min(open, price) * 0.998, close: price, volume: 1_000 + Double(i % 24) * 40))
        }
        try CandleStore(dataDir: dir).add(candles, exchange: "coinbase", symbol: "BTC-USD", interval: 3_600)
        var text = "timestamp,open,high,low,close,volume\n"
        for c in candles { text += "\(c.time * 1_000),\(c.open),\(c.high),\(c.low),\(c.close),\(c.volume)\n" }
        let csv = dir + "/btc.csv"
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        return (csv, candles)
    }

    @Test func theStoreReplaysLikeTheSameFile() async throws {
        let dir = Fixtures.tempDir("stored-replay")
        let (csv, _) = try Self.fixture(dir)
        var fromStore = try Fixtures.defaults().app
        fromStore.sim.stored = [StoredSource(symbol: "BTC-USD", exchange: "coinbase", timeframe: "4h")]
        var fromFile = try Fixtures.defaults().app
        fromFile.sim.csv = [CSVSource(path: csv, symbol: "BTC-USD", timeframe: "4h")]
        let logger = Logger(label: "test")
        let a = try MarketSource.make(exchange: .sim, config: fromStore, dataDir: dir, logger: logger)
        let b = try MarketSource.make(exchange: .sim, config: fromFile, dataDir: dir, logger: logger)
        let at = Self.start + 500 * 3_600
        let storeTape = try #require(try await a.snapshot(symbols: ["BTC-USD"], at: at, historyHours: 192).symbol("BTC-USD"))
        let fileTape = try #require(try await b.snapshot(symbols: ["BTC-USD"], at: at, historyHours: 192).symbol("BTC-USD"))
        #expect(storeTape.interval.seconds == 14_400)
        #expect(storeTape.candles.count == 48)
        #expect(storeTape == fileTape)
    }

    @Test func aSymbolNotStoredIsAClearError() throws {
        let dir = Fixtures.tempDir("stored-missing")
        _ = try Self.fixture(dir)
        var app = try Fixtures.defaults().app
        app.sim.stored = [StoredSource(symbol: "ETH-USD")]
        #expect {
            try MarketSource.make(exchange: .sim, config: app, dataDir: dir, logger: Logger(label: "test"))
        } throws: { error in
            "\(error)".contains("sim.stored.0: no stored ETH-USD candles at 1h") && "\(error)".contains("agent data download")
        }
        let bad = try? Fixtures.defaults(["app.sim.stored=[{symbol: BTC-USD, timeframe: 3x, exchange: kraken}]"])
        #expect(bad == nil)
    }

    /// The whole command: `agent --once` on the store, at a time inside it. The regime it recorded is the stored
    /// series' 7-day trend (the synthetic market would give another).
    @Test func onceReplaysTheStore() async throws {
        let dir = Fixtures.tempDir("stored-once")
        let (_, candles) = try Self.fixture(dir)
        let now = Self.start + 500 * 3_600
        let run = try await AgentProcess.run(["--once", "--now", UTC.iso8601(now), "--log-level", "error",
                                              "--set", "app.sim.stored=[{symbol: BTC-USD, exchange: coinbase}]"]
                                             + AgentProcess.common(dataDir: dir))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data((run.lines.last ?? "{}").utf8)) as? [String: Any])
        #expect(summary["status"] as? String != "ERROR", "\(summary)")
        let regime = try #require(try Ledger(path: dir + "/agent.sqlite").events(types: ["regime"]).last)
        let reading = try #require(try JSONSerialization.jsonObject(with: regime.payload) as? [String: Any])
        let closed = candles.filter { $0.time + 3_600 <= now }
        let expected = (closed[closed.count - 1].close / closed[closed.count - 1 - 168].close - 1) * 100
        let trend = try #require(reading["trend_pct"] as? Double, "\(reading)")
        #expect(abs(trend - expected) < 1e-9, "\(reading)")
    }
}
