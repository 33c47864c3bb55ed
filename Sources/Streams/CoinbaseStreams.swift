import Foundation
import Venues
import Model

/// Coinbase Advanced Trade's WebSocket channels used here.
public enum CoinbaseChannel: String, Sendable, CaseIterable {
    /// A message every second: what stall detection listens for.
    case heartbeats
    case ticker
    /// Subscribed as `level2`, answered as `l2_data`.
    case level2
    /// Our orders; needs a JWT in the subscribe message.
    case user
}

/// One connection carrying every channel: a subscribe message per channel (each with a fresh JWT when keys are
/// given), `sequence_num` tracked over the connection. A gap means messages were lost: the stream reports a resync
/// (what was missed is read over REST by the watch) and subscribes again, which sends fresh snapshots.
public struct CoinbaseStream: StreamSubscription {
    let baseURL: String
    let products: [String]
    let channels: [CoinbaseChannel]
    /// Signs the subscribe messages (nil: public channels only).
    let jwt: (@Sendable () throws -> String)?
    let sink: StreamSink
    let state = CoinbaseStreamState()

    public init(baseURL: String, products: [String], channels: [CoinbaseChannel] = CoinbaseChannel.allCases,
                jwt: (@Sendable () throws -> String)?, sink: @escaping StreamSink) {
        self.baseURL = baseURL
        self.products = products
        self.channels = jwt == nil ? channels.filter { $0 != .user } : channels
        self.jwt = jwt
        self.sink = sink
    }

    public var name: String { "coinbase" }

    public func url() async throws -> String { baseURL }

    public func subscribeMessages() async throws -> [String] {
        await state.reset()
        return try messages(type: "subscribe")
    }

    func messages(type: String) throws -> [String] {
        struct Subscribe: Encodable {
            var type: String
            var product_ids: [String]?
            var channel: String
            var jwt: String?
        }
        let token = try jwt?()
        return try channels.map { c in
            let body = Subscribe(type: type, product_ids: c == .heartbeats ? nil : products, channel: c.rawValue, jwt: token)
            return String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        }
    }

    public func receive(_ text: String) async -> StreamReply {
        let parsed: CoinbaseMessages.Parsed
        do {
            parsed = try CoinbaseMessages.parse(text, stream: name)
        } catch {
            return .keep
        }
        if let seq = parsed.sequence, let gap = await state.advance(to: seq) {
            await sink(.resync(stream: name, reason: gap))
            do {
                return .send(try messages(type: "subscribe"))
            } catch {
                return .reconnect(reason: "\(gap); cannot sign the resubscribe: \(error)")
            }
        }
        for event in await state.events(parsed) { await sink(event) }
        return .keep
    }
}

/// The connection's sequence and its level-2 books (best bid and ask come from them).
actor CoinbaseStreamState {
    private var last: Int64?
    private var books: [String: (bids: [Double: Double], asks: [Double: Double])] = [:]

    func reset() {
        last = nil
        books = [:]
    }

    /// Nil when `seq` follows the last one; otherwise why it does not (and the books are dropped).
    func advance(to seq: Int64) -> String? {
        defer { last = seq }
        guard let last, seq != last + 1, seq > last else { return nil }
        books = [:]
        return "sequence gap: \(last) then \(seq) (\(seq - last - 1) messages lost)"
    }

    func events(_ parsed: CoinbaseMessages.Parsed) -> [StreamEvent] {
        var out = parsed.events
        for update in parsed.book {
            var b = update.snapshot ? ([:], [:]) : (books[update.product] ?? ([:], [:]))
            for (side, price, size) in update.levels {
                if side == .buy { b.0[price] = size > 0 ? size : nil } else { b.1[price] = size > 0 ? size : nil }
            }
            books[update.product] = b
            if let bid = b.0.keys.max(), let ask = b.1.keys.min() {
                out.append(.quote(symbol: update.product, bid: bid, ask: ask, timeMs: parsed.timeMs))
            }
        }
        return out
    }
}

/// Coinbase stream messages, in the documented formats (numbers as strings, ISO 8601 timestamps).
enum CoinbaseMessages {
    struct BookUpdate {
        var product: String
        var snapshot: Bool
        var levels: [(OrderSide, Double, Double)]
    }

    struct Parsed {
        var sequence: Int64?
        var timeMs: Int64
        var events: [StreamEvent] = []
        var book: [BookUpdate] = []
    }

