import Foundation
import Venues
import Model

/// What the venue streams say, in our terms (our symbols, Unix milliseconds). Both venues' adapters produce these;
/// the guard and the watch between cycles consume only these.
public enum StreamEvent: Sendable, Equatable {
    /// Binance `markPrice@1s`: the price margin and liquidation are computed at.
    case mark(symbol: String, price: Double, timeMs: Int64)
    /// Best bid and ask (Binance `bookTicker`, Coinbase `ticker` and `level2`).
    case quote(symbol: String, bid: Double, ask: Double, timeMs: Int64)
    /// The last traded price (Coinbase `ticker`).
    case trade(symbol: String, price: Double, timeMs: Int64)
    /// A kline of the configured timeframe; `closed` once the bar is final.
    case bar(symbol: String, candle: Candle, closed: Bool)
    /// One of our orders changed (Binance `ORDER_TRADE_UPDATE` and `ALGO_UPDATE`, Coinbase `user`).
    case order(OrderUpdate)
    /// Binance `ACCOUNT_UPDATE`: positions after a fill, funding or a transfer.
    case positions([PositionUpdate], reason: String, timeMs: Int64)
    /// Binance `MARGIN_CALL`: the venue warns that these positions are near liquidation.
    case marginCall([PositionUpdate], timeMs: Int64)
    /// Coinbase `heartbeats` (Binance keeps the connection alive with pings only).
    case heartbeat(timeMs: Int64)
    /// The stream lost messages (a Coinbase `sequence_num` gap): it resubscribed, and what it missed must be read over
    /// REST.
    case resync(stream: String, reason: String)
    /// Binance `listenKeyExpired`: the user stream is reopened with a new key.
    case listenKeyExpired(timeMs: Int64)

    /// What the message was about, for the message-rate metric.
    public var kind: StreamMessageKind {
        switch self {
        case .mark: .mark
        case .quote: .quote
        case .trade: .trade
        case .bar: .bar
        case .order: .order
        case .positions: .positions
        case .marginCall: .marginCall
        case .heartbeat: .heartbeat
        case .resync: .resync
        case .listenKeyExpired: .listenKeyExpired
        }
    }

    /// The price this event moves the market to, if any (the guard's flash-move and margin input).
    public var price: (symbol: String, price: Double, timeMs: Int64)? {
        switch self {
        case .mark(let s, let p, let t): (s, p, t)
        case .trade(let s, let p, let t): (s, p, t)
        case .quote(let s, let b, let a, let t): b > 0 && a > 0 ? (s, (b + a) / 2, t) : nil
        case .bar(let s, let c, _): (s, c.close, c.time * 1_000)
        default: nil
        }
    }
}

/// An order's state as a stream reports it.
public struct OrderUpdate: Sendable, Equatable, Codable {
    public var symbol: String
    public var clientOrderId: String
    public var side: OrderSide
    /// The venue's order type (`MARKET`, `STOP_MARKET`, `TAKE_PROFIT_MARKET`, `limit_limit_gtc`, ...).
    public var type: String
    public var status: OrderStatus
    public var quantity: Double
    /// Cumulative filled quantity.
    public var filledQuantity: Double
    /// This update's own fill (0 when it reports no trade).
    public var lastFillQuantity: Double
    public var lastFillPrice: Double
    public var averagePrice: Double
    /// Fee of this update's fill, in the quote asset.
    public var fee: Double
    /// A conditional (algo) order: Binance `ALGO_UPDATE`.
    public var conditional: Bool
    public var timeMs: Int64

    public init(symbol: String, clientOrderId: String, side: OrderSide, type: String, status: OrderStatus, quantity: Double,
                filledQuantity: Double, lastFillQuantity: Double = 0, lastFillPrice: Double = 0, averagePrice: Double = 0,
                fee: Double = 0, conditional: Bool = false, timeMs: Int64) {
        self.symbol = symbol
        self.clientOrderId = clientOrderId
        self.side = side
        self.type = type
        self.status = status
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.lastFillQuantity = lastFillQuantity
        self.lastFillPrice = lastFillPrice
        self.averagePrice = averagePrice
        self.fee = fee
        self.conditional = conditional
        self.timeMs = timeMs
    }
}

/// A position as `ACCOUNT_UPDATE` or `MARGIN_CALL` reports it.
public struct PositionUpdate: Sendable, Equatable, Codable {
    public var symbol: String
    /// Signed: positive long.
    public var quantity: Double
    public var entryPrice: Double
    public var markPrice: Double?
    public var unrealizedPnl: Double
    public var marginType: MarginType
    /// Isolated wallet (ACCOUNT_UPDATE `iw`), 0 for cross.
    public var isolatedWallet: Double
    public var maintenanceMargin: Double?

    public init(symbol: String, quantity: Double, entryPrice: Double, markPrice: Double? = nil, unrealizedPnl: Double,
                marginType: MarginType, isolatedWallet: Double, maintenanceMargin: Double? = nil) {
        self.symbol = symbol
        self.quantity = quantity
        self.entryPrice = entryPrice
        self.markPrice = markPrice
        self.unrealizedPnl = unrealizedPnl
        self.marginType = marginType
        self.isolatedWallet = isolatedWallet
        self.maintenanceMargin = maintenanceMargin
    }
}

/// Receives the events of a stream as they arrive.
public typealias StreamSink = @Sendable (StreamEvent) async -> Void

/// A message a stream could not read: logged, never fatal (invariant 9).
public struct StreamParseError: Error, CustomStringConvertible, Sendable {
    public var stream: String
    public var message: String
    public var description: String { "\(stream): unreadable message: \(message)" }
}

/// Decodes one JSON message, naming the stream and the field path on failure.
enum StreamJSON {
    static func decode<T: Decodable>(_ type: T.Type, _ text: String, stream: String) throws(StreamParseError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch let DecodingError.keyNotFound(key, context) {
            throw StreamParseError(stream: stream, message: "missing \(path(context.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw StreamParseError(stream: stream, message: "wrong type at \(path(context.codingPath))")
        } catch let DecodingError.valueNotFound(_, context) {
            throw StreamParseError(stream: stream, message: "null at \(path(context.codingPath))")
        } catch let DecodingError.dataCorrupted(context) {
            throw StreamParseError(stream: stream, message: "\(context.debugDescription) at \(path(context.codingPath))")
        } catch {
            throw StreamParseError(stream: stream, message: "\(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "$" : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
    }
}
