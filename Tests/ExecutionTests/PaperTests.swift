import Config
import Model
import Testing
@testable import Execution

func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance * max(1, abs(b))
}

func bar(_ t: Int64, open: Double, high: Double, low: Double, close c: Double, volume: Double = 1_000) -> Candle {
    Candle(time: t, open: open, high: high, low: low, close: c, volume: volume)
}

@Suite struct PaperFillModelTests {
    let settings = PaperConfig()  // taker 6 bps, maker 2 bps, base slippage 1 bp, impact 20 bps at depth

    @Test func aSmallMarketBuyPaysTheAskPlusSlippageAndTakerFee() throws {
        let f = try #require(PaperFillModel.market(side: .buy, notionalUsd: 1_000, bid: 99.9, ask: 100.1,
                                                   depthUsd: 100_000, settings: settings))
        // slippage 1 + 20 * 1000/100000 = 1.2 bps
        #expect(close(f.slippageBps, 1.2))
        #expect(close(f.price, 100.1 * 1.00012))
        #expect(close(f.quantity, 1_000 / (100.1 * 1.00012)))
        #expect(close(f.feeUsd, 0.6))
        #expect(!f.partial)
    }

    @Test func aSellReceivesTheBidLessSlippage() throws {
        let f = try #require(PaperFillModel.market(side: .sell, notionalUsd: 50_000, bid: 99.9, ask: 100.1,
                                                   depthUsd: 100_000, settings: settings))
        #expect(close(f.slippageBps, 11))
        #expect(close(f.price, 99.9 * (1 - 0.0011)))
    }

    @Test func slippageGrowsWithSizeAndBigOrdersFillPartially() throws {
        let small = try #require(PaperFillModel.market(side: .buy, notionalUsd: 1_000, bid: 100, ask: 100, depthUsd: 100_000, settings: settings))
        let big = try #require(PaperFillModel.market(side: .buy, notionalUsd: 200_000, bid: 100, ask: 100, depthUsd: 100_000, settings: settings))
        #expect(big.price > small.price)
        #expect(big.partial)
        #expect(close(big.quantity * big.price, 100_000))      // capped at the depth
        #expect(close(big.slippageBps, 21))
        #expect(PaperFillModel.market(side: .buy, notionalUsd: 1_000, bid: 100, ask: 100, depthUsd: 0, settings: settings) == nil)
    }

    @Test func limitOrdersFillOnlyWhenTradedThrough() throws {
        let touched = bar(0, open: 100, high: 101, low: 99, close: 100)
        #expect(PaperFillModel.limit(side: .buy, quantity: 5, limit: 99, bar: touched, settings: settings) == nil)
        let through = bar(0, open: 100, high: 101, low: 98.9, close: 100, volume: 20)
        let fill = try #require(PaperFillModel.limit(side: .buy, quantity: 5, limit: 99, bar: through, settings: settings))
        #expect(fill.quantity == 2)                                   // 10% of the bar's 20 units: partial
        #expect(close(fill.feeUsd, 2 * 99 * 0.0002))
        #expect(PaperFillModel.limit(side: .sell, quantity: 1, limit: 101, bar: through, settings: settings) == nil)
    }
}

@Suite struct PaperAccountTests {
    func entry(_ qty: Double, at price: Double, fee: Double, side: Side = .buy, time: Int64 = 0) -> PaperFill {
        PaperFill(clientOrderId: "e", symbol: "BTC-USD", tier: .core, side: side, quantity: qty, price: price, feeUsd: fee,
                  liquidity: "taker", time: time, reason: "entry", stopLossPct: 6, takeProfitPct: 12)
    }

    func exit(_ qty: Double, at price: Double, fee: Double, side: Side = .sell) -> PaperFill {
        PaperFill(clientOrderId: "x", symbol: "BTC-USD", tier: .core, side: side, quantity: qty, price: price, feeUsd: fee,
                  liquidity: "taker", time: 3_600, reason: "take_profit_1")
    }

    @Test func aRoundTripIsAccountedToTheCent() {
        var a = PaperAccount(cashUsd: 10_000)
        a.apply(entry(10, at: 100, fee: 0.6))
        #expect(close(a.cashUsd, 8_999.4))
        #expect(close(a.equity(marks: ["BTC-USD": 110]), 10_099.4))
        #expect(close(a.position("BTC-USD")?.stopPrice, 94))
        a.apply(exit(10, at: 110, fee: 0.66))
        #expect(a.positions.isEmpty)
        #expect(close(a.cashUsd, 10_098.74))
        #expect(close(a.realizedPnlUsd, 100))
        #expect(close(a.feesUsd, 1.26))
        #expect(a.closedTrades.count == 1)
        #expect(close(a.closedTrades.first?.pnlUsd, 98.74))
    }

