import Foundation
import Model

// What LIVE execution records in the ledger: the typed payloads of its events. They live below the engine so that
// the one portfolio can be rebuilt from them in every mode, without linking any venue code.

/// What a LIVE order is for. Everything except `entry` only ever reduces a position.
public enum LiveOrderPurpose: String, Codable, Sendable {
    case entry
    /// The mandatory protective stop after an entry (Binance conditional algo order, Coinbase stop-limit).
    case stop
    /// A reduce-only market close when a position cannot be protected.
    case close
    /// Futures guard: margin ratio over `reduce_margin_ratio`, half the position is closed.
    case guardReduce = "guard_reduce"
    /// Futures guard: margin ratio over `close_margin_ratio`, the position is closed.
    case guardClose = "guard_close"
    /// `agent kill on --flatten`: close everything.
    case flatten
    /// A rung of the take-profit ladder (`signals.yaml` `exits.ladder`), resting reduce-only on the venue.
    case takeProfit = "take_profit"
    /// The time stop (`exits.time_stop_hours`): what remains is closed reduce-only.
    case timeStop = "time_stop"

    /// Whether the order may only reduce a position.
    public var reducesOnly: Bool { self != .entry }
}

/// `live_order_intent`: recorded before the request is sent, exactly as it is sent: quantity and prices are the
/// decimals after the symbol's rules rounded them (`SymbolRules.prepare`), the same the venue receives.
public struct LiveOrderIntent: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var side: OrderSide
    /// `market`, `stop-market`, `stop-limit`, `take-profit-market`, `take-profit-bracket` (`OrderKind.name`).
    public var kind: String
    /// Base units after the venue's rules were applied (never more than asked).
    public var quantity: Decimal
    /// The stop trigger (stops, brackets) or take-profit trigger.
    public var triggerPrice: Decimal?
    /// The limit price (stop-limits, brackets).
    public var limitPrice: Decimal?
    public var reduceOnly: Bool
    public var purpose: LiveOrderPurpose
    /// The entry this order protects or closes (nil for entries).
    public var parentClientOrderId: String?
    /// For entries: the tier and stop distance, so the position can be rebuilt and protected from the ledger alone.
    public var tier: Tier?
    public var stopLossPct: Double?
    public var reason: String
    /// For take-profits: the ladder rung (0-based) this order takes.
    public var rung: Int?

    public init(clientOrderId: String, symbol: String, side: OrderSide, kind: String, quantity: Decimal,
                triggerPrice: Decimal? = nil, limitPrice: Decimal? = nil, reduceOnly: Bool, purpose: LiveOrderPurpose,
                parentClientOrderId: String? = nil, tier: Tier? = nil, stopLossPct: Double? = nil, reason: String,
                rung: Int? = nil) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.side = side
        self.kind = kind
        self.quantity = quantity
        self.triggerPrice = triggerPrice
        self.limitPrice = limitPrice
        self.reduceOnly = reduceOnly
        self.purpose = purpose
        self.parentClientOrderId = parentClientOrderId
        self.tier = tier
        self.stopLossPct = stopLossPct
        self.reason = reason
        self.rung = rung
    }

    /// `kind` of a take-profit bracket (`OrderKind.takeProfitBracket` in Venues names itself so).
    public static let bracketKind = "take-profit-bracket"

    /// Base units as a double, for the book's arithmetic (through the decimal's text, so 0.0333 stays 0.0333).
    public var size: Double { Double(quantity.description) ?? 0 }
    /// Whether this order carries a stop for its quantity: a stop, or a take-profit bracket (its stop trigger).
    public var carriesStop: Bool { purpose == .stop || kind == Self.bracketKind }
}

/// `live_order_result`: what the venue said (or that it could not say).
public struct LiveOrderResult: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var purpose: LiveOrderPurpose
    /// The venue's status, or `UNKNOWN` (the outcome could not be established), `NOT_FOUND` (looked up by client
    /// id: the venue never received it), `FAILED` (refused before or by the venue; nothing happened).
    public var status: OrderStatus
    public var venueOrderId: String?
    /// Base units filled so far, as the venue reported them.
    public var filledQuantity: Decimal
    /// The average fill price, as the venue reported it.
    public var averagePrice: Decimal?
    public var error: String?
    /// `send` (the answer to our request), `lookup` (found by client id), `reconcile`.
    public var source: String

    public init(clientOrderId: String, symbol: String, purpose: LiveOrderPurpose, status: OrderStatus, venueOrderId: String? = nil,
                filledQuantity: Decimal = 0, averagePrice: Decimal? = nil, error: String? = nil, source: String) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.purpose = purpose
        self.status = status
        self.venueOrderId = venueOrderId
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.error = error
        self.source = source
    }

    /// Whether the order can still fill (a working stop, a resting order).
    public var isLive: Bool { status.isLive }
    /// Whether the outcome is still to be established.
    public var isUnresolved: Bool { status == .unknown }
}

