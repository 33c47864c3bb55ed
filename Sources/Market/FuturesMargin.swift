import Foundation

/// One futures position as the margin rule sees it. LIVE fills it from the venue's positions; PAPER and backtests
/// from the paper book at its leverage (an isolated wallet of `|quantity| * entry / leverage`).
public struct MarginPosition: Sendable, Equatable {
    public var symbol: String
    /// Signed size (positive long, negative short).
    public var quantity: Double
    public var entryPrice: Double
    public var markPrice: Double
    public var unrealizedPnl: Double
    /// Isolated: the position's margin balance (its isolated wallet plus the unrealised P&L). nil = cross.
    public var isolatedMargin: Double?

    public init(symbol: String, quantity: Double, entryPrice: Double, markPrice: Double, unrealizedPnl: Double, isolatedMargin: Double?) {
        self.symbol = symbol
        self.quantity = quantity
        self.entryPrice = entryPrice
        self.markPrice = markPrice
        self.unrealizedPnl = unrealizedPnl
        self.isolatedMargin = isolatedMargin
    }

    /// An isolated position of `quantity` (signed) entered at `entryPrice` with `leverage`, marked at `mark`.
    public static func isolated(symbol: String, quantity: Double, entryPrice: Double, leverage: Double, mark: Double) -> MarginPosition {
        let wallet = abs(quantity) * entryPrice / max(leverage, 1)
        return MarginPosition(symbol: symbol, quantity: quantity, entryPrice: entryPrice, markPrice: entryPrice, unrealizedPnl: 0,
                              isolatedMargin: wallet).remarked(at: mark)
    }

    /// Re-marked at `mark`: unrealised P&L from the entry, and an isolated margin that moves with it.
    public func remarked(at mark: Double) -> MarginPosition {
        var out = self
        let upnl = quantity * (mark - entryPrice)
        out.markPrice = mark
        out.unrealizedPnl = upnl
        if let margin = isolatedMargin { out.isolatedMargin = margin - unrealizedPnl + upnl }
        return out
    }

    /// Half of it closed: size, isolated margin and unrealised P&L halve (an isolated position's ratio stays).
    public func halved() -> MarginPosition {
        var out = self
        out.quantity /= 2
        out.unrealizedPnl /= 2
        out.isolatedMargin = isolatedMargin.map { $0 / 2 }
        return out
    }
}

/// What the margin rule does about one position.
public enum MarginAction: String, Codable, Sendable, Equatable {
    case none
    /// Margin ratio above `reduce_margin_ratio`: close half.
    case reduce
    /// Margin ratio above `close_margin_ratio`: close all.
    case close
}

/// The margin rule's two limits (`policy.yaml` `futures.reduce_margin_ratio`, `close_margin_ratio`).
public struct MarginLimits: Sendable, Equatable {
    public var reduceRatio: Double
    public var closeRatio: Double

    public init(reduceRatio: Double, closeRatio: Double) {
        self.reduceRatio = reduceRatio
        self.closeRatio = closeRatio
    }

    /// Strict: `reduce` above `reduceRatio`, `close` above `closeRatio`.
    public func action(ratio: Double) -> MarginAction {
        ratio > closeRatio ? .close : ratio > reduceRatio ? .reduce : .none
    }

    /// The limit an action crossed.
    public func limit(of action: MarginAction) -> Double { action == .close ? closeRatio : reduceRatio }
}

/// One position's margin standing.
public struct MarginStanding: Sendable, Equatable {
    public var symbol: String
    public var quantity: Double
    /// Maintenance margin / margin balance (>= 1 means liquidation; 1e9 stands for no balance left).
    public var ratio: Double
    /// This position's own maintenance margin.
    public var maintenanceUsd: Double
    public var balanceUsd: Double
    public var action: MarginAction
}

/// Binance USD-M margin arithmetic: maintenance margin from the brackets, the margin ratio and the 70%/85% rule.
/// Pure; the one implementation behind LIVE reconciliation's futures guard, the between-cycle guard in LIVE and
/// PAPER, and backtests.
public enum FuturesMargin {
    /// Maintenance margin of a position of `notional` USD: `notional * MMR - cum` of its bracket.
    public static func maintenanceMargin(notional: Double, brackets: [LeverageBracket]) -> Double {
        guard let b = BinanceLiquidation.bracket(for: notional, in: brackets) else { return 0 }
        return max(0, notional * b.maintMarginRatio - b.cum)
    }

