import Foundation
import Venues
import Model

/// Binance USD-M routes its WebSocket streams by path (the unprefixed URLs were retired in 2026):
/// - `/public`: high-frequency book data (`@bookTicker`, `@depth`);
/// - `/market`: regular market data (`@markPrice`, `@kline_*`, `@aggTrade`);
/// - `/private/ws/<listenKey>`: the user-data stream.
/// A stream on the wrong path is accepted and then silently never delivered, so each stream names its route.
public enum BinanceRoute: String, Sendable, CaseIterable {
    case `public`
    case market
    case `private`
}

/// How a Binance stream name maps to our symbols and back.
public struct BinanceStreamNames: Sendable {
    /// The quote asset our `-USD` symbols map to (`USDT`).
    public var quote: String

    public init(quote: String) { self.quote = quote }

    public func venueSymbol(_ symbol: String) -> String { BinanceFutures.venueSymbol(symbol, quote: quote) }

    public func ourSymbol(_ venueSymbol: String) -> String { BinanceFutures.ourSymbol(venueSymbol, quote: quote) ?? venueSymbol }

    /// Binance kline interval names: `1m`, `15m`, `1h`, `4h`, `1d`.
    public static func klineInterval(_ interval: BarInterval) -> String {
        let m = interval.seconds / 60
        if m % 1_440 == 0 { return "\(m / 1_440)d" }
        if m % 60 == 0 { return "\(m / 60)h" }
        return "\(m)m"
    }
}

/// Binance's market streams for a set of symbols on one route: `SUBSCRIBE` on connect (and again after every
/// reconnect), each message turned into a ``StreamEvent``.
public struct BinanceMarketStream: StreamSubscription {
    public let route: BinanceRoute
    public let streams: [String]
    let baseURL: String
    let names: BinanceStreamNames
    let sink: StreamSink

    /// `markPrice@1s` and the klines of `interval` (route `/market`) for `symbols`.
    public static func market(baseURL: String, symbols: [String], interval: BarInterval, names: BinanceStreamNames,
                              sink: @escaping StreamSink) -> BinanceMarketStream {
        let k = BinanceStreamNames.klineInterval(interval)
        let streams = symbols.flatMap { s -> [String] in
            let v = names.venueSymbol(s).lowercased()
            return ["\(v)@markPrice@1s", "\(v)@kline_\(k)"]
        }
        return BinanceMarketStream(route: .market, streams: streams, baseURL: baseURL, names: names, sink: sink)
    }

    /// `bookTicker` (route `/public`) for `symbols`.
    public static func book(baseURL: String, symbols: [String], names: BinanceStreamNames,
                            sink: @escaping StreamSink) -> BinanceMarketStream {
        BinanceMarketStream(route: .public, streams: symbols.map { "\(names.venueSymbol($0).lowercased())@bookTicker" },
                            baseURL: baseURL, names: names, sink: sink)
    }

    public var name: String { "binance.\(route.rawValue)" }

    public func url() async throws -> String { BinanceStreamURL.join(baseURL, "/\(route.rawValue)/ws") }

    public func subscribeMessages() async throws -> [String] {
        struct Subscribe: Encodable { var method = "SUBSCRIBE"; var params: [String]; var id = 1 }
        return [String(decoding: try JSONEncoder().encode(Subscribe(params: streams)), as: UTF8.self)]
    }

    public func receive(_ text: String) async -> StreamReply {
        do {
            for event in try BinanceMessages.parse(text, names: names, stream: name) { await sink(event) }
        } catch {
            return .keep  // unreadable: skipped, the connection stays (invariant 9)
        }
        return .keep
    }
}

/// Where the user-data stream gets and keeps its listenKey: `POST /fapi/v1/listenKey`, `PUT` to keep it alive.
public protocol ListenKeySource: Sendable {
    func createListenKey() async throws -> String
    func keepAliveListenKey() async throws
}

extension BinanceFutures: ListenKeySource {}

/// The user-data stream: `/private/ws/<listenKey>`, a fresh key at every connect (the venue answers the active one),
/// a reconnect with a new key on `listenKeyExpired`.
public struct BinanceUserStream: StreamSubscription {
    let baseURL: String
    let keys: any ListenKeySource
    let names: BinanceStreamNames
    let sink: StreamSink

    public init(baseURL: String, keys: any ListenKeySource, names: BinanceStreamNames, sink: @escaping StreamSink) {
        self.baseURL = baseURL
        self.keys = keys
        self.names = names
        self.sink = sink
    }

    public var name: String { "binance.private" }

    public func url() async throws -> String {
        BinanceStreamURL.join(baseURL, "/private/ws/\(try await keys.createListenKey())")
    }

    public func subscribeMessages() async throws -> [String] { [] }

    public func receive(_ text: String) async -> StreamReply {
        let events: [StreamEvent]
        do {
            events = try BinanceMessages.parse(text, names: names, stream: name)
        } catch {
            return .keep
        }
        var reply = StreamReply.keep
        for event in events {
            await sink(event)
            if case .listenKeyExpired = event { reply = .reconnect(reason: "listenKeyExpired: reconnecting with a new key") }
        }
        return reply
    }

    /// Keeps the key alive (`PUT` every `every`, 30 minutes on the venue) until cancelled; a failed keepalive is
    /// reported and retried at the next tick (an expired key is replaced by the stream itself).
    public func keepAlive(every: Duration, failed: @escaping @Sendable (String) async -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: every) } catch { return }
            do { try await keys.keepAliveListenKey() } catch { await failed("\(error)") }
        }
    }
}

enum BinanceStreamURL {
    static func join(_ base: String, _ path: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
    }
}