    @Test func partialExitsShareTheEntryFee() {
        var a = PaperAccount(cashUsd: 10_000)
        a.apply(entry(10, at: 100, fee: 1))
        a.apply(exit(4, at: 105, fee: 0.2))
        #expect(close(a.position("BTC-USD")?.quantity, 6))
        #expect(close(a.closedTrades.first?.pnlUsd, 4 * 5 - 0.4 - 0.2))
        a.apply(exit(6, at: 95, fee: 0.3))
        #expect(close(a.closedTrades.last?.pnlUsd, 6 * -5 - 0.6 - 0.3))
        #expect(close(a.cashUsd, 10_000 + 20 - 30 - 1 - 0.2 - 0.3))
    }

    @Test func shortsProfitWhenPriceFalls() {
        var a = PaperAccount(cashUsd: 10_000)
        a.apply(entry(10, at: 100, fee: 0, side: .sell))
        #expect(close(a.position("BTC-USD")?.stopPrice, 106))
        #expect(close(a.equity(marks: ["BTC-USD": 90]), 10_100))
        a.apply(exit(10, at: 90, fee: 0, side: .buy))
        #expect(close(a.cashUsd, 10_100))
    }

    @Test func fundingIsPaidFromCash() {
        var a = PaperAccount(cashUsd: 1_000)
        a.applyFunding(symbol: "BTC-USD", paymentUsd: 0.25)
        #expect(close(a.cashUsd, 999.75))
        #expect(close(a.fundingUsd, 0.25))
    }

    @Test func replayingTheSameFillsRebuildsTheSameAccount() {
        let fills = [entry(10, at: 100, fee: 0.6), exit(3, at: 104, fee: 0.2), exit(7, at: 97, fee: 0.4)]
        var a = PaperAccount(cashUsd: 10_000), b = PaperAccount(cashUsd: 10_000)
        fills.forEach { a.apply($0) }
        fills.forEach { b.apply($0) }
        #expect(a == b)
    }
}

@Suite struct ExitManagerTests {
    let settings = PaperConfig(takerFeeBps: 0, baseSlippageBps: 0)
    let plan = ExitsConfig()  // 25% at 1R, 2R, 3R; trail 2 ATR; 72h time stop

    func opened(at price: Double = 100, stopPct: Double = 6) -> PaperPosition {
        var a = PaperAccount(cashUsd: 100_000)
        a.apply(PaperFill(clientOrderId: "e", symbol: "X", tier: .core, side: .buy, quantity: 100, price: price, feeUsd: 0,
                          liquidity: "taker", time: 0, reason: "entry", stopLossPct: stopPct))
        return a.positions[0]
    }

    @Test func theLadderTakesProfitsThenTheStopTrails() {
        let p = opened()   // stop 94, 1R = 6
        let bars = [
            bar(0, open: 100, high: 106.5, low: 99, close: 106),    // 1R: sell 25 at 106, stop -> 100
            bar(3_600, open: 106, high: 112.5, low: 105, close: 112), // 2R: sell 25 at 112; trail 112.5 - 2*2 = 108.5
            bar(7_200, open: 111, high: 111.5, low: 108, close: 108.2), // trailing stop hit at 108.5
        ]
        let out = ExitManager.manage(p, bars: bars, atr: 2, plan: plan, settings: settings, now: 10_800)
        #expect(out.fills.map(\.reason) == ["take_profit_1", "take_profit_2", "trailing_stop"])
        #expect(out.fills.map(\.quantity) == [25, 25, 50])
        #expect(out.fills.map(\.price) == [106, 112, 108.5])
        #expect(out.fills.allSatisfy { $0.side == .sell })
        #expect(out.update == nil)   // nothing left to protect
    }

    @Test func aGapThroughTheStopFillsAtTheOpen() {
        let out = ExitManager.manage(opened(), bars: [bar(0, open: 90, high: 91, low: 88, close: 89)], atr: 2, plan: plan,
                                     settings: settings, now: 3_600)
        #expect(out.fills.count == 1)
        #expect(out.fills.first?.reason == "stop_loss")
        #expect(out.fills.first?.price == 90)
        #expect(out.fills.first?.quantity == 100)
    }

    @Test func theStopIsCheckedBeforeTargetsInTheSameBar() {
        let out = ExitManager.manage(opened(), bars: [bar(0, open: 100, high: 107, low: 93, close: 100)], atr: 2, plan: plan,
                                     settings: settings, now: 3_600)
        #expect(out.fills.map(\.reason) == ["stop_loss"])
    }

