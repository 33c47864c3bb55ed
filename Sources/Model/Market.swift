/// Market data values shared by every venue and stage.
///
/// Times are Unix seconds (`Int64`), never nanoseconds: backtests run far past 2262.

/// One OHLCV bar. `time` is the bar's open time; `volume` is in base units.
public struct Candle: Codable, Sendable, Equatable, Hashable {
    public var time: Int64
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double

    public init(time: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double) {
        self.time = time
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }

    /// Volume in quote currency (USD), estimated at the close.
    public var quoteVolume: Double { volume * close }
}

/// The tape of one symbol at the decision time: what the pipeline and the M2 reviewer see.
public struct SymbolSnapshot: Codable, Sendable, Equatable {
    public var symbol: String
    /// Candles of `interval`, oldest first, all closed at or before the snapshot time.
    public var candles: [Candle]
    /// The bar length of `candles`.
    public var interval: BarInterval
    public var bid: Double
    public var ask: Double
    /// USD resting within 20 bps of the mid on the bid side and on the ask side.
    public var bidDepthUSD: Double
    public var askDepthUSD: Double
    /// 24h traded volume in USD.
    public var volume24hUSD: Double
    /// Funding rate per 8h settlement for perpetual-style symbols (0.0001 = 0.01%); nil for spot.
    public var fundingRate: Double?

    public init(symbol: String, candles: [Candle], interval: BarInterval = .oneHour, bid: Double, ask: Double,
                bidDepthUSD: Double, askDepthUSD: Double, volume24hUSD: Double, fundingRate: Double? = nil) {
        self.symbol = symbol
        self.candles = candles
        self.interval = interval
        self.bid = bid
        self.ask = ask
        self.bidDepthUSD = bidDepthUSD
        self.askDepthUSD = askDepthUSD
        self.volume24hUSD = volume24hUSD
        self.fundingRate = fundingRate
    }

    public var mid: Double { (bid + ask) / 2 }
    public var last: Double { candles.last?.close ?? mid }

    /// Quoted spread in basis points of the mid.
    public var spreadBps: Double {
        let m = mid
        guard m > 0, ask >= bid else { return .infinity }
        return (ask - bid) / m * 10_000
    }

    /// The thinner side of the book within 20 bps, in USD.
    public var depthUSD: Double { min(bidDepthUSD, askDepthUSD) }

    /// How many of this tape's bars cover `hours` (at least one).
    public func bars(hours: Int) -> Int { interval.bars(hours: hours) }

    /// When the newest bar closed (nil without candles).
    public var lastClose: Int64? { candles.last.map { $0.time + interval.seconds } }

    /// Percent change of the close over the last `hours` (converted to bars; nil without enough history).
    public func changePct(hours: Int) -> Double? {
        let n = bars(hours: hours)
        guard n > 0, candles.count > n else { return nil }
        let then = candles[candles.count - 1 - n].close
        guard then > 0, let now = candles.last?.close else { return nil }
        return (now - then) / then * 100
    }
}

/// Every symbol's tape at one decision time.
public struct MarketSnapshot: Codable, Sendable, Equatable {
    /// The decision time (Unix seconds). Only bars that closed at or before it are included.
    public var time: Int64
    public var symbols: [SymbolSnapshot]
    /// The bar length the source serves (each symbol's tape carries its own too).
    public var interval: BarInterval

    public init(time: Int64, symbols: [SymbolSnapshot], interval: BarInterval? = nil) {
        self.time = time
        self.symbols = symbols
        self.interval = interval ?? symbols.first?.interval ?? .oneHour
    }

    public func symbol(_ name: String) -> SymbolSnapshot? { symbols.first { $0.symbol == name } }
}

/// Errors a market source can raise. Each says which source and why.
public struct MarketError: Error, Sendable, CustomStringConvertible, Equatable {
    public var source: String
    public var message: String
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }
    public var description: String { "\(source): \(message)" }
}

/// A source of market data: the `sim` market, CSV replay, and later real venues.
public protocol MarketDataSource: Sendable {
    /// The venue name as used on the command line (`sim`, `coinbase`, `binance`).
    var name: String { get }
    /// The tape of `symbols` at `time` (Unix seconds), with at least `historyHours` 1h candles when available.
    /// Symbols the source does not know are left out, not an error.
    func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot
    /// The share (0...1) of the venue's per-minute request budget used, as its last answer reported; nil for sources
    /// that have none (`sim`, files).
    func requestBudgetUsed() async -> Double?
}

extension MarketDataSource {
    public func requestBudgetUsed() async -> Double? { nil }
}
