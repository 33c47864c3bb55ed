import Foundation
import Model

/// A symbol's trading rules: Binance filters (`PRICE_FILTER`, `LOT_SIZE`, `MARKET_LOT_SIZE`, `MIN_NOTIONAL`) or
/// Coinbase increments and minimum sizes. Zero means "no constraint".
public struct SymbolRules: Sendable, Equatable, Codable {
    /// Our symbol (`BTC-USD`).
    public var symbol: String
    /// The venue's id (`BTCUSDT`, `BTC-USD`).
    public var venueSymbol: String
    public var baseAsset: String
    public var quoteAsset: String
    /// Price increment.
    public var tickSize: Decimal
    /// Quantity increment for limit orders.
    public var stepSize: Decimal
    public var minQuantity: Decimal
    public var maxQuantity: Decimal
    /// Quantity increment and maximum for market orders (Binance `MARKET_LOT_SIZE`); 0 = as for limits.
    public var marketStepSize: Decimal
    public var marketMaxQuantity: Decimal
    /// Minimum price x quantity in quote units.
    public var minNotional: Decimal
    public var minPrice: Decimal
    public var maxPrice: Decimal
    /// Whether the venue currently accepts orders.
    public var trading: Bool

    public init(symbol: String, venueSymbol: String, baseAsset: String, quoteAsset: String, tickSize: Decimal,
                stepSize: Decimal, minQuantity: Decimal, maxQuantity: Decimal = 0, marketStepSize: Decimal = 0,
                marketMaxQuantity: Decimal = 0, minNotional: Decimal = 0, minPrice: Decimal = 0, maxPrice: Decimal = 0,
                trading: Bool = true) {
        self.symbol = symbol
        self.venueSymbol = venueSymbol
        self.baseAsset = baseAsset
        self.quoteAsset = quoteAsset
        self.tickSize = tickSize
        self.stepSize = stepSize
        self.minQuantity = minQuantity
        self.maxQuantity = maxQuantity
        self.marketStepSize = marketStepSize
        self.marketMaxQuantity = marketMaxQuantity
        self.minNotional = minNotional
        self.minPrice = minPrice
        self.maxPrice = maxPrice
        self.trading = trading
    }

    /// Which way a price may be rounded without making the order worse for us.
    public enum PriceRounding: Sendable {
        case down, up
    }

    /// `value` rounded down (toward zero) to a multiple of `step`; unchanged when `step` is 0.
    public static func floor(_ value: Decimal, step: Decimal) -> Decimal {
        round(value, step: step, mode: .down)
    }

    /// `value` rounded up to a multiple of `step`; unchanged when `step` is 0.
    public static func ceil(_ value: Decimal, step: Decimal) -> Decimal {
        round(value, step: step, mode: .up)
    }

    private static func round(_ value: Decimal, step: Decimal, mode: NSDecimalNumber.RoundingMode) -> Decimal {
        guard step > 0 else { return value }
        var ratio = value / step
        var whole = Decimal()
        NSDecimalRound(&whole, &ratio, 0, mode)
        return whole * step
    }

    /// The safe rounding for an order's prices:
    /// - limit (and stop-limit limit) prices: BUY down, SELL up (never a worse price than asked);
    /// - stop triggers: SELL up, BUY down (toward the market: never more loss than asked);
    /// - take-profit triggers: SELL down, BUY up (toward the market: never needs a bigger move than asked).
    public static func safeRounding(side: OrderSide, role: PriceRole) -> PriceRounding {
        switch (role, side) {
        case (.limit, .buy), (.stop, .buy), (.takeProfit, .sell): .down
        case (.limit, .sell), (.stop, .sell), (.takeProfit, .buy): .up
        }
    }

    /// The role of a price in an order, for ``safeRounding(side:role:)``.
    public enum PriceRole: Sendable {
        case limit, stop, takeProfit
    }

    /// Rounds `price` to the tick in the given direction.
    public func roundPrice(_ price: Decimal, _ rounding: PriceRounding) -> Decimal {
        rounding == .down ? Self.floor(price, step: tickSize) : Self.ceil(price, step: tickSize)
    }