    @Test func protectionChangesAreReportedAndNeverLoosen() {
        let out = ExitManager.manage(opened(), bars: [bar(0, open: 100, high: 106, low: 100, close: 105.5)], atr: 5,
                                     plan: plan, settings: settings, now: 3_600)
        // 1R hit: stop to breakeven (100); the trail 106 - 10 = 96 would loosen it, so it stays at 100.
        #expect(out.update?.stopPrice == 100)
        #expect(out.update?.rungsTaken == 1)
        #expect(out.update?.highWater == 106)
    }

    @Test func quietBarsStillRecordHowFarTheyWereChecked() {
        let out = ExitManager.manage(opened(), bars: [bar(7_200, open: 100, high: 100, low: 99, close: 100)], atr: 1,
                                     plan: plan, settings: settings, now: 10_800)
        #expect(out.fills.isEmpty)
        #expect(out.update?.managedThrough == 7_200)
        #expect(out.update?.stopPrice == 94)
        #expect(out.update?.reason == "checked")
    }

    @Test func theTimeStopClosesWhatIsLeft() {
        let quiet = bar(0, open: 100, high: 101, low: 99, close: 100.5)
        let early = ExitManager.manage(opened(), bars: [quiet], atr: 1, plan: plan, settings: settings, now: 71 * 3_600)
        #expect(early.fills.isEmpty)
        let late = ExitManager.manage(opened(), bars: [quiet], atr: 1, plan: plan, settings: settings, now: 72 * 3_600)
        #expect(late.fills.map(\.reason) == ["time_stop"])
        #expect(late.fills.first?.price == 100.5)
    }

    @Test func slippageAndFeesApplyToExits() {
        let costly = PaperConfig(takerFeeBps: 10, baseSlippageBps: 5)
        let out = ExitManager.manage(opened(), bars: [bar(0, open: 95, high: 96, low: 93, close: 94)], atr: 1, plan: plan,
                                     settings: costly, now: 3_600)
        let fill = out.fills.first
        #expect(close(fill?.price, 94 * (1 - 0.0005)))
        #expect(close(fill?.feeUsd, 100 * 94 * (1 - 0.0005) * 0.001))
    }
}

/// Issue 15 item 12: an add-on entry is listed as its own leg, at its own time and price (each within its bar),
/// and the legs add up exactly to the exit the account booked at the average entry.
@Suite struct TradeLegTests {
    @Test func anAddOnIsListedAsItsOwnLegAndTheLegsAddUp() {
        var account = PaperAccount(cashUsd: 10_000)
        func fill(_ q: Double, _ price: Double, _ t: Int64, _ reason: String) -> PaperFill {
            PaperFill(clientOrderId: "o\(t)", symbol: "BTC-USD", tier: .core, side: reason == "entry" ? .buy : .sell, quantity: q,
                      price: price, feeUsd: q * price * 0.0006, liquidity: "taker", time: t, reason: reason, stopLossPct: 5)
        }
        account.apply(fill(1, 100, 3_600, "entry"))
        account.apply(fill(1, 120, 7_200, "entry"))              // the add-on
        account.apply(fill(0.5, 130, 10_800, "take_profit_1"))
        account.apply(fill(1.5, 90, 14_400, "stop_loss"))
        #expect(account.closedTrades.count == 2)
        #expect(account.tradeLegs.count == 4)
        #expect(Set(account.tradeLegs.map(\.entryTime)) == [3_600, 7_200])
        #expect(Set(account.tradeLegs.map(\.entryPrice)) == [100, 120])    // never the 110 average
        for (exit, reason) in [(10_800 as Int64, "take_profit_1"), (14_400, "stop_loss")] {
            let booked = account.closedTrades.filter { $0.exitTime == exit }
            let legs = account.tradeLegs.filter { $0.exitTime == exit }
            #expect(legs.allSatisfy { $0.exitReason == reason })
            #expect(abs(legs.reduce(0) { $0 + $1.quantity } - booked.reduce(0) { $0 + $1.quantity }) < 1e-12)
            #expect(abs(legs.reduce(0) { $0 + $1.pnlUsd } - booked.reduce(0) { $0 + $1.pnlUsd }) < 1e-9)
            #expect(abs(legs.reduce(0) { $0 + $1.feesUsd } - booked.reduce(0) { $0 + $1.feesUsd }) < 1e-12)
        }
        #expect(account.positions.isEmpty)
    }
}
