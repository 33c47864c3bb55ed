import Foundation
import Market
import Model

// Venue-neutral trading values and the `TradingVenue` protocol the PAPER/LIVE executors use.
// Quantities and prices are `Decimal` so exchange increments round exactly; market data stays `Double`.

/// What kind of order to place.
public enum OrderKind: Sendable, Equatable {
    /// Take liquidity now (IOC). Size is `quantity` in base units.
    case market
    /// Rest at `price`; `postOnly` rejects it if it would take (Binance GTX, Coinbase post_only).
    case limit(price: Decimal, postOnly: Bool)
    /// A stop-limit: when the price crosses `stopPrice`, a limit at `limitPrice` is placed (Coinbase spot).
    case stopLimit(stopPrice: Decimal, limitPrice: Decimal)
    /// A conditional market order that triggers at `triggerPrice` to stop a loss (Binance algo order).
    case stopMarket(triggerPrice: Decimal)
    /// A conditional market order that triggers at `triggerPrice` to take profit (Binance algo order).
    case takeProfitMarket(triggerPrice: Decimal)
    /// A take-profit limit at `limitPrice` with a stop trigger at `stopTriggerPrice` on the same coins: whichever
    /// is reached first executes, the other is gone (Coinbase spot `trigger_bracket_gtc`).
    case takeProfitBracket(limitPrice: Decimal, stopTriggerPrice: Decimal)

    /// A short name for logs and errors.
    public var name: String {
        switch self {
        case .market: "market"
        case .limit(_, let postOnly): postOnly ? "limit post-only" : "limit"
        case .stopLimit: "stop-limit"
        case .stopMarket: "stop-market"
        case .takeProfitMarket: "take-profit-market"
        case .takeProfitBracket: "take-profit-bracket"   // LiveOrderIntent.bracketKind
        }
    }

    /// Whether this is a conditional (trigger) order.
    public var isConditional: Bool {
        switch self {
        case .stopMarket, .takeProfitMarket, .stopLimit: true
        case .market, .limit, .takeProfitBracket: false
        }
    }
}

/// An order as the executor asks for it, before the venue's rules are applied.
public struct OrderRequest: Sendable, Equatable {
    /// Our symbol, e.g. `BTC-USD`.
    public var symbol: String
    public var side: OrderSide
    public var kind: OrderKind
    /// Size in base units. Rounded down to the venue's step; never increased.
    public var quantity: Decimal
    /// Our deterministic client order id (also the Binance `clientAlgoId` for conditional orders).
    public var clientOrderId: String
    /// Only reduce an open position (Binance). Ignored on spot venues.
    public var reduceOnly: Bool
    /// A price used to check min-notional for market orders (e.g. the last mid); nil skips that check.
    public var referencePrice: Decimal?

    public init(symbol: String, side: OrderSide, kind: OrderKind, quantity: Decimal, clientOrderId: String,
                reduceOnly: Bool = false, referencePrice: Decimal? = nil) {
        self.symbol = symbol
        self.side = side
        self.kind = kind
        self.quantity = quantity
        self.clientOrderId = clientOrderId
        self.reduceOnly = reduceOnly
        self.referencePrice = referencePrice
    }
}

/// An order as the venue reports it.
public struct VenueOrder: Sendable, Equatable, Codable {
    /// Our symbol.
    public var symbol: String
    /// The venue's order id (Binance `orderId` or `algoId`, Coinbase `order_id`).
    public var orderId: String
    public var clientOrderId: String
    public var side: OrderSide
    /// The venue's type name, e.g. `LIMIT`, `STOP_MARKET`, `limit_limit_gtc`.
    public var type: String
    public var status: OrderStatus
    /// Ordered size in base units (0 when the venue does not say, e.g. close-position stops).
    public var quantity: Decimal
    public var filledQuantity: Decimal
    /// Average fill price, nil before any fill.
    public var averagePrice: Decimal?
    /// Limit price, if any.
    public var price: Decimal?
    /// Trigger price of a conditional order, if any.
    public var triggerPrice: Decimal?
    public var reduceOnly: Bool

