import Foundation
import Model

/// Candle intervals both venues serve.
public enum CandleInterval: String, Sendable, CaseIterable, Codable {
    case oneHour = "1h"
    case fourHours = "4h"
    case oneDay = "1d"

    /// Bar length in seconds.
    public var seconds: Int64 {
        switch self {
        case .oneHour: 3_600
        case .fourHours: 14_400
        case .oneDay: 86_400
        }
    }

    /// The bars a venue cycle reads: every tape a venue's market data builds has this interval, and the kline
    /// streams between cycles follow it.
    public static let cycle: CandleInterval = .oneHour

    /// The same length as a `BarInterval`.
    public var bar: BarInterval { BarInterval(seconds: seconds) ?? .oneHour }

    /// Coinbase `granularity`.
    public var coinbaseGranularity: String {
        switch self {
        case .oneHour: "ONE_HOUR"
        case .fourHours: "FOUR_HOUR"
        case .oneDay: "ONE_DAY"
        }
    }
}

/// One price level of an order book.
public struct BookLevel: Sendable, Equatable, Codable {
    public var price: Double
    public var size: Double
    public init(price: Double, size: Double) {
        self.price = price
        self.size = size
    }
}

/// An order book: bids best (highest) first, asks best (lowest) first.
public struct OrderBook: Sendable, Equatable, Codable {
    public var symbol: String
    public var bids: [BookLevel]
    public var asks: [BookLevel]

    public init(symbol: String, bids: [BookLevel], asks: [BookLevel]) {
        self.symbol = symbol
        self.bids = bids.sorted { $0.price > $1.price }
        self.asks = asks.sorted { $0.price < $1.price }
    }

    public var bestBid: Double? { bids.first?.price }
    public var bestAsk: Double? { asks.first?.price }
    public var mid: Double? {
        guard let bid = bestBid, let ask = bestAsk else { return nil }
        return (bid + ask) / 2
    }

    /// Quote value (USD) resting within `bps` of the mid on each side.
    public func depthUSD(withinBps bps: Double = 20) -> (bid: Double, ask: Double) {
        guard let mid else { return (0, 0) }
        let low = mid * (1 - bps / 10_000)
        let high = mid * (1 + bps / 10_000)
        let bid = bids.filter { $0.price >= low }.reduce(0) { $0 + $1.price * $1.size }
        let ask = asks.filter { $0.price <= high }.reduce(0) { $0 + $1.price * $1.size }
        return (bid, ask)
    }
}

/// 24h statistics and the last price of a symbol.
public struct VenueTicker: Sendable, Equatable, Codable {
    public var symbol: String
    public var last: Double
    public var changePct24h: Double
    public var high24h: Double?
    public var low24h: Double?
    /// Base units traded in 24h.
    public var volume24h: Double
    /// Quote (USD) traded in 24h.
    public var quoteVolume24h: Double

    public init(symbol: String, last: Double, changePct24h: Double, high24h: Double? = nil, low24h: Double? = nil,
                volume24h: Double, quoteVolume24h: Double) {
        self.symbol = symbol
        self.last = last
        self.changePct24h = changePct24h
        self.high24h = high24h
        self.low24h = low24h
        self.volume24h = volume24h
        self.quoteVolume24h = quoteVolume24h
    }
}

/// Mark price and funding of a perpetual.
public struct FundingInfo: Sendable, Equatable, Codable {
    public var symbol: String
    public var markPrice: Double
    public var indexPrice: Double
    /// The last funding rate (0.0001 = 0.01% per settlement).
    public var fundingRate: Double
    /// Unix seconds of the next settlement.
    public var nextFundingTime: Int64

    public init(symbol: String, markPrice: Double, indexPrice: Double, fundingRate: Double, nextFundingTime: Int64) {
        self.symbol = symbol
        self.markPrice = markPrice
        self.indexPrice = indexPrice
        self.fundingRate = fundingRate
        self.nextFundingTime = nextFundingTime
    }
}

