import Backtest
import Config
import Execution
import Foundation
import Model
import Review
import TestSupport
import Testing

@Suite struct WalkForwardTests {
    @Test func specParsesAndWindowsTile() throws {
        let spec = try WalkForwardSpec.parse("train=4M,test=2M,step=1M")
        #expect(spec == WalkForwardSpec(train: .months(4), test: .months(2), step: .months(1)))
        #expect(throws: BacktestError.self) { try WalkForwardSpec.parse("train=4Q,test=2M") }
        #expect(throws: BacktestError.self) { try WalkForwardSpec.parse("test=2M") }
        let start = BacktestCalendar.parse("2018-01-01") ?? 0
        let end = BacktestCalendar.parse("2019-01-01") ?? 0
        let windows = spec.windows(start: start, end: end)
        // Train Jan-Apr, test May-Jun ... the last test ends by 2019-01-01: starts Jan..Jul = 7 windows.
        #expect(windows.count == 7)
        #expect(BacktestCalendar.iso(windows[0].testFrom) == "2018-05-01T00:00:00Z")
        #expect(BacktestCalendar.iso(windows[6].testTo) == "2019-01-01T00:00:00Z")
    }

    @Test func gridFileIsReadWithTheProjectYAMLAndErrorsHavePositions() throws {
        let dir = Fixtures.tempDir("wf")
        let good = (dir as NSString).appendingPathComponent("grid.yaml")
        try "strategy: ema_cross\nobjective: total_return\ngrid:\n  fast: [5, 8]\n  slow: [21, 34, 55]\n"
            .write(toFile: good, atomically: true, encoding: .utf8)
        let grid = try ParameterGrid.load(path: good)
        #expect(grid.combinations.count == 6)
        #expect(grid.combinations.first == ["fast": "5", "slow": "21"])
        let bad = (dir as NSString).appendingPathComponent("bad.yaml")
        try "grid:\n  fast: [5]\nobjektive: sharpe\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect {
            try ParameterGrid.load(path: bad)
        } throws: { error in
            "\(error)".contains("bad.yaml:3") && "\(error)".contains("objektive")
        }
    }

    @Test func eachWindowReportsTheBestInSampleParametersOutOfSample() async throws {
        guard SharedData.btcPath != nil else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let series = try SharedData.btcCandles(6_000)
        let grid = ParameterGrid(strategy: "ema_cross", objective: "total_return", grid: ["fast": ["5", "8"], "slow": ["21", "34"]])
        let spec = WalkForwardSpec(train: .months(2), test: .months(1), step: .months(1))
        let start = series.candles[0].time
        let end = series.candles[series.candles.count - 1].time + 3_600
        func evaluate(_ p: [String: String], _ from: Int64, _ to: Int64) -> BacktestRun {
            EMACrossEngine.run(candles: series.candles, symbol: "BTC-USD",
                               parameters: EMACrossParameters(fast: Int(p["fast"] ?? "") ?? 8, slow: Int(p["slow"] ?? "") ?? 21),
                               from: from, to: to).run
        }
        let report = try await WalkForward.run(spec: spec, grid: grid, start: start, end: end, strategy: "ema_cross") { p, f, t in
            evaluate(p, f, t)
        }
        #expect(report.windows.count >= 4)
        for w in report.windows {
            let trainFrom = BacktestCalendar.parse(w.trainFrom) ?? 0
            let testFrom = BacktestCalendar.parse(w.testFrom) ?? 0
            let testTo = BacktestCalendar.parse(w.testTo) ?? 0
            // The chosen parameters really are the best in-sample.
            let best = grid.combinations.map { evaluate($0, trainFrom, testFrom).metrics.totalReturn }.max()
            #expect(w.trainObjective == best)
            // And the out-of-sample figures are a run of them on the test span only.
            let oos = evaluate(w.bestParameters, testFrom, testTo)
            #expect(w.test == oos.metrics)
            #expect(oos.trades.allSatisfy { $0.entryTime >= testFrom && $0.exitTime <= testTo })
        }
    }
}

@Suite struct ReportAndReplayTests {
    @Test func htmlReportIsSelfContainedWithChartsTradesAndMetrics() throws {
        let candles = zigzag(count: 300)
        let run = EMACrossEngine.run(candles: candles, symbol: "X", parameters: EMACrossParameters(fast: 3, slow: 8)).run
        let report = BacktestReport(strategy: "ema_cross", symbols: ["X"], timeframe: "1h", from: "a", to: "b",
                                    data: [], costs: ["commission": "0.0006"], run: run, rulesOnly: nil, notes: ["<n>"])
        let html = ReportWriter.html(report)
        #expect(html.components(separatedBy: "<svg").count == 3)  // equity and drawdown
        #expect(html.contains("Max drawdown") && html.contains("Profit factor"))
        #expect(html.components(separatedBy: "<tr><td>").count - 1 >= run.trades.count)
        #expect(!html.contains("<script") && !html.contains("http://cdn") && html.contains("&lt;n&gt;"))
        let dir = Fixtures.tempDir("report")
        let path = try ReportWriter.write(report, to: dir)
        #expect(FileManager.default.fileExists(atPath: path))
        let csv = try String(contentsOfFile: (dir as NSString).appendingPathComponent("trades.csv"), encoding: .utf8)
        #expect(csv.hasPrefix(ReportWriter.tradeColumns + "\n"))
        #expect(csv.split(separator: "\n").count == run.trades.count + 1)
    }

    @Test func recordedReviewsApplyOnlyWithinTheirBarAndMapBySymbol() async throws {
        let policy = try Fixtures.defaults().policy
        let recordedAt: Int64 = 1_000_000 * 3_600
        let m2 = ReviewerAnswer(verdicts: [ReviewerVerdict(proposalId: "p7", symbol: "BTC-USD", veto: true, reason: "thin")],
                                source: "openai", model: "m")
        let records = RecordedReviews(cycles: [.init(time: recordedAt, proposals: ["p7": ("BTC-USD", .buy)], answers: [.m2: m2])])
        let proposal = Proposal(id: "p1", symbol: "BTC-USD", tier: .core, side: .buy, sizePct: 1, conviction: 0.7,
                                components: [], stopLossPct: 5, takeProfitPct: 10, reason: "", triggers: [], referencePrice: 1)
        let reviewer = RecordedReviewer(tier: .m2, records: records)
        let tape = [TapeFacts(symbol: "BTC-USD", price: 1, spreadBps: 1, depthUsd: 1e6, change24hPct: 0, volume24hUsd: 1e9,
                              volumeRatio: 1, fundingRate: nil)]
        let same = await reviewer.review(ReviewContext(cycleId: "c", time: recordedAt + 1_800, proposals: [proposal], tape: tape, policy: policy))
        #expect(same.verdicts.first?.veto == true && same.verdicts.first?.proposalId == "p1" && same.source == "replay")
        // Before it was recorded (point in time) and an hour later: neutral.
        let before = await reviewer.review(ReviewContext(cycleId: "c", time: recordedAt - 1, proposals: [proposal], tape: tape, policy: policy))
        let later = await reviewer.review(ReviewContext(cycleId: "c", time: recordedAt + 3_600, proposals: [proposal], tape: tape, policy: policy))
        #expect(before.verdicts.first?.veto == false && before.verdicts.first?.delta == 0)
        #expect(later.verdicts.first?.veto == false)
    }
}
