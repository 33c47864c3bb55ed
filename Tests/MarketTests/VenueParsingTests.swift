import Foundation
import HTTP
@testable import Market
import Model
import Testing
@testable import Venues

/// Answers in the exchanges' documented shapes.
enum BinanceFixtures {
    static let exchangeInfo = #"""
    {"timezone":"UTC","serverTime":1591702613943,"symbols":[
     {"symbol":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","pricePrecision":2,
      "filters":[{"filterType":"PRICE_FILTER","minPrice":"556.80","maxPrice":"4529764","tickSize":"0.10"},
                 {"filterType":"LOT_SIZE","minQty":"0.001","maxQty":"1000","stepSize":"0.001"},
                 {"filterType":"MARKET_LOT_SIZE","minQty":"0.001","maxQty":"120","stepSize":"0.001"},
                 {"filterType":"MIN_NOTIONAL","notional":"100"}]},
     {"symbol":"ETHUSDC","contractType":"PERPETUAL","status":"TRADING","baseAsset":"ETH","quoteAsset":"USDC",
      "filters":[{"filterType":"PRICE_FILTER","minPrice":"1","maxPrice":"100000","tickSize":"0.01"}]},
     {"symbol":"ETHUSDT_260327","contractType":"CURRENT_QUARTER","status":"TRADING","baseAsset":"ETH","quoteAsset":"USDT","filters":[]}
    ]}
    """#
    static let newOrder = #"{"orderId":22542179,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"c-1-p1","price":"50000.1","avgPrice":"0.00","origQty":"0.012","executedQty":"0","cumQuote":"0","timeInForce":"GTX","type":"LIMIT","reduceOnly":false,"side":"BUY","stopPrice":"0","updateTime":1591702613943}"#
    static let algoOrder = #"{"algoId":2146760,"clientAlgoId":"c-1-p1-sl","algoType":"CONDITIONAL","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","timeInForce":"GTC","quantity":"0.01","algoStatus":"NEW","triggerPrice":"45000.1","price":"0.00","workingType":"MARK_PRICE","closePosition":false,"reduceOnly":true,"createTime":1591702613943}"#
}

@Suite(.serialized) struct VenueParsingTests {
    static func binance(_ routes: @escaping @Sendable (String) -> HTTPResponse) -> BinanceFutures {
        BinanceFutures(settings: BinanceSettings(baseURL: "https://b.test"), credentials: BinanceCredentials(apiKey: "k", secret: "s"),
                       transport: RecordingTransport { routes(RecordingTransport.path($0.url)) }, clock: FakeClock().clock)
    }

    @Test func exchangeInfoFiltersBecomeRules() async throws {
        let venue = Self.binance { _ in ok(BinanceFixtures.exchangeInfo) }
        let products = try await venue.products()
        #expect(products.map(\.symbol) == ["BTC-USD"])          // USDC and quarterly contracts are left out
        let btc = try #require(products.first)
        #expect(btc.venueSymbol == "BTCUSDT")
        #expect(btc.tickSize == Decimal("0.1"))
        #expect(btc.stepSize == Decimal("0.001"))
        #expect(btc.minQuantity == Decimal("0.001"))
        #expect(btc.marketMaxQuantity == 120)
        #expect(btc.minNotional == 100)
        #expect(btc.trading)
    }

    @Test func usdcQuoteIsConfigurable() async throws {
        let venue = BinanceFutures(settings: BinanceSettings(baseURL: "https://b.test", quote: "USDC"),
                                   transport: RecordingTransport { _ in ok(BinanceFixtures.exchangeInfo) }, clock: FakeClock().clock)
        #expect(venue.venueSymbol("ETH-USD") == "ETHUSDC")
        #expect(try await venue.products().map(\.venueSymbol) == ["ETHUSDC"])
    }

    @Test func positionsParseStringNumbersAndLowercaseMarginTypes() async throws {
        let venue = Self.binance { path in
            path == "/fapi/v1/time" ? ok(#"{"serverTime":\#(Int64(Date().timeIntervalSince1970 * 1000))}"#) :
            ok(#"[{"symbol":"BTCUSDT","positionAmt":"-0.250","entryPrice":"60000.5","breakEvenPrice":"0","markPrice":"59000.00000000","unRealizedProfit":"250.12500000","liquidationPrice":"71234.5","leverage":"5","maxNotionalValue":"1000000","marginType":"isolated","isolatedMargin":"3000.00000000","isAutoAddMargin":"false","positionSide":"BOTH","notional":"-14750","isolatedWallet":"3000","updateTime":1},{"symbol":"ETHUSDT","positionAmt":"0.000","entryPrice":"0.0","markPrice":"3000","unRealizedProfit":"0","liquidationPrice":"0","leverage":"20","marginType":"cross","isolatedMargin":"0"}]"#)
        }
        let positions = try await venue.positions()
        #expect(positions.count == 1)
        let p = try #require(positions.first)
        #expect(p.symbol == "BTC-USD")
        #expect(p.quantity == Decimal("-0.25"))
        #expect(p.entryPrice == Decimal("60000.5"))
        #expect(p.unrealizedPnl == Decimal("250.125"))
        #expect(p.leverage == 5)
        #expect(p.marginType == .isolated)
        #expect(p.liquidationPrice == Decimal("71234.5"))
        #expect(p.isolatedMargin == 3000)
        #expect(MarginType(venue: "CROSSED") == .cross && MarginType(venue: "cross") == .cross && MarginType(venue: "x") == nil)
    }

    @Test func malformedJSONNamesTheFieldPath() async {
        let venue = Self.binance { _ in ok(#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","stepSize":"abc"}]}]}"#) }
        await #expect { try await venue.products() } throws: { error in
            let e = error as? VenueError
            return e?.reason == .badResponse && e?.message.contains("symbols[0].filters[0].stepSize") == true
        }
    }

    @Test func binanceErrorCodesMapToDispositions() {
        func map(_ status: Int, _ body: String, idempotent: Bool = false) -> VenueError {
            BinanceFutures.mapError(status: status, body: Data(body.utf8), operation: "POST /fapi/v1/order", idempotent: idempotent)
        }
        #expect(map(400, #"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#).reason == .timestampOutOfWindow)
        #expect(map(400, #"{"code":-2019,"msg":"Margin is insufficient."}"#).reason == .insufficientFunds)
        #expect(map(400, #"{"code":-2019,"msg":"Margin is insufficient."}"#).isRejection)
        #expect(map(400, #"{"code":-1111,"msg":"Precision is over the maximum defined for this asset."}"#).reason == .ruleViolation)
        #expect(map(400, #"{"code":-2013,"msg":"Order does not exist."}"#).reason == .unknownOrder)
        #expect(map(401, #"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#).reason == .authentication)
        let unknown = map(503, #"{"code":-1000,"msg":"Unknown error, please check your request or try again later."}"#)
        #expect(unknown.isUnknownOutcome)
        #expect(unknown.code == "-1000" && unknown.status == 503)
        #expect(map(503, #"{"code":-1001,"msg":"Service Unavailable."}"#).isRetryable)
        #expect(map(408, #"{"code":-1007,"msg":"Timeout waiting for response from backend server."}"#).isUnknownOutcome)
        #expect(map(503, #"{"code":-1000,"msg":"Unknown error"}"#, idempotent: true).isRetryable)
        #expect(map(400, #"{"code":-4164,"msg":"Order's notional must be no smaller than 100"}"#).description.contains("-4164"))
    }

    @Test func klinesAreOldestFirstAndOnlyClosed() async throws {
        // 3 rows, the newest still forming at t = 7200 + 1800.
        let venue = Self.binance { _ in
            ok(#"[[0,"1","2","0.5","1.5","10",3599999,"15",5,"1","1","0"],[3600000,"1.5","2.5","1","2","11",7199999,"22",5,"1","1","0"],[7200000,"2","3","1.5","2.5","12",10799999,"30",5,"1","1","0"]]"#)
        }
        let candles = try await venue.candles(symbol: "BTC-USD", interval: .oneHour, end: 9000, limit: 10)
        #expect(candles.map(\.time) == [0, 3600])
        #expect(candles.last?.close == 2)
        #expect(candles.first?.volume == 10)
    }

    @Test func coinbaseCandlesNewestFirstBecomeOldestFirst() async throws {
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: "https://cb.test/api/v3/brokerage"), transport: RecordingTransport { _ in
            ok(#"{"candles":[{"start":"10800","low":"3","high":"5","open":"4","close":"4.5","volume":"3"},{"start":"7200","low":"2","high":"4","open":"3","close":"4","volume":"2.5"},{"start":"3600","low":"1","high":"3","open":"2","close":"3","volume":"1"}]}"#)
        }, clock: FakeClock().clock)
        let candles = try await venue.candles(symbol: "BTC-USD", interval: .oneHour, end: 12_000, limit: 5)
        #expect(candles.map(\.time) == [3600, 7200])     // 10800 closes at 14400 > 12000
        #expect(candles.map(\.close) == [3, 4])
        #expect(candles.last?.volume == 2.5)
    }

    @Test func coinbaseProductIncrementsBecomeRules() async throws {
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: "https://cb.test/api/v3/brokerage"), transport: RecordingTransport { _ in
            ok(#"{"products":[{"product_id":"BTC-USD","price":"97000.12","price_percentage_change_24h":"-1.5","volume_24h":"1234.5","base_increment":"0.00000001","quote_increment":"0.01","quote_min_size":"1","base_min_size":"0.00000001","base_max_size":"3400","status":"online","trading_disabled":false,"cancel_only":false,"product_type":"SPOT","price_increment":"0.01","base_currency_id":"BTC","quote_currency_id":"USD"},{"product_id":"OLD-USD","status":"delisted","trading_disabled":true,"product_type":"SPOT"},{"product_id":"BTC-PERP-INTX","product_type":"FUTURE"}],"num_products":3}"#)
        }, clock: FakeClock().clock)
        let products = try await venue.products()
        #expect(products.map(\.symbol) == ["BTC-USD", "OLD-USD"])
        let btc = try #require(products.first)
        #expect(btc.tickSize == Decimal("0.01") && btc.stepSize == Decimal("0.00000001") && btc.minNotional == 1)
        #expect(products.last?.trading == false)
    }

    @Test func coinbaseSuccessFalseIsARejectionWithItsReason() async throws {
        let transport = RecordingTransport { request in
            RecordingTransport.path(request.url).hasSuffix("/orders")
                ? ok(#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account","error_details":"","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"}}"#)
                : ok(#"{"products":[{"product_id":"BTC-USD","base_increment":"0.00000001","price_increment":"0.01","base_min_size":"0.00000001","quote_min_size":"1","status":"online","product_type":"SPOT"}]}"#)
        }
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: "https://cb.test/api/v3/brokerage"),
                             credentials: CoinbaseCredentials(keyName: "k", p256: .init()), transport: transport, clock: FakeClock().clock)
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: 1, clientOrderId: "a")) } throws: { error in
            let e = error as? VenueError
            return e?.isRejection == true && e?.reason == .insufficientFunds && e?.code == "INSUFFICIENT_FUND"
                && e?.message == "Insufficient balance in source account" && e?.status == 200
        }
        #expect(Coinbase.mapError(status: 500, body: Data(), operation: "POST /orders", idempotent: false).isUnknownOutcome)
        #expect(Coinbase.mapError(status: 400, body: Data(#"{"error":"INVALID_ARGUMENT","message":"bad size"}"#.utf8), operation: "x", idempotent: false).message == "bad size")
        #expect(Coinbase.mapError(status: 401, body: Data(), operation: "x", idempotent: true).reason == .authentication)
    }

    @Test func bookDepthWithin20bps() {
        let book = OrderBook(symbol: "X", bids: [BookLevel(price: 99.9, size: 1), BookLevel(price: 99.7, size: 5), BookLevel(price: 100, size: 2)],
                             asks: [BookLevel(price: 100.3, size: 3), BookLevel(price: 100.1, size: 1)])
        #expect(book.bestBid == 100 && book.bestAsk == 100.1)
        let depth = book.depthUSD(withinBps: 20)   // mid 100.05, band 99.85 ... 100.25
        #expect(abs(depth.bid - (100 * 2 + 99.9)) < 1e-9)
        #expect(abs(depth.ask - 100.1) < 1e-9)
    }
}
