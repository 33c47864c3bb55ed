import Crypto
import Foundation
import HTTP
@testable import Market
import Testing
@testable import Venues

/// Golden requests: exact method, path, query, body and headers for given inputs.
@Suite(.serialized) struct BinanceRequestTests {
    static let vectorSecret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    static let vectorPayload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
    static let vectorSignature = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"

    @Test func signatureMatchesTheDocumentedVector() {
        #expect(BinanceSigning.signature(secret: Self.vectorSecret, payload: Self.vectorPayload) == Self.vectorSignature)
    }

    /// A venue whose clock is frozen at the vector's timestamp and whose server time agrees.
    static func vectorVenue() -> (BinanceFutures, RecordingTransport) {
        let transport = RecordingTransport { request in
            switch RecordingTransport.path(request.url) {
            case "/fapi/v1/time": return ok(#"{"serverTime":1591702613943}"#)
            case "/fapi/v1/exchangeInfo": return ok(BinanceFixtures.exchangeInfo)
            case "/fapi/v1/order": return ok(BinanceFixtures.newOrder)
            case "/fapi/v1/algoOrder": return ok(BinanceFixtures.algoOrder)
            default: return ok(#"{"code":-1000,"msg":"unexpected"}"#, status: 404)
            }
        }
        let clock = FakeClock(now: 1_591_702_613.943)
        let venue = BinanceFutures(settings: BinanceSettings(baseURL: "https://fapi.example.test"),
                                   credentials: BinanceCredentials(apiKey: "vector-key", secret: vectorSecret),
                                   transport: transport, clock: clock.clock)
        return (venue, transport)
    }

    @Test func signedPostCarriesTheVectorBodyAndSignatureLast() async throws {
        let (venue, transport) = Self.vectorVenue()
        try await venue.syncTime()
        let request = await venue.buildRequest(method: "POST", path: "/fapi/v1/order", params: [
            ("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "9000"), ("timeInForce", "GTC"),
        ], signed: true)
        #expect(request.method == "POST")
        #expect(request.url == "https://fapi.example.test/fapi/v1/order")
        #expect(request.header("X-MBX-APIKEY") == "vector-key")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(String(decoding: request.body ?? Data(), as: UTF8.self) == Self.vectorPayload + "&signature=" + Self.vectorSignature)
        #expect(transport.requests.count == 1)   // only the time sync went out
    }

    @Test func signedGetPutsEverythingInTheQuery() async throws {
        let (venue, _) = Self.vectorVenue()
        try await venue.syncTime()
        let request = await venue.buildRequest(method: "GET", path: "/fapi/v1/order",
                                               params: [("symbol", "BTCUSDT"), ("origClientOrderId", "c-1/p:2")], signed: true)
        let payload = "symbol=BTCUSDT&origClientOrderId=c-1%2Fp%3A2&recvWindow=5000&timestamp=1591702613943"
        #expect(request.url == "https://fapi.example.test/fapi/v1/order?" + payload + "&signature="
                + BinanceSigning.signature(secret: Self.vectorSecret, payload: payload))
        #expect(request.body == nil)
    }

    @Test func publicRequestsAreNeverSigned() async {
        let (venue, _) = Self.vectorVenue()
        let request = await venue.buildRequest(method: "GET", path: "/fapi/v1/depth", params: [("symbol", "BTCUSDT"), ("limit", "100")], signed: false)
        #expect(request.url == "https://fapi.example.test/fapi/v1/depth?symbol=BTCUSDT&limit=100")
        #expect(request.headers.isEmpty)
    }

    @Test func limitOrderGoldenBodyAfterRounding() async throws {
        let (venue, transport) = Self.vectorVenue()
        let placed = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy,
                                                             kind: .limit(price: Decimal("50000.17"), postOnly: true),
                                                             quantity: Decimal("0.0129"), clientOrderId: "c-1-p1"))
        #expect(placed.clientOrderId == "c-1-p1")
        let post = try #require(transport.requests.last)
        #expect(post.method == "POST")
        #expect(RecordingTransport.path(post.url) == "/fapi/v1/order")
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.012&price=50000.1&timeInForce=GTX&newClientOrderId=c-1-p1&newOrderRespType=RESULT&recvWindow=5000&timestamp=1591702613943"
        #expect(String(decoding: post.body ?? Data(), as: UTF8.self)
                == payload + "&signature=" + BinanceSigning.signature(secret: Self.vectorSecret, payload: payload))
    }

    @Test func stopLossGoesToTheAlgoEndpointRoundedTowardTheMarket() async throws {
        let (venue, transport) = Self.vectorVenue()
        let placed = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .stopMarket(triggerPrice: Decimal("45000.04")),
                                                             quantity: Decimal("0.010"), clientOrderId: "c-1-p1-sl", reduceOnly: true))
        #expect(placed.status == .pending)
        #expect(placed.type == "STOP_MARKET")
        let post = try #require(transport.requests.last)
        #expect(RecordingTransport.path(post.url) == "/fapi/v1/algoOrder")
        let body = String(decoding: post.body ?? Data(), as: UTF8.self)
        #expect(body.hasPrefix("algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.01&triggerPrice=45000.1&workingType=MARK_PRICE&reduceOnly=true&clientAlgoId=c-1-p1-sl&recvWindow=5000&timestamp=1591702613943&signature="))
        #expect(!transport.requests.contains { RecordingTransport.path($0.url) == "/fapi/v1/order" })
    }

    @Test func ruleViolationsAreRejectedBeforeSending() async {
        let (venue, transport) = Self.vectorVenue()
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal("0.0009"),
                                                                  clientOrderId: "x1", referencePrice: 50_000)) } throws: { error in
            (error as? VenueError)?.reason == .ruleViolation && (error as? VenueError)?.isRejection == true
        }
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .limit(price: 50_000, postOnly: false),
                                                                  quantity: Decimal("0.001"), clientOrderId: "x2")) } throws: { error in
            (error as? VenueError)?.message.contains("below the minimum 100") == true
        }
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: 1,
                                                                  clientOrderId: "bad id with spaces")) } throws: { error in
            (error as? VenueError)?.reason == .ruleViolation
        }
        #expect(!transport.requests.contains { RecordingTransport.path($0.url) == "/fapi/v1/order" })
    }
}

