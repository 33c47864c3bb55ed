import Foundation
import HTTP
import Model

/// Where and how to reach Coinbase Advanced Trade.
public struct CoinbaseSettings: Sendable, Equatable {
    /// `https://api.coinbase.com/api/v3/brokerage`, the sandbox, or a local server (path included).
    public var baseURL: String
    public var limits: VenueLimits

    public init(baseURL: String = "https://api.coinbase.com/api/v3/brokerage",
                limits: VenueLimits = VenueLimits(ordersPer10s: 300, ordersPerMinute: 1800)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.limits = limits
    }
}

/// Coinbase Advanced Trade (spot) over REST: public market data (`/market/...`) without keys, JWT-signed
/// account and trading calls.
///
/// - Our `BTC-USD` is the product id `BTC-USD`.
/// - Each private request carries a fresh ES256 (raw r||s) or EdDSA JWT whose `uri` has no query string; its
///   `nbf`/`exp` follow the venue's clock (offset from `GET /time`, measured again on a 401 and re-signed once).
/// - `success: false` on HTTP 200 is a rejection with the venue's reason.
/// - Placing an order whose outcome is unknown is resolved by resubmitting with the same `client_order_id`,
///   which Coinbase answers with the original order instead of creating a second one.
public actor Coinbase: VenueMarketData, TradingVenue {
    public nonisolated let exchange = Exchange.coinbase
    public nonisolated var name: String { exchange.rawValue }
    public nonisolated var exitOrders: ExitOrderStyle { .slicedBrackets }
    public nonisolated let settings: CoinbaseSettings
    private let credentials: CoinbaseCredentials?
    private let http: VenueHTTP
    let clock: VenueClock
    /// The venue's clock minus ours, in seconds, from `GET /time`; nil until first synced (see CoinbaseClock.swift).
    var timeOffsetSeconds: Double?
    private var productCache: [String: SymbolRules]?
    /// Our client order id -> venue order id, for orders placed by this connector.
    private var knownOrderIds: [String: String] = [:]

    /// Creates a connector. Without credentials only public market data works. `backoff` keeps bans and
    /// Retry-After windows across processes.
    public init(settings: CoinbaseSettings, credentials: CoinbaseCredentials? = nil,
                transport: any HTTPTransport = CurlHTTPClient(), clock: VenueClock = .system,
                backoff: VenueBackoffKeeper? = nil) {
        self.settings = settings
        self.credentials = credentials
        self.clock = clock
        self.http = VenueHTTP(venue: "coinbase", transport: transport, limits: settings.limits, clock: clock, backoff: backoff)
    }

    /// The current usage and pause state read from the venue's headers.
    public func usage() async -> VenueUsage { await http.throttle.usage }

    public func requestBudgetUsed() async -> Double? {
        await usage().budgetUsed(weightPerMinute: settings.limits.weightPerMinute)
    }

    // MARK: Requests

    /// Sends a request and returns the body of a 2xx answer; maps every other answer to a ``VenueError``.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil, signed: Bool = false,
              idempotent: Bool = true) async throws(VenueError) -> Data {
        let call = VenueCall(method: method, path: path, idempotent: idempotent)
        if signed, credentials == nil {
            throw VenueError(venue: name, operation: call.operation, disposition: .rejected, reason: .missingCredentials,
                             message: "private endpoint needs COINBASE_API_KEY_NAME and COINBASE_API_PRIVATE_KEY in the environment")
        }
        if signed, timeOffsetSeconds == nil {
            // A venue clock we cannot read is no reason to stop: sign on ours, and measure again if a token is refused.
            do { try await syncTime() } catch { timeOffsetSeconds = 0 }
        }
        var resynced = false
        while true {
            let response = try await http.send(call) { @Sendable () throws(VenueError) -> HTTPRequest in
                try await self.buildRequest(method: method, path: path, query: query, body: body, signed: signed)
            }
            if response.isSuccess { return response.body }
            let refused = Self.mapError(status: response.status, body: response.body, operation: call.operation, idempotent: idempotent)
            // A refused token may be our clock drifting from the venue's (nbf/exp): measure again and re-sign once.
            // A 401 executed nothing, so re-sending even an order is safe.
            if signed, refused.reason == .authentication, response.status == 401, !resynced {
                resynced = true
                do { try await syncTime() } catch { throw refused }
                continue
            }
            throw refused
        }
    }

    /// The exact request: URL with query, JSON body, and for private calls a fresh `Authorization: Bearer <JWT>`.
    func buildRequest(method: String, path: String, query: [(String, String)], body: Data?, signed: Bool) throws(VenueError) -> HTTPRequest {
        var url = settings.baseURL + path
        if !query.isEmpty { url += "?" + FormEncoding.encode(query) }
        var headers: [HTTPHeader] = []
        if signed, let credentials {
            let token = try CoinbaseJWT.token(credentials: credentials, method: method, url: url,
                                              now: Int64((clock.now() + (timeOffsetSeconds ?? 0)).rounded(.down)))
            headers.append(HTTPHeader("Authorization", "Bearer " + token))
        }
        if body != nil { headers.append(HTTPHeader("Content-Type", "application/json")) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body)
    }

    /// Maps a non-2xx answer to a typed error (429 and 418 are handled before this).
    public static func mapError(status: Int, body: Data, operation: String, idempotent: Bool) -> VenueError {
        struct Body: Decodable { var error: String?; var message: String?; var error_details: String? }
        let parsed = try? JSONDecoder().decode(Body.self, from: body)
        let message = parsed?.message ?? parsed?.error_details ?? String(decoding: body.prefix(200), as: UTF8.self)
        func make(_ d: VenueError.Disposition, _ r: VenueError.Reason) -> VenueError {
            VenueError(venue: "coinbase", operation: operation, disposition: d, reason: r, status: status,
                       code: parsed?.error, message: message.isEmpty ? "HTTP \(status)" : message)
        }
        if status >= 500 || status == 408 { return make(idempotent ? .retryable : .unknownOutcome, .serverError) }
        if status == 401 || status == 403 { return make(.rejected, .authentication) }
        if status == 404 {
            // "ProductID could not be found" is about the symbol, not an order: say so, or it reads as a lost order.
            let aboutProduct = message.lowercased().contains("product")
            return make(.rejected, aboutProduct ? .unknownProduct : .unknownOrder)
        }
        return make(.rejected, .invalidRequest)
    }

    // MARK: Public market data

    struct ProductJSON: Decodable {
        var product_id: String
        var price: Num?
        var price_percentage_change_24h: Num?
        var volume_24h: Num?
        var base_increment: Num?
        var quote_increment: Num?
        var price_increment: Num?
        var base_min_size: Num?
        var base_max_size: Num?
        var quote_min_size: Num?
        var status: String?
        var trading_disabled: Bool?
        var cancel_only: Bool?
        var base_currency_id: String?
        var quote_currency_id: String?
        var product_type: String?
    }

    func rules(from p: ProductJSON) -> SymbolRules {
        let parts = p.product_id.split(separator: "-").map(String.init)
        let tradable = (p.status ?? "online") == "online" && !(p.trading_disabled ?? false) && !(p.cancel_only ?? false)
        return SymbolRules(symbol: p.product_id, venueSymbol: p.product_id,
                           baseAsset: p.base_currency_id ?? parts.first ?? "", quoteAsset: p.quote_currency_id ?? parts.last ?? "",
                           tickSize: p.price_increment?.value ?? p.quote_increment?.value ?? 0,
                           stepSize: p.base_increment?.value ?? 0, minQuantity: p.base_min_size?.value ?? 0,
                           maxQuantity: p.base_max_size?.value ?? 0, minNotional: p.quote_min_size?.value ?? 0,
                           trading: tradable)
    }

    /// Every spot product with its increments and minimums (cached after the first call).
    public func products() async throws(VenueError) -> [SymbolRules] {
        try await allProducts().values.sorted { $0.symbol < $1.symbol }
    }

    private func allProducts() async throws(VenueError) -> [String: SymbolRules] {
        if let productCache { return productCache }
        struct List: Decodable { var products: [ProductJSON] }
        let data = try await call("GET", "/market/products", query: [("product_type", "SPOT")])
        let list = try VenueJSON.decode(List.self, from: data, venue: name, operation: "GET /market/products")
        var out: [String: SymbolRules] = [:]
        for p in list.products where (p.product_type ?? "SPOT") == "SPOT" { out[p.product_id] = rules(from: p) }
        productCache = out
        return out
    }

    public func rules(for symbol: String) async throws(VenueError) -> SymbolRules {
        if let cached = try await allProducts()[symbol] { return cached }
        let data = try await call("GET", "/market/products/\(FormEncoding.escape(symbol))")
        return rules(from: try VenueJSON.decode(ProductJSON.self, from: data, venue: name, operation: "GET /market/products/{id}"))
    }

    /// One candles page: Coinbase serves at most 350; 300 keeps a page inside that for every granularity.
    public nonisolated var candlesPerRequest: Int { 300 }

    /// Coinbase serves at most 350 candles per request; longer histories are fetched in pages.
    public func candles(symbol: String, interval: CandleInterval, end: Int64, limit: Int) async throws(VenueError) -> [Candle] {
        struct C: Decodable {
            struct Row: Decodable { var start: Num; var low: Num; var high: Num; var open: Num; var close: Num; var volume: Num }
            var candles: [Row]
        }
        let wanted = max(1, limit)
        let lastOpen = (end / interval.seconds) * interval.seconds - interval.seconds
        var collected: [Candle] = []
        var pageEnd = lastOpen + interval.seconds
        var remaining = wanted
        while remaining > 0 {
            let count = min(remaining, candlesPerRequest)
            let start = pageEnd - Int64(count) * interval.seconds
            let data = try await call("GET", "/market/products/\(FormEncoding.escape(symbol))/candles", query: [
                ("start", String(start)), ("end", String(pageEnd)), ("granularity", interval.coinbaseGranularity),
            ])
            let rows = try VenueJSON.decode(C.self, from: data, venue: name, operation: "GET /market/products/{id}/candles").candles
            collected += rows.map {
                Candle(time: Int64($0.start.double), open: $0.open.double, high: $0.high.double, low: $0.low.double,
                       close: $0.close.double, volume: $0.volume.double)
            }
            remaining -= count
            pageEnd = start
            if rows.isEmpty { break }
        }
        return closedCandles(collected, interval: interval, at: end, limit: wanted)
    }

    public func ticker(symbol: String) async throws(VenueError) -> VenueTicker {
        let data = try await call("GET", "/market/products/\(FormEncoding.escape(symbol))")
        let p = try VenueJSON.decode(ProductJSON.self, from: data, venue: name, operation: "GET /market/products/{id}")
        let price = p.price?.double ?? 0
        let volume = p.volume_24h?.double ?? 0
        return VenueTicker(symbol: symbol, last: price, changePct24h: p.price_percentage_change_24h?.double ?? 0,
                           volume24h: volume, quoteVolume24h: volume * price)
    }

    public func book(symbol: String, levels: Int) async throws(VenueError) -> OrderBook {
        struct B: Decodable {
            struct Level: Decodable { var price: Num; var size: Num }
            struct Book: Decodable { var bids: [Level]; var asks: [Level] }
            var pricebook: Book
        }
        let data = try await call("GET", "/market/product_book", query: [("product_id", symbol), ("limit", String(max(1, levels)))])
        let b = try VenueJSON.decode(B.self, from: data, venue: name, operation: "GET /market/product_book")
        return OrderBook(symbol: symbol, bids: b.pricebook.bids.map { BookLevel(price: $0.price.double, size: $0.size.double) },
                         asks: b.pricebook.asks.map { BookLevel(price: $0.price.double, size: $0.size.double) })
    }

    /// Spot has no funding.
    public func funding(symbol: String) async throws(VenueError) -> FundingInfo? { nil }

    public func snapshot(symbols: [String], at time: Int64, historyHours: Int) async throws -> MarketSnapshot {
        try await venueSnapshot(symbols: symbols, at: time, historyHours: historyHours)
    }

    // MARK: Account

    public func balances() async throws(VenueError) -> [VenueBalance] {
        struct A: Decodable {
            struct Amount: Decodable { var value: Num; var currency: String? }
            struct Account: Decodable { var currency: String; var available_balance: Amount; var hold: Amount? }
            var accounts: [Account]; var has_next: Bool?; var cursor: String?
        }
        var out: [VenueBalance] = []
        var cursor: String?
        for _ in 0..<20 {
            var query = [("limit", "250")]
            if let cursor { query.append(("cursor", cursor)) }
            let data = try await call("GET", "/accounts", query: query, signed: true)
            let page = try VenueJSON.decode(A.self, from: data, venue: name, operation: "GET /accounts")
            for a in page.accounts {
                let available = a.available_balance.value.value
                let total = available + (a.hold?.value.value ?? 0)
                if total != 0 { out.append(VenueBalance(asset: a.currency, total: total, available: available)) }
            }
            guard page.has_next == true, let next = page.cursor, !next.isEmpty else { break }
            cursor = next
        }
        return out
    }

    /// Spot holds no positions.
    public func positions() async throws(VenueError) -> [VenuePosition] { [] }

    // MARK: Orders

    struct OrderJSON: Decodable {
        var order_id: String; var product_id: String; var side: String; var client_order_id: String?
        var status: String; var order_type: String?; var filled_size: Num?; var average_filled_price: Num?
        var order_configuration: Configuration?

        struct Configuration: Decodable {
            struct Leg: Decodable {
                var base_size: Num?; var quote_size: Num?; var limit_price: Num?; var stop_price: Num?; var post_only: Bool?
                var stop_trigger_price: Num?
            }
            var market_market_ioc: Leg?; var limit_limit_gtc: Leg?; var limit_limit_gtd: Leg?; var stop_limit_stop_limit_gtc: Leg?
            var trigger_bracket_gtc: Leg?
            var leg: Leg? { market_market_ioc ?? limit_limit_gtc ?? limit_limit_gtd ?? stop_limit_stop_limit_gtc ?? trigger_bracket_gtc }
        }
    }

    func order(from o: OrderJSON) -> VenueOrder {
        let filled = o.filled_size?.value ?? 0
        let status: OrderStatus = switch o.status {
        case "OPEN": filled > 0 ? .partiallyFilled : .open
        case "PENDING", "QUEUED": .pending
        case "FILLED": .filled
        case "CANCELLED", "CANCEL_QUEUED": .cancelled
        case "EXPIRED": .expired
        case "FAILED": .rejected
        default: .unknown
        }
        let leg = o.order_configuration?.leg
        let avg = o.average_filled_price?.value
        return VenueOrder(symbol: o.product_id, orderId: o.order_id, clientOrderId: o.client_order_id ?? "",
                          side: o.side == "SELL" ? .sell : .buy, type: o.order_type ?? "UNKNOWN", status: status,
                          quantity: leg?.base_size?.value ?? 0, filledQuantity: filled, averagePrice: avg == 0 ? nil : avg,
                          price: leg?.limit_price?.value, triggerPrice: (leg?.stop_price ?? leg?.stop_trigger_price)?.value)
    }

    /// The exact JSON body of `POST /orders` for a prepared order (keys sorted, slashes unescaped).
    nonisolated func orderBody(_ r: OrderRequest) throws(VenueError) -> Data {
        let size = Dec.text(r.quantity)
        let configuration: [String: Any]
        switch r.kind {
        case .market:
            configuration = ["market_market_ioc": ["base_size": size]]
        case .limit(let price, let postOnly):
            configuration = ["limit_limit_gtc": ["base_size": size, "limit_price": Dec.text(price), "post_only": postOnly]]
        case .stopLimit(let stop, let limit):
            configuration = ["stop_limit_stop_limit_gtc": [
                "base_size": size, "limit_price": Dec.text(limit), "stop_price": Dec.text(stop),
                "stop_direction": r.side == .sell ? "STOP_DIRECTION_STOP_DOWN" : "STOP_DIRECTION_STOP_UP"]]
        case .takeProfitBracket(let limit, let stop):
            configuration = ["trigger_bracket_gtc": ["base_size": size, "limit_price": Dec.text(limit), "stop_trigger_price": Dec.text(stop)]]
        case .stopMarket, .takeProfitMarket:
            throw .rule(name, r.symbol, "Coinbase spot has no \(r.kind.name) orders: use a stop-limit or a bracket")
        }
        let body: [String: Any] = ["client_order_id": r.clientOrderId, "product_id": r.symbol, "side": r.side.rawValue,
                                   "order_configuration": configuration]
        do {
            return try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw .rule(name, r.symbol, "could not encode the order: \(error)")
        }
    }

    public func placeOrder(_ preparedOrder: PreparedOrder) async throws(VenueError) -> VenueOrder {
        let request = preparedOrder.request
        guard !request.clientOrderId.isEmpty, request.clientOrderId.count <= 128 else {
            throw .rule(name, request.symbol, "client order id must be 1...128 characters")
        }
        let prepared = request
        let body = try orderBody(prepared)
        let data: Data
        do {
            data = try await call("POST", "/orders", body: body, signed: true, idempotent: false)
        } catch where error.isUnknownOutcome {
            // Coinbase dedupes by client_order_id: the same body returns the original order, never a second one.
            data = try await call("POST", "/orders", body: body, signed: true, idempotent: false)
        }
        struct R: Decodable {
            struct Success: Decodable { var order_id: String; var client_order_id: String? }
            struct Failure: Decodable { var error: String?; var message: String?; var preview_failure_reason: String?; var error_details: String? }
            var success: Bool; var success_response: Success?; var failure_reason: String?; var error_response: Failure?
        }
        let r = try VenueJSON.decode(R.self, from: data, venue: name, operation: "POST /orders")
        guard r.success, let ok = r.success_response else {
            let f = r.error_response
            let reason = [f?.message, f?.preview_failure_reason, f?.error_details, r.failure_reason].compactMap { $0 }
                .filter { !$0.isEmpty }.first ?? "order rejected"
            throw VenueError(venue: name, operation: "POST /orders", disposition: .rejected,
                             reason: f?.error == "INSUFFICIENT_FUND" ? .insufficientFunds : .invalidRequest, status: 200,
                             code: f?.error ?? r.failure_reason, message: reason)
        }
        knownOrderIds[request.clientOrderId] = ok.order_id
        var price: Decimal?
        var trigger: Decimal?
        switch prepared.kind {
        case .limit(let p, _): price = p
        case .stopLimit(let s, let l): price = l; trigger = s
        case .takeProfitBracket(let l, let s): price = l; trigger = s
        default: break
        }
        return VenueOrder(symbol: request.symbol, orderId: ok.order_id, clientOrderId: ok.client_order_id ?? request.clientOrderId,
                          side: request.side, type: prepared.kind.name, status: .open, quantity: prepared.quantity,
                          price: price, triggerPrice: trigger)
    }

    /// The order by its venue id.
    public func order(orderId: String) async throws(VenueError) -> VenueOrder? {
        struct R: Decodable { var order: OrderJSON }
        do {
            let data = try await call("GET", "/orders/historical/\(FormEncoding.escape(orderId))", signed: true)
            return order(from: try VenueJSON.decode(R.self, from: data, venue: name, operation: "GET /orders/historical/{id}").order)
        } catch where error.reason == .unknownOrder {
            return nil
        }
    }

    public func order(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder? {
        if let id = knownOrderIds[clientOrderId] { return try await order(orderId: id) }
        return try await listOrders(symbol: symbol, openOnly: false).first { $0.clientOrderId == clientOrderId }
    }

    private func listOrders(symbol: String?, openOnly: Bool) async throws(VenueError) -> [VenueOrder] {
        struct L: Decodable { var orders: [OrderJSON] }
        var query: [(String, String)] = [("limit", "250")]
        if let symbol { query.append(("product_ids", symbol)) }
        if openOnly { query.append(("order_status", "OPEN")) }
        let data = try await call("GET", "/orders/historical/batch", query: query, signed: true)
        return try VenueJSON.decode(L.self, from: data, venue: name, operation: "GET /orders/historical/batch").orders.map { order(from: $0) }
    }

    public func openOrders(symbol: String?) async throws(VenueError) -> [VenueOrder] {
        try await listOrders(symbol: symbol, openOnly: true).filter(\.status.isLive)
    }

    public func cancelOrder(symbol: String, clientOrderId: String) async throws(VenueError) -> VenueOrder {
        guard let existing = try await order(symbol: symbol, clientOrderId: clientOrderId) else {
            throw VenueError(venue: name, operation: "cancel \(clientOrderId)", disposition: .rejected, reason: .unknownOrder,
                             message: "no order with client id \(clientOrderId) on \(symbol)")
        }
        struct R: Decodable {
            struct Result: Decodable { var success: Bool; var failure_reason: String?; var order_id: String? }
            var results: [Result]
        }
        let body = VenueJSON.encode(["order_ids": [existing.orderId]])
        let data = try await call("POST", "/orders/batch_cancel", body: body, signed: true, idempotent: true)
        let r = try VenueJSON.decode(R.self, from: data, venue: name, operation: "POST /orders/batch_cancel")
        if let result = r.results.first, !result.success {
            throw VenueError(venue: name, operation: "POST /orders/batch_cancel", disposition: .rejected,
                             reason: result.failure_reason == "UNKNOWN_CANCEL_ORDER" ? .unknownOrder : .other, status: 200,
                             code: result.failure_reason, message: "cancel of \(clientOrderId) refused: \(result.failure_reason ?? "no reason given")")
        }
        return try await order(orderId: existing.orderId) ?? existing
    }

    public func fills(symbol: String, clientOrderId: String?) async throws(VenueError) -> [VenueFill] {
        struct F: Decodable {
            struct Fill: Decodable {
                var trade_id: String; var order_id: String; var trade_time: String; var price: Num; var size: Num
                var commission: Num?; var product_id: String; var side: String
            }
            var fills: [Fill]
        }
        var query: [(String, String)] = [("product_ids", symbol), ("limit", "250")]
        if let clientOrderId {
            guard let order = try await order(symbol: symbol, clientOrderId: clientOrderId) else { return [] }
            query.append(("order_ids", order.orderId))
        }
        let data = try await call("GET", "/orders/historical/fills", query: query, signed: true)
        let rows = try VenueJSON.decode(F.self, from: data, venue: name, operation: "GET /orders/historical/fills").fills
        let quote = symbol.split(separator: "-").last.map(String.init) ?? "USD"
        return rows.map {
            VenueFill(symbol: $0.product_id, orderId: $0.order_id, tradeId: $0.trade_id, side: $0.side == "SELL" ? .sell : .buy,
                      price: $0.price.value, quantity: $0.size.value, fee: $0.commission?.value ?? 0, feeAsset: quote,
                      time: Self.parseTime($0.trade_time) ?? 0)
        }
    }

    /// RFC 3339 with or without fractional seconds.
    static func parseTime(_ text: String) -> Int64? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970) }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text).map { Int64($0.timeIntervalSince1970) }
    }
}