    /// The request with its quantity rounded down to the step and its prices rounded to the tick toward the
    /// safe side, after checking min/max quantity, price bounds and min notional. Throws a
    /// ``VenueError/Disposition/rejected`` error (nothing is sent) when the order cannot satisfy the rules.
    /// A quantity above the maximum is reduced to it (never more size than asked).
    public func prepare(_ request: OrderRequest, venue: String) throws(VenueError) -> PreparedOrder {
        guard trading else { throw .rule(venue, symbol, "\(venueSymbol) is not trading") }
        guard request.quantity > 0 else {
            throw .rule(venue, symbol, "quantity must be positive, got \(request.quantity)")
        }
        var out = request
        let isMarket: Bool
        if case .market = request.kind { isMarket = true } else { isMarket = false }
        let step = isMarket && marketStepSize > 0 ? max(marketStepSize, stepSize) : stepSize
        let maxQty = isMarket && marketMaxQuantity > 0 ? marketMaxQuantity : maxQuantity
        var quantity = Self.floor(request.quantity, step: step)
        if maxQty > 0, quantity > maxQty { quantity = Self.floor(maxQty, step: step) }
        guard quantity > 0, quantity >= minQuantity else {
            throw .rule(venue, symbol, "quantity \(request.quantity) rounds down to \(quantity) with step \(step), below the minimum \(minQuantity)")
        }
        out.quantity = quantity

        func price(_ p: Decimal, _ role: PriceRole, _ label: String) throws(VenueError) -> Decimal {
            let rounded = roundPrice(p, Self.safeRounding(side: request.side, role: role))
            guard rounded > 0 else { throw .rule(venue, symbol, "\(label) \(p) rounds to \(rounded) with tick \(tickSize)") }
            if minPrice > 0, rounded < minPrice { throw .rule(venue, symbol, "\(label) \(rounded) is below the minimum price \(minPrice)") }
            if maxPrice > 0, rounded > maxPrice { throw .rule(venue, symbol, "\(label) \(rounded) is above the maximum price \(maxPrice)") }
            return rounded
        }
        var notionalPrice = request.referencePrice
        switch request.kind {
        case .market:
            break
        case .limit(let p, let postOnly):
            let rounded = try price(p, .limit, "limit price")
            out.kind = .limit(price: rounded, postOnly: postOnly)
            notionalPrice = rounded
        case .stopLimit(let stop, let limit):
            let s = try price(stop, .stop, "stop price")
            let l = try price(limit, .limit, "limit price")
            out.kind = .stopLimit(stopPrice: s, limitPrice: l)
            notionalPrice = l
        case .stopMarket(let trigger):
            out.kind = .stopMarket(triggerPrice: try price(trigger, .stop, "trigger price"))
            notionalPrice = notionalPrice ?? trigger
        case .takeProfitMarket(let trigger):
            out.kind = .takeProfitMarket(triggerPrice: try price(trigger, .takeProfit, "trigger price"))
            notionalPrice = notionalPrice ?? trigger
        case .takeProfitBracket(let limit, let stop):
            let l = try price(limit, .limit, "limit price")
            out.kind = .takeProfitBracket(limitPrice: l, stopTriggerPrice: try price(stop, .stop, "stop trigger price"))
            notionalPrice = l
        }
        // Reduce-only exits are exempt from the minimum notional on Binance; spot has no reduce-only.
        if minNotional > 0, !request.reduceOnly, let notionalPrice {
            let notional = quantity * notionalPrice
            guard notional >= minNotional else {
                throw .rule(venue, symbol, "notional \(notional) \(quoteAsset) (\(quantity) x \(notionalPrice)) is below the minimum \(minNotional)")
            }
        }
        return PreparedOrder(out)
    }
}

/// An order after its symbol's rules: the quantity on the step, the prices on the tick toward the safe side, the
/// minimums checked. Only ``SymbolRules/prepare(_:venue:)`` makes one, and venues accept nothing else, so every order
/// is rounded exactly once and the intent recorded from it is exactly what the venue receives.
public struct PreparedOrder: Sendable, Equatable {
    /// The rounded request.
    public let request: OrderRequest

    fileprivate init(_ request: OrderRequest) { self.request = request }

    public var symbol: String { request.symbol }
    public var side: OrderSide { request.side }
    public var kind: OrderKind { request.kind }
    public var quantity: Decimal { request.quantity }
    public var clientOrderId: String { request.clientOrderId }
    public var reduceOnly: Bool { request.reduceOnly }
}