@Suite(.serialized) struct CoinbaseRequestTests {
    static func decodeJWT(_ token: String) throws -> (header: [String: Any], claims: [String: Any], input: Data, signature: Data) {
        let parts = token.split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
        let h = try #require(CoinbaseJWT.base64urlDecode(parts[0]))
        let c = try #require(CoinbaseJWT.base64urlDecode(parts[1]))
        let s = try #require(CoinbaseJWT.base64urlDecode(parts[2]))
        let header = try #require(try JSONSerialization.jsonObject(with: h) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: c) as? [String: Any])
        return (header, claims, Data((parts[0] + "." + parts[1]).utf8), s)
    }

    @Test func es256TokenVerifiesWithThePublicKeyAndCarriesTheClaims() throws {
        let key = P256.Signing.PrivateKey()
        let credentials = try CoinbaseCredentials(keyName: "organizations/o/apiKeys/k", privateKey: key.pemRepresentation)
        let url = "https://api.coinbase.com/api/v3/brokerage/orders/historical/batch?product_ids=BTC-USD&limit=250"
        let token = try CoinbaseJWT.token(credentials: credentials, method: "GET", url: url, now: 1_767_225_600)
        let jwt = try Self.decodeJWT(token)
        #expect(jwt.header["alg"] as? String == "ES256")
        #expect(jwt.header["kid"] as? String == "organizations/o/apiKeys/k")
        #expect(jwt.header["typ"] as? String == "JWT")
        #expect((jwt.header["nonce"] as? String)?.count == 32)
        #expect(jwt.claims["sub"] as? String == "organizations/o/apiKeys/k")
        #expect(jwt.claims["iss"] as? String == "cdp")
        #expect((jwt.claims["nbf"] as? NSNumber)?.int64Value == 1_767_225_600)
        #expect((jwt.claims["exp"] as? NSNumber)?.int64Value == 1_767_225_720)
        #expect(jwt.claims["uri"] as? String == "GET api.coinbase.com/api/v3/brokerage/orders/historical/batch")
        #expect(jwt.signature.count == 64)   // raw r||s, not DER
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: jwt.signature)
        #expect(key.publicKey.isValidSignature(signature, for: jwt.input))
        #expect(!P256.Signing.PrivateKey().publicKey.isValidSignature(signature, for: jwt.input))
        // The key name's slashes are not escaped in the header JSON.
        let headerText = String(decoding: try #require(CoinbaseJWT.base64urlDecode(String(token.split(separator: ".")[0]))), as: UTF8.self)
        #expect(headerText.contains("organizations/o/apiKeys/k"))
    }

    @Test func everyTokenHasAFreshNonce() throws {
        let credentials = CoinbaseCredentials(keyName: "k", p256: P256.Signing.PrivateKey())
        let a = try Self.decodeJWT(try CoinbaseJWT.token(credentials: credentials, method: "GET", url: "https://h/x", now: 1))
        let b = try Self.decodeJWT(try CoinbaseJWT.token(credentials: credentials, method: "GET", url: "https://h/x", now: 1))
        #expect(a.header["nonce"] as? String != b.header["nonce"] as? String)
    }

