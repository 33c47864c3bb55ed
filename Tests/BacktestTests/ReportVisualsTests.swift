@testable import Backtest
import Foundation
import Market
import Model
import TestSupport
import Testing

@Suite struct ReportVisualsTests {
    func report() -> BacktestReport {
        let candles = zigzag(count: 24 * 75)
        let run = EMACrossEngine.run(candles: candles, symbol: "X", parameters: EMACrossParameters(fast: 3, slow: 8)).run
        var report = BacktestReport(strategy: "ema_cross", symbols: ["X"], timeframe: "1h", from: "a", to: "b",
                                    data: [], costs: [:], run: run, rulesOnly: nil, notes: [])
        report.prices = [PriceLine(symbol: "X", times: candles.map(\.time), closes: candles.map(\.close))]
        let series = CandleSeries(symbol: "X", candles: candles, source: "zigzag", interval: 3_600)
        let clock = Benchmarks.decisionTimes(series: [series], from: nil, to: nil)
        report.attachBenchmarks(buyAndHold: Benchmarks.buyAndHold(series: [series], clock: clock, initialEquity: 10_000, feeFraction: 0),
                                reference: nil)
        return report
    }

    @Test func thePriceChartMarksEveryEntryAndExit() {
        let r = report()
        let html = ReportWriter.html(r)
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)  // price, equity, drawdown
        let trades = min(r.run.trades.count, 500)
        #expect(trades > 0)
        #expect(html.components(separatedBy: "<title>long entry").count - 1 == trades)
        #expect(html.components(separatedBy: "<title>exit ").count - 1 == trades)
    }

    @Test func equityHasABuyAndHoldLineBesideIt() throws {
        let r = report()
        let html = ReportWriter.html(r)
        #expect(html.contains(">buy and hold</text>"))
        let hold = try #require(r.buyAndHold)
        #expect(hold.equityCurve.count == r.run.equityCurve.count)
        #expect(abs((hold.equityCurve.first?.equity ?? 0) - r.run.metrics.initialEquity) < 1e-6)
        #expect(html.contains("<h2>Benchmarks</h2>") && html.contains("<td>buy_and_hold</td>"))
    }

    @Test func theDrawdownAxisIsScaledToTheWorstDrawdownNotToMinus100() {
        let r = report()
        let worst = r.run.equityCurve.map(\.drawdown).max() ?? 0
        #expect(worst > 0.001 && worst < 0.5)
        let chart = ReportWriter.drawdownChart(r)
        #expect(chart.contains(String(format: ">%.1f%%</text>", -worst * 100)))
        #expect(chart.contains(">0.0%</text>"))
        #expect(!chart.contains("-100"))
    }

    @Test func monthlyReturnsAreATableThatCompoundsToTheTotal() throws {
        let r = report()
        let html = ReportWriter.monthlyReturns(r)
        #expect(html.hasPrefix("<table><tr><th>year</th><th>Jan</th>"))
        let cells = html.components(separatedBy: "%</td>").dropLast().compactMap { cell -> Double? in
            Double(cell.components(separatedBy: ">").last ?? "")
        }
        // Months plus one yearly figure per row: the yearly figures compound to the total return.
        let years = html.components(separatedBy: "<tr><td>").count - 1
        #expect(years >= 1 && cells.count > years)
        let yearly = html.components(separatedBy: "</td></tr>").dropLast().compactMap { row -> Double? in
            Double(row.components(separatedBy: ">").last?.replacingOccurrences(of: "%", with: "") ?? "")
        }
        let compounded = yearly.reduce(1.0) { $0 * (1 + $1 / 100) } - 1
        #expect(abs(compounded - r.run.metrics.totalReturn) < 0.002)
    }
}
