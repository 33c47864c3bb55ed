import Foundation
import TestSupport
import Testing

/// `agent backtest` and `agent bench` as a user runs them (tiny sizes; benchmarks assert shape, never timing).
@Suite struct BacktestCommandTests {
    static let btc = URL(fileURLWithPath: Fixtures.repoRoot).deletingLastPathComponent().path + "/shared/data/coinbase_btcusd_1h.csv"

    @Test func emaCrossPrintsJSONAndWritesTradesAndReport() async throws {
        guard FileManager.default.fileExists(atPath: Self.btc) else {
            print("skipped: shared data not found at \(Self.btc)")
            return
        }
        let dir = Fixtures.tempDir("bt-cli")
        let out = try await AgentProcess.run(["backtest", "--data", Self.btc, "--strategy", "ema_cross", "--to", "2017-09-01",
                                              "--json", "--quiet", "--trades", dir + "/t.csv", "--report", dir + "/r"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let run = try #require(json["run"] as? [String: Any])
        let metrics = try #require(run["metrics"] as? [String: Any])
        #expect(json["strategy"] as? String == "ema_cross")
        #expect(metrics["max_drawdown"] != nil && metrics["profit_factor"] != nil)
        let trades = try String(contentsOfFile: dir + "/t.csv", encoding: .utf8).split(whereSeparator: \.isNewline)
        #expect(trades.first == "entry_time,exit_time,symbol,side,entry_price,exit_price,size,fees,pnl,exit_reason")
        #expect(trades.count - 1 == metrics["trades"] as? Int)
        #expect(FileManager.default.fileExists(atPath: dir + "/r/index.html"))
        let lines = try #require(json["benchmarks"] as? [[String: Any]])
        #expect(lines.compactMap { $0["role"] as? String } == ["strategy", "buy_and_hold"])
        #expect(lines.allSatisfy { $0["excess_return"] != nil && $0["sortino"] != nil && $0["exposure"] != nil })
    }

    /// `--timeframe 4h` on an hourly file resamples it on UTC 4h buckets (open of the first hour, highest high, lowest
    /// low, close of the last, summed volume) instead of refusing it: the report equals the one for the same bars
    /// written as a 4h file.
    @Test func anHourlyFileRunsAtALongerTimeframe() async throws {
        let dir = Fixtures.tempDir("bt-resample")
        let start: Int64 = 1_704_067_200  // 2024-01-01T00:00:00Z
        var hourly = "timestamp,open,high,low,close,volume\n"
        var fourHourly = "timestamp,open,high,low,close,volume\n"
        var bucket: [(o: Double, h: Double, l: Double, c: Double, v: Double)] = []
        for i in 0..<(24 * 90) {
            let mid = 100 + 20 * sin(Double(i) / 40) + Double(i % 7)
            let bar = (o: mid - 0.5, h: mid + 1.5, l: mid - 1.5, c: mid + 0.5, v: 10 + Double(i % 5))
            hourly += "\(start + Int64(i) * 3_600),\(bar.o),\(bar.h),\(bar.l),\(bar.c),\(bar.v)\n"
            bucket.append(bar)
            if bucket.count == 4 {
                let t = start + Int64(i - 3) * 3_600
                fourHourly += "\(t),\(bucket[0].o),\(bucket.map(\.h).max() ?? 0),\(bucket.map(\.l).min() ?? 0),\(bucket[3].c),\(bucket.map(\.v).reduce(0, +))\n"
                bucket = []
            }
        }
        try hourly.write(toFile: dir + "/h.csv", atomically: true, encoding: .utf8)
        try fourHourly.write(toFile: dir + "/4h.csv", atomically: true, encoding: .utf8)
        func run(_ file: String, _ extra: [String] = []) async throws -> [String: Any] {
            let out = try await AgentProcess.run(["backtest", "--data", dir + "/" + file, "--symbol", "BTC-USD", "--timeframe", "4h",
                                                  "--json", "--quiet"] + extra)
            #expect(out.status == 0, "\(out.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
            return try #require(json["run"] as? [String: Any])
        }
        for extra in [["--strategy", "ema_cross", "--fast", "3", "--slow", "8"], ["--strategy", "pipeline"]] {
            let resampled = try await run("h.csv", extra)
            let direct = try await run("4h.csv", extra)
            let a = try #require(resampled["metrics"] as? [String: Any]), b = try #require(direct["metrics"] as? [String: Any])
            #expect(NSDictionary(dictionary: a).isEqual(to: b), "\(extra): \(a) vs \(b)")
        }
    }

    @Test func versionPrintsTheVersionTheCommitAndTheBuild() async throws {
        let out = try await AgentProcess.run(["--version"])
        #expect(out.status == 0)
        let line = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("agent 0.1.0 (commit "), "\(line)")
        #expect(line.range(of: #"commit ([0-9a-f]{12}(-dirty)?|unknown)"#, options: .regularExpression) != nil, "\(line)")
        #expect(line.contains("debug build") || line.contains("release build"))
    }

    @Test func pipelineReportsCarryBenchmarksAPermutationTestAndTheLookaheadCheck() async throws {
        guard FileManager.default.fileExists(atPath: Self.btc) else {
            print("skipped: shared data not found at \(Self.btc)")
            return
        }
        let dir = Fixtures.tempDir("bt-verdicts")
        let out = try await AgentProcess.run(["backtest", "--data", Self.btc, "--from", "2019-01-01", "--to", "2019-01-20", "--reviewers", "none",
                                              "--permutations", "2", "--check-lookahead", "--lookahead-cuts", "1", "--json", "--quiet",
                                              "--report", dir + "/r"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let lines = try #require(json["benchmarks"] as? [[String: Any]])
        #expect(lines.compactMap { $0["role"] as? String } == ["strategy", "ema_cross", "buy_and_hold"])
        let permutation = try #require(json["permutation"] as? [String: Any])
        #expect(permutation["permutations"] as? Int == 2)
        #expect((permutation["p_value"] as? Double).map { $0 > 0 && $0 <= 1 } == true)
        let lookahead = try #require(json["lookahead"] as? [String: Any])
        #expect(lookahead["identical"] as? Bool == true)
        #expect((lookahead["decisions_compared"] as? Int ?? 0) > 100)
        let html = try String(contentsOfFile: dir + "/r/index.html", encoding: .utf8)
        #expect(html.contains("<h2>Benchmarks</h2>") && html.contains("<h2>Permutation test</h2>") && html.contains("<h2>Look-ahead check</h2>"))
    }


    /// A pipeline walk-forward runs each combination with its own exits: a grid over `signals.exits.time_stop_hours`
    /// is not the base config's 72 h time stop in disguise.
    @Test func aPipelineWalkForwardAppliesTheGridsExitKeys() async throws {
        guard FileManager.default.fileExists(atPath: Self.btc) else {
            print("skipped: shared data not found at \(Self.btc)")
            return
        }
        let dir = Fixtures.tempDir("bt-wf-exits")
        let grid = dir + "/grid.yaml"
        try "strategy: pipeline\ngrid:\n  signals.exits.time_stop_hours: [2]\n".write(toFile: grid, atomically: true, encoding: .utf8)
        let out = try await AgentProcess.run(["backtest", "--data", Self.btc, "--to", "2017-11-01", "--reviewers", "none",
                                              "--set", "universe.tiers.tier_1_core.min_24h_volume_usd=1000000",
                                              "--set", "universe.tiers.tier_1_core.min_depth_usd=10000",
                                              "--set", "policy.risk.min_24h_volume_usd=1000000",
                                              "--walk-forward", "train=2M,test=1M", "--grid", grid, "--json", "--quiet"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let stitched = try #require(json["stitched"] as? [String: Any])
        let metrics = try #require(stitched["metrics"] as? [String: Any])
        #expect((metrics["trades"] as? Int ?? 0) > 0)
        // Entry at a bar's open, the time stop at the close of the first bar 2 h on: at most 3 h held.
        let holding = try #require(metrics["average_holding_hours"] as? Double)
        #expect(holding <= 3, "average holding \(holding) h under a 2 h time stop")
    }
    @Test func badDataIsBadInputNamingTheLine() async throws {
        let dir = Fixtures.tempDir("bt-cli-bad")
        try "1700000000000,100,101,99,100.5,10\n1700003600000,1,x,1,1,1\n".write(toFile: dir + "/k.csv", atomically: true, encoding: .utf8)
        let out = try await AgentProcess.run(["backtest", "--data", dir + "/k.csv", "--strategy", "ema_cross"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("k.csv:2"))
    }

    @Test func benchRunsWithTinySizesAndPrintsMachineAndBuild() async throws {
        let out = try await AgentProcess.run(["bench", "--only", "ema_cross", "--candles", "5000"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let machine = try #require(json["machine"] as? [String: Any])
        #expect((machine["cores"] as? Int ?? 0) >= 1)
        #expect(["debug", "release"].contains(machine["build"] as? String ?? ""))
        let bench = try #require((json["benchmarks"] as? [[String: Any]])?.first)
        #expect(bench["name"] as? String == "ema_cross" && bench["items"] as? Int == 5000)
        #expect((bench["peak_memory_mib"] as? Double ?? 0) > 0)
    }

    /// The review benchmark makes exactly three batched calls per cycle against its fake LLM (no timing asserted).
    @Test func reviewBenchMakesThreeCallsPerCycle() async throws {
        let out = try await AgentProcess.run(["bench", "--only", "review", "--in-process"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let bench = try #require((json["benchmarks"] as? [[String: Any]])?.first)
        let details = bench["details"] as? [String: Double] ?? [:]
        #expect(bench["name"] as? String == "review")
        #expect(details["requests"] == 3 * Double(bench["items"] as? Int ?? 0))
        #expect(details["ideal_ms"] == 200)
        #expect((details["ratio_to_ideal"] ?? 0) >= 1)   // M1 and M2 together, then M3: two 100 ms rounds at least
    }
}