    @Test func ed25519KeysSignWithEdDSA() throws {
        let key = Curve25519.Signing.PrivateKey()
        let base64 = (key.rawRepresentation + key.publicKey.rawRepresentation).base64EncodedString()
        let credentials = try CoinbaseCredentials(keyName: "k", privateKey: base64)
        #expect(credentials.algorithm == "EdDSA")
        let jwt = try Self.decodeJWT(try CoinbaseJWT.token(credentials: credentials, method: "POST", url: "https://api.coinbase.com/api/v3/brokerage/orders", now: 5))
        #expect(jwt.header["alg"] as? String == "EdDSA")
        #expect(jwt.claims["uri"] as? String == "POST api.coinbase.com/api/v3/brokerage/orders")
        #expect(key.publicKey.isValidSignature(jwt.signature, for: jwt.input))
    }

    @Test func pemWithEscapedNewlinesFromTheEnvironmentIsAccepted() throws {
        let key = P256.Signing.PrivateKey()
        let env = ["COINBASE_API_KEY_NAME": "k", "COINBASE_API_PRIVATE_KEY": key.pemRepresentation.replacingOccurrences(of: "\n", with: "\\n")]
        let credentials = try #require(try CoinbaseCredentials.fromEnvironment(env))
        #expect(credentials.algorithm == "ES256")
        #expect(!credentials.description.contains("BEGIN"))
        #expect(throws: VenueError.self) { try CoinbaseCredentials(keyName: "k", privateKey: "not a key") }
    }

    @Test func orderBodiesAreExact() throws {
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: "https://cb.test/api/v3/brokerage"),
                             transport: RecordingTransport { _ in ok("{}") })
        let limit = try venue.orderBody(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .limit(price: Decimal("50000.01"), postOnly: true),
                                                     quantity: Decimal("0.001"), clientOrderId: "c-1/p1"))
        #expect(String(decoding: limit, as: UTF8.self)
                == #"{"client_order_id":"c-1/p1","order_configuration":{"limit_limit_gtc":{"base_size":"0.001","limit_price":"50000.01","post_only":true}},"product_id":"BTC-USD","side":"BUY"}"#)
        let market = try venue.orderBody(OrderRequest(symbol: "ETH-USD", side: .sell, kind: .market, quantity: Decimal("0.25"), clientOrderId: "m"))
        #expect(String(decoding: market, as: UTF8.self)
                == #"{"client_order_id":"m","order_configuration":{"market_market_ioc":{"base_size":"0.25"}},"product_id":"ETH-USD","side":"SELL"}"#)
        let stop = try venue.orderBody(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .stopLimit(stopPrice: 45_000, limitPrice: Decimal("44900.5")),
                                                    quantity: Decimal("0.5"), clientOrderId: "s"))
        #expect(String(decoding: stop, as: UTF8.self)
                == #"{"client_order_id":"s","order_configuration":{"stop_limit_stop_limit_gtc":{"base_size":"0.5","limit_price":"44900.5","stop_direction":"STOP_DIRECTION_STOP_DOWN","stop_price":"45000"}},"product_id":"BTC-USD","side":"SELL"}"#)
        #expect(throws: VenueError.self) {
            try venue.orderBody(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .stopMarket(triggerPrice: 1), quantity: 1, clientOrderId: "x"))
        }
    }

    @Test func privateRequestCarriesABearerTokenAndPublicOneDoesNot() async throws {
        let key = P256.Signing.PrivateKey()
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: "https://api.coinbase.com/api/v3/brokerage"),
                             credentials: CoinbaseCredentials(keyName: "kn", p256: key),
                             transport: RecordingTransport { _ in ok("{}") })
        let priv = try await venue.buildRequest(method: "GET", path: "/accounts", query: [("limit", "250")], body: nil, signed: true)
        #expect(priv.url == "https://api.coinbase.com/api/v3/brokerage/accounts?limit=250")
        let token = try #require(priv.header("Authorization")?.dropFirst("Bearer ".count))
        let jwt = try CoinbaseRequestTests.decodeJWT(String(token))
        #expect(jwt.claims["uri"] as? String == "GET api.coinbase.com/api/v3/brokerage/accounts")
        let pub = try await venue.buildRequest(method: "GET", path: "/market/products", query: [], body: nil, signed: false)
        #expect(pub.header("Authorization") == nil)
        #expect(HTTPHeader("Authorization", "Bearer x").description == "Authorization: <redacted>")
    }
}
