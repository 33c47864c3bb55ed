import Crypto
import Foundation

/// A Coinbase Advanced Trade look-alike on 127.0.0.1 under `/api/v3/brokerage`: public `/market/...` data,
/// and private endpoints that verify each request's JWT (signature with the test public key, `iss`, `sub`,
/// `nbf`/`exp`, the `uri` claim against the request, and a never-reused nonce) like the real one.
public final class FakeCoinbaseVenue: @unchecked Sendable {
    public static let keyName = "organizations/test-org/apiKeys/test-key"
    public static let prefix = "/api/v3/brokerage"
    public static let bases: [String: Double] = ["BTC-USD": 50_000, "ETH-USD": 3_000, "SOL-USD": 150]

    /// The P-256 key the fake trusts (generated per instance; no real keys anywhere).
    public let p256Key = P256.Signing.PrivateKey()
    public let ed25519Key = Curve25519.Signing.PrivateKey()

    public let faults = FaultBook()
    public private(set) var server: LoopbackHTTPServer?
    private let lock = NSLock()
    private var nonces: Set<String> = []
    private var orders: [String: [String: String]] = [:]     // client id -> fields
    private var sequence = 0
    private var jwtFailures: [String] = []
    /// Orders with a base size above this are refused with INSUFFICIENT_FUND (HTTP 200, success false).
    private var maxAffordableSize = 10.0
    /// With ``fund(usd:)``: balances that trades move, and holds like the real venue (an open sell holds the coins
    /// it would sell, so a second sell of the same coins is refused with INSUFFICIENT_FUND). Nil: the fixed accounts.
    private var wallet: [String: Double]?

