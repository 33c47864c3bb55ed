import ArgumentParser
import Foundation
import Market
import Model
import Venues

/// `agent market products|candles|ticker|book|funding`: what a venue connector sees, for a person to check.
struct MarketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "market",
        abstract: "Show what a venue connector sees: products and rules, candles, 24h ticker, order book, funding.",
        discussion: """
        Public market data only; no keys needed. Base URLs come from app.yaml's venues section \
        (override with --set app.venues.binance.base_url=...).

        Examples:
          agent market products --exchange binance
          agent market candles --exchange coinbase --symbol BTC-USD --interval 4h --limit 24
          agent market book --exchange binance --symbol ETH-USD --json
        """)

    enum What: String, ExpressibleByArgument, CaseIterable {
        case products, candles, ticker, book, funding
    }

    @Argument(help: "products, candles, ticker, book or funding.")
    var what: What

    @Option(help: "Our symbol, e.g. BTC-USD (Binance maps it to BTCUSDT). Required except for products.")
    var symbol: String?

    @Option(help: "Candle interval: 1h, 4h or 1d.")
    var interval: String = "1h"

    @Option(help: "How many candles, or book levels per side.")
    var limit: Int = 24

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var common: MarketOptions

    func validate() throws {
        if what != .products && (symbol ?? "").isEmpty { throw ValidationError("--symbol is required for \(what.rawValue)") }
        if CandleInterval(rawValue: interval) == nil { throw ValidationError("--interval must be 1h, 4h or 1d") }
        if !(1...1500).contains(limit) { throw ValidationError("--limit must be 1...1500") }
    }

    func run() async throws {
        try await AgentMain.guarded {
            let config = try common.loadConfig()
            let exchange = common.exchange ?? config.app.exchange
            guard exchange != "sim" else {
                throw CLIError.badInput("agent market needs --exchange coinbase or binance")
            }
            let venue = try VenueFactory.market(exchange: exchange, config: config.app)
            let symbol = self.symbol ?? ""
            do {
                switch what {
                case .products:
                    let products = try await venue.products()
                    let shown = symbol.isEmpty ? products : products.filter { $0.symbol == symbol }
                    try emit(shown) { Self.productsText(shown) }
                case .candles:
                    let interval = CandleInterval(rawValue: self.interval) ?? .oneHour
                    let time = try common.pinnedTime() ?? UTC.now()
                    let candles = try await venue.candles(symbol: symbol, interval: interval, end: time, limit: limit)
                    try emit(candles) {
                        (["time                  open          high          low           close         volume"] + candles.map {
                            "\(UTC.iso8601($0.time))  \(Self.pad($0.open))  \(Self.pad($0.high))  \(Self.pad($0.low))  \(Self.pad($0.close))  \(Self.num($0.volume))"
                        }).joined(separator: "\n")
                    }
                case .ticker:
                    let t = try await venue.ticker(symbol: symbol)
                    try emit(t) {
                        "\(t.symbol) last \(Self.num(t.last))  24h \(Self.num(t.changePct24h))%  volume \(Self.num(t.volume24h)) (USD \(Self.num(t.quoteVolume24h)))"
                    }
                case .book:
                    let book = try await venue.book(symbol: symbol, levels: limit)
                    let depth = book.depthUSD(withinBps: 20)
                    try emit(BookOutput(book: book, bidDepthUsd20bps: depth.bid, askDepthUsd20bps: depth.ask)) {
                        var lines = ["\(book.symbol)  depth within 20 bps: bid USD \(Self.num(depth.bid)), ask USD \(Self.num(depth.ask))",
                                     "bid size      bid price     | ask price     ask size"]
                        for i in 0..<min(limit, max(book.bids.count, book.asks.count)) {
                            let b = i < book.bids.count ? "\(Self.pad(book.bids[i].size))  \(Self.pad(book.bids[i].price))" : String(repeating: " ", count: 26)
                            let a = i < book.asks.count ? "\(Self.pad(book.asks[i].price))  \(Self.num(book.asks[i].size))" : ""
                            lines.append("\(b)  | \(a)")
                        }
                        return lines.joined(separator: "\n")
                    }
                case .funding:
                    guard let f = try await venue.funding(symbol: symbol) else {
                        throw CLIError.badInput("\(exchange) is a spot venue: no funding")
                    }
                    try emit(f) {
                        "\(f.symbol) mark \(Self.num(f.markPrice))  index \(Self.num(f.indexPrice))  funding \(Self.num(f.fundingRate * 100))%  next \(UTC.iso8601(f.nextFundingTime))"
                    }
                }
            } catch let error as VenueError {
                throw CLIError.failed(error.description)
            }
        }
    }

    struct BookOutput: Encodable {
        var book: OrderBook
        var bidDepthUsd20bps: Double
        var askDepthUsd20bps: Double
    }

    private func emit<T: Encodable>(_ value: T, text: () -> String) throws {
        let out = json ? try JSONCoding.string(value, pretty: true) : text()
        FileHandle.standardOutput.write(Data((out + "\n").utf8))
    }

    /// Up to 10 significant digits, no exponent for ordinary prices.
    static func num(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        return String(format: "%.10g", value)
    }

    static func pad(_ value: Double) -> String {
        let text = Self.num(value)
        return text.count >= 12 ? text : text + String(repeating: " ", count: 12 - text.count)
    }

    static func productsText(_ products: [SymbolRules]) -> String {
        (["symbol      venue         tick          step          min qty       min notional  trading"] + products.map {
            [$0.symbol, $0.venueSymbol, "\($0.tickSize)", "\($0.stepSize)", "\($0.minQuantity)", "\($0.minNotional)"]
                .map { $0.count >= 12 ? $0 : $0 + String(repeating: " ", count: 12 - $0.count) }.joined(separator: "  ")
                + "  " + ($0.trading ? "yes" : "no")
        }).joined(separator: "\n")
    }
}