/// Binance stream messages, in the documented formats (numbers as strings; `E` event time in ms).
enum BinanceMessages {
    private struct Envelope: Decodable {
        var e: String?
        var id: Int?
    }

    private struct MarkPrice: Decodable { var E: Int64; var s: String; var p: Num }
    private struct BookTicker: Decodable { var E: Int64?; var T: Int64?; var s: String; var b: Num; var a: Num }
    private struct Kline: Decodable {
        struct K: Decodable { var t: Int64; var o: Num; var h: Num; var l: Num; var c: Num; var v: Num; var x: Bool }
        var s: String
        var k: K
    }
    private struct OrderTrade: Decodable {
        struct O: Decodable {
            var s: String; var c: String; var S: String; var o: String; var q: Num; var X: String
            var z: Num; var l: Num?; var L: Num?; var ap: Num?; var n: Num?
        }
        var E: Int64
        var o: O
    }
    private struct AlgoUpdate: Decodable {
        struct O: Decodable {
            var caid: String; var o: String?; var s: String; var S: String; var q: Num?; var X: String
            var aq: Num?; var ap: Num?
        }
        var E: Int64
        var o: O
    }
    private struct AccountUpdate: Decodable {
        struct A: Decodable {
            struct P: Decodable { var s: String; var pa: Num; var ep: Num; var up: Num; var mt: String; var iw: Num? }
            var m: String
            var P: [P]?
        }
        var E: Int64
        var a: A
    }
    private struct MarginCall: Decodable {
        struct P: Decodable { var s: String; var pa: Num; var mt: String; var iw: Num?; var mp: Num; var up: Num; var mm: Num }
        var E: Int64
        var p: [P]
    }
    private struct Expired: Decodable { var E: Num }

    static func parse(_ text: String, names: BinanceStreamNames, stream: String) throws(StreamParseError) -> [StreamEvent] {
        let envelope = try StreamJSON.decode(Envelope.self, text, stream: stream)
        if envelope.id != nil { return [] }  // the answer to SUBSCRIBE
        switch envelope.e ?? "" {
        case "markPriceUpdate":
            let m = try StreamJSON.decode(MarkPrice.self, text, stream: stream)
            return [.mark(symbol: names.ourSymbol(m.s), price: m.p.double, timeMs: m.E)]
        case "bookTicker":
            let b = try StreamJSON.decode(BookTicker.self, text, stream: stream)
            return [.quote(symbol: names.ourSymbol(b.s), bid: b.b.double, ask: b.a.double, timeMs: b.E ?? b.T ?? 0)]
        case "kline":
            let k = try StreamJSON.decode(Kline.self, text, stream: stream)
            let c = Candle(time: k.k.t / 1_000, open: k.k.o.double, high: k.k.h.double, low: k.k.l.double, close: k.k.c.double,
                           volume: k.k.v.double)
            return [.bar(symbol: names.ourSymbol(k.s), candle: c, closed: k.k.x)]
        case "ORDER_TRADE_UPDATE":
            let u = try StreamJSON.decode(OrderTrade.self, text, stream: stream)
            let o = u.o
            return [.order(OrderUpdate(
                symbol: names.ourSymbol(o.s), clientOrderId: o.c, side: o.S == "SELL" ? .sell : .buy, type: o.o,
                status: BinanceFutures.orderStatus(o.X), quantity: o.q.double, filledQuantity: o.z.double,
                lastFillQuantity: o.l?.double ?? 0, lastFillPrice: o.L?.double ?? 0, averagePrice: o.ap?.double ?? 0,
                fee: o.n?.double ?? 0, conditional: false, timeMs: u.E))]
        case "ALGO_UPDATE":
            let u = try StreamJSON.decode(AlgoUpdate.self, text, stream: stream)
            let o = u.o
            let executed = o.aq?.value ?? 0
            return [.order(OrderUpdate(
                symbol: names.ourSymbol(o.s), clientOrderId: o.caid, side: o.S == "SELL" ? .sell : .buy, type: o.o ?? "CONDITIONAL",
                status: BinanceFutures.algoStatus(o.X, executed: executed), quantity: o.q?.double ?? 0,
                filledQuantity: NSDecimalNumber(decimal: executed).doubleValue, averagePrice: o.ap?.double ?? 0, conditional: true, timeMs: u.E))]
        case "ACCOUNT_UPDATE":
            let u = try StreamJSON.decode(AccountUpdate.self, text, stream: stream)
            let positions = (u.a.P ?? []).map {
                PositionUpdate(symbol: names.ourSymbol($0.s), quantity: $0.pa.double, entryPrice: $0.ep.double, unrealizedPnl: $0.up.double,
                               marginType: MarginType(venue: $0.mt) ?? .cross, isolatedWallet: $0.iw?.double ?? 0)
            }
            return [.positions(positions, reason: u.a.m, timeMs: u.E)]
        case "MARGIN_CALL":
            let u = try StreamJSON.decode(MarginCall.self, text, stream: stream)
            return [.marginCall(u.p.map {
                PositionUpdate(symbol: names.ourSymbol($0.s), quantity: $0.pa.double, entryPrice: 0, markPrice: $0.mp.double,
                               unrealizedPnl: $0.up.double, marginType: MarginType(venue: $0.mt) ?? .cross, isolatedWallet: $0.iw?.double ?? 0,
                               maintenanceMargin: $0.mm.double)
            }, timeMs: u.E)]
        case "listenKeyExpired":
            let u = try StreamJSON.decode(Expired.self, text, stream: stream)
            return [.listenKeyExpired(timeMs: NSDecimalNumber(decimal: u.E.value).int64Value)]
        default:
            return []
        }
    }
}

