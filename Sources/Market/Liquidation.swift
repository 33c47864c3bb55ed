import Foundation

/// Binance USD-M liquidation price for an isolated position in one-way mode.
public enum BinanceLiquidation {
    /// The bracket whose notional range holds `notional` (the last one for anything above every cap).
    public static func bracket(for notional: Double, in brackets: [LeverageBracket]) -> LeverageBracket? {
        let sorted = brackets.sorted { $0.notionalFloor < $1.notionalFloor }
        return sorted.first { notional >= $0.notionalFloor && notional < $0.notionalCap } ?? sorted.last
    }

    /// `LP = (WB + cum - side * |q| * EP) / (|q| * (MMR - side))`, side +1 long / -1 short, with MMR and cum from
    /// the bracket holding the position's notional at the liquidation price (re-evaluated when LP's notional
    /// falls in another bracket). Returns nil for an empty position, missing brackets, or no finite positive price
    /// (e.g. a long so over-margined it can never be liquidated).
    ///
    /// - Parameters:
    ///   - quantity: signed size (positive long, negative short).
    ///   - entryPrice: the position's entry price.
    ///   - walletBalance: the isolated wallet balance (margin) of the position.
    public static func isolatedPrice(quantity: Double, entryPrice: Double, walletBalance: Double,
                                     brackets: [LeverageBracket]) -> Double? {
        guard quantity != 0, entryPrice > 0, !brackets.isEmpty else { return nil }
        let side: Double = quantity > 0 ? 1 : -1
        let q = abs(quantity)
        func price(_ b: LeverageBracket) -> Double {
            (walletBalance + b.cum - side * q * entryPrice) / (q * (b.maintMarginRatio - side))
        }
        guard var current = bracket(for: q * entryPrice, in: brackets) else { return nil }
        var lp = price(current)
        for _ in 0..<brackets.count {
            guard lp.isFinite, lp > 0, let next = bracket(for: q * lp, in: brackets), next != current else { break }
            current = next
            lp = price(current)
        }
        return lp.isFinite && lp > 0 ? lp : nil
    }
}

/// A maintenance-margin bracket of a symbol (`/fapi/v1/leverageBracket`).
public struct LeverageBracket: Sendable, Equatable, Codable {
    public var bracket: Int
    public var initialLeverage: Int
    public var notionalFloor: Double
    public var notionalCap: Double
    public var maintMarginRatio: Double
    /// Maintenance amount (`cum`).
    public var cum: Double

    public init(bracket: Int, initialLeverage: Int, notionalFloor: Double, notionalCap: Double,
                maintMarginRatio: Double, cum: Double) {
        self.bracket = bracket
        self.initialLeverage = initialLeverage
        self.notionalFloor = notionalFloor
        self.notionalCap = notionalCap
        self.maintMarginRatio = maintMarginRatio
        self.cum = cum
    }
}
