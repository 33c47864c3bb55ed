import Config
import Backtest
import Execution
import Foundation
import Model
import Testing

/// The engine's P&L on a fixed trade list equals a hand calculation with fees, slippage and funding.
@Suite struct AccountingTests {
    let t0: Int64 = 1_700_000_000 / 28_800 * 28_800  // on an 8h funding boundary

    func bars() -> [Candle] {
        let opens: [Double] = [100, 101, 103, 102, 105, 107, 106, 104, 101, 99, 100, 102]
        return opens.enumerated().map { i, o in
            let c = i + 1 < opens.count ? opens[i + 1] : o
            return Candle(time: t0 + Int64(i) * 3_600, open: o, high: max(o, c) + 1, low: min(o, c) - 1, close: c, volume: 10)
        }
    }

    @Test func fixedTradeListPnLEqualsTheHandCalculation() {
        let candles = bars()
        let settings = PaperConfig(takerFeeBps: 10, makerFeeBps: 2, baseSlippageBps: 5, impactBpsAtDepth: 0)
        // Funding settles every 2 hours here so both trades pay some: +0.01% per settlement.
        let funding = FundingSchedule(constant: 0.0001, every: 7_200)
        let orders = [
            FixedTradesBacktest.Order(side: .buy, quantity: 3, entryTime: t0 + 2 * 3_600, exitTime: t0 + 5 * 3_600),
            FixedTradesBacktest.Order(side: .sell, quantity: 2, entryTime: t0 + 6 * 3_600, exitTime: t0 + 9 * 3_600),
        ]
        let run = FixedTradesBacktest.run(candles: candles, symbol: "X", orders: orders, settings: settings, funding: funding)

        // Long 3 at the open of bar 2 (103) + 5 bps, out at the open of bar 5 (107) - 5 bps; 10 bps fee each leg.
        let buy = 103 * 1.0005, sell = 107 * 0.9995
        let longFees = 3 * buy * 0.001 + 3 * sell * 0.001
        let longPnl = (sell - buy) * 3 - longFees
        // Short 2 at the open of bar 6 (106) - 5 bps, covered at the open of bar 9 (99) + 5 bps.
        let short = 106 * 0.9995, cover = 99 * 1.0005
        let shortFees = 2 * short * 0.001 + 2 * cover * 0.001
        let shortPnl = (short - cover) * 2 - shortFees
        // Funding at each even hour inside a holding bar (settlement in (bar open, bar close]), on the bar's close:
        // long held through bars 2, 3, 4 -> settlements at t0+4h (bar 3's close 105): pays 3 * 105 * 0.0001;
        // short held through bars 6, 7, 8 -> settlements at t0+8h (bar 7's close 101): receives 2 * 101 * 0.0001.
        let fundingPaid = 3 * 105 * 0.0001 - 2 * 101 * 0.0001

        #expect(run.trades.count == 2)
        #expect(abs(run.trades[0].pnl - longPnl) < 1e-9)
        #expect(abs(run.trades[0].fees - longFees) < 1e-9)
        #expect(abs(run.trades[1].pnl - shortPnl) < 1e-9)
        #expect(run.trades[1].side == .sell)
        #expect(abs(run.metrics.fundingPaid - fundingPaid) < 1e-12)
        #expect(abs(run.metrics.feesPaid - (longFees + shortFees)) < 1e-9)
        #expect(abs(run.metrics.finalEquity - (10_000 + longPnl + shortPnl - fundingPaid)) < 1e-9)
    }

    @Test func spreadIsPaidOnBothLegs() {
        let candles = bars()
        let settings = PaperConfig(takerFeeBps: 0, makerFeeBps: 0, baseSlippageBps: 0, impactBpsAtDepth: 0)
        let orders = [FixedTradesBacktest.Order(side: .buy, quantity: 1, entryTime: t0 + 3_600, exitTime: t0 + 2 * 3_600)]
        let run = FixedTradesBacktest.run(candles: candles, symbol: "X", orders: orders, settings: settings, spreadBps: 20)
        // Buy at the ask 101 * 1.001, sell at the bid 103 * 0.999.
        #expect(abs(run.trades[0].pnl - (103 * 0.999 - 101 * 1.001)) < 1e-9)
    }

    @Test func fundingFileRowsAreSettlementsOfTheSharedXRPHistory() throws {
        guard let path = SharedData.path("binance_xrpusdt_funding_8h.json") else {
            print("skipped: \(SharedData.missing)")
            return
        }
        let schedule = try FundingSchedule.load(path: path)
        // First row [1637193600017, 0.0001, ...] = 2021-11-18T00:00:00Z.
        #expect(schedule.times.first == 1_637_193_600)
        #expect(schedule.rates.first == 0.0001)
        #expect(schedule.times.count > 80)
        #expect(zip(schedule.times, schedule.times.dropFirst()).allSatisfy { $1 - $0 == 28_800 })
        #expect(schedule.latestRate(at: 1_637_193_599) == nil)
        #expect(schedule.settlements(after: 1_637_193_600, through: 1_637_193_600 + 28_800).count == 1)
    }
}
