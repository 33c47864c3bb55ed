import Config
import Engine
import Foundation
import Market
import Model
import Risk
import Venues

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

    package init(symbol: String, quantity: Double, markPrice: Double, liquidationPrice: Double? = nil, venueLiquidationPrice: Double, liquidationDistancePct: Double? = nil, marginRatio: Double, maintenanceMarginUsd: Double, marginBalanceUsd: Double, action: Action) {
        self.symbol = symbol
        self.quantity = quantity
        self.markPrice = markPrice
        self.liquidationPrice = liquidationPrice
        self.venueLiquidationPrice = venueLiquidationPrice
        self.liquidationDistancePct = liquidationDistancePct
        self.marginRatio = marginRatio
        self.maintenanceMarginUsd = maintenanceMarginUsd
        self.marginBalanceUsd = marginBalanceUsd
        self.action = action
    }
}

/// Binance USD-M risk arithmetic for reconciliation: the margin ratio and the guard's decision come from Market's
/// `FuturesMargin` (the same rule the between-cycle guard runs in LIVE, PAPER and backtests), plus the liquidation
/// price and its distance. Pure.
public enum FuturesGuard {
    /// Evaluates one position. For isolated positions the margin balance is the venue's `isolatedMargin`
    /// (its isolated wallet plus unrealised P&L) and the liquidation price is estimated from the brackets with
    /// the isolated wallet (`isolatedMargin - unrealizedPnl`); for cross positions `crossMarginBalance` (the
    /// account's margin balance) and `crossMaintenance` (all cross positions' maintenance) are used.
    /// The action is strict: `reduce` when the ratio is above `reduceMarginRatio`, `close` above `closeMarginRatio`.
    public static func evaluate(_ p: VenuePosition, brackets: [LeverageBracket], thresholds: FuturesThresholds,
                                crossMarginBalance: Double? = nil, crossMaintenance: Double? = nil) -> FuturesRisk {
        let standing = FuturesMargin.evaluate(p.margin, brackets: brackets, limits: thresholds.limits,
                                              crossMarginBalance: crossMarginBalance, crossMaintenance: crossMaintenance)
        return risk(p, standing: standing, brackets: brackets)
    }

    /// Evaluates every position of an account whose quote wallet is `walletBalance`: cross positions share the
    /// wallet plus their unrealised P&L as margin balance, and all cross positions' maintenance.
    public static func evaluateAccount(_ positions: [VenuePosition], brackets: [String: [LeverageBracket]], walletBalance: Double,
                                       thresholds: FuturesThresholds) -> [FuturesRisk] {
        let standings = FuturesMargin.evaluateAccount(positions.map(\.margin), brackets: brackets, walletBalance: walletBalance,
                                                      limits: thresholds.limits)
        return zip(positions, standings).map { risk($0, standing: $1, brackets: brackets[$0.symbol] ?? []) }
    }

    /// The standing with the liquidation price: our estimate from the brackets (isolated), or the venue's (cross).
    private static func risk(_ p: VenuePosition, standing: MarginStanding, brackets: [LeverageBracket]) -> FuturesRisk {
        let qty = Dec.double(p.quantity)
        let mark = Dec.double(p.markPrice)
        let venueLP = Dec.double(p.liquidationPrice)
        var estimate: Double?
        switch p.marginType {
        case .isolated:
            let wallet = Dec.double(p.isolatedMargin) - Dec.double(p.unrealizedPnl)
            estimate = BinanceLiquidation.isolatedPrice(quantity: qty, entryPrice: Dec.double(p.entryPrice),
                                                        walletBalance: wallet, brackets: brackets)
        case .cross:
            estimate = venueLP > 0 ? venueLP : nil
        }
        let distances = [estimate, venueLP > 0 ? venueLP : nil].compactMap { $0 }.filter { $0 > 0 && mark > 0 }
            .map { abs(mark - $0) / mark * 100 }
        let action: FuturesRisk.Action = switch standing.action {
        case .none: .none
        case .reduce: .reduce
        case .close: .close
        }
        return FuturesRisk(symbol: p.symbol, quantity: qty, markPrice: mark, liquidationPrice: estimate,
                           venueLiquidationPrice: venueLP, liquidationDistancePct: distances.min(),
                           marginRatio: standing.ratio, maintenanceMarginUsd: standing.maintenanceUsd,
                           marginBalanceUsd: standing.balanceUsd, action: action)
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

extension VenuePosition {
    /// This position as the margin rule sees it.
    package var margin: MarginPosition {
        MarginPosition(symbol: symbol, quantity: Dec.double(quantity), entryPrice: Dec.double(entryPrice), markPrice: Dec.double(markPrice),
                       unrealizedPnl: Dec.double(unrealizedPnl), isolatedMargin: marginType == .isolated ? Dec.double(isolatedMargin) : nil)
    }
}

extension FuturesThresholds {
    package var limits: MarginLimits { MarginLimits(reduceRatio: reduceMarginRatio, closeRatio: closeMarginRatio) }
}

/// The between-cycle guard's margin rule on Binance: the venue's positions (from the last reconciliation and the user
/// stream since), re-marked on every mark price and evaluated by the same `FuturesMargin` as reconciliation.
extension FuturesMarginBook {
    package init(positions: [VenuePosition], brackets: [String: [LeverageBracket]], walletBalance: Double, thresholds: FuturesThresholds) {
        self.init(MarginAccount(positions: positions.map(\.margin), brackets: brackets, walletBalance: walletBalance, limits: thresholds.limits))
    }

    /// One position as the venue now reports it (`ACCOUNT_UPDATE`); a zero quantity removes it.
    package mutating func hold(_ p: VenuePosition) {
        account.hold(p.margin)
    }
}

extension EventType where Payload == FuturesRisk {
    public static var futuresRisk: Self { Self(.futuresRisk) }
}
