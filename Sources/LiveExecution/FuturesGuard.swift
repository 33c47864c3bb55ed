import Config
import Model
import Foundation
import Market
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
        out.markPrice = Dec.from(mark)
        out.unrealizedPnl = Dec.from(upnl)
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

/// The between-cycle guard's margin rule on Binance: the venue's positions (from the last reconciliation and the user
/// stream since), re-marked on every mark price and evaluated by the same `FuturesGuard` as reconciliation.
package struct FuturesMarginBook: MarginBook {
    package private(set) var positions: [String: VenuePosition] = [:]
    package var brackets: [String: [LeverageBracket]] = [:]
    /// The account's quote wallet (cross margin balance before unrealised P&L).
    package var walletBalance: Double
    package var thresholds: FuturesThresholds

    package init(positions: [VenuePosition], brackets: [String: [LeverageBracket]], walletBalance: Double, thresholds: FuturesThresholds) {
        self.brackets = brackets
        self.walletBalance = walletBalance
        self.thresholds = thresholds
        for p in positions { hold(p) }
    }

    /// One position as the venue now reports it (`ACCOUNT_UPDATE`); a zero quantity removes it.
    package mutating func hold(_ p: VenuePosition) {
        positions[p.symbol] = p.quantity == 0 ? nil : p
    }

    package mutating func mark(_ symbol: String, at mark: Double) -> MarginVerdict? {
        guard let held = positions[symbol] else { return nil }
        positions[symbol] = FuturesGuard.remarked(held, at: mark)
        let all = positions.values.sorted { $0.symbol < $1.symbol }
        let risks = FuturesGuard.evaluateAccount(all, brackets: brackets, walletBalance: walletBalance, thresholds: thresholds)
        guard let risk = risks.first(where: { $0.symbol == symbol }) else { return nil }
        switch risk.action {
        case .none: return MarginVerdict(action: .none, ratio: risk.marginRatio, limit: thresholds.reduceMarginRatio, quantity: risk.quantity)
        case .reduce: return MarginVerdict(action: .reduce, ratio: risk.marginRatio, limit: thresholds.reduceMarginRatio, quantity: risk.quantity)
        case .close: return MarginVerdict(action: .close, ratio: risk.marginRatio, limit: thresholds.closeMarginRatio, quantity: risk.quantity)
        }
    }

    /// Half closed: the size, isolated margin and unrealised P&L halve (the ratio of an isolated position stays).
    package mutating func halve(_ symbol: String) {
        guard var p = positions[symbol] else { return }
        p.quantity /= 2
        p.isolatedMargin /= 2
        p.unrealizedPnl /= 2
        positions[symbol] = p
    }

    package mutating func close(_ symbol: String) {
        positions[symbol] = nil
    }
}

extension EventType where Payload == FuturesRisk {
    public static var futuresRisk: Self { Self(.futuresRisk) }
}