    private struct Envelope: Decodable {
        var channel: String?
        var type: String?
        var message: String?
        var sequence_num: Int64?
        var timestamp: String?
    }

    private struct Heartbeats: Decodable {
        struct E: Decodable { var current_time: String? }
        var events: [E]
    }

    private struct Tickers: Decodable {
        struct E: Decodable {
            struct T: Decodable { var product_id: String; var price: Num; var best_bid: Num?; var best_ask: Num? }
            var tickers: [T]
        }
        var events: [E]
    }

    private struct Level2: Decodable {
        struct E: Decodable {
            struct U: Decodable { var side: String; var price_level: Num; var new_quantity: Num }
            var type: String
            var product_id: String
            var updates: [U]
        }
        var events: [E]
    }

    private struct User: Decodable {
        struct E: Decodable {
            struct O: Decodable {
                var product_id: String; var client_order_id: String; var order_side: String; var order_type: String?
                var status: String; var cumulative_quantity: Num; var leaves_quantity: Num?; var avg_price: Num?
                var total_fees: Num?
            }
            var orders: [O]?
        }
        var events: [E]
    }

    static func parse(_ text: String, stream: String) throws(StreamParseError) -> Parsed {
        let envelope = try StreamJSON.decode(Envelope.self, text, stream: stream)
        if envelope.type == "error" {
            throw StreamParseError(stream: stream, message: "the venue reported an error: \(envelope.message ?? "")")
        }
        let timeMs = envelope.timestamp.flatMap(time) ?? Int64(Date().timeIntervalSince1970 * 1_000)
        var parsed = Parsed(sequence: envelope.sequence_num, timeMs: timeMs)
        switch envelope.channel ?? "" {
        case "heartbeats":
            let h = try StreamJSON.decode(Heartbeats.self, text, stream: stream)
            parsed.events = h.events.map { .heartbeat(timeMs: $0.current_time.flatMap(time) ?? timeMs) }
        case "ticker", "ticker_batch":
            let t = try StreamJSON.decode(Tickers.self, text, stream: stream)
            for ticker in t.events.flatMap(\.tickers) {
                parsed.events.append(.trade(symbol: ticker.product_id, price: ticker.price.double, timeMs: timeMs))
            }
        case "l2_data":
            let l = try StreamJSON.decode(Level2.self, text, stream: stream)
            parsed.book = l.events.map { e in
                BookUpdate(product: e.product_id, snapshot: e.type == "snapshot",
                           levels: e.updates.map { ($0.side == "bid" ? .buy : .sell, $0.price_level.double, $0.new_quantity.double) })
            }
        case "user":
            let u = try StreamJSON.decode(User.self, text, stream: stream)
            for o in u.events.flatMap({ $0.orders ?? [] }) {
                let filled = o.cumulative_quantity.double
                parsed.events.append(.order(OrderUpdate(
                    symbol: o.product_id, clientOrderId: o.client_order_id, side: o.order_side == "SELL" ? .sell : .buy,
                    type: o.order_type ?? "", status: status(o.status), quantity: filled + (o.leaves_quantity?.double ?? 0),
                    filledQuantity: filled, averagePrice: o.avg_price?.double ?? 0, fee: o.total_fees?.double ?? 0,
                    timeMs: timeMs)))
            }
        default:
            break  // subscriptions acknowledgements and channels we do not read
        }
        return parsed
    }

    static func status(_ raw: String) -> OrderStatus {
        switch raw {
        case "OPEN": .open
        case "FILLED": .filled
        case "CANCELLED", "CANCEL_QUEUED": .cancelled
        case "EXPIRED": .expired
        case "FAILED", "REJECTED": .rejected
        case "PENDING": .pending
        default: .unknown
        }
    }

    /// ISO 8601 with or without fractional seconds (Coinbase sends nanoseconds), in ms.
    static func time(_ text: String) -> Int64? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var trimmed = text
        // Foundation reads at most milliseconds: cut longer fractions.
        if let dot = text.firstIndex(of: "."), let z = text[dot...].firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }),
           text.distance(from: dot, to: z) > 4 {
            trimmed = String(text[..<text.index(dot, offsetBy: 4)]) + String(text[z...])
        }
        if let d = f.date(from: trimmed) { return Int64((d.timeIntervalSince1970 * 1_000).rounded()) }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text).map { Int64($0.timeIntervalSince1970 * 1_000) }
    }
}