    public init() throws {
        let server = try LoopbackHTTPServer { [weak self] request in
            guard let self else { return .json(#"{"error":"INTERNAL","message":"gone"}"#, status: 500) }
            return self.handle(request)
        }
        self.server = server
    }

    deinit { server?.stop() }

    /// `http://127.0.0.1:PORT/api/v3/brokerage`.
    public var baseURL: String { (server?.baseURL ?? "http://127.0.0.1:1") + Self.prefix }
    public var requests: [RecordedRequest] { server?.requests ?? [] }
    public func requests(_ path: String, method: String? = nil) -> [RecordedRequest] {
        requests.filter { $0.pathWithoutQuery == Self.prefix + path && (method == nil || $0.method == method) }
    }
    public var orderCount: Int { lock.withLock { orders.count } }
    /// Why JWTs were refused, in order.
    public var refusedTokens: [String] { lock.withLock { jwtFailures } }

    /// Strict balances from now on: `usd` of cash and no coins; market orders fill at the product's base price
    /// and move the balances, and every open sell holds its coins.
    public func fund(usd: Double) { lock.withLock { wallet = ["USD": usd] } }

    /// The balance of `asset` in strict mode (nil otherwise).
    public func balance(_ asset: String) -> Double? { lock.withLock { wallet?[asset] } }

    /// The order with our client id, as the fake stores it (`kind`, `size`, `limit`, `stop`, `status`, `filled`).
    public func order(_ clientId: String) -> [String: String]? { lock.withLock { orders[clientId] } }

    /// The venue executes an open order in full at `price` (default: its limit price), e.g. a take-profit rung
    /// reached; balances move in strict mode.
    public func fill(_ clientId: String, price: Double? = nil) {
        lock.withLock {
            guard var o = orders[clientId], o["status"] == "OPEN", let size = Double(o["size"] ?? "") else { return }
            let at = price ?? Double(o["limit"] ?? "") ?? 0
            o["status"] = "FILLED"
            o["filled"] = o["size"]
            o["avg"] = "\(at)"
            orders[clientId] = o
            settle(product: o["product_id"] ?? "", side: o["side"] ?? "", size: size, price: at)
        }
    }

    /// Moves strict balances for a trade (caller holds the lock).
    private func settle(product: String, side: String, size: Double, price: Double) {
        guard wallet != nil, let asset = product.split(separator: "-").first.map(String.init) else { return }
        let sign = side == "BUY" ? 1.0 : -1.0
        wallet?[asset, default: 0] += sign * size
        wallet?["USD", default: 0] -= sign * size * price
    }

    /// Coins of `asset` held by open sell orders (caller holds the lock).
    private func held(_ asset: String) -> Double {
        orders.values.filter { $0["status"] == "OPEN" && $0["side"] == "SELL" && $0["product_id"]?.hasPrefix(asset + "-") == true }
            .reduce(0) { $0 + (Double($1["size"] ?? "") ?? 0) - (Double($1["filled"] ?? "") ?? 0) }
    }

    private func strictAccounts() -> String? {
        lock.withLock { () -> String? in
            guard let wallet else { return nil }
            let rows = wallet.keys.sorted().map { asset -> String in
                let hold = asset == "USD" ? 0 : held(asset)
                let total = wallet[asset] ?? 0
                return #"{"uuid":"a-\#(asset)","name":"\#(asset) Wallet","currency":"\#(asset)","available_balance":{"value":"\#(Self.text(total - hold))","currency":"\#(asset)"},"hold":{"value":"\#(Self.text(hold))","currency":"\#(asset)"}}"#
            }
            return #"{"accounts":[\#(rows.joined(separator: ","))],"has_next":false,"cursor":"","size":\#(rows.count)}"#
        }
    }

    /// A balance as plain text, rounded to 1e-10 so sums of decimals stay exact.
    static func text(_ value: Double) -> String {
        let rounded = (value * 1e10).rounded() / 1e10
        return rounded == rounded.rounded() ? String(format: "%.1f", rounded) : "\(rounded)"
    }

    /// The private key as the SEC1 PEM a user would put in COINBASE_API_PRIVATE_KEY.
    public var privateKeyPEM: String { p256Key.pemRepresentation }

    private func json(_ text: String, status: Int = 200) -> StubResponse {
        StubResponse.json(text, status: status)
    }

    func handle(_ request: RecordedRequest) -> StubResponse {
        guard request.pathWithoutQuery.hasPrefix(Self.prefix) else { return json(#"{"error":"NOT_FOUND","message":"no route"}"#, status: 404) }
        let path = String(request.pathWithoutQuery.dropFirst(Self.prefix.count))
        let params = Dictionary(FakeForm.parse(FakeForm.query(request.path)), uniquingKeysWith: { a, _ in a })
        var after: VenueFault?
        if let fault = faults.take(method: request.method, path: path) {
            switch fault {
            case .tooManyRequests(let retry):
                var r = json(#"{"error":"RESOURCE_EXHAUSTED","message":"Too many requests"}"#, status: 429)
                if let retry { r = r.with(header: "Retry-After", "\(retry)") }
                return r
            case .banned(let retry):
                return json(#"{"error":"RESOURCE_EXHAUSTED","message":"banned"}"#, status: 418).with(header: "Retry-After", "\(retry)")
            case .serviceUnavailable, .unknownErrorWithoutExecuting:
                return json(#"{"error":"UNAVAILABLE","message":"service unavailable"}"#, status: 503)
            case .timestampOutsideWindow:
                return json(#"{"error":"UNAUTHENTICATED","message":"expired"}"#, status: 401)
            case .unknownErrorAfterExecuting, .slowAnswer, .garbledAfterExecuting:
                after = fault
            }
        }
        if !path.hasPrefix("/market/") {
            if let refusal = verify(request, path: path) { return refusal }
        }
        let response = route(request.method, path, params, request.body)
        switch after {
        case .unknownErrorAfterExecuting?: return json(#"{"error":"UNAVAILABLE","message":"upstream"}"#, status: 503)
        case .slowAnswer(let s)?: return response.delayed(by: s)
        case .garbledAfterExecuting?: return json(#"{"success": tru"#)
        default: return response
        }
    }

    private func refuse(_ why: String) -> StubResponse {
        lock.withLock { jwtFailures.append(why) }
        return json(#"{"error":"UNAUTHENTICATED","message":"\#(why)"}"#, status: 401)
    }

    private func verify(_ request: RecordedRequest, path: String) -> StubResponse? {
        guard let auth = request.header("authorization"), auth.hasPrefix("Bearer ") else { return refuse("missing bearer token") }
        let parts = auth.dropFirst(7).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let headerData = Self.b64(parts[0]), let claimsData = Self.b64(parts[1]),
              let signature = Self.b64(parts[2]),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any] else {
            return refuse("malformed JWT")
        }
        let input = Data((parts[0] + "." + parts[1]).utf8)
        let valid: Bool
        switch header["alg"] as? String {
        case "ES256":
            valid = (try? P256.Signing.ECDSASignature(rawRepresentation: signature)).map {
                p256Key.publicKey.isValidSignature($0, for: input)
            } ?? false
        case "EdDSA":
            valid = ed25519Key.publicKey.isValidSignature(signature, for: input)
        default:
            valid = false
        }
        guard valid else { return refuse("bad signature") }
        guard header["kid"] as? String == Self.keyName, header["typ"] as? String == "JWT",
              let nonce = header["nonce"] as? String, !nonce.isEmpty else { return refuse("bad header") }
        guard claims["sub"] as? String == Self.keyName, claims["iss"] as? String == "cdp" else { return refuse("bad sub/iss") }
        let now = Int64(Date().timeIntervalSince1970)
        guard let nbf = (claims["nbf"] as? NSNumber)?.int64Value, let exp = (claims["exp"] as? NSNumber)?.int64Value,
              nbf <= now + 5, exp > now, exp - nbf <= 120 else { return refuse("bad nbf/exp") }
        let host = request.header("host") ?? ""
        let expected = "\(request.method) \(host)\(Self.prefix)\(path)"
        guard claims["uri"] as? String == expected else { return refuse("uri claim '\(claims["uri"] ?? "")' != '\(expected)'") }
        let fresh = lock.withLock { nonces.insert(nonce).inserted }
        guard fresh else { return refuse("nonce reused") }
        return nil
    }

    static func b64(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }

    // MARK: Routes

    private func product(_ id: String) -> String? {
        guard let base = Self.bases[id] else { return nil }
        let parts = id.split(separator: "-")
        let tick = id == "BTC-USD" ? "0.01" : "0.01"
        let step = id == "BTC-USD" ? "0.00000001" : "0.0001"
        return #"{"product_id":"\#(id)","price":"\#(base)","price_percentage_change_24h":"-1.25","volume_24h":"2000.5","volume_percentage_change_24h":"3.1","base_increment":"\#(step)","quote_increment":"0.01","quote_min_size":"1","quote_max_size":"25000000","base_min_size":"\#(id == "BTC-USD" ? "0.00001" : "0.0001")","base_max_size":"3400","base_name":"\#(parts[0])","quote_name":"US Dollar","watched":false,"is_disabled":false,"new":false,"status":"online","cancel_only":false,"limit_only":false,"post_only":false,"trading_disabled":false,"auction_mode":false,"product_type":"SPOT","quote_currency_id":"USD","base_currency_id":"\#(parts[0])","price_increment":"\#(tick)"}"#
    }

    private func route(_ method: String, _ path: String, _ p: [String: String], _ body: Data) -> StubResponse {
        let segments = path.split(separator: "/").map(String.init)
        switch (method, segments.count, segments.first, segments.last) {
        case ("GET", 2, "market", "products"):
            let list = Self.bases.keys.sorted().compactMap(product).joined(separator: ",")
            return json(#"{"products":[\#(list)],"num_products":\#(Self.bases.count)}"#)
        case ("GET", 3, "market", _):
            guard let body = product(segments[2]) else { return json(#"{"error":"NOT_FOUND","message":"product not found"}"#, status: 404) }
            return json(body)
        case ("GET", 4, "market", "candles"):
            return candles(segments[2], p)
        case ("GET", 2, "market", "product_book"):
            guard let id = p["product_id"], let base = Self.bases[id] else {
                return json(#"{"error":"NOT_FOUND","message":"product not found"}"#, status: 404)
            }
            let mid = FakeTape.close(base: base, openTime: Int64(Date().timeIntervalSince1970) / 3600 * 3600)
            let bids = (1...15).map { #"{"price":"\#(mid * (1 - Double($0) * 0.0003))","size":"1.5"}"# }.joined(separator: ",")
            let asks = (1...15).map { #"{"price":"\#(mid * (1 + Double($0) * 0.0003))","size":"1.25"}"# }.joined(separator: ",")
            return json(#"{"pricebook":{"product_id":"\#(id)","bids":[\#(bids)],"asks":[\#(asks)],"time":"2026-01-01T00:00:00Z"}}"#)
        case ("GET", 1, "accounts", _):
            if let strict = strictAccounts() { return json(strict) }
            return json(#"{"accounts":[{"uuid":"a1","name":"USD Wallet","currency":"USD","available_balance":{"value":"1000.50","currency":"USD"},"default":true,"active":true,"type":"ACCOUNT_TYPE_FIAT","ready":true,"hold":{"value":"10","currency":"USD"}},{"uuid":"a2","name":"BTC Wallet","currency":"BTC","available_balance":{"value":"0.5","currency":"BTC"},"hold":{"value":"0","currency":"BTC"}},{"uuid":"a3","name":"ETH Wallet","currency":"ETH","available_balance":{"value":"0","currency":"ETH"},"hold":{"value":"0","currency":"ETH"}}],"has_next":false,"cursor":"","size":3}"#)
        case ("POST", 1, "orders", _):
            return createOrder(body)
        case ("GET", 3, "orders", "batch"):
            let status = p["order_status"]
            let list = lock.withLock { orders.values.filter { status == nil || $0["status"] == status } }
            return json(#"{"orders":[\#(list.map(Self.orderJSON).joined(separator: ","))],"has_next":false}"#)
        case ("GET", 3, "orders", "fills"):
            let list = lock.withLock { orders.values.filter { $0["order_id"] == p["order_ids"] && $0["filled"] != "0" } }
            return json(#"{"fills":[\#(list.map { #"{"entry_id":"e\#($0["order_id"] ?? "")","trade_id":"t\#($0["order_id"] ?? "")","order_id":"\#($0["order_id"] ?? "")","trade_time":"2026-01-01T00:00:01.5Z","trade_type":"FILL","price":"\#($0["avg"] ?? "0")","size":"\#($0["filled"] ?? "0")","commission":"1.25","product_id":"\#($0["product_id"] ?? "")","sequence_timestamp":"2026-01-01T00:00:01Z","liquidity_indicator":"TAKER","size_in_quote":false,"user_id":"u","side":"\#($0["side"] ?? "")"}"# }.joined(separator: ","))],"cursor":""}"#)
        case ("GET", 3, "orders", _):
            let id = segments[2]
            guard let o = lock.withLock({ orders.values.first { $0["order_id"] == id } }) else {
                return json(#"{"error":"NOT_FOUND","message":"order not found"}"#, status: 404)
            }
            return json(#"{"order":\#(Self.orderJSON(o))}"#)
        case ("POST", 2, "orders", "batch_cancel"):
            guard let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let ids = obj["order_ids"] as? [String] else {
                return json(#"{"error":"INVALID_ARGUMENT","message":"order_ids"}"#, status: 400)
            }
            let results = ids.map { id -> String in
                let ok = lock.withLock { () -> Bool in
                    guard let key = orders.first(where: { $0.value["order_id"] == id })?.key, orders[key]?["status"] == "OPEN" else { return false }
                    orders[key]?["status"] = "CANCELLED"
                    return true
                }
                return ok ? #"{"success":true,"failure_reason":"UNKNOWN_CANCEL_FAILURE_REASON","order_id":"\#(id)"}"#
                          : #"{"success":false,"failure_reason":"UNKNOWN_CANCEL_ORDER","order_id":"\#(id)"}"#
            }
            return json(#"{"results":[\#(results.joined(separator: ","))]}"#)
        default:
            return json(#"{"error":"NOT_FOUND","message":"no route \#(method) \#(path)"}"#, status: 404)
        }
    }

    /// Newest first, like the real API; at most 350 per request.
    private func candles(_ id: String, _ p: [String: String]) -> StubResponse {
        guard let base = Self.bases[id] else { return json(#"{"error":"NOT_FOUND","message":"product not found"}"#, status: 404) }
        let seconds: Int64 = switch p["granularity"] ?? "" {
        case "ONE_HOUR": 3600
        case "FOUR_HOUR": 14_400
        case "ONE_DAY": 86_400
        default: 0
        }
        guard seconds > 0, let start = p["start"].flatMap(Int64.init), let end = p["end"].flatMap(Int64.init), end > start else {
            return json(#"{"error":"INVALID_ARGUMENT","message":"start, end and granularity are required"}"#, status: 400)
        }
        guard (end - start) / seconds <= 350 else {
            return json(#"{"error":"INVALID_ARGUMENT","message":"number of candles requested should be less than 350"}"#, status: 400)
        }
        var rows: [String] = []
        var open = end / seconds * seconds
        if open == end { open -= seconds }
        while open >= start {
            let o = FakeTape.close(base: base, openTime: open)
            let c = FakeTape.close(base: base, openTime: open + seconds)
            rows.append(#"{"start":"\#(open)","low":"\#(min(o, c) * 0.998)","high":"\#(max(o, c) * 1.002)","open":"\#(o)","close":"\#(c)","volume":"\#(50 + Double(open / 3600 % 5) * 5)"}"#)
            open -= seconds
        }
        return json(#"{"candles":[\#(rows.joined(separator: ","))]}"#)
    }

    private func createOrder(_ body: Data) -> StubResponse {
        guard let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let client = obj["client_order_id"] as? String, let product = obj["product_id"] as? String,
              let side = obj["side"] as? String, let config = obj["order_configuration"] as? [String: Any],
              let (kind, leg) = config.first.map({ ($0.key, $0.value as? [String: Any] ?? [:]) }) else {
            return json(#"{"error":"INVALID_ARGUMENT","message":"malformed order"}"#, status: 400)
        }
        guard let base = Self.bases[product] else {
            return json(#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","error_response":{"error":"INVALID_PRODUCT_ID","message":"Invalid product_id"}}"#)
        }
        let size = (leg["base_size"] as? String).flatMap(Double.init) ?? 0
        return lock.withLock { () -> StubResponse in
            if let existing = orders[client] {
                // Idempotent: the same client_order_id answers with the original order.
                return json(#"{"success":true,"success_response":{"order_id":"\#(existing["order_id"] ?? "")","product_id":"\#(product)","side":"\#(side)","client_order_id":"\#(client)"}}"#)
            }
            let asset = String(product.split(separator: "-").first ?? "")
            let coinsFree = wallet.map { ($0[asset] ?? 0) - held(asset) }
            if size > maxAffordableSize || (side == "SELL" && coinsFree.map { size > $0 + 1e-12 } ?? false) {
                return json(#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account","error_details":"","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"}}"#)
            }
            sequence += 1
            let id = "cb-\(sequence)"
            let market = kind == "market_market_ioc"
            orders[client] = ["order_id": id, "client_order_id": client, "product_id": product, "side": side, "kind": kind,
                              "size": leg["base_size"] as? String ?? "0", "limit": leg["limit_price"] as? String ?? "",
                              "stop": leg["stop_price"] as? String ?? leg["stop_trigger_price"] as? String ?? "",
                              "status": market ? "FILLED" : "OPEN", "filled": market ? (leg["base_size"] as? String ?? "0") : "0",
                              "avg": market ? "\(base)" : "0"]
            if market { settle(product: product, side: side, size: size, price: base) }
            return json(#"{"success":true,"success_response":{"order_id":"\#(id)","product_id":"\#(product)","side":"\#(side)","client_order_id":"\#(client)"},"order_configuration":{}}"#)
        }
    }

    static func orderJSON(_ o: [String: String]) -> String {
        var leg = #""base_size":"\#(o["size"] ?? "0")""#
        if let l = o["limit"], !l.isEmpty { leg += #","limit_price":"\#(l)""# }
        if let s = o["stop"], !s.isEmpty { leg += o["kind"] == "trigger_bracket_gtc" ? #","stop_trigger_price":"\#(s)""# : #","stop_price":"\#(s)""# }
        return #"{"order_id":"\#(o["order_id"] ?? "")","product_id":"\#(o["product_id"] ?? "")","user_id":"u","order_configuration":{"\#(o["kind"] ?? "")":{\#(leg)}},"side":"\#(o["side"] ?? "")","client_order_id":"\#(o["client_order_id"] ?? "")","status":"\#(o["status"] ?? "")","time_in_force":"GOOD_UNTIL_CANCELLED","created_time":"2026-01-01T00:00:00Z","completion_percentage":"0","filled_size":"\#(o["filled"] ?? "0")","average_filled_price":"\#(o["avg"] ?? "0")","fee":"","number_of_fills":"0","filled_value":"0","pending_cancel":false,"size_in_quote":false,"total_fees":"0","size_inclusive_of_fees":false,"total_value_after_fees":"0","trigger_status":"INVALID_ORDER_TYPE","order_type":"\#(Self.orderType(o["kind"] ?? ""))","reject_reason":"","settled":false,"product_type":"SPOT","reject_message":"","cancel_message":""}"#
    }

    /// The `order_type` the real venue reports for an order configuration.
    static func orderType(_ kind: String) -> String {
        switch kind {
        case "market_market_ioc": "MARKET"
        case "limit_limit_gtc", "limit_limit_gtd": "LIMIT"
        case "trigger_bracket_gtc": "BRACKET"
        default: "STOP_LIMIT"
        }
    }
}
