import Backtest
import Execution
import Foundation
import Model
import Testing

/// Metrics of a known equity curve against values computed by hand.
@Suite struct MetricsTests {
    @Test func knownCurve() {
        // Daily bars so "bars per year" is 365.
        var m = MetricsAccumulator(initialEquity: 100, interval: 86_400)
        let equity: [Double] = [110, 99, 121, 121]
        let inMarket = [true, true, false, false]
        for (i, e) in equity.enumerated() { m.record(time: Int64(i + 1) * 86_400, equity: e, inMarket: inMarket[i]) }
        let trades = [
            ClosedTrade(symbol: "X", side: .buy, entryTime: 0, exitTime: 7_200, entryPrice: 1, exitPrice: 2, quantity: 1, feesUsd: 1, pnlUsd: 30),
            ClosedTrade(symbol: "X", side: .buy, entryTime: 0, exitTime: 3_600, entryPrice: 1, exitPrice: 1, quantity: 1, feesUsd: 1, pnlUsd: -10),
            ClosedTrade(symbol: "X", side: .buy, entryTime: 0, exitTime: 3_600 * 6, entryPrice: 1, exitPrice: 1, quantity: 1, feesUsd: 1, pnlUsd: 10),
        ]
        let r = m.finish(trades: trades, feesPaid: 3, fundingPaid: 0.5)
        // Returns: +10%, -10%, +22.2222%, 0.
        let rets = [0.1, -0.1, 121.0 / 99 - 1, 0]
        let mean = rets.reduce(0, +) / 4
        let sd = (rets.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 3).squareRoot()
        let downside = ((0.1 * 0.1) / 4).squareRoot()
        #expect(abs(r.totalReturn - 0.21) < 1e-12)
        #expect(abs(r.maxDrawdown - 0.1) < 1e-12)  // 110 -> 99
        #expect(abs((r.sharpe ?? 0) - mean / sd * 365.0.squareRoot()) < 1e-9)
        #expect(abs((r.sortino ?? 0) - mean / downside * 365.0.squareRoot()) < 1e-9)
        // 3 days from the first point to the last: (1.21)^(365/3) - 1.
        #expect(abs((r.cagr ?? 0) - (pow(1.21, 365.0 / 3) - 1)) < 1e-6 * (r.cagr ?? 1))
        #expect(r.exposure == 0.5)
        #expect(r.trades == 3)
        #expect(abs((r.winRate ?? 0) - 2.0 / 3) < 1e-12)
        #expect(r.profitFactor == 4)
        #expect(r.averageWin == 20)
        #expect(r.averageLoss == -10)
        #expect(r.averageHoldingHours == 3)
        #expect(r.feesPaid == 3 && r.fundingPaid == 0.5)
        #expect(r.bars == 4)
        #expect(r.finalEquity == 121)
    }

    @Test func replacingTheLastPointMatchesRecordingItThatWay() {
        var a = MetricsAccumulator(initialEquity: 100, interval: 3_600)
        var b = MetricsAccumulator(initialEquity: 100, interval: 3_600)
        for (i, e) in [101.0, 97, 104, 108].enumerated() {
            a.record(time: Int64(i), equity: e, inMarket: true)
            b.record(time: Int64(i), equity: i == 3 ? 95 : e, inMarket: true)
        }
        a.replaceLast(equity: 95)
        let ra = a.finish(trades: [], feesPaid: 0, fundingPaid: 0)
        let rb = b.finish(trades: [], feesPaid: 0, fundingPaid: 0)
        #expect(abs((ra.sharpe ?? 0) - (rb.sharpe ?? 1)) < 1e-9)
        #expect(abs((ra.sortino ?? 0) - (rb.sortino ?? 1)) < 1e-9)
        #expect(abs(ra.maxDrawdown - rb.maxDrawdown) < 1e-12)
        #expect(ra.finalEquity == 95)
    }

    @Test func curveIsDecimatedButKeepsFullResolutionDrawdown() {
        var m = MetricsAccumulator(initialEquity: 100, interval: 3_600, maxCurvePoints: 10)
        for i in 0..<1_000 { m.record(time: Int64(i), equity: 100 + Double(i % 50), inMarket: false) }
        #expect(m.curve.count < 20)
        #expect(m.curve.first?.time == 0)
        let r = m.finish(trades: [], feesPaid: 0, fundingPaid: 0)
        #expect(abs(r.maxDrawdown - 49.0 / 149) < 1e-12)
        #expect(r.winRate == nil && r.profitFactor == nil)
    }
}
