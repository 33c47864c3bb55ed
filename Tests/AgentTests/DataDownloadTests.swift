import Foundation
import TestSupport
import Testing

/// `agent data download` / `data list` / `backtest --symbol` against the loopback fake Binance venue.
@Suite struct DataDownloadTests {
    static let hour: Int64 = 3_600

    /// A span of `bars` whole hours ending 100 hours ago.
    static func span(_ bars: Int64) -> (from: Int64, to: Int64) {
        let to = Int64(Date().timeIntervalSince1970) / hour * hour - 100 * hour
        return (to - bars * hour, to)
    }

    static func iso(_ t: Int64) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    static func download(_ fake: FakeBinanceVenue, dir: String, from: Int64, to: Int64) async throws -> [String: Any] {
        let out = try await AgentProcess.run(["data", "download", "--exchange", "binance", "--base-url", fake.baseURL, "--data-dir", dir,
                                              "--symbol", "BTC-USD", "--timeframe", "1h", "--from", iso(from), "--to", iso(to), "--json", "--quiet"])
        #expect(out.status == 0, "\(out.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
    }

    @Test func aDownloadResumesAfterATornWriteWithoutDuplicatesAndReportsGaps() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false)
        let dir = Fixtures.tempDir("data-dl")
        let (from, to) = Self.span(2_400)
        fake.omitKlines(openTimes: (from + 2_000 * Self.hour)...(from + 2_004 * Self.hour))
        // First run: the first 1,500 bars (2 pages), then a crash mid-write leaves a torn record.
        let first = try await Self.download(fake, dir: dir, from: from, to: from + 1_500 * Self.hour)
        #expect(first["added"] as? Int == 1_500)
        #expect(first["requests"] as? Int == 2)
        let file = try #require(first["path"] as? String)
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data(repeating: 7, count: 20))
        try handle.close()
        // The rest, with one 429 on the way: resumed after bar 1,500, one page, the hole reported.
        fake.faults.inject(.tooManyRequests(retryAfter: 1), path: "/fapi/v1/klines")
        let before = fake.requests("/fapi/v1/klines").count
        let second = try await Self.download(fake, dir: dir, from: from, to: to)
        #expect(second["resumed_from"] as? String == Self.iso(from + 1_500 * Self.hour))
        #expect(second["requests"] as? Int == 1)
        #expect(fake.requests("/fapi/v1/klines").count - before == 2)  // the 429, then the page
        #expect(second["added"] as? Int == 895)
        #expect(second["stored"] as? Int == 2_395)
        #expect(second["expected"] as? Int == 2_400)
        #expect(second["missing_bars"] as? Int == 5)
        #expect((second["gap_examples"] as? [String])?.first == "\(Self.iso(from + 2_000 * Self.hour))..\(Self.iso(from + 2_004 * Self.hour)) (5 bars)")
        // Nothing left to fetch: a third run makes no request.
        let third = try await Self.download(fake, dir: dir, from: from, to: to)
        #expect(third["requests"] as? Int == 0)

        let list = try await AgentProcess.run(["data", "list", "--data-dir", dir, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries.first?["candles"] as? Int == 2_395)
        #expect(entries.first?["exchange"] as? String == "binance")
        #expect(entries.first?["missing_bars"] as? Int == 5)

        // The backtest reads the store, resampled to 4h (incomplete 4h buckets are left out as gaps).
        let bt = try await AgentProcess.run(["backtest", "--symbol", "BTC-USD", "--timeframe", "4h", "--data-dir", dir,
                                             "--strategy", "ema_cross", "--json", "--quiet"])
        #expect(bt.status == 0, "\(bt.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(bt.stdout.utf8)) as? [String: Any])
        let data = try #require((report["data"] as? [[String: Any]])?.first)
        #expect((data["source"] as? String)?.contains("resampled") == true)
        #expect((data["candles"] as? Int).map { $0 >= 590 && $0 <= 600 } == true)
    }

    /// A perpetual's download fetches its funding settlements for the span beside the candles, resumes after the last
    /// one stored, and a backtest from the store charges them without being told to.
    @Test func perpetualsDownloadTheirFundingAndBacktestsFromTheStoreUseIt() async throws {
        let fake = try FakeBinanceVenue(seedPosition: false)
        let dir = Fixtures.tempDir("data-funding")
        let (from, to) = Self.span(24 * 40)
        let first = try await Self.download(fake, dir: dir, from: from, to: from + 24 * 20 * Self.hour)
        let f1 = try #require(first["funding"] as? [String: Any], "\(first)")
        #expect(f1["added"] as? Int == 60)  // 20 days, a settlement every 8 hours
        let second = try await Self.download(fake, dir: dir, from: from, to: to)
        let f2 = try #require(second["funding"] as? [String: Any])
        #expect(f2["added"] as? Int == 60)
        #expect(f2["stored"] as? Int == 120)
        let asked = fake.requests("/fapi/v1/fundingRate").last?.path ?? ""
        #expect(asked.contains("startTime=") && asked.contains("endTime="), "\(asked)")
        let third = try await Self.download(fake, dir: dir, from: from, to: to)
        #expect((third["funding"] as? [String: Any])?["added"] as? Int == 0)

        let list = try await AgentProcess.run(["data", "list", "--data-dir", dir, "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(entries.first?["funding_rates"] as? Int == 120)

        let bt = try await AgentProcess.run(["backtest", "--symbol", "BTC-USD", "--data-dir", dir, "--json", "--quiet"])
        #expect(bt.status == 0, "\(bt.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(bt.stdout.utf8)) as? [String: Any])
        let costs = try #require(report["costs"] as? [String: Any])
        #expect((costs["funding"] as? String)?.contains("candle store") == true, "\(costs)")
    }
}