    public init(symbol: String, orderId: String, clientOrderId: String, side: OrderSide, type: String,
                status: OrderStatus, quantity: Decimal, filledQuantity: Decimal = 0, averagePrice: Decimal? = nil,
                price: Decimal? = nil, triggerPrice: Decimal? = nil, reduceOnly: Bool = false) {
        self.symbol = symbol
        self.orderId = orderId
        self.clientOrderId = clientOrderId
        self.side = side
        self.type = type
        self.status = status
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.price = price
        self.triggerPrice = triggerPrice
        self.reduceOnly = reduceOnly
    }
}

/// One asset balance.
public struct VenueBalance: Sendable, Equatable, Codable {
    /// Asset code, e.g. `USDT`, `BTC`, `USD`.
    public var asset: String
    /// Total (wallet) balance.
    public var total: Decimal
    /// What can be used for new orders.
    public var available: Decimal

    public init(asset: String, total: Decimal, available: Decimal) {
        self.asset = asset
        self.total = total
        self.available = available
    }
}

/// Cross or isolated margin (Binance answers lowercase `cross`/`isolated`; requests use `CROSSED`/`ISOLATED`).
public enum MarginType: String, Codable, Sendable {
    case cross
    case isolated

    /// Parses the venue's spellings: `cross`, `crossed`, `CROSSED`, `isolated`, `ISOLATED`.
    public init?(venue: String) {
        switch venue.lowercased() {
        case "cross", "crossed": self = .cross
        case "isolated": self = .isolated
        default: return nil
        }
    }

    /// The spelling `POST /fapi/v1/marginType` expects.
    public var binanceRequestValue: String { self == .cross ? "CROSSED" : "ISOLATED" }
}

/// An open derivatives position (one-way mode): positive `quantity` is long, negative short.
public struct VenuePosition: Sendable, Equatable, Codable {
    public var symbol: String
    public var quantity: Decimal
    public var entryPrice: Decimal
    public var markPrice: Decimal
    public var unrealizedPnl: Decimal
    public var leverage: Int
    public var marginType: MarginType
    /// The venue's liquidation price (0 when none applies).
    public var liquidationPrice: Decimal
    /// Margin held by an isolated position (0 for cross).
    public var isolatedMargin: Decimal

    public init(symbol: String, quantity: Decimal, entryPrice: Decimal, markPrice: Decimal, unrealizedPnl: Decimal,
                leverage: Int, marginType: MarginType, liquidationPrice: Decimal, isolatedMargin: Decimal) {
        self.symbol = symbol
        self.quantity = quantity
        self.entryPrice = entryPrice
        self.markPrice = markPrice
        self.unrealizedPnl = unrealizedPnl
        self.leverage = leverage
        self.marginType = marginType
        self.liquidationPrice = liquidationPrice
        self.isolatedMargin = isolatedMargin
    }
}

/// One execution (fill) of an order.
public struct VenueFill: Sendable, Equatable, Codable {
    public var symbol: String
    public var orderId: String
    public var tradeId: String
    public var side: OrderSide
    public var price: Decimal
    public var quantity: Decimal
    public var fee: Decimal
    public var feeAsset: String
    /// Unix seconds.
    public var time: Int64

    public init(symbol: String, orderId: String, tradeId: String, side: OrderSide, price: Decimal, quantity: Decimal,
                fee: Decimal, feeAsset: String, time: Int64) {
        self.symbol = symbol
        self.orderId = orderId
        self.tradeId = tradeId
        self.side = side
        self.price = price
        self.quantity = quantity
        self.fee = fee
        self.feeAsset = feeAsset
        self.time = time
    }
}

