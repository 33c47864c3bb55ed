import Crypto
import Foundation

/// A Binance USD-M futures look-alike on 127.0.0.1: public market data, and signed endpoints that verify the
/// API key, the HMAC-SHA256 signature over the exact query/body and the timestamp window like the real one.
/// Faults are injected per path through ``faults``.
public final class FakeBinanceVenue: @unchecked Sendable {
    public static let apiKey = "fake-binance-key"
    public static let secret = "fake-binance-secret-0123456789abcdef"
    /// The key and secret this instance accepts (the static ones unless given at init).
    public let apiKey: String
    public let secret: String

    /// Symbols listed, with base prices: BTCUSDT, ETHUSDT, SOLUSDT (and a halted XRPUSDT).
    public static let bases: [String: Double] = ["BTCUSDT": 50_000, "ETHUSDT": 3_000, "SOLUSDT": 150, "XRPUSDT": 0.6]

    public let faults = FaultBook()
    public private(set) var server: LoopbackHTTPServer?
    private let lock = NSLock()
    /// Separate from `lock` so answers can be built while `lock` is held.
    private let weightLock = NSLock()
    private var skewMs: Int64 = 0
    private var reportedWeight = 1
    private var orders: [String: [String: String]] = [:]        // client id -> fields
    private var orderSequence: Int64 = 1000
    private var marginTypes: [String: String] = ["BTCUSDT": "CROSSED"]
    private var leverage: [String: Int] = [:]
    /// Fraction of a MARKET order's quantity filled at once (1 = full fill).
    private var fillRatio = 1.0
    private var signatureFailures = 0
    /// Open positions by venue symbol: signed amount and entry price.
    private var positionBook: [String: (amount: Double, entry: Double)] = [:]
    private var marks: [String: Double] = [:]
    private var wallet = 1000.50
    private var available = 900.25
    private var isolatedMarginOverride: [String: Double] = [:]
    private var listenKey: String?
    private var listenKeys = 0
    private var listenKeepAlives = 0
    private var incomes: [String] = []
    /// A steady climb (% per hour) for klines, so trend and momentum rules fire; 0 = the default sine tape.
    private var trendPctPerHour = 0.0
    private var omittedKlines: [ClosedRange<Int64>] = []

    /// `seedPosition` keeps the fixed 0.010 BTCUSDT long the connector tests expect; LIVE tests start flat.
    /// `apiKey`/`secret` let a test use freshly generated keys.
    public init(seedPosition: Bool = true, apiKey: String = FakeBinanceVenue.apiKey, secret: String = FakeBinanceVenue.secret) throws {
        self.apiKey = apiKey
        self.secret = secret
        if seedPosition {
            positionBook["BTCUSDT"] = (0.010, 50_000)
            marks["BTCUSDT"] = 50_500
            leverage["BTCUSDT"] = 10
            marginTypes["BTCUSDT"] = "ISOLATED"
            isolatedMarginOverride["BTCUSDT"] = 50
        }
        let server = try LoopbackHTTPServer { [weak self] request in
            guard let self else { return .json(#"{"code":-1000,"msg":"gone"}"#, status: 500) }
            return self.handle(request)
        }
        self.server = server
    }

    deinit { server?.stop() }

    public var baseURL: String { server?.baseURL ?? "http://127.0.0.1:1" }
    public var requests: [RecordedRequest] { server?.requests ?? [] }
    public func requests(_ path: String, method: String? = nil) -> [RecordedRequest] {
        requests.filter { $0.pathWithoutQuery == path && (method == nil || $0.method == method) }
    }

    /// Moves the server clock relative to the real one (positive = server ahead).
    public func setSkew(ms: Int64) { lock.withLock { skewMs = ms } }
    /// The value sent in `X-MBX-USED-WEIGHT-1M`.
    public func setReportedWeight(_ weight: Int) { weightLock.withLock { reportedWeight = weight } }
    /// Fraction of MARKET orders filled at once.
    public func setFillRatio(_ ratio: Double) { lock.withLock { fillRatio = ratio } }
    /// Orders the venue holds (regular and algo), by client id.
    public var orderCount: Int { lock.withLock { orders.count } }
    public func order(_ clientId: String) -> [String: String]? { lock.withLock { orders[clientId] } }
    /// Requests refused for a bad key or signature.
    public var rejectedSignatures: Int { lock.withLock { signatureFailures } }

    private var serverTimeMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) + lock.withLock { skewMs } }