/// `live_fill`: quantity executed by one of our orders (the increase since the last recorded result).
public struct LiveFill: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var side: OrderSide
    /// Base units executed, exactly as the venue reported them.
    public var quantity: Decimal
    public var price: Decimal
    public var purpose: LiveOrderPurpose
    public var time: Int64

    public init(clientOrderId: String, symbol: String, side: OrderSide, quantity: Decimal, price: Decimal,
                purpose: LiveOrderPurpose, time: Int64) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.purpose = purpose
        self.time = time
    }
}

/// `live_setting`: leverage and margin type applied before an entry (Binance).
public struct LiveSetting: Codable, Sendable, Equatable {
    public var symbol: String
    public var leverage: Int
    public var marginType: String

    public init(symbol: String, leverage: Int, marginType: String) {
        self.symbol = symbol
        self.leverage = leverage
        self.marginType = marginType
    }
}

/// `protection_alarm`: a position that could not get a working stop, and what was done about it.
public struct ProtectionAlarm: Codable, Sendable, Equatable {
    public var symbol: String
    public var entryClientOrderId: String?
    public var problem: String
    public var action: String

    public init(symbol: String, entryClientOrderId: String? = nil, problem: String, action: String) {
        self.symbol = symbol
        self.entryClientOrderId = entryClientOrderId
        self.problem = problem
        self.action = action
    }
}

/// One event for `LiveRecorder.record(batch:)`.
public struct LiveRecord: Sendable {
    public var type: EventKind
    public var symbol: String?
    public var payload: Data

    public init<T: Encodable>(type: EventType<T>, symbol: String?, _ value: T) throws {
        self.type = type.kind
        self.symbol = symbol
        payload = try JSONCoding.encoder().encode(value)
    }
}

/// Where LIVE events go: the ledger, in the order given. Appending must be durable before it returns.
public protocol LiveRecorder: Sendable {
    /// Appends one event of `type` with `value` as its JSON payload.
    func record<T: Encodable & Sendable>(cycleId: String, time: Int64, type: EventType<T>, symbol: String?, _ value: T) throws
    /// Appends several events atomically: all of them or none (an order's result and its fill).
    func record(cycleId: String, time: Int64, batch: [LiveRecord]) throws
}

/// `review_required`: a critical discrepancy; no new entries until `agent reconcile --ack`.
public struct ReviewRequired: Codable, Sendable, Equatable {
    public var reasons: [String]
    public init(reasons: [String]) { self.reasons = reasons }
}

/// `live_position_correction`: the ledger's size of a position set to the venue's truth.
package struct PositionCorrection: Codable, Sendable, Equatable {
    package var symbol: String
    package var from: Double
    package var to: Double
    package var reason: String

    public init(symbol: String, from: Double, to: Double, reason: String) {
        self.symbol = symbol
        self.from = from
        self.to = to
        self.reason = reason
    }
}

/// What reconciliation found when it compared the ledger with the venue.
package enum ReconcileFinding: String, Codable, Sendable, CaseIterable {
    // Things on the venue the agent did not do (also recorded as `manual_intervention`).
    /// The venue holds a position the agent never opened.
    case unknownPosition = "unknown_position"
    /// A position the ledger holds is gone from the venue.
    case positionClosed = "position_closed"
    /// The venue's size of a position differs from the ledger's.
    case sizeMismatch = "size_mismatch"
    /// One of our orders was cancelled or expired outside the agent.
    case orderCancelled = "order_cancelled"
    /// An open order the agent never placed.
    case unknownOrder = "unknown_order"
    /// One of our working orders vanished from the venue.
    case orderMissing = "order_missing"
    // Our own book.
    /// An intended order whose outcome could still not be established.
    case orderUnknownState = "order_unknown_state"
    /// A managed position with no working stop.
    case positionWithoutStop = "position_without_stop"
    /// Working stops cover less than the position.
    case stopShortfall = "stop_shortfall"
    /// Working stops cover more than the position.
    case stopOversized = "stop_oversized"
    /// The stop was replaced for a corrected size.
    case stopResized = "stop_resized"
    /// Resting take-profits exceed the position.
    case takeProfitOversized = "take_profit_oversized"
    /// The futures guard acted on the margin ratio.
    case futuresGuard = "futures_guard"
}

