import Foundation
@testable import Market
import Model
import Testing
@testable import Venues

@Suite(.serialized) struct SymbolRulesTests {
    let btc = SymbolRules(symbol: "BTC-USD", venueSymbol: "BTCUSDT", baseAsset: "BTC", quoteAsset: "USDT", tickSize: Decimal("0.1"),
                          stepSize: Decimal("0.001"), minQuantity: Decimal("0.001"), maxQuantity: 1000, marketStepSize: Decimal("0.001"),
                          marketMaxQuantity: 120, minNotional: 100, minPrice: Decimal("556.8"), maxPrice: 4_529_764)

    @Test func quantityAlwaysRoundsDownNeverUp() throws {
        for (asked, expected) in [("0.0129", "0.012"), ("0.0121", "0.012"), ("1.9999", "1.999"), ("0.003", "0.003")] {
            let out = try btc.prepare(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: asked) ?? 0,
                                                   clientOrderId: "a", referencePrice: 50_000), venue: "binance")
            #expect(out.quantity == Decimal(string: expected))
            #expect(out.quantity <= Decimal(string: asked) ?? 0)
        }
        // Above the market maximum: capped at it, never more.
        let capped = try btc.prepare(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .market, quantity: 500, clientOrderId: "a",
                                                  reduceOnly: true), venue: "binance")
        #expect(capped.quantity == 120)
    }

    @Test func pricesRoundTowardTheSafeSide() throws {
        func price(_ side: OrderSide, _ kind: OrderKind) throws -> OrderKind {
            try btc.prepare(OrderRequest(symbol: "BTC-USD", side: side, kind: kind, quantity: 1, clientOrderId: "a"), venue: "binance").kind
        }
        #expect(try price(.buy, .limit(price: Decimal("50000.19"), postOnly: false)) == .limit(price: Decimal("50000.1"), postOnly: false))
        #expect(try price(.sell, .limit(price: Decimal("50000.11"), postOnly: true)) == .limit(price: Decimal("50000.2"), postOnly: true))
        // A long's stop (SELL) moves up toward the market; a short's stop (BUY) down.
        #expect(try price(.sell, .stopMarket(triggerPrice: Decimal("45000.01"))) == .stopMarket(triggerPrice: Decimal("45000.1")))
        #expect(try price(.buy, .stopMarket(triggerPrice: Decimal("55000.09"))) == .stopMarket(triggerPrice: 55_000))
        // Take-profits also move toward the market.
        #expect(try price(.sell, .takeProfitMarket(triggerPrice: Decimal("60000.09"))) == .takeProfitMarket(triggerPrice: 60_000))
        #expect(try price(.buy, .takeProfitMarket(triggerPrice: Decimal("40000.01"))) == .takeProfitMarket(triggerPrice: Decimal("40000.1")))
        #expect(try price(.sell, .stopLimit(stopPrice: Decimal("45000.01"), limitPrice: Decimal("44900.01")))
                == .stopLimit(stopPrice: Decimal("45000.1"), limitPrice: Decimal("44900.1")))
    }

    @Test func minimumsAndBoundsAreEnforced() {
        func rejects(_ r: OrderRequest, _ fragment: String) -> Bool {
            do {
                _ = try btc.prepare(r, venue: "binance")
                return false
            } catch {
                return error.isRejection && error.reason == .ruleViolation && error.message.contains(fragment)
            }
        }
        #expect(rejects(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal("0.0009"), clientOrderId: "a"), "below the minimum 0.001"))
        #expect(rejects(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .limit(price: 50_000, postOnly: false), quantity: Decimal("0.001"), clientOrderId: "a"), "notional"))
        #expect(rejects(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .limit(price: 100, postOnly: false), quantity: 5, clientOrderId: "a"), "below the minimum price"))
        #expect(rejects(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: 0, clientOrderId: "a"), "positive"))
        // Reduce-only exits are exempt from the minimum notional.
        #expect(!rejects(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .market, quantity: Decimal("0.001"), clientOrderId: "a",
                                      reduceOnly: true, referencePrice: 50_000), "notional"))
        var halted = btc
        halted.trading = false
        #expect((try? halted.prepare(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: 1, clientOrderId: "a"), venue: "binance")) == nil)
    }

    @Test func decimalTextIsPlain() {
        #expect(Dec.text(Decimal("0.00100")) == "0.001")
        #expect(Dec.text(Decimal("45000.10")) == "45000.1")
        #expect(Dec.text(Decimal(string: "1e-8") ?? 0) == "0.00000001")
        #expect(Dec.parse("12abc") == nil)
    }
}

@Suite(.serialized) struct LiquidationTests {
    /// `<repo root>/../shared/data/binance_usdm_leverage_tiers.json`.
    static let tiersPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/data/binance_usdm_leverage_tiers.json").path