/// Public market data a venue connector serves, beyond the pipeline's ``MarketDataSource`` snapshot.
/// Used by `agent market ...`. Symbols are ours (`BTC-USD`).
public protocol VenueMarketData: MarketDataSource {
    /// Every tradable product with its rules.
    func products() async throws(VenueError) -> [SymbolRules]
    /// Closed candles ending at or before `end` (Unix seconds), oldest first, at most `limit`.
    func candles(symbol: String, interval: CandleInterval, end: Int64, limit: Int) async throws(VenueError) -> [Candle]
    /// 24h statistics.
    func ticker(symbol: String) async throws(VenueError) -> VenueTicker
    /// The order book, up to `levels` per side.
    func book(symbol: String, levels: Int) async throws(VenueError) -> OrderBook
    /// Mark price and funding; nil on spot venues.
    func funding(symbol: String) async throws(VenueError) -> FundingInfo?
    /// Whether the venue settles funding (perpetuals).
    var settlesFunding: Bool { get }
    /// The most candles one `candles` request returns (a larger `limit` costs several requests).
    var candlesPerRequest: Int { get }
    /// Funding settlements from `from` up to `to` (Unix seconds), oldest first, at most `limit`; empty on spot venues.
    func fundingSettlements(symbol: String, from: Int64, to: Int64, limit: Int) async throws(VenueError) -> [(time: Int64, rate: Double)]
}

extension VenueMarketData {
    /// Whether the venue settles funding (perpetuals); spot by default.
    public var settlesFunding: Bool { false }

    /// Spot: no funding.
    public func fundingSettlements(symbol: String, from: Int64, to: Int64, limit: Int) async throws(VenueError) -> [(time: Int64, rate: Double)] { [] }
}

extension VenueMarketData {
    /// Builds one symbol's tape from the venue's calls; nil when the venue does not list the symbol.
    func symbolSnapshot(_ symbol: String, at time: Int64, historyHours: Int, known: Set<String>) async throws(VenueError) -> SymbolSnapshot? {
        guard known.contains(symbol) else { return nil }
        let interval = CandleInterval.cycle
        let candles = try await candles(symbol: symbol, interval: interval, end: time, limit: max(1, historyHours))
        let book = try await book(symbol: symbol, levels: 100)
        let ticker = try await ticker(symbol: symbol)
        let funding = try await funding(symbol: symbol)
        let depth = book.depthUSD(withinBps: 20)
        let last = candles.last?.close ?? ticker.last
        return SymbolSnapshot(symbol: symbol, candles: candles, interval: interval.bar,
                              bid: book.bestBid ?? last, ask: book.bestAsk ?? last,
                              bidDepthUSD: depth.bid, askDepthUSD: depth.ask, volume24hUSD: ticker.quoteVolume24h,
                              fundingRate: funding?.fundingRate)
    }

    /// The pipeline's snapshot, built from ``products()`` and per-symbol calls. Venue errors become ``MarketError``.
    func venueSnapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        do {
            let known = Set(try await products().filter(\.trading).map(\.symbol))
            var out: [SymbolSnapshot] = []
            for symbol in symbols {
                try Task.checkCancellation()
                if let snap = try await symbolSnapshot(symbol, at: time, historyHours: historyHours, known: known) {
                    out.append(snap)
                }
            }
            return MarketSnapshot(time: time, symbols: out)
        } catch let error as VenueError {
            throw MarketError(source: name, message: error.description)
        }
    }
}

/// Keeps only bars closed at or before `time`, sorted oldest first, without duplicates, the last `limit`.
func closedCandles(_ candles: [Candle], interval: CandleInterval, at time: Int64, limit: Int) -> [Candle] {
    var seen = Set<Int64>()
    let sorted = candles.filter { $0.time + interval.seconds <= time }.sorted { $0.time < $1.time }
        .filter { seen.insert($0.time).inserted }
    return Array(sorted.suffix(max(0, limit)))
}