    static let signedPaths: Set<String> = ["/fapi/v2/account", "/fapi/v2/positionRisk", "/fapi/v1/order", "/fapi/v1/algoOrder",
                                           "/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders", "/fapi/v1/leverage",
                                           "/fapi/v1/marginType", "/fapi/v1/leverageBracket", "/fapi/v1/userTrades",
                                           "/fapi/v1/income"]

    private func json(_ text: String, status: Int = 200) -> StubResponse {
        StubResponse.json(text, status: status).with(header: "X-MBX-USED-WEIGHT-1M", "\(weightLock.withLock { reportedWeight })")
    }

    private func error(_ code: Int, _ msg: String, status: Int = 400) -> StubResponse {
        json(#"{"code":\#(code),"msg":"\#(msg)"}"#, status: status)
    }

    func handle(_ request: RecordedRequest) -> StubResponse {
        let path = request.pathWithoutQuery
        let query = FakeForm.query(request.path)
        let params = Dictionary(FakeForm.parse(query) + FakeForm.parse(request.text), uniquingKeysWith: { a, _ in a })
        var executeThenFault: VenueFault?
        if let fault = faults.take(method: request.method, path: path) {
            switch fault {
            case .tooManyRequests(let after):
                var r = error(-1003, "Too many requests; current limit is 2400 request weight per 1 MINUTE.", status: 429)
                if let after { r = r.with(header: "Retry-After", "\(after)") }
                return r
            case .banned(let after):
                return error(-1003, "Way too many requests; IP banned.", status: 418).with(header: "Retry-After", "\(after)")
            case .timestampOutsideWindow:
                return error(-1021, "Timestamp for this request is outside of the recvWindow.")
            case .unknownErrorWithoutExecuting:
                return error(-1000, "Unknown error, please check your request or try again later.", status: 503)
            case .serviceUnavailable:
                return error(-1001, "Service Unavailable.", status: 503)
            case .unknownErrorAfterExecuting, .slowAnswer, .garbledAfterExecuting, .droppedAfterExecuting:
                executeThenFault = fault
            }
        }
        if Self.signedPaths.contains(path) {
            if let refusal = verify(request, query: query, params: params) { return refusal }
        }
        let response = route(request.method, path, params)
        switch executeThenFault {
        case .unknownErrorAfterExecuting?:
            return error(-1000, "Unknown error, please check your request or try again later.", status: 503)
        case .slowAnswer(let seconds)?:
            return response.delayed(by: seconds)
        case .garbledAfterExecuting?:
            return json("{\"orderId\": <html>upstream reset</html>")
        case .droppedAfterExecuting?:
            return StubResponse(dropConnection: true)
        default:
            return response
        }
    }

    /// Checks key, signature (last parameter, over query + body exactly as received) and the timestamp window.
    private func verify(_ request: RecordedRequest, query: String, params: [String: String]) -> StubResponse? {
        guard request.header("x-mbx-apikey") == apiKey else {
            lock.withLock { signatureFailures += 1 }
            return error(-2015, "Invalid API-key, IP, or permissions for action.", status: 401)
        }
        let total = query + request.text
        guard let range = total.range(of: "&signature=", options: .backwards) ?? total.range(of: "signature=") else {
            return error(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        }
        let payload = String(total[..<range.lowerBound])
        let given = String(total[range.upperBound...])
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        let expected = mac.map { String(format: "%02x", $0) }.joined()
        guard given == expected else {
            lock.withLock { signatureFailures += 1 }
            return error(-1022, "Signature for this request is not valid.")
        }
        guard let timestamp = params["timestamp"].flatMap(Int64.init) else {
            return error(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        }
        let window = params["recvWindow"].flatMap(Int64.init) ?? 5000
        let now = serverTimeMs
        guard timestamp < now + 1000, now - timestamp <= window else {
            return error(-1021, "Timestamp for this request is outside of the recvWindow.")
        }
        return nil
    }

    // MARK: Routes

    private func route(_ method: String, _ path: String, _ p: [String: String]) -> StubResponse {
        switch (method, path) {
        case ("GET", "/fapi/v1/time"): return json(#"{"serverTime":\#(serverTimeMs)}"#)
        case ("GET", "/fapi/v1/exchangeInfo"): return json(Self.exchangeInfo)
        case ("GET", "/fapi/v1/klines"): return klines(p)
        case ("GET", "/fapi/v1/ticker/24hr"):
            guard let sym = p["symbol"], let base = Self.bases[sym] else { return error(-1121, "Invalid symbol.") }
            return json(#"{"symbol":"\#(sym)","priceChange":"12.5","priceChangePercent":"1.250","lastPrice":"\#(base)","highPrice":"\#(base * 1.03)","lowPrice":"\#(base * 0.97)","volume":"1000.5","quoteVolume":"\#(base * 1000.5)","count":12345}"#)
        case ("GET", "/fapi/v1/depth"):
            guard let sym = p["symbol"], let base = Self.bases[sym] else { return error(-1121, "Invalid symbol.") }
            let mid = lock.withLock { trendPctPerHour } != 0 ? base : FakeTape.close(base: base, openTime: Int64(Date().timeIntervalSince1970) / 3600 * 3600)
            let bids = (1...20).map { #"["\#(mid * (1 - Double($0) * 0.0002))","2.5"]"# }.joined(separator: ",")
            let asks = (1...20).map { #"["\#(mid * (1 + Double($0) * 0.0002))","2.0"]"# }.joined(separator: ",")
            return json(#"{"lastUpdateId":1,"E":1,"T":1,"bids":[\#(bids)],"asks":[\#(asks)]}"#)
        case ("GET", "/fapi/v1/fundingRate"):
            // A settlement every 8 hours since 2019-09-10 (the first USD-M perpetual), rate 0.0001 + a small wave.
            guard let sym = p["symbol"], Self.bases[sym] != nil else { return error(-1121, "Invalid symbol.") }
            let listed: Int64 = 1_568_102_400_000
            let step: Int64 = 8 * 3_600_000
            let limit = min(max(p["limit"].flatMap(Int.init) ?? 100, 1), 1000)
            let end = p["endTime"].flatMap(Int64.init) ?? Int64(Date().timeIntervalSince1970 * 1000)
            let startAsked = p["startTime"].flatMap(Int64.init) ?? (end - Int64(limit - 1) * step)
            var t = max(listed, (startAsked + step - 1) / step * step)
            var rows: [String] = []
            while t <= end, rows.count < limit {
                let rate = 0.0001 + 0.00005 * sin(Double(t / step))
                rows.append(#"{"symbol":"\#(sym)","fundingTime":\#(t),"fundingRate":"\#(String(format: "%.8f", rate))","markPrice":"1"}"#)
                t += step
            }
            return json("[" + rows.joined(separator: ",") + "]")
        case ("GET", "/fapi/v1/premiumIndex"):
            guard let sym = p["symbol"], let base = Self.bases[sym] else { return error(-1121, "Invalid symbol.") }
            return json(#"{"symbol":"\#(sym)","markPrice":"\#(base)","indexPrice":"\#(base - 1)","estimatedSettlePrice":"\#(base)","lastFundingRate":"0.00010000","interestRate":"0.00010000","nextFundingTime":1767225600000,"time":1767200000000}"#)
        case ("GET", "/fapi/v2/account"):
            let (w, a) = lock.withLock { (wallet, available) }
            return json(#"{"totalWalletBalance":"\#(w)","availableBalance":"\#(a)","assets":[{"asset":"USDT","walletBalance":"\#(w)","availableBalance":"\#(a)"},{"asset":"BNB","walletBalance":"0.00000000","availableBalance":"0.00000000"}],"positions":[]}"#)
        case ("GET", "/fapi/v2/positionRisk"):
            return json(positionRisk())
        case ("GET", "/fapi/v1/income"):
            return json("[" + lock.withLock { incomes }.joined(separator: ",") + "]")
        case ("POST", "/fapi/v1/leverage"):
            guard let sym = p["symbol"], let lev = p["leverage"].flatMap(Int.init), (1...125).contains(lev) else {
                return error(-4028, "Leverage is not valid")
            }
            lock.withLock { leverage[sym] = lev }
            return json(#"{"leverage":\#(lev),"maxNotionalValue":"1000000","symbol":"\#(sym)"}"#)
        case ("POST", "/fapi/v1/marginType"):
            guard let sym = p["symbol"], let type = p["marginType"], type == "ISOLATED" || type == "CROSSED" else {
                return error(-1102, "marginType")
            }
            let same = lock.withLock { () -> Bool in
                defer { marginTypes[sym] = type }
                return marginTypes[sym] == type
            }
            return same ? error(-4046, "No need to change margin type.") : json(#"{"code":200,"msg":"success"}"#)
        case ("GET", "/fapi/v1/leverageBracket"):
            return json(#"[{"symbol":"\#(p["symbol"] ?? "")","brackets":[{"bracket":1,"initialLeverage":125,"notionalCap":50000,"notionalFloor":0,"maintMarginRatio":0.004,"cum":0.0},{"bracket":2,"initialLeverage":100,"notionalCap":600000,"notionalFloor":50000,"maintMarginRatio":0.005,"cum":50.0}]}]"#)
        case ("POST", "/fapi/v1/order"): return newOrder(p)
        case ("GET", "/fapi/v1/order"):
            guard let id = p["origClientOrderId"], let o = stored(id), o["algo"] == nil else { return error(-2013, "Order does not exist.") }
            return json(Self.orderJSON(o))
        case ("DELETE", "/fapi/v1/order"):
            guard let id = p["origClientOrderId"], let o = stored(id), o["algo"] == nil else { return error(-2011, "Unknown order sent.") }
            let updated = lock.withLock { () -> [String: String] in
                orders[id]?["status"] = "CANCELED"
                return orders[id] ?? o
            }
            return json(Self.orderJSON(updated))
        case ("GET", "/fapi/v1/openOrders"):
            let open = lock.withLock { orders.values.filter { $0["algo"] == nil && ($0["status"] == "NEW" || $0["status"] == "PARTIALLY_FILLED") } }
            return json("[" + open.map(Self.orderJSON).joined(separator: ",") + "]")
        case ("POST", "/fapi/v1/algoOrder"): return newAlgoOrder(p)
        case ("GET", "/fapi/v1/algoOrder"):
            guard let id = p["clientAlgoId"], let o = stored(id), o["algo"] != nil else { return error(-2013, "Order does not exist.") }
            return json(Self.algoJSON(o))
        case ("DELETE", "/fapi/v1/algoOrder"):
            guard let id = p["clientAlgoId"], let o = stored(id), o["algo"] != nil else { return error(-2011, "Unknown order sent.") }
            lock.withLock { orders[id]?["status"] = "CANCELED" }
            return json(#"{"algoId":\#(o["orderId"] ?? "0"),"clientAlgoId":"\#(id)","code":"200","msg":"success"}"#)
        case ("GET", "/fapi/v1/openAlgoOrders"):
            let open = lock.withLock { orders.values.filter { $0["algo"] != nil && ($0["status"] == "NEW" || $0["status"] == "TRIGGERED") } }
            return json("[" + open.map(Self.algoJSON).joined(separator: ",") + "]")
        case ("POST", "/fapi/v1/listenKey"):
            // The active key while it lives (the venue extends it); a new one once the test expired it.
            let key = lock.withLock { () -> String in
                if listenKey == nil { listenKeys += 1; listenKey = "fakeListenKey\(listenKeys)" }
                return listenKey ?? ""
            }
            return json(#"{"listenKey":"\#(key)"}"#)
        case ("PUT", "/fapi/v1/listenKey"):
            lock.withLock { listenKeepAlives += 1 }
            return json("{}")
        case ("GET", "/fapi/v1/userTrades"):
            let matching = lock.withLock { orders.values.filter { $0["orderId"] == p["orderId"] && $0["executedQty"] != "0" } }
            return json("[" + matching.map { o in
                #"{"symbol":"\#(o["symbol"] ?? "")","id":\#((Int(o["orderId"] ?? "0") ?? 0) + 5),"orderId":\#(o["orderId"] ?? "0"),"side":"\#(o["side"] ?? "")","price":"\#(o["avgPrice"] ?? "0")","qty":"\#(o["executedQty"] ?? "0")","realizedPnl":"0","quoteQty":"0","commission":"0.02000000","commissionAsset":"USDT","time":1767200000000,"buyer":true,"maker":false}"#
            }.joined(separator: ",") + "]")
        default:
            return error(-1000, "unknown endpoint \(method) \(path)", status: 404)
        }
    }

    private func stored(_ id: String) -> [String: String]? { lock.withLock { orders[id] } }

    private func positionRisk() -> String {
        lock.withLock { () -> String in
            var rows: [String] = []
            for (sym, p) in positionBook.sorted(by: { $0.key < $1.key }) where p.amount != 0 {
                let mark = marks[sym] ?? Self.bases[sym] ?? p.entry
                let upnl = (mark - p.entry) * p.amount
                let lev = leverage[sym] ?? 20
                let type = (marginTypes[sym] ?? "CROSSED") == "ISOLATED" ? "isolated" : "cross"
                let margin = isolatedMarginOverride[sym] ?? (type == "isolated" ? abs(p.amount) * p.entry / Double(lev) + upnl : 0)
                rows.append(#"{"symbol":"\#(sym)","positionAmt":"\#(p.amount)","entryPrice":"\#(p.entry)","markPrice":"\#(mark)","unRealizedProfit":"\#(upnl)","liquidationPrice":"\#(sym == "BTCUSDT" && isolatedMarginOverride[sym] == 50 ? "45500.12" : "0")","leverage":"\#(lev)","marginType":"\#(type)","isolatedMargin":"\#(margin)","positionSide":"BOTH"}"#)
            }
            rows.append(#"{"symbol":"ETHUSDT","positionAmt":"0.000","entryPrice":"0.0","markPrice":"3000.0","unRealizedProfit":"0.0","liquidationPrice":"0","leverage":"20","marginType":"cross","isolatedMargin":"0","positionSide":"BOTH"}"#)
            return "[" + rows.joined(separator: ",") + "]"
        }
    }

    /// Caller must hold `lock`. Applies an execution of `qty` (unsigned) on `side` to the position book.
    private func execute(_ sym: String, side: String, qty: Double, price: Double) {
        let signed = side == "SELL" ? -qty : qty
        let old = positionBook[sym] ?? (0, price)
        let total = old.amount + signed
        var entry = old.entry
        if old.amount == 0 || old.amount * signed > 0 { entry = abs(total) > 0 ? (abs(old.amount) * old.entry + qty * price) / abs(total) : price }
        positionBook[sym] = abs(total) < 1e-12 ? nil : (Self.round(total), entry)
    }

    static func round(_ v: Double) -> Double { (v * 1e8).rounded() / 1e8 }

    // MARK: Test controls (what a person or the market does while the agent is down)

    /// Sets a position as if opened or changed by hand (0 closes it).
    public func setPosition(_ venueSymbol: String, amount: Double, entry: Double) {
        lock.withLock { positionBook[venueSymbol] = amount == 0 ? nil : (amount, entry) }
    }
    /// The position amount the venue holds (0 = flat).
    public func positionAmount(_ venueSymbol: String) -> Double { lock.withLock { positionBook[venueSymbol]?.amount ?? 0 } }
    /// The user-data stream key handed out now (nil before the first `POST /fapi/v1/listenKey`).
    public var activeListenKey: String? { lock.withLock { listenKey } }
    public var listenKeyKeepAlives: Int { lock.withLock { listenKeepAlives } }
    /// Expires the key: the next `POST` hands out a new one.
    public func expireListenKey() { lock.withLock { listenKey = nil } }
    /// Moves the mark price (unrealised P&L and margin follow).
    public func setMark(_ venueSymbol: String, _ price: Double) { lock.withLock { marks[venueSymbol] = price } }
    /// Fixes the isolated margin (margin balance) the venue reports for a position.
    public func setIsolatedMargin(_ venueSymbol: String, _ margin: Double?) { lock.withLock { isolatedMarginOverride[venueSymbol] = margin } }
    /// The USDT wallet balance.
    public func setWallet(_ usdt: Double) { lock.withLock { wallet = usdt; available = usdt } }
    /// Cancels an order (regular or algo) as a person would in the web UI.
    public func cancelByHand(_ clientId: String) { lock.withLock { orders[clientId]?["status"] = "CANCELED" } }
    /// Executes `quantity` of a conditional (stop) order, as the market would; `finish` ends it.
    public func executeAlgo(_ clientId: String, quantity: Double, finish: Bool) {
        lock.withLock {
            guard var o = orders[clientId], let sym = o["symbol"], let side = o["side"] else { return }
            let done = (Double(o["executedQty"] ?? "0") ?? 0) + quantity
            o["executedQty"] = "\(Self.round(done))"
            o["avgPrice"] = o["triggerPrice"] ?? "0"
            o["status"] = finish ? "FINISHED" : "TRIGGERED"
            orders[clientId] = o
            execute(sym, side: side, qty: quantity, price: Double(o["triggerPrice"] ?? "0") ?? 0)
        }
    }
    /// Makes every symbol climb steadily by `percentPerHour` up to the current hour (the book stays at the base price).
    public func setTrend(percentPerHour: Double) { lock.withLock { trendPctPerHour = percentPerHour } }
    /// Klines whose open time (Unix seconds) falls in these ranges are left out of answers: a hole in the venue's history.
    public func omitKlines(openTimes: ClosedRange<Int64>) { lock.withLock { omittedKlines.append(openTimes) } }

    private func tape(base: Double, openTime: Int64) -> Double {
        let trend = lock.withLock { trendPctPerHour }
        guard trend != 0 else { return FakeTape.close(base: base, openTime: openTime) }
        let anchor = serverTimeMs / 1000 / 3600 * 3600
        return base * (1 + trend / 100 * Double(openTime - anchor) / 3600)
    }

    /// Adds a funding settlement to `/fapi/v1/income`.
    public func addFunding(_ venueSymbol: String, amount: Double, timeMs: Int64, tranId: Int64) {
        lock.withLock { incomes.append(#"{"symbol":"\#(venueSymbol)","incomeType":"FUNDING_FEE","income":"\#(amount)","asset":"USDT","info":"FUNDING_FEE","time":\#(timeMs),"tranId":\#(tranId),"tradeId":""}"#) }
    }
    /// Every client id the venue received, in order of arrival (regular and algo).
    public var clientIds: [String] { lock.withLock { orders.values.sorted { (Int($0["orderId"] ?? "0") ?? 0) < (Int($1["orderId"] ?? "0") ?? 0) }.compactMap { $0["clientOrderId"] } } }
    /// Orders received per client id (a duplicate would count 2; the venue refuses duplicates, so this counts attempts).
    public func orderRequests(clientId: String) -> Int {
        requests.filter { ($0.pathWithoutQuery == "/fapi/v1/order" || $0.pathWithoutQuery == "/fapi/v1/algoOrder") && $0.method == "POST"
            && ($0.text.contains("=\(clientId)&") || $0.text.hasSuffix("=\(clientId)")) }.count
    }

    private func klines(_ p: [String: String]) -> StubResponse {
        guard let sym = p["symbol"], let base = Self.bases[sym] else { return error(-1121, "Invalid symbol.") }
        let seconds: Int64 = switch p["interval"] ?? "" {
        case "1h": 3600
        case "4h": 14_400
        case "1d": 86_400
        default: 0
        }
        guard seconds > 0 else { return error(-1120, "Invalid interval.") }
        let limit = min(Int64(p["limit"].flatMap(Int.init) ?? 500), 1500)
        let endMs = p["endTime"].flatMap(Int64.init) ?? serverTimeMs
        // Like the real venue: the newest bar is the one open at endTime (possibly still forming).
        let lastOpen = (endMs / 1000) / seconds * seconds
        var rows: [String] = []
        let omitted = lock.withLock { omittedKlines }
        for i in stride(from: limit - 1, through: 0, by: -1) {
            let open = lastOpen - i * seconds
            if omitted.contains(where: { $0.contains(open) }) { continue }
            let close = tape(base: base, openTime: open + seconds)
            let o = tape(base: base, openTime: open)
            rows.append(#"[\#(open * 1000),"\#(o)","\#(max(o, close) * 1.002)","\#(min(o, close) * 0.998)","\#(close)","\#(100 + Double(open / 3600 % 7) * 10)",\#((open + seconds) * 1000 - 1),"0",10,"0","0","0"]"#)
        }
        return json("[" + rows.joined(separator: ",") + "]")
    }

    private func newOrder(_ p: [String: String]) -> StubResponse {
        guard let sym = p["symbol"], let base = Self.bases[sym], let side = p["side"], let type = p["type"],
              let id = p["newClientOrderId"], let qty = p["quantity"], let q = Double(qty) else {
            return error(-1102, "Mandatory parameter was not sent.")
        }
        if ["STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"].contains(type) {
            return error(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")
        }
        if !Self.isMultiple(qty, of: sym == "BTCUSDT" ? 0.001 : 0.01) { return error(-1111, "Precision is over the maximum defined for this asset.") }
        if let price = p["price"], !Self.isMultiple(price, of: sym == "BTCUSDT" ? 0.1 : 0.01) {
            return error(-1111, "Precision is over the maximum defined for this asset.")
        }
        return lock.withLock { () -> StubResponse in
            if orders[id] != nil { return error(-4116, "ClientOrderId is duplicated.") }
            orderSequence += 1
            var o: [String: String] = ["symbol": sym, "orderId": "\(orderSequence)", "clientOrderId": id, "side": side,
                                       "type": type, "origQty": qty, "price": p["price"] ?? "0",
                                       "reduceOnly": p["reduceOnly"] ?? "false", "executedQty": "0", "avgPrice": "0",
                                       "status": "NEW"]
            if type == "MARKET" {
                var filled = (q * fillRatio * 1000).rounded(.down) / 1000
                if p["reduceOnly"] == "true" {
                    let held = positionBook[sym]?.amount ?? 0
                    let reducing = (side == "SELL" && held > 0) || (side == "BUY" && held < 0)
                    filled = reducing ? min(filled, abs(held)) : 0
                    if filled == 0 { return error(-2022, "ReduceOnly Order is rejected.") }
                }
                execute(sym, side: side, qty: filled, price: base)
                o["executedQty"] = "\(filled)"
                o["avgPrice"] = "\(base)"
                o["status"] = filled >= q ? "FILLED" : "PARTIALLY_FILLED"
            }
            orders[id] = o
            return json(Self.orderJSON(o))
        }
    }

    private func newAlgoOrder(_ p: [String: String]) -> StubResponse {
        guard p["algoType"] == "CONDITIONAL", let sym = p["symbol"], Self.bases[sym] != nil, let side = p["side"],
              let type = p["type"], let id = p["clientAlgoId"], let trigger = p["triggerPrice"] else {
            return error(-1102, "Mandatory parameter was not sent.")
        }
        if !Self.isMultiple(trigger, of: sym == "BTCUSDT" ? 0.1 : 0.01) { return error(-1111, "Precision is over the maximum defined for this asset.") }
        return lock.withLock { () -> StubResponse in
            if orders[id] != nil { return error(-4116, "ClientOrderId is duplicated.") }
            orderSequence += 1
            let o: [String: String] = ["algo": "1", "symbol": sym, "orderId": "\(orderSequence)", "clientOrderId": id, "side": side,
                                       "type": type, "origQty": p["quantity"] ?? "0", "triggerPrice": trigger,
                                       "reduceOnly": p["reduceOnly"] ?? "false", "status": "NEW"]
            orders[id] = o
            return json(Self.algoJSON(o))
        }
    }

    static func isMultiple(_ text: String, of step: Double) -> Bool {
        guard let v = Double(text) else { return false }
        let ratio = v / step
        return abs(ratio - ratio.rounded()) < 1e-6
    }

    static func orderJSON(_ o: [String: String]) -> String {
        #"{"orderId":\#(o["orderId"] ?? "0"),"symbol":"\#(o["symbol"] ?? "")","status":"\#(o["status"] ?? "")","clientOrderId":"\#(o["clientOrderId"] ?? "")","price":"\#(o["price"] ?? "0")","avgPrice":"\#(o["avgPrice"] ?? "0")","origQty":"\#(o["origQty"] ?? "0")","executedQty":"\#(o["executedQty"] ?? "0")","cumQuote":"0","timeInForce":"GTC","type":"\#(o["type"] ?? "")","reduceOnly":\#(o["reduceOnly"] ?? "false"),"closePosition":false,"side":"\#(o["side"] ?? "")","positionSide":"BOTH","stopPrice":"0","workingType":"CONTRACT_PRICE","priceProtect":false,"origType":"\#(o["type"] ?? "")","updateTime":1767200000000}"#
    }

    static func algoJSON(_ o: [String: String]) -> String {
        #"{"algoId":\#(o["orderId"] ?? "0"),"clientAlgoId":"\#(o["clientOrderId"] ?? "")","algoType":"CONDITIONAL","orderType":"\#(o["type"] ?? "")","symbol":"\#(o["symbol"] ?? "")","side":"\#(o["side"] ?? "")","positionSide":"BOTH","timeInForce":"GTC","quantity":"\#(o["origQty"] ?? "0")","executedQty":"\#(o["executedQty"] ?? "0")","avgPrice":"\#(o["avgPrice"] ?? "0")","algoStatus":"\#(o["status"] ?? "")","triggerPrice":"\#(o["triggerPrice"] ?? "0")","price":"0.00","workingType":"MARK_PRICE","closePosition":false,"priceProtect":false,"reduceOnly":\#(o["reduceOnly"] ?? "false"),"createTime":1767200000000,"updateTime":1767200000000}"#
    }

    static let exchangeInfo = #"""
    {"timezone":"UTC","serverTime":1767200000000,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400},{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300}],
     "symbols":[
      {"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,
       "filters":[{"filterType":"PRICE_FILTER","minPrice":"556.80","maxPrice":"4529764","tickSize":"0.10"},{"filterType":"LOT_SIZE","minQty":"0.001","maxQty":"1000","stepSize":"0.001"},{"filterType":"MARKET_LOT_SIZE","minQty":"0.001","maxQty":"120","stepSize":"0.001"},{"filterType":"MAX_NUM_ORDERS","limit":200},{"filterType":"MIN_NOTIONAL","notional":"100"},{"filterType":"PERCENT_PRICE","multiplierUp":"1.0500","multiplierDown":"0.9500","multiplierDecimal":"4"}]},
      {"symbol":"ETHUSDT","pair":"ETHUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"ETH","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,
       "filters":[{"filterType":"PRICE_FILTER","minPrice":"39.86","maxPrice":"306177","tickSize":"0.01"},{"filterType":"LOT_SIZE","minQty":"0.01","maxQty":"10000","stepSize":"0.01"},{"filterType":"MARKET_LOT_SIZE","minQty":"0.01","maxQty":"2000","stepSize":"0.01"},{"filterType":"MIN_NOTIONAL","notional":"20"}]},
      {"symbol":"SOLUSDT","pair":"SOLUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"SOL","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":4,"quantityPrecision":0,
       "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.4200","maxPrice":"6857","tickSize":"0.0100"},{"filterType":"LOT_SIZE","minQty":"0.01","maxQty":"1000000","stepSize":"0.01"},{"filterType":"MARKET_LOT_SIZE","minQty":"0.01","maxQty":"5000","stepSize":"0.01"},{"filterType":"MIN_NOTIONAL","notional":"5"}]},
      {"symbol":"XRPUSDT","pair":"XRPUSDT","contractType":"PERPETUAL","status":"SETTLING","baseAsset":"XRP","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":4,"quantityPrecision":1,
       "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.0143","maxPrice":"100000","tickSize":"0.0001"},{"filterType":"LOT_SIZE","minQty":"0.1","maxQty":"10000000","stepSize":"0.1"},{"filterType":"MIN_NOTIONAL","notional":"5"}]},
      {"symbol":"BTCUSDT_260327","pair":"BTCUSDT","contractType":"CURRENT_QUARTER","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":1,"quantityPrecision":3,
       "filters":[{"filterType":"PRICE_FILTER","minPrice":"576.3","maxPrice":"1000000","tickSize":"0.1"},{"filterType":"LOT_SIZE","minQty":"0.001","maxQty":"500","stepSize":"0.001"}]}
     ]}
    """#
}
