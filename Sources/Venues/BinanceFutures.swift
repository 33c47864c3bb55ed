import Foundation
import HTTP
import Market
import Model

/// Where and how to reach Binance USD-M futures.
public struct BinanceSettings: Sendable, Equatable {
    /// `https://fapi.binance.com`, `https://demo-fapi.binance.com`, or a local server.
    public var baseURL: String
    /// The quote asset our `-USD` symbols map to (`USDT` or `USDC`).
    public var quote: String
    /// `recvWindow` sent with signed requests, in milliseconds.
    public var recvWindowMs: Int
    public var limits: VenueLimits

    public init(baseURL: String = "https://fapi.binance.com", quote: String = "USDT", recvWindowMs: Int = 5000,
                limits: VenueLimits = VenueLimits()) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.quote = quote
        self.recvWindowMs = recvWindowMs
        self.limits = limits
    }
}

/// Binance USD-M perpetual futures over REST: public market data without keys, signed account and trading calls.
///
/// - Our `BTC-USD` is `BTCUSDT` (quote configurable). Unknown symbols are left out of snapshots.
/// - Signed calls carry `timestamp` (local clock + server offset), `recvWindow` and `signature` (last); the
///   offset is refreshed from `/fapi/v1/time` on error -1021 and the call is re-signed once.
/// - Stops and take-profits go to `/fapi/v1/algoOrder` (conditional algo orders).
/// - An order whose fate is unknown (timeout, 503 "Unknown error") is looked up by client id before the
///   error reaches the caller; it is never resent.
public actor BinanceFutures: VenueMarketData, FuturesVenue {
    public nonisolated let exchange = Exchange.binance
    public nonisolated var name: String { exchange.rawValue }
    public nonisolated var exitOrders: ExitOrderStyle { .reduceOnlyConditional }
    public nonisolated var futures: (any FuturesVenue)? { self }
    public nonisolated let settings: BinanceSettings
    private let credentials: BinanceCredentials?
    private let http: VenueHTTP
    private let clock: VenueClock
    /// Server time minus local time, in ms; nil until first synced.
    private(set) var timeOffsetMs: Int64?
    private var rulesByVenueSymbol: [String: SymbolRules]?

    /// Creates a connector. Without credentials only public market data works. `backoff` keeps bans and
    /// Retry-After windows across processes.
    public init(settings: BinanceSettings, credentials: BinanceCredentials? = nil,
                transport: any HTTPTransport = CurlHTTPClient(), clock: VenueClock = .system,
                backoff: VenueBackoffKeeper? = nil) {
        self.settings = settings
        self.credentials = credentials
        self.clock = clock
        self.http = VenueHTTP(venue: "binance", transport: transport, limits: settings.limits, clock: clock, backoff: backoff)
    }

    // MARK: Symbols

    /// `BTC-USD` -> `BTCUSDT` (with the configured quote). Symbols already in venue form pass through.
    public nonisolated func venueSymbol(_ symbol: String) -> String { Self.venueSymbol(symbol, quote: settings.quote) }

    /// `BTCUSDT` -> `BTC-USD`; nil for another quote.
    public nonisolated func ourSymbol(_ venueSymbol: String) -> String? { Self.ourSymbol(venueSymbol, quote: settings.quote) }

    /// `BTC-USD` -> `BTCUSDT` for `quote`.
    public nonisolated static func venueSymbol(_ symbol: String, quote: String) -> String {
        let parts = symbol.split(separator: "-")
        guard parts.count == 2 else { return symbol.uppercased() }
        return (parts[0] + quote).uppercased()
    }

    /// `BTCUSDT` -> `BTC-USD` for `quote`; nil for another quote.
    public nonisolated static func ourSymbol(_ venueSymbol: String, quote: String) -> String? {
        guard venueSymbol.hasSuffix(quote), venueSymbol.count > quote.count else { return nil }
        return String(venueSymbol.dropLast(quote.count)) + "-USD"
    }

    /// The current usage and pause state read from the venue's headers.
    public func usage() async -> VenueUsage { await http.throttle.usage }

    public func requestBudgetUsed() async -> Double? {
        await usage().budgetUsed(weightPerMinute: settings.limits.weightPerMinute)
    }

    // MARK: Requests

    /// Sends a request and returns the body of a 2xx answer; maps every other answer to a ``VenueError``.
    func call(_ method: String, _ path: String, _ params: [(String, String)] = [], signed: Bool = false,
              idempotent: Bool = true) async throws(VenueError) -> Data {
        let call = VenueCall(method: method, path: path, idempotent: idempotent)
        if signed, credentials == nil {
            throw VenueError(venue: name, operation: call.operation, disposition: .rejected, reason: .missingCredentials,
                             message: "signed endpoint needs BINANCE_API_KEY and BINANCE_API_SECRET in the environment")
        }
        if signed, timeOffsetMs == nil { try await syncTime() }
        var resynced = false
        while true {
            let response = try await http.send(call) { @Sendable () throws(VenueError) -> HTTPRequest in
                await self.buildRequest(method: method, path: path, params: params, signed: signed)
            }
            if response.isSuccess { return response.body }
            let error = Self.mapError(status: response.status, body: response.body, operation: call.operation,
                                      idempotent: idempotent)
            if error.reason == .timestampOutOfWindow, signed, !resynced {
                resynced = true
                try await syncTime()
                continue
            }
            throw error
        }
    }

    /// The exact request for the current clock (public requests are never signed).
    func buildRequest(method: String, path: String, params: [(String, String)], signed: Bool) -> HTTPRequest {
        var all = params
        var headers: [HTTPHeader] = []
        if signed, let credentials {
            let timestamp = Int64((clock.now() * 1000).rounded(.down)) + (timeOffsetMs ?? 0)
            all.append(("recvWindow", String(settings.recvWindowMs)))
            all.append(("timestamp", String(timestamp)))
            headers.append(HTTPHeader("X-MBX-APIKEY", credentials.apiKey))
        }
        var payload = FormEncoding.encode(all)
        if signed, let credentials {
            let signature = BinanceSigning.signature(secret: credentials.secret, payload: payload)
            payload += (payload.isEmpty ? "" : "&") + "signature=" + signature
        }
        let inBody = method == "POST" || method == "PUT"
        var url = settings.baseURL + path
        var body: Data?
        if inBody {
            headers.append(HTTPHeader("Content-Type", "application/x-www-form-urlencoded"))
            body = Data(payload.utf8)
        } else if !payload.isEmpty {
            url += "?" + payload
        }
        return HTTPRequest(method: method, url: url, headers: headers, body: body)
    }

    // MARK: User data stream

    /// `POST /fapi/v1/listenKey`: the key of the user-data stream (the active one, extended, if there is one).
    public func createListenKey() async throws(VenueError) -> String {
        struct Key: Decodable { var listenKey: String }
        let data = try await keyedCall("POST", "/fapi/v1/listenKey")
        return try VenueJSON.decode(Key.self, from: data, venue: name, operation: "POST /fapi/v1/listenKey").listenKey
    }

    /// `PUT /fapi/v1/listenKey`: keeps the user-data stream alive for another 60 minutes.
    public func keepAliveListenKey() async throws(VenueError) {
        _ = try await keyedCall("PUT", "/fapi/v1/listenKey")
    }

    /// A USER_STREAM call: the API key header, no signature.
    private func keyedCall(_ method: String, _ path: String) async throws(VenueError) -> Data {
        let call = VenueCall(method: method, path: path, idempotent: true)
        guard let credentials else {
            throw VenueError(venue: name, operation: call.operation, disposition: .rejected, reason: .missingCredentials,
                             message: "the user-data stream needs BINANCE_API_KEY in the environment")
        }
        let request = HTTPRequest(method: method, url: settings.baseURL + path, headers: [HTTPHeader("X-MBX-APIKEY", credentials.apiKey)],
                                  body: method == "GET" ? nil : Data())
        let response = try await http.send(call) { @Sendable () throws(VenueError) -> HTTPRequest in request }
        if response.isSuccess { return response.body }
        throw Self.mapError(status: response.status, body: response.body, operation: call.operation, idempotent: true)
    }

    /// Refreshes the server-time offset from `GET /fapi/v1/time`.
    public func syncTime() async throws(VenueError) {
        struct Time: Decodable { var serverTime: Int64 }
        let before = clock.now()
        let data = try await call("GET", "/fapi/v1/time")
        let after = clock.now()
        let time = try VenueJSON.decode(Time.self, from: data, venue: name, operation: "GET /fapi/v1/time")
        let localMid = Int64(((before + after) / 2 * 1000).rounded())
        timeOffsetMs = time.serverTime - localMid
    }

    /// Maps a non-2xx answer to a typed error. `idempotent` says whether repeating the call is harmless;
    /// for order placement a 408, a 503 "Unknown error" or another 5xx means the outcome is unknown.
    public static func mapError(status: Int, body: Data, operation: String, idempotent: Bool) -> VenueError {
        struct Body: Decodable { var code: Int?; var msg: String? }
        let parsed = try? JSONDecoder().decode(Body.self, from: body)
        let code = parsed?.code
        let msg = parsed?.msg ?? String(decoding: body.prefix(200), as: UTF8.self)
        func make(_ d: VenueError.Disposition, _ r: VenueError.Reason) -> VenueError {
            VenueError(venue: "binance", operation: operation, disposition: d, reason: r, status: status,
                       code: code.map(String.init), message: msg.isEmpty ? "HTTP \(status)" : msg)
        }
        if status >= 500 || status == 408 {
            if idempotent { return make(.retryable, .serverError) }
            if status == 503, msg.lowercased().contains("service unavailable") { return make(.retryable, .serverError) }
            return make(.unknownOutcome, .serverError)
        }
        switch code {
        case -1021: return make(.retryable, .timestampOutOfWindow)
        case -1003: return make(.retryable, .rateLimited)
        case -1022, -2014, -2015: return make(.rejected, .authentication)
        case -2011, -2013: return make(.rejected, .unknownOrder)
        case -2018, -2019: return make(.rejected, .insufficientFunds)
        case -1111, -1013, -4164, -4131, -4003, -4014, -4023: return make(.rejected, .ruleViolation)
        default: break
        }
        if status == 401 || status == 403 { return make(.rejected, .authentication) }
        return make(.rejected, code == nil ? .other : .invalidRequest)
    }

    // MARK: Public market data

    private struct ExchangeInfo: Decodable {
        struct Symbol: Decodable {
            var symbol: String
            var status: String
            var contractType: String?
            var baseAsset: String
            var quoteAsset: String
            var filters: [Filter]
        }
        struct Filter: Decodable {
            var filterType: String
            var tickSize: Num?
            var minPrice: Num?
            var maxPrice: Num?
            var stepSize: Num?
            var minQty: Num?
            var maxQty: Num?
            var notional: Num?
        }
        var symbols: [Symbol]
    }

    /// Every USD-M perpetual with the configured quote, with its filters (cached after the first call).
    public func products() async throws(VenueError) -> [SymbolRules] {
        try await allRules().values.sorted { $0.symbol < $1.symbol }
    }

    private func allRules() async throws(VenueError) -> [String: SymbolRules] {
        if let rulesByVenueSymbol { return rulesByVenueSymbol }
        let data = try await call("GET", "/fapi/v1/exchangeInfo")
        let info = try VenueJSON.decode(ExchangeInfo.self, from: data, venue: name, operation: "GET /fapi/v1/exchangeInfo")
        var out: [String: SymbolRules] = [:]
        for s in info.symbols where s.quoteAsset == settings.quote && (s.contractType ?? "PERPETUAL") == "PERPETUAL" {
            guard let ours = ourSymbol(s.symbol) else { continue }
            var rules = SymbolRules(symbol: ours, venueSymbol: s.symbol, baseAsset: s.baseAsset, quoteAsset: s.quoteAsset,
                                    tickSize: 0, stepSize: 0, minQuantity: 0, trading: s.status == "TRADING")
            for f in s.filters {
                switch f.filterType {
                case "PRICE_FILTER":
                    rules.tickSize = f.tickSize?.value ?? 0
                    rules.minPrice = f.minPrice?.value ?? 0
                    rules.maxPrice = f.maxPrice?.value ?? 0
                case "LOT_SIZE":
                    rules.stepSize = f.stepSize?.value ?? 0
                    rules.minQuantity = f.minQty?.value ?? 0
                    rules.maxQuantity = f.maxQty?.value ?? 0
                case "MARKET_LOT_SIZE":
                    rules.marketStepSize = f.stepSize?.value ?? 0
                    rules.marketMaxQuantity = f.maxQty?.value ?? 0
                case "MIN_NOTIONAL":
                    rules.minNotional = f.notional?.value ?? 0
                default:
                    break
                }
            }
            out[s.symbol] = rules
        }
        rulesByVenueSymbol = out
        return out
    }

    public func rules(for symbol: String) async throws(VenueError) -> SymbolRules {
        guard let rules = try await allRules()[venueSymbol(symbol)] else {
            throw VenueError(venue: name, operation: "rules", disposition: .rejected, reason: .invalidRequest,
                             message: "\(venueSymbol(symbol)) is not a \(settings.quote) perpetual on this venue")
        }
        return rules
    }

    /// One klines page at its cheapest weight per bar: up to 1,000 bars weigh 5, 1,001-1,500 weigh 10.
    public nonisolated var candlesPerRequest: Int { 1_000 }

    public func candles(symbol: String, interval: CandleInterval, end: Int64, limit: Int) async throws(VenueError) -> [Candle] {
        let count = min(max(1, limit), 1500)
        // The last bar must have closed by `end`: its open time is at most end - interval.
        let lastOpenMs = (end - interval.seconds) * 1000
        let data = try await call("GET", "/fapi/v1/klines", [
            ("symbol", venueSymbol(symbol)), ("interval", interval.rawValue),
            ("endTime", String(lastOpenMs)), ("limit", String(count)),
        ])
        let rows = try VenueJSON.decode([[JSONScalar]].self, from: data, venue: name, operation: "GET /fapi/v1/klines")
        var candles: [Candle] = []
        for (i, row) in rows.enumerated() {
            guard row.count >= 6, let open = row[0].double, let o = row[1].double, let h = row[2].double,
                  let l = row[3].double, let c = row[4].double, let v = row[5].double else {
                throw .badResponse(name, "GET /fapi/v1/klines", "row [\(i)]: expected [openTime, open, high, low, close, volume, ...]")
            }
            candles.append(Candle(time: Int64(open / 1000), open: o, high: h, low: l, close: c, volume: v))
        }
        return closedCandles(candles, interval: interval, at: end, limit: count)
    }

    public func ticker(symbol: String) async throws(VenueError) -> VenueTicker {
        struct T: Decodable {
            var lastPrice: Num; var priceChangePercent: Num; var highPrice: Num?; var lowPrice: Num?
            var volume: Num; var quoteVolume: Num
        }
        let data = try await call("GET", "/fapi/v1/ticker/24hr", [("symbol", venueSymbol(symbol))])
        let t = try VenueJSON.decode(T.self, from: data, venue: name, operation: "GET /fapi/v1/ticker/24hr")
        return VenueTicker(symbol: symbol, last: t.lastPrice.double, changePct24h: t.priceChangePercent.double,
                           high24h: t.highPrice?.double, low24h: t.lowPrice?.double, volume24h: t.volume.double,
                           quoteVolume24h: t.quoteVolume.double)
    }

    public func book(symbol: String, levels: Int) async throws(VenueError) -> OrderBook {
        struct B: Decodable { var bids: [[Num]]; var asks: [[Num]] }
        // Binance accepts 5, 10, 20, 50, 100, 500, 1000.
        let allowed = [5, 10, 20, 50, 100, 500, 1000]
        let limit = allowed.first { $0 >= levels } ?? 1000
        let data = try await call("GET", "/fapi/v1/depth", [("symbol", venueSymbol(symbol)), ("limit", String(limit))])
        let b = try VenueJSON.decode(B.self, from: data, venue: name, operation: "GET /fapi/v1/depth")
        func parse(_ rows: [[Num]]) -> [BookLevel] {
            rows.compactMap { $0.count >= 2 ? BookLevel(price: $0[0].double, size: $0[1].double) : nil }
        }
        return OrderBook(symbol: symbol, bids: parse(b.bids), asks: parse(b.asks))
    }

    public func funding(symbol: String) async throws(VenueError) -> FundingInfo? {
        struct P: Decodable { var markPrice: Num; var indexPrice: Num; var lastFundingRate: Num; var nextFundingTime: Int64 }
        let data = try await call("GET", "/fapi/v1/premiumIndex", [("symbol", venueSymbol(symbol))])
        let p = try VenueJSON.decode(P.self, from: data, venue: name, operation: "GET /fapi/v1/premiumIndex")
        return FundingInfo(symbol: symbol, markPrice: p.markPrice.double, indexPrice: p.indexPrice.double,
                           fundingRate: p.lastFundingRate.double, nextFundingTime: p.nextFundingTime / 1000)
    }

    /// Past funding settlements, oldest first: (Unix seconds, rate); with `from`, those from that time on (at most
    /// `limit`, up to 1000 per call).
    public func fundingHistory(symbol: String, from: Int64? = nil, to: Int64? = nil, limit: Int = 100) async throws(VenueError) -> [(time: Int64, rate: Double)] {
        struct F: Decodable { var fundingTime: Int64; var fundingRate: Num }
        var params = [("symbol", venueSymbol(symbol)), ("limit", String(min(max(1, limit), 1000)))]
        if let from { params.append(("startTime", String(from * 1000))) }
        if let to { params.append(("endTime", String(to * 1000))) }
        let data = try await call("GET", "/fapi/v1/fundingRate", params)
        let rows = try VenueJSON.decode([F].self, from: data, venue: name, operation: "GET /fapi/v1/fundingRate")
        return rows.map { ($0.fundingTime / 1000, $0.fundingRate.double) }.sorted { $0.time < $1.time }
    }

    public nonisolated var settlesFunding: Bool { true }

    public func fundingSettlements(symbol: String, from: Int64, to: Int64, limit: Int) async throws(VenueError) -> [(time: Int64, rate: Double)] {
        try await fundingHistory(symbol: symbol, from: from, to: to, limit: limit)
    }

    public func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        try await venueSnapshot(symbols: symbols, at: time, historyHours: historyHours)
    }

    // MARK: Account

    public func balances() async throws(VenueError) -> [VenueBalance] {
        struct A: Decodable {
            struct Asset: Decodable { var asset: String; var walletBalance: Num; var availableBalance: Num }
            var assets: [Asset]
        }
        let data = try await call("GET", "/fapi/v2/account", signed: true)
        let a = try VenueJSON.decode(A.self, from: data, venue: name, operation: "GET /fapi/v2/account")
        return a.assets.filter { $0.walletBalance.value != 0 || $0.availableBalance.value != 0 }
            .map { VenueBalance(asset: $0.asset, total: $0.walletBalance.value, available: $0.availableBalance.value) }
    }

    public func positions() async throws(VenueError) -> [VenuePosition] {
        struct P: Decodable {
            var symbol: String; var positionAmt: Num; var entryPrice: Num; var markPrice: Num; var unRealizedProfit: Num
            var liquidationPrice: Num; var leverage: Num; var marginType: String; var isolatedMargin: Num?
        }
        let data = try await call("GET", "/fapi/v2/positionRisk", signed: true)
        let rows = try VenueJSON.decode([P].self, from: data, venue: name, operation: "GET /fapi/v2/positionRisk")
        var out: [VenuePosition] = []
        for (i, p) in rows.enumerated() where p.positionAmt.value != 0 {
            guard let margin = MarginType(venue: p.marginType) else {
                throw .badResponse(name, "GET /fapi/v2/positionRisk", "[\(i)].marginType: unknown '\(p.marginType)'")
            }
            out.append(VenuePosition(symbol: ourSymbol(p.symbol) ?? p.symbol, quantity: p.positionAmt.value,
                                     entryPrice: p.entryPrice.value, markPrice: p.markPrice.value,
                                     unrealizedPnl: p.unRealizedProfit.value, leverage: Int(p.leverage.double),
                                     marginType: margin, liquidationPrice: p.liquidationPrice.value,
                                     isolatedMargin: p.isolatedMargin?.value ?? 0))
        }
        return out
    }

    /// Sets the symbol's leverage (1...125); returns what the venue applied.
    public func setLeverage(symbol: String, leverage: Int) async throws(VenueError) -> Int {
        guard (1...125).contains(leverage) else {
            throw .rule(name, symbol, "leverage must be 1...125, got \(leverage)")
        }
        struct L: Decodable { var leverage: Int }
        let data = try await call("POST", "/fapi/v1/leverage",
                                  [("symbol", venueSymbol(symbol)), ("leverage", String(leverage))], signed: true)
        return try VenueJSON.decode(L.self, from: data, venue: name, operation: "POST /fapi/v1/leverage").leverage
    }

    /// Sets cross or isolated margin. "No need to change margin type" (-4046) counts as success.
    public func setMarginType(symbol: String, _ type: MarginType) async throws(VenueError) {
        do {
            _ = try await call("POST", "/fapi/v1/marginType",
                               [("symbol", venueSymbol(symbol)), ("marginType", type.binanceRequestValue)], signed: true)
        } catch where error.code == "-4046" {
            return
        }
    }

    /// The symbol's maintenance-margin brackets.
    public func leverageBrackets(symbol: String) async throws(VenueError) -> [LeverageBracket] {
        struct R: Decodable {
            struct B: Decodable {
                var bracket: Int; var initialLeverage: Int; var notionalCap: Num; var notionalFloor: Num
                var maintMarginRatio: Num; var cum: Num
            }
            var symbol: String; var brackets: [B]
        }
        let data = try await call("GET", "/fapi/v1/leverageBracket", [("symbol", venueSymbol(symbol))], signed: true)
        let rows = try VenueJSON.decode([R].self, from: data, venue: name, operation: "GET /fapi/v1/leverageBracket")
        return (rows.first?.brackets ?? []).map {
            LeverageBracket(bracket: $0.bracket, initialLeverage: $0.initialLeverage, notionalFloor: $0.notionalFloor.double,
                            notionalCap: $0.notionalCap.double, maintMarginRatio: $0.maintMarginRatio.double, cum: $0.cum.double)
        }
    }

    /// Funding settlements since `since` (Unix seconds), oldest first (`/fapi/v1/income`, `incomeType=FUNDING_FEE`).
    public func fundingIncome(since: Int64, limit: Int = 100) async throws(VenueError) -> [FundingIncome] {
        struct I: Decodable { var symbol: String; var income: Num; var asset: String; var time: Int64; var tranId: Int64 }
        let data = try await call("GET", "/fapi/v1/income", [("incomeType", "FUNDING_FEE"), ("startTime", String(since * 1000)),
                                                              ("limit", String(min(max(1, limit), 1000)))], signed: true)
        let rows = try VenueJSON.decode([I].self, from: data, venue: name, operation: "GET /fapi/v1/income")
        return rows.map {
            FundingIncome(symbol: ourSymbol($0.symbol) ?? $0.symbol, amount: $0.income.value, asset: $0.asset,
                          time: $0.time / 1000, transactionId: String($0.tranId))
        }.sorted { $0.time < $1.time }
    }

    // MARK: Orders

    struct OrderJSON: Decodable {
        var symbol: String; var orderId: Int64; var clientOrderId: String; var side: String; var type: String
        var status: String; var origQty: Num; var executedQty: Num; var avgPrice: Num?; var price: Num?
        var stopPrice: Num?; var reduceOnly: Bool?
    }

    struct AlgoJSON: Decodable {
        var algoId: Int64; var clientAlgoId: String; var symbol: String; var side: String; var orderType: String?
        var algoStatus: String?; var quantity: Num?; var executedQty: Num?; var avgPrice: Num?; var price: Num?
        var triggerPrice: Num?; var reduceOnly: Bool?
    }

    /// A regular order's Binance status (REST `status`, user stream `X`) as ours.
    public nonisolated static func orderStatus(_ raw: String) -> OrderStatus {
        switch raw {
        case "NEW": .open
        case "PARTIALLY_FILLED": .partiallyFilled
        case "FILLED": .filled
        case "CANCELED": .cancelled
        case "REJECTED": .rejected
        case "EXPIRED", "EXPIRED_IN_MATCH": .expired
        default: .unknown
        }
    }

    /// A conditional (algo) order's status (REST `algoStatus`, `ALGO_UPDATE` `X`) as ours; FINISHED is a fill only
    /// when something executed.
    public nonisolated static func algoStatus(_ raw: String, executed: Decimal) -> OrderStatus {
        switch raw {
        case "NEW": .pending
        case "TRIGGERING", "TRIGGERED": .open
        case "FINISHED": executed > 0 ? .filled : .cancelled
        case "CANCELED", "CANCELLED": .cancelled
        case "REJECTED": .rejected
        case "EXPIRED": .expired
        default: .unknown
        }
    }

    func order(from o: OrderJSON) -> VenueOrder {
        let status = Self.orderStatus(o.status)
        let avg = o.avgPrice?.value
        return VenueOrder(symbol: ourSymbol(o.symbol) ?? o.symbol, orderId: String(o.orderId), clientOrderId: o.clientOrderId,
                          side: o.side == "SELL" ? .sell : .buy, type: o.type, status: status, quantity: o.origQty.value,
                          filledQuantity: o.executedQty.value, averagePrice: avg == 0 ? nil : avg,
                          price: o.price?.value == 0 ? nil : o.price?.value,
                          triggerPrice: o.stopPrice?.value == 0 ? nil : o.stopPrice?.value, reduceOnly: o.reduceOnly ?? false)
    }

    func order(from a: AlgoJSON) -> VenueOrder {
        let status = Self.algoStatus(a.algoStatus ?? "", executed: a.executedQty?.value ?? 0)
        let avg = a.avgPrice?.value
        return VenueOrder(symbol: ourSymbol(a.symbol) ?? a.symbol, orderId: String(a.algoId), clientOrderId: a.clientAlgoId,
                          side: a.side == "SELL" ? .sell : .buy, type: a.orderType ?? "CONDITIONAL", status: status,
                          quantity: a.quantity?.value ?? 0, filledQuantity: a.executedQty?.value ?? 0,
                          averagePrice: avg == 0 ? nil : avg, price: a.price?.value == 0 ? nil : a.price?.value,
                          triggerPrice: a.triggerPrice?.value, reduceOnly: a.reduceOnly ?? false)
    }

    /// The exact parameters sent for a prepared order: `(path, params)`.
    nonisolated func orderParams(_ r: OrderRequest, venueSymbol: String) -> (String, [(String, String)]) {
        var p: [(String, String)] = [("symbol", venueSymbol), ("side", r.side.rawValue)]
        let qty = ("quantity", Dec.text(r.quantity))
        switch r.kind {
        case .market:
            p += [("type", "MARKET"), qty]
        case .limit(let price, let postOnly):
            p += [("type", "LIMIT"), qty, ("price", Dec.text(price)), ("timeInForce", postOnly ? "GTX" : "GTC")]
        case .stopLimit(let stop, let limit):
            p = [("algoType", "CONDITIONAL")] + p + [("type", "STOP"), qty, ("price", Dec.text(limit)),
                                                     ("triggerPrice", Dec.text(stop)), ("timeInForce", "GTC"),
                                                     ("workingType", "MARK_PRICE")]
        case .stopMarket(let trigger):
            p = [("algoType", "CONDITIONAL")] + p + [("type", "STOP_MARKET"), qty, ("triggerPrice", Dec.text(trigger)),
                                                     ("workingType", "MARK_PRICE")]
        case .takeProfitMarket(let trigger):
            p = [("algoType", "CONDITIONAL")] + p + [("type", "TAKE_PROFIT_MARKET"), qty,
                                                     ("triggerPrice", Dec.text(trigger)), ("workingType", "MARK_PRICE")]
        case .takeProfitBracket(let limit, _):
            // Never sent: `placeOrder` refuses brackets (futures rest a stop and take-profits side by side instead).
            p += [("type", "LIMIT"), qty, ("price", Dec.text(limit)), ("timeInForce", "GTC")]
        }
        if r.reduceOnly { p.append(("reduceOnly", "true")) }
        if r.kind.isConditional {
            p.append(("clientAlgoId", r.clientOrderId))
            return ("/fapi/v1/algoOrder", p)
        }
        p += [("newClientOrderId", r.clientOrderId), ("newOrderRespType", "RESULT")]
        return ("/fapi/v1/order", p)
    }

    public func placeOrder(_ preparedOrder: PreparedOrder) async throws(VenueError) -> VenueOrder {
        let request = preparedOrder.request
        guard BinanceSigning.isValidClientOrderId(request.clientOrderId) else {
            throw .rule(name, request.symbol, "client order id '\(request.clientOrderId)' must match ^[.A-Z:/a-z0-9_-]{1,36}$")
        }
        if case .takeProfitBracket = request.kind {
            throw .rule(name, request.symbol, "Binance futures has no bracket orders: rest a stop and a take-profit")
        }
        let prepared = request
        let (path, params) = orderParams(prepared, venueSymbol: try await rules(for: request.symbol).venueSymbol)
        do {
            let data = try await call("POST", path, params, signed: true, idempotent: false)
            if prepared.kind.isConditional {
                return order(from: try VenueJSON.decode(AlgoJSON.self, from: data, venue: name, operation: "POST \(path)"))
            }
            return order(from: try VenueJSON.decode(OrderJSON.self, from: data, venue: name, operation: "POST \(path)"))
        } catch where error.isUnknownOutcome {
            // Never resend: find out whether the venue took it.
            if let found = try? await order(symbol: request.symbol, clientOrderId: request.clientOrderId) {
                return found
            }
            var unknown = error
            unknown.message += "; order \(request.clientOrderId) not found on lookup yet: reconcile before acting"
            throw unknown
        }
    }

    public func order(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder? {
        let vs = venueSymbol(symbol)
        do {
            let data = try await call("GET", "/fapi/v1/order", [("symbol", vs), ("origClientOrderId", clientOrderId)], signed: true)
            return order(from: try VenueJSON.decode(OrderJSON.self, from: data, venue: name, operation: "GET /fapi/v1/order"))
        } catch where error.reason == .unknownOrder {
            do {
                let data = try await call("GET", "/fapi/v1/algoOrder", [("clientAlgoId", clientOrderId)], signed: true)
                return order(from: try VenueJSON.decode(AlgoJSON.self, from: data, venue: name, operation: "GET /fapi/v1/algoOrder"))
            } catch where error.reason == .unknownOrder {
                return nil
            }
        }
    }

    public func cancelOrder(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder {
        let vs = venueSymbol(symbol)
        do {
            let data = try await call("DELETE", "/fapi/v1/order", [("symbol", vs), ("origClientOrderId", clientOrderId)], signed: true)
            return order(from: try VenueJSON.decode(OrderJSON.self, from: data, venue: name, operation: "DELETE /fapi/v1/order"))
        } catch where error.reason == .unknownOrder {
            _ = try await call("DELETE", "/fapi/v1/algoOrder", [("clientAlgoId", clientOrderId)], signed: true)
            if let found = try await order(symbol: symbol, clientOrderId: clientOrderId) { return found }
            throw error
        }
    }

    public func openOrders(symbol: String?) async throws(VenueError) -> [VenueOrder] {
        let params = symbol.map { [("symbol", venueSymbol($0))] } ?? []
        let data = try await call("GET", "/fapi/v1/openOrders", params, signed: true)
        let regular = try VenueJSON.decode([OrderJSON].self, from: data, venue: name, operation: "GET /fapi/v1/openOrders")
        let algoData = try await call("GET", "/fapi/v1/openAlgoOrders", params, signed: true)
        let algo = try VenueJSON.decode([AlgoJSON].self, from: algoData, venue: name, operation: "GET /fapi/v1/openAlgoOrders")
        return regular.map { order(from: $0) } + algo.map { order(from: $0) }
    }

    public func fills(symbol: String, clientOrderId: String?) async throws(VenueError) -> [VenueFill] {
        struct T: Decodable {
            var symbol: String; var id: Int64; var orderId: Int64; var side: String; var price: Num; var qty: Num
            var commission: Num; var commissionAsset: String; var time: Int64
        }
        var params = [("symbol", venueSymbol(symbol))]
        if let clientOrderId {
            guard let order = try await order(symbol: symbol, clientOrderId: clientOrderId) else { return [] }
            params.append(("orderId", order.orderId))
        }
        let data = try await call("GET", "/fapi/v1/userTrades", params, signed: true)
        let rows = try VenueJSON.decode([T].self, from: data, venue: name, operation: "GET /fapi/v1/userTrades")
        return rows.map {
            VenueFill(symbol: symbol, orderId: String($0.orderId), tradeId: String($0.id), side: $0.side == "SELL" ? .sell : .buy,
                      price: $0.price.value, quantity: $0.qty.value, fee: $0.commission.value, feeAsset: $0.commissionAsset,
                      time: $0.time / 1000)
        }
    }
}