/// `manual_intervention`: something on the venue the agent did not do.
package struct ManualIntervention: Codable, Sendable, Equatable {
    package var kind: ReconcileFinding
    package var symbol: String?
    package var clientOrderId: String?
    package var detail: String

    public init(kind: ReconcileFinding, symbol: String? = nil, clientOrderId: String? = nil, detail: String) {
        self.kind = kind
        self.symbol = symbol
        self.clientOrderId = clientOrderId
        self.detail = detail
    }
}

/// `live_cancel`: recorded before a cancel request is sent.
package struct LiveCancel: Codable, Sendable, Equatable {
    package var clientOrderId: String
    package var symbol: String
    package var reason: String

    public init(clientOrderId: String, symbol: String, reason: String) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.reason = reason
    }
}

/// `review_ack`: `agent reconcile --ack`. Clears REQUIRES_MANUAL_REVIEW; positions and orders the venue holds that
/// the agent did not open are adopted as known (tracked, never traded by the agent).
package struct ReviewAck: Codable, Sendable, Equatable {
    package struct Adopted: Codable, Sendable, Equatable {
        package var symbol: String
        package var quantity: Double
        package var entryPrice: Double

        public init(symbol: String, quantity: Double, entryPrice: Double) {
            self.symbol = symbol
            self.quantity = quantity
            self.entryPrice = entryPrice
        }
    }
    package var acknowledged: [String]
    package var adoptedPositions: [Adopted]
    package var adoptedOrders: [String]

    public init(acknowledged: [String], adoptedPositions: [Adopted], adoptedOrders: [String]) {
        self.acknowledged = acknowledged
        self.adoptedPositions = adoptedPositions
        self.adoptedOrders = adoptedOrders
    }
}

/// `live_funding`: a funding settlement reported by the venue (positive = received).
package struct LiveFunding: Codable, Sendable, Equatable {
    package var symbol: String
    package var amount: Double
    package var asset: String
    package var settlementTime: Int64
    package var transactionId: String

    public init(symbol: String, amount: Double, asset: String, settlementTime: Int64, transactionId: String) {
        self.symbol = symbol
        self.amount = amount
        self.asset = asset
        self.settlementTime = settlementTime
        self.transactionId = transactionId
    }
}

/// `live_equity`: the account's equity as read from the venue at the start of a LIVE cycle.
package struct LiveEquity: Codable, Sendable, Equatable {
    package var equityUsd: Double
    /// Cash in quote assets (USD, USDT, USDC); nil in ledgers written before it was recorded.
    package var cashUsd: Double?
    /// True when `equityUsd` already values positions at the venue's mark (Binance: wallet + unrealised P&L).
    /// False for spot, whose holdings the portfolio marks to the cycle's prices.
    package var positionsMarked: Bool = true

    package init(equityUsd: Double, cashUsd: Double? = nil, positionsMarked: Bool = true) {
        self.equityUsd = equityUsd
        self.cashUsd = cashUsd
        self.positionsMarked = positionsMarked
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        equityUsd = try c.decode(Double.self, forKey: .equityUsd)
        cashUsd = try c.decodeIfPresent(Double.self, forKey: .cashUsd)
        positionsMarked = try c.decodeIfPresent(Bool.self, forKey: .positionsMarked) ?? (cashUsd == nil)
    }
}

extension EventType where Payload == LiveOrderIntent {
    public static var liveOrderIntent: Self { Self(.liveOrderIntent) }
}

extension EventType where Payload == LiveOrderResult {
    public static var liveOrderResult: Self { Self(.liveOrderResult) }
}

extension EventType where Payload == LiveFill {
    public static var liveFill: Self { Self(.liveFill) }
}

extension EventType where Payload == LiveSetting {
    public static var liveSetting: Self { Self(.liveSetting) }
}

extension EventType where Payload == ProtectionAlarm {
    public static var protectionAlarm: Self { Self(.protectionAlarm) }
}

extension EventType where Payload == ReviewRequired {
    public static var reviewRequired: Self { Self(.reviewRequired) }
}

extension EventType where Payload == PositionCorrection {
    package static var livePositionCorrection: Self { Self(.livePositionCorrection) }
}

extension EventType where Payload == ManualIntervention {
    package static var manualIntervention: Self { Self(.manualIntervention) }
}

extension EventType where Payload == LiveCancel {
    package static var liveCancel: Self { Self(.liveCancel) }
}

extension EventType where Payload == ReviewAck {
    package static var reviewAck: Self { Self(.reviewAck) }
}

extension EventType where Payload == LiveFunding {
    package static var liveFunding: Self { Self(.liveFunding) }
}

extension EventType where Payload == LiveEquity {
    package static var liveEquity: Self { Self(.liveEquity) }
}
