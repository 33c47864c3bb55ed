import Config
import Foundation
import Market

/// The futures guard's limits, from `policy.yaml` `futures`.
public struct FuturesThresholds: Sendable, Equatable, Codable {
    /// Margin ratio (maintenance margin / margin balance) above which half the position is closed.
    public var reduceMarginRatio: Double
    /// Margin ratio above which the whole position is closed.
    public var closeMarginRatio: Double
    /// New entries need at least this distance to the estimated liquidation price, % of the price.
    public var minLiquidationDistancePct: Double

    public init(reduceMarginRatio: Double = 0.70, closeMarginRatio: Double = 0.85, minLiquidationDistancePct: Double = 20) {
        self.reduceMarginRatio = reduceMarginRatio
        self.closeMarginRatio = closeMarginRatio
        self.minLiquidationDistancePct = minLiquidationDistancePct
    }

    public init(_ c: FuturesPolicy) {
        self.init(reduceMarginRatio: c.reduceMarginRatio, closeMarginRatio: c.closeMarginRatio,
                  minLiquidationDistancePct: c.minLiquidationDistancePct)
    }
}

/// `futures_risk`: one position's estimated liquidation price, margin ratio and what the guard does about it.
public struct FuturesRisk: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        case none
        /// Margin ratio above `reduce_margin_ratio`: close half.
        case reduce
        /// Margin ratio above `close_margin_ratio`: close all.
        case close
    }

    public var symbol: String
    public var quantity: Double
    public var markPrice: Double
    /// Our estimate from the maintenance brackets (isolated), or the venue's for cross positions.
    public var liquidationPrice: Double?
    /// The venue's own figure (0 = none).
    public var venueLiquidationPrice: Double
    /// |mark - liquidation| / mark, %, using the nearer of our estimate and the venue's (nil = none applies).
    public var liquidationDistancePct: Double?
    /// Maintenance margin / margin balance (0...; >= 1 means liquidation).
    public var marginRatio: Double
    public var maintenanceMarginUsd: Double
    public var marginBalanceUsd: Double
    public var action: Action
}

/// Binance USD-M risk arithmetic: liquidation price, margin ratio, and the guard's decision. Pure.
public enum FuturesGuard {
    /// Maintenance margin of a position of `notional` USD: `notional * MMR - cum` of its bracket.
    public static func maintenanceMargin(notional: Double, brackets: [LeverageBracket]) -> Double {
        guard let b = BinanceLiquidation.bracket(for: notional, in: brackets) else { return 0 }
        return max(0, notional * b.maintMarginRatio - b.cum)
    }

    /// Evaluates one position. For isolated positions the margin balance is the venue's `isolatedMargin`
    /// (its isolated wallet plus unrealised P&L) and the liquidation price is estimated from the brackets with
    /// the isolated wallet (`isolatedMargin - unrealizedPnl`); for cross positions `crossMarginBalance` (the
    /// account's margin balance) and `crossMaintenance` (all cross positions' maintenance) are used.
    /// The action is strict: `reduce` when the ratio is above `reduceMarginRatio`, `close` above `closeMarginRatio`.
    public static func evaluate(_ p: VenuePosition, brackets: [LeverageBracket], thresholds: FuturesThresholds,
                                crossMarginBalance: Double? = nil, crossMaintenance: Double? = nil) -> FuturesRisk {
        let qty = Dec.double(p.quantity)
        let mark = Dec.double(p.markPrice)
        let notional = abs(qty) * mark
        let ownMaintenance = maintenanceMargin(notional: notional, brackets: brackets)
        let venueLP = Dec.double(p.liquidationPrice)
        var estimate: Double?
        let balance: Double
        let maintenance: Double
        switch p.marginType {
        case .isolated:
            balance = Dec.double(p.isolatedMargin)
            maintenance = ownMaintenance
            let wallet = Dec.double(p.isolatedMargin) - Dec.double(p.unrealizedPnl)
            estimate = BinanceLiquidation.isolatedPrice(quantity: qty, entryPrice: Dec.double(p.entryPrice),
                                                        walletBalance: wallet, brackets: brackets)
        case .cross:
            balance = crossMarginBalance ?? 0
            maintenance = crossMaintenance ?? ownMaintenance
            estimate = venueLP > 0 ? venueLP : nil
        }
        let ratio = balance > 0 ? maintenance / balance : (maintenance > 0 ? .infinity : 0)
        let distances = [estimate, venueLP > 0 ? venueLP : nil].compactMap { $0 }.filter { $0 > 0 && mark > 0 }
            .map { abs(mark - $0) / mark * 100 }
        let action: FuturesRisk.Action = ratio > thresholds.closeMarginRatio ? .close
            : ratio > thresholds.reduceMarginRatio ? .reduce : .none
        return FuturesRisk(symbol: p.symbol, quantity: qty, markPrice: mark, liquidationPrice: estimate,
                           venueLiquidationPrice: venueLP, liquidationDistancePct: distances.min(),
                           marginRatio: ratio.isFinite ? ratio : 1e9, maintenanceMarginUsd: ownMaintenance,
                           marginBalanceUsd: balance, action: action)
    }

    /// Evaluates every position of an account whose quote wallet is `walletBalance`: cross positions share the
    /// wallet plus their unrealised P&L as margin balance, and all cross positions' maintenance.
    public static func evaluateAccount(_ positions: [VenuePosition], brackets: [String: [LeverageBracket]], walletBalance: Double,
                                       thresholds: FuturesThresholds) -> [FuturesRisk] {
        let cross = positions.filter { $0.marginType == .cross }
        let crossUpnl = cross.reduce(0) { $0 + Dec.double($1.unrealizedPnl) }
        let crossMaintenance = cross.reduce(0) {
            $0 + maintenanceMargin(notional: abs(Dec.double($1.quantity) * Dec.double($1.markPrice)), brackets: brackets[$1.symbol] ?? [])
        }
        return positions.map {
            evaluate($0, brackets: brackets[$0.symbol] ?? [], thresholds: thresholds,
                     crossMarginBalance: walletBalance + crossUpnl, crossMaintenance: crossMaintenance)
        }
    }

    /// The position re-marked at `mark`: unrealised P&L from the entry, and an isolated margin that moves with it.
    public static func remarked(_ p: VenuePosition, at mark: Double) -> VenuePosition {
        var out = p
        let qty = Dec.double(p.quantity)
        let upnl = qty * (mark - Dec.double(p.entryPrice))
        let wallet = Dec.double(p.isolatedMargin) - Dec.double(p.unrealizedPnl)
        out.markPrice = Decimal(mark)
        out.unrealizedPnl = Decimal(upnl)
        if p.marginType == .isolated { out.isolatedMargin = Decimal(wallet + upnl) }
        return out
    }

    /// Distance (% of `price`) from a new isolated position of `quantity` (signed) at `price` with `leverage` to its
    /// estimated liquidation price; nil when it can never be liquidated.
    public static func entryLiquidationDistancePct(quantity: Double, price: Double, leverage: Int,
                                                   brackets: [LeverageBracket]) -> Double? {
        guard price > 0, leverage > 0 else { return nil }
        let wallet = abs(quantity) * price / Double(leverage)
        guard let lp = BinanceLiquidation.isolatedPrice(quantity: quantity, entryPrice: price, walletBalance: wallet,
                                                        brackets: brackets) else { return nil }
        return abs(price - lp) / price * 100
    }
}