    /// The file, parsed once per process (it is 1 MB; parsing it per test would slow the parallel suite).
    nonisolated(unsafe) static let tiers: [String: Any]? = {
        guard let data = FileManager.default.contents(atPath: tiersPath) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }()

    static func brackets(_ market: String) throws -> [LeverageBracket]? {
        guard let root = tiers else { return nil }
        let tiers = try #require(root[market] as? [[String: Any]], "no tiers for \(market)")
        return try tiers.map { tier in
            let info = try #require(tier["info"] as? [String: String])
            func num(_ k: String) throws -> Double { try #require(info[k].flatMap(Double.init), "\(market) \(k)") }
            return LeverageBracket(bracket: Int(try num("bracket")), initialLeverage: Int(try num("initialLeverage")),
                                   notionalFloor: try num("notionalFloor"), notionalCap: try num("notionalCap"),
                                   maintMarginRatio: try num("maintMarginRatio"), cum: try num("cum"))
        }
    }

    /// At the liquidation price the margin balance equals the maintenance margin of the bracket holding that notional.
    static func check(_ brackets: [LeverageBracket], quantity: Double, entry: Double, wallet: Double) throws -> Double {
        let lp = try #require(BinanceLiquidation.isolatedPrice(quantity: quantity, entryPrice: entry, walletBalance: wallet, brackets: brackets))
        let q = abs(quantity)
        let b = try #require(BinanceLiquidation.bracket(for: q * lp, in: brackets))
        let side: Double = quantity > 0 ? 1 : -1
        let marginBalance = wallet + side * q * (lp - entry)
        let maintenance = q * lp * b.maintMarginRatio - b.cum
        #expect(abs(marginBalance - maintenance) < 1e-6 * max(1, abs(maintenance)))
        // And the exchange formula, literally, with that bracket.
        let formula = (wallet + b.cum - side * q * entry) / (q * (b.maintMarginRatio - side))
        #expect(abs(formula - lp) < 1e-9 * lp)
        return lp
    }

    static let tiersPresent = FileManager.default.fileExists(atPath: tiersPath)

    @Test(.enabled(if: tiersPresent, "shared data missing: expected ../shared/data/binance_usdm_leverage_tiers.json beside the repository"))
    func isolatedLiquidationMatchesTheExchangeFormulaOnRealBrackets() throws {
        guard let btc = try Self.brackets("BTC/USDT:USDT"), let eth = try Self.brackets("ETH/USDT:USDT") else {
            Issue.record("shared data missing: expected ../shared/data/binance_usdm_leverage_tiers.json beside the repository (\(Self.tiersPath))")
            return
        }
        #expect(btc.count > 3)
        // 10x long 0.5 BTC at 60k: liquidation below entry, above entry * (1 - 1/leverage).
        let long = try Self.check(btc, quantity: 0.5, entry: 60_000, wallet: 3_000)
        #expect(long < 60_000 && long > 54_000)
        // 10x short: above entry.
        let short = try Self.check(btc, quantity: -0.5, entry: 60_000, wallet: 3_000)
        #expect(short > 60_000 && short < 66_000)
        // Large positions in higher brackets, across leverages and both assets.
        for (brackets, entry) in [(btc, 60_000.0), (eth, 3_000.0)] {
            for notional in [1_000.0, 40_000, 300_000, 2_000_000, 20_000_000] {
                for leverage in [2.0, 5, 20] {
                    let q = notional / entry
                    _ = try Self.check(brackets, quantity: q, entry: entry, wallet: notional / leverage)
                    _ = try Self.check(brackets, quantity: -q, entry: entry, wallet: notional / leverage)
                }
            }
        }
    }

    @Test(.enabled(if: tiersPresent, "shared data missing: expected ../shared/data/binance_usdm_leverage_tiers.json beside the repository"))
    func shortWhoseLiquidationNotionalCrossesIntoTheNextBracketUsesThatBracket() throws {
        guard let btc = try Self.brackets("BTC/USDT:USDT") else {
            Issue.record("shared data missing: expected ../shared/data/binance_usdm_leverage_tiers.json beside the repository")
            return
        }
        let sorted = btc.sorted { $0.notionalFloor < $1.notionalFloor }
        let cap = sorted[0].notionalCap
        // Notional at entry just under the first cap; 2x short liquidates ~50% higher, in the second bracket.
        let entry = 60_000.0
        let q = cap * 0.99 / entry
        let lp = try Self.check(btc, quantity: -q, entry: entry, wallet: cap * 0.99 / 2)
        #expect(q * lp > cap)
        let firstBracketOnly = BinanceLiquidation.isolatedPrice(quantity: -q, entryPrice: entry, walletBalance: cap * 0.99 / 2, brackets: [sorted[0]])
        #expect(firstBracketOnly != lp)
        #expect(BinanceLiquidation.isolatedPrice(quantity: 0, entryPrice: entry, walletBalance: 1, brackets: btc) == nil)
    }
}
