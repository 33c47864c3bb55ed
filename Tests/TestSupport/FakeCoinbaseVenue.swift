import Crypto
import Foundation

/// A Coinbase Advanced Trade look-alike on 127.0.0.1 under `/api/v3/brokerage`: public `/market/...` data and
/// `/time`, and private endpoints that verify each request's JWT (signature with the test public key, `iss`,
/// `sub`, `nbf`/`exp` against the venue's own clock, the `uri` claim against the request, and a never-reused
/// nonce) like the real one.
///
/// Balances follow the orders: a market order moves the base and USD balances at once, an open sell holds the
/// coins it would sell (a second sell beyond what is free is refused INSUFFICIENT_FUND), and the test controls
/// below act as a person or the market would while the agent is down.
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
    /// Totals by asset; `fixedHolds` are held by orders outside this fake (the seeded 10 USD).
    private var holdings: [String: Double] = [:]
    private var fixedHolds: [String: Double] = [:]
    private var skewSeconds = 0.0
    /// Stop-limit orders still to be refused (HTTP 200, success false), as for a stop the venue will not take.
    private var stopsToRefuse = 0
    /// A steady climb (% per hour) for candles, so trend and momentum rules fire; 0 = the default sine tape.
    private var trendPctPerHour = 0.0
    static let assetOrder = ["USD", "BTC", "ETH", "SOL"]

    /// `seedHoldings` keeps the fixed 1010.50 USD (10 held) and 0.5 BTC the connector tests expect; LIVE tests
    /// start with USD only (`setHolding`).
    public init(seedHoldings: Bool = true) throws {
        if seedHoldings {
            holdings = ["USD": 1010.5, "BTC": 0.5, "ETH": 0]
            fixedHolds = ["USD": 10]
        } else {
            holdings = ["USD": 20_000]
        }
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

    /// Cash only from now on: `usd` and no coins (the seeded holds gone); market orders fill at the product's base
    /// price and move the balances, and every open sell holds its coins.
    public func fund(usd: Double) { lock.withLock { holdings = ["USD": usd]; fixedHolds = [:] } }

    /// The balance of `asset` (nil when the venue has no account for it).
    public func balance(_ asset: String) -> Double? { lock.withLock { holdings[asset] } }

    /// The venue executes an open order in full at `price` (default: its limit price), e.g. a take-profit rung
    /// reached; the balances move.
    public func fill(_ clientId: String, price: Double? = nil) {
        lock.withLock {
            guard var o = orders[clientId], o["status"] == "OPEN", let size = Double(o["size"] ?? "") else { return }
            let at = price ?? Double(o["limit"] ?? "") ?? 0
            o["status"] = "FILLED"
            o["filled"] = o["size"]
            o["avg"] = "\(at)"
            orders[clientId] = o
            let asset = String((o["product_id"] ?? "").split(separator: "-").first ?? "")
            settleLocked(asset: asset, side: o["side"] ?? "", quantity: size, price: at)
        }
    }

    /// The private key as the SEC1 PEM a user would put in COINBASE_API_PRIVATE_KEY.
    public var privateKeyPEM: String { p256Key.pemRepresentation }

    private func json(_ text: String, status: Int = 200) -> StubResponse {
        // Coinbase's rate-limit headers: 30 requests per second, of which 24 remain.
        StubResponse.json(text, status: status).with(header: "x-ratelimit-limit", "30").with(header: "x-ratelimit-remaining", "24")
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
            case .unknownErrorAfterExecuting, .slowAnswer, .garbledAfterExecuting, .droppedAfterExecuting:
                after = fault
            }
        }
        if !path.hasPrefix("/market/") && path != "/time" {
            if let refusal = verify(request, path: path) { return refusal }
        }
        let response = route(request.method, path, params, request.body)
        switch after {
        case .unknownErrorAfterExecuting?: return json(#"{"error":"UNAVAILABLE","message":"upstream"}"#, status: 503)
        case .slowAnswer(let s)?: return response.delayed(by: s)
        case .garbledAfterExecuting?: return json(#"{"success": tru"#)
        case .droppedAfterExecuting?: return StubResponse(dropConnection: true)
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
        let now = Int64(venueTime.rounded(.down))
        guard let nbf = (claims["nbf"] as? NSNumber)?.int64Value, let exp = (claims["exp"] as? NSNumber)?.int64Value,
              exp - nbf <= 120 else { return refuse("bad nbf/exp") }
        // Like the real one: a token from a clock ahead of the venue's is not valid yet, one behind has expired.
        guard nbf <= now + 1 else { return refuse("nbf is in the future") }
        guard exp > now else { return refuse("token expired") }
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
            let mid = lock.withLock { trendPctPerHour } != 0 ? base : FakeTape.close(base: base, openTime: Int64(Date().timeIntervalSince1970) / 3600 * 3600)
            let bids = (1...15).map { #"{"price":"\#(mid * (1 - Double($0) * 0.0003))","size":"1.5"}"# }.joined(separator: ",")
            let asks = (1...15).map { #"{"price":"\#(mid * (1 + Double($0) * 0.0003))","size":"1.25"}"# }.joined(separator: ",")
            return json(#"{"pricebook":{"product_id":"\#(id)","bids":[\#(bids)],"asks":[\#(asks)],"time":"2026-01-01T00:00:00Z"}}"#)
        case ("GET", 1, "time", _):
            let t = venueTime
            return json(#"{"iso":"\#(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: t)))","epochSeconds":"\#(Int64(t))","epochMillis":"\#(Int64(t * 1000))"}"#)
        case ("GET", 1, "accounts", _):
            let rows = lock.withLock { () -> [String] in
                let assets = Self.assetOrder.filter { holdings[$0] != nil } + holdings.keys.filter { !Self.assetOrder.contains($0) }.sorted()
                return assets.enumerated().map { i, asset in
                    let total = holdings[asset] ?? 0
                    let hold = heldLocked(asset)
                    return #"{"uuid":"a\#(i + 1)","name":"\#(asset) Wallet","currency":"\#(asset)","available_balance":{"value":"\#(Self.text(total - hold))","currency":"\#(asset)"},"default":\#(i == 0),"active":true,"type":"\#(asset == "USD" ? "ACCOUNT_TYPE_FIAT" : "ACCOUNT_TYPE_CRYPTO")","ready":true,"hold":{"value":"\#(Self.text(hold))","currency":"\#(asset)"}}"#
                }
            }
            return json(#"{"accounts":[\#(rows.joined(separator: ","))],"has_next":false,"cursor":"","size":\#(rows.count)}"#)
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
            let o = tape(base: base, openTime: open)
            let c = tape(base: base, openTime: open + seconds)
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
        let asset = String(product.split(separator: "-").first ?? "")
        return lock.withLock { () -> StubResponse in
            if let existing = orders[client] {
                // Idempotent: the same client_order_id answers with the original order.
                return json(#"{"success":true,"success_response":{"order_id":"\#(existing["order_id"] ?? "")","product_id":"\#(product)","side":"\#(side)","client_order_id":"\#(client)"}}"#)
            }
            if kind == "stop_limit_stop_limit_gtc", stopsToRefuse > 0 {
                stopsToRefuse -= 1
                return json(#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"INVALID_LIMIT_PRICE","message":"Invalid limit price","error_details":"","preview_failure_reason":"PREVIEW_INVALID_LIMIT_PRICE"}}"#)
            }
            let free = (holdings[asset] ?? 0) - heldLocked(asset)
            if size > maxAffordableSize || (side == "SELL" && size > free + 1e-12) {
                return json(#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account","error_details":"","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"}}"#)
            }
            sequence += 1
            let id = "cb-\(sequence)"
            let market = kind == "market_market_ioc"
            orders[client] = ["order_id": id, "client_order_id": client, "product_id": product, "side": side, "kind": kind,
                              "size": leg["base_size"] as? String ?? "0", "limit": leg["limit_price"] as? String ?? "",
                              "stop": leg["stop_price"] as? String ?? leg["stop_trigger_price"] as? String ?? "",
                              "status": market ? "FILLED" : "OPEN", "filled": market ? (leg["base_size"] as? String ?? "0") : "0",
                              "avg": market ? "\(base)" : "0", "seq": "\(sequence)"]
            if market { settleLocked(asset: asset, side: side, quantity: size, price: base) }
            return json(#"{"success":true,"success_response":{"order_id":"\#(id)","product_id":"\#(product)","side":"\#(side)","client_order_id":"\#(client)"},"order_configuration":{}}"#)
        }
    }

    // MARK: Balances and test controls (what a person or the market does while the agent is down)

    /// The venue's clock (the real one plus the skew).
    private var venueTime: Double { Date().timeIntervalSince1970 + lock.withLock { skewSeconds } }

    /// Caller holds `lock`. What open sell orders (and the seeded fixed hold) keep of `asset`.
    private func heldLocked(_ asset: String) -> Double {
        orders.values.filter { $0["status"] == "OPEN" && $0["side"] == "SELL" && $0["product_id"]?.hasPrefix(asset + "-") == true }
            .reduce(fixedHolds[asset] ?? 0) { $0 + (Double($1["size"] ?? "0") ?? 0) - (Double($1["filled"] ?? "0") ?? 0) }
    }

    /// Caller holds `lock`. Moves the balances for an execution of `quantity` base at `price`.
    private func settleLocked(asset: String, side: String, quantity: Double, price: Double) {
        let sign = side == "SELL" ? -1.0 : 1.0
        holdings[asset] = Self.round((holdings[asset] ?? 0) + sign * quantity)
        holdings["USD"] = Self.round((holdings["USD"] ?? 0) - sign * quantity * price)
    }

    static func round(_ v: Double) -> Double { (v * 1e10).rounded() / 1e10 }
    static func text(_ v: Double) -> String { abs(v) < 1e-12 ? "0" : "\(round(v))" }

    /// Moves the venue's clock relative to the real one (positive = venue ahead).
    public func setSkew(seconds: Double) { lock.withLock { skewSeconds = seconds } }
    /// Makes every product climb steadily by `percentPerHour` up to the current hour (prices stay at the base).
    public func setTrend(percentPerHour: Double) { lock.withLock { trendPctPerHour = percentPerHour } }
    /// Sets a balance as if changed by hand (a deposit, a sale in the web UI).
    public func setHolding(_ asset: String, _ amount: Double) { lock.withLock { holdings[asset] = amount } }
    /// The total the venue holds of `asset`.
    public func holding(_ asset: String) -> Double { lock.withLock { holdings[asset] ?? 0 } }
    /// Orders the venue holds by client id.
    public func order(_ clientId: String) -> [String: String]? { lock.withLock { orders[clientId] } }
    /// Every client id the venue created an order for, in order of arrival.
    public var clientIds: [String] {
        lock.withLock { orders.values.sorted { (Int($0["seq"] ?? "0") ?? 0) < (Int($1["seq"] ?? "0") ?? 0) }.compactMap { $0["client_order_id"] } }
    }
    /// `POST /orders` requests naming `clientId` (Coinbase answers a repeat with the original order, so a
    /// resubmission after an unknown outcome counts here but creates nothing).
    public func orderRequests(clientId: String) -> Int {
        requests("/orders", method: "POST").filter { $0.text.contains(#""client_order_id":"\#(clientId)""#) }.count
    }
    /// Refuses the next `count` stop-limit orders.
    public func refuseStops(_ count: Int) { lock.withLock { stopsToRefuse = count } }
    /// Cancels an order as a person would in the web UI.
    public func cancelByHand(_ clientId: String) {
        lock.withLock { if orders[clientId]?["status"] == "OPEN" { orders[clientId]?["status"] = "CANCELLED" } }
    }
    /// Executes `quantity` of a resting (stop-limit) order at its limit price, as the market would; `finish` ends it.
    public func executeStop(_ clientId: String, quantity: Double, finish: Bool) {
        lock.withLock {
            guard var o = orders[clientId], let product = o["product_id"], let side = o["side"] else { return }
            let price = Double(o["limit"] ?? "") ?? 0
            o["filled"] = Self.text((Double(o["filled"] ?? "0") ?? 0) + quantity)
            o["avg"] = o["limit"] ?? "0"
            o["status"] = finish ? "FILLED" : "OPEN"
            orders[clientId] = o
            settleLocked(asset: String(product.split(separator: "-").first ?? ""), side: side, quantity: quantity, price: price)
        }
    }

    private func tape(base: Double, openTime: Int64) -> Double {
        let trend = lock.withLock { trendPctPerHour }
        guard trend != 0 else { return FakeTape.close(base: base, openTime: openTime) }
        let anchor = Int64(venueTime) / 3600 * 3600
        return base * (1 + trend / 100 * Double(openTime - anchor) / 3600)
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