    /// One position: isolated ones against their own margin; cross ones against `crossMarginBalance` (the account's
    /// margin balance) and `crossMaintenance` (all cross positions' maintenance).
    public static func evaluate(_ p: MarginPosition, brackets: [LeverageBracket], limits: MarginLimits,
                                crossMarginBalance: Double? = nil, crossMaintenance: Double? = nil) -> MarginStanding {
        let own = maintenanceMargin(notional: abs(p.quantity) * p.markPrice, brackets: brackets)
        let balance = p.isolatedMargin ?? (crossMarginBalance ?? 0)
        let maintenance = p.isolatedMargin == nil ? (crossMaintenance ?? own) : own
        let ratio = balance > 0 ? maintenance / balance : (maintenance > 0 ? .infinity : 0)
        return MarginStanding(symbol: p.symbol, quantity: p.quantity, ratio: ratio.isFinite ? ratio : 1e9, maintenanceUsd: own,
                              balanceUsd: balance, action: limits.action(ratio: ratio))
    }

    /// Every position of an account whose quote wallet is `walletBalance`: cross positions share the wallet plus their
    /// unrealised P&L as margin balance, and all cross positions' maintenance.
    public static func evaluateAccount(_ positions: [MarginPosition], brackets: [String: [LeverageBracket]], walletBalance: Double,
                                       limits: MarginLimits) -> [MarginStanding] {
        let cross = positions.filter { $0.isolatedMargin == nil }
        let crossUpnl = cross.reduce(0) { $0 + $1.unrealizedPnl }
        let crossMaintenance = cross.reduce(0) {
            $0 + maintenanceMargin(notional: abs($1.quantity * $1.markPrice), brackets: brackets[$1.symbol] ?? [])
        }
        return positions.map {
            evaluate($0, brackets: brackets[$0.symbol] ?? [], limits: limits, crossMarginBalance: walletBalance + crossUpnl,
                     crossMaintenance: crossMaintenance)
        }
    }

    /// One bracket at a flat maintenance rate, for books without the venue's brackets (PAPER; backtests without
    /// `--leverage-tiers`): `futures.maintenance_margin_rate`.
    public static func flatBrackets(maintenanceRate: Double) -> [LeverageBracket] {
        [LeverageBracket(bracket: 1, initialLeverage: 125, notionalFloor: 0, notionalCap: .greatestFiniteMagnitude,
                         maintMarginRatio: maintenanceRate, cum: 0)]
    }
}

/// The account the between-cycle margin rule re-marks on every mark price and evaluates with `FuturesMargin`.
public struct MarginAccount: Sendable, Equatable {
    public private(set) var positions: [String: MarginPosition] = [:]
    public var brackets: [String: [LeverageBracket]]
    /// The quote wallet (cross margin balance before unrealised P&L).
    public var walletBalance: Double
    public var limits: MarginLimits

    public init(positions: [MarginPosition], brackets: [String: [LeverageBracket]], walletBalance: Double, limits: MarginLimits) {
        self.brackets = brackets
        self.walletBalance = walletBalance
        self.limits = limits
        for p in positions { hold(p) }
    }

    /// One position as now held; a zero quantity removes it.
    public mutating func hold(_ p: MarginPosition) {
        positions[p.symbol] = p.quantity == 0 ? nil : p
    }

    /// Re-marks `symbol` at `mark` and evaluates it against the whole account; nil when it is not held.
    public mutating func mark(_ symbol: String, at mark: Double) -> MarginStanding? {
        guard let held = positions[symbol] else { return nil }
        positions[symbol] = held.remarked(at: mark)
        return standing(of: symbol)
    }

    /// `symbol`'s standing at its last mark.
    public func standing(of symbol: String) -> MarginStanding? {
        guard positions[symbol] != nil else { return nil }
        let all = positions.values.sorted { $0.symbol < $1.symbol }
        return FuturesMargin.evaluateAccount(all, brackets: brackets, walletBalance: walletBalance, limits: limits)
            .first { $0.symbol == symbol }
    }

    public mutating func halve(_ symbol: String) {
        positions[symbol] = positions[symbol]?.halved()
    }

    public mutating func close(_ symbol: String) {
        positions[symbol] = nil
    }
}