/// The trading calls the PAPER/LIVE executors use, identical for spot and perpetual venues.
///
/// Every method throws ``VenueError``. An order's identity is our `clientOrderId`: after an
/// ``VenueError/Disposition/unknownOutcome`` error the caller looks the order up with ``order(symbol:clientOrderId:)``
/// and never resends under a new id.
public protocol TradingVenue: Sendable {
    /// Which venue this is (for records and messages; behaviour is asked for through the capabilities below).
    var exchange: Exchange { get }
    /// How exits rest on this venue.
    var exitOrders: ExitOrderStyle { get }
    /// The futures capabilities (leverage, margin type, brackets, funding), or nil on a spot venue.
    var futures: (any FuturesVenue)? { get }
    /// The trading rules of `symbol` (tick, step, minimums), loaded from the venue and cached.
    func rules(for symbol: String) async throws(VenueError) -> SymbolRules
    /// Every non-zero balance.
    func balances() async throws(VenueError) -> [VenueBalance]
    /// Open positions (empty on spot venues).
    func positions() async throws(VenueError) -> [VenuePosition]
    /// Open orders, for one symbol or all.
    func openOrders(symbol: String?) async throws(VenueError) -> [VenueOrder]
    /// Places an order the symbol's rules prepared (see ``prepare(_:)``); it is sent as it is.
    func placeOrder(_ order: PreparedOrder) async throws(VenueError) -> VenueOrder
    /// The order with our client id, or nil if the venue does not know it.
    func order(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder?
    /// Cancels the order with our client id and returns its final state.
    func cancelOrder(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder
    /// Fills of one order (by client id) or, with nil, recent fills of the symbol.
    func fills(symbol: String, clientOrderId: String?) async throws(VenueError) -> [VenueFill]
}

extension TradingVenue {
    /// Spot by default: no futures capabilities.
    public var futures: (any FuturesVenue)? { nil }

    /// Applies the symbol's rules (rounding toward the safe side, minimums). Rule violations throw a rejection;
    /// nothing is sent.
    public func prepare(_ request: OrderRequest) async throws(VenueError) -> PreparedOrder {
        try await rules(for: request.symbol).prepare(request, venue: exchange.rawValue)
    }
}

/// How a venue holds exit orders, which decides how the exit policy is laid out on it.
public enum ExitOrderStyle: Sendable, Equatable {
    /// Futures: reduce-only conditional market orders (`STOP_MARKET`, `TAKE_PROFIT_MARKET`) that hold nothing, so
    /// one stop for the whole position and every take-profit rung rest side by side, and a replacement stop can be
    /// placed before the old one is cancelled.
    case reduceOnlyConditional
    /// Spot: a resting sell holds the coins it sells, so the same coins cannot sit under a stop and a take-profit.
    /// The position is split into slices: each ladder rung's slice is one bracket order (limit at the rung, stop
    /// trigger at the stop) and the rest sits under a stop-limit. Every slice carries the stop, so the whole
    /// remaining quantity is covered at all times; a moved stop replaces each slice, the old order cancelled first.
    case slicedBrackets

    /// Whether a resting exit holds the coins it would sell (spot).
    public var holdsCoins: Bool { self == .slicedBrackets }
}

/// The futures capabilities the LIVE desk needs beyond ``TradingVenue``: leverage, margin type, maintenance
/// brackets, funding settlements and derivative positions (``TradingVenue/positions()``). Asked for through
/// ``TradingVenue/futures``, never by the venue's type or name.
public protocol FuturesVenue: TradingVenue {
    /// Sets the symbol's leverage; returns what the venue applied.
    func setLeverage(symbol: String, leverage: Int) async throws(VenueError) -> Int
    /// Sets cross or isolated margin for the symbol.
    func setMarginType(symbol: String, _ type: MarginType) async throws(VenueError)
    /// The symbol's maintenance-margin brackets.
    func leverageBrackets(symbol: String) async throws(VenueError) -> [LeverageBracket]
    /// Funding settlements since `since` (Unix seconds), oldest first.
    func fundingIncome(since: Int64, limit: Int) async throws(VenueError) -> [FundingIncome]
}

extension FuturesVenue {
    /// The last 100 funding settlements since `since`.
    public func fundingIncome(since: Int64) async throws(VenueError) -> [FundingIncome] {
        try await fundingIncome(since: since, limit: 100)
    }
}

/// One funding settlement paid or received.
public struct FundingIncome: Sendable, Equatable, Codable {
    /// Our symbol.
    public var symbol: String
    /// Positive = received, negative = paid, in `asset`.
    public var amount: Decimal
    public var asset: String
    /// Unix seconds.
    public var time: Int64
    /// The venue's transaction id (unique per settlement).
    public var transactionId: String

    public init(symbol: String, amount: Decimal, asset: String, time: Int64, transactionId: String) {
        self.symbol = symbol
        self.amount = amount
        self.asset = asset
        self.time = time
        self.transactionId = transactionId
    }
}
