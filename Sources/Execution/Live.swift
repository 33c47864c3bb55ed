import Config
import Foundation
import Market
import Model

// LIVE execution: real orders through a `TradingVenue`, every one recorded in the ledger before it is sent
// (`live_order_intent`) and after its answer (`live_order_result`, `live_fill`). The ledger is reached through
// `LiveRecorder`, so this target stays free of the storage layer.

/// What a LIVE order is for. Everything except `entry` only ever reduces a position.
public enum LiveOrderPurpose: String, Codable, Sendable {
    case entry
    /// The mandatory protective stop after an entry (Binance conditional algo order, Coinbase stop-limit).
    case stop
    /// A reduce-only market close when a position cannot be protected.
    case close
    /// Futures guard: margin ratio over `reduce_margin_ratio`, half the position is closed.
    case guardReduce = "guard_reduce"
    /// Futures guard: margin ratio over `close_margin_ratio`, the position is closed.
    case guardClose = "guard_close"
    /// `agent kill on --flatten`: close everything.
    case flatten
    /// A rung of the take-profit ladder (`signals.yaml` `exits.ladder`), resting reduce-only on the venue.
    case takeProfit = "take_profit"
    /// The time stop (`exits.time_stop_hours`): what remains is closed reduce-only.
    case timeStop = "time_stop"

    /// Whether the order may only reduce a position.
    public var reducesOnly: Bool { self != .entry }
}

/// `live_order_intent`: recorded before the request is sent.
public struct LiveOrderIntent: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var side: OrderSide
    /// `market`, `stop-market`, `stop-limit`.
    public var kind: String
    /// Base units after the venue's rules were applied (never more than asked).
    public var quantity: Double
    public var triggerPrice: Double?
    public var limitPrice: Double?
    public var reduceOnly: Bool
    public var purpose: LiveOrderPurpose
    /// The entry this order protects or closes (nil for entries).
    public var parentClientOrderId: String?
    /// For entries: the tier and stop distance, so the position can be rebuilt and protected from the ledger alone.
    public var tier: Tier?
    public var stopLossPct: Double?
    public var reason: String

    public init(clientOrderId: String, symbol: String, side: OrderSide, kind: String, quantity: Double,
                triggerPrice: Double? = nil, limitPrice: Double? = nil, reduceOnly: Bool, purpose: LiveOrderPurpose,
                parentClientOrderId: String? = nil, tier: Tier? = nil, stopLossPct: Double? = nil, reason: String) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.side = side
        self.kind = kind
        self.quantity = quantity
        self.triggerPrice = triggerPrice
        self.limitPrice = limitPrice
        self.reduceOnly = reduceOnly
        self.purpose = purpose
        self.parentClientOrderId = parentClientOrderId
        self.tier = tier
        self.stopLossPct = stopLossPct
        self.reason = reason
    }
}

/// `live_order_result`: what the venue said (or that it could not say).
public struct LiveOrderResult: Codable, Sendable, Equatable {
    /// Venue statuses (`OPEN`, `PENDING`, `PARTIALLY_FILLED`, `FILLED`, `CANCELLED`, `REJECTED`, `EXPIRED`), or
    /// `UNKNOWN` (the outcome could not be established), `NOT_FOUND` (looked up by client id after a crash: the
    /// venue never received it), `FAILED` (refused before or by the venue; nothing happened).
    public static let unknown = "UNKNOWN"
    public static let notFound = "NOT_FOUND"
    public static let failed = "FAILED"

    public var clientOrderId: String
    public var symbol: String
    public var purpose: LiveOrderPurpose
    public var status: String
    public var venueOrderId: String?
    public var filledQuantity: Double
    public var averagePrice: Double?
    public var error: String?
    /// `send` (the answer to our request), `lookup` (found by client id), `reconcile`.
    public var source: String

    public init(clientOrderId: String, symbol: String, purpose: LiveOrderPurpose, status: String, venueOrderId: String? = nil,
                filledQuantity: Double = 0, averagePrice: Double? = nil, error: String? = nil, source: String) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.purpose = purpose
        self.status = status
        self.venueOrderId = venueOrderId
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.error = error
        self.source = source
    }

    /// Whether the order can still fill (a working stop, a resting order).
    public var isLive: Bool { ["OPEN", "PENDING", "PARTIALLY_FILLED"].contains(status) }
    /// Whether the outcome is still to be established.
    public var isUnresolved: Bool { status == Self.unknown }
}

/// `live_fill`: quantity executed by one of our orders (the increase since the last recorded result).
public struct LiveFill: Codable, Sendable, Equatable {
    public var clientOrderId: String
    public var symbol: String
    public var side: OrderSide
    public var quantity: Double
    public var price: Double
    public var purpose: LiveOrderPurpose
    public var time: Int64

    public init(clientOrderId: String, symbol: String, side: OrderSide, quantity: Double, price: Double,
                purpose: LiveOrderPurpose, time: Int64) {
        self.clientOrderId = clientOrderId
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.purpose = purpose
        self.time = time
    }
}

/// `live_setting`: leverage and margin type applied before an entry (Binance).
public struct LiveSetting: Codable, Sendable, Equatable {
    public var symbol: String
    public var leverage: Int
    public var marginType: String
}

/// `protection_alarm`: a position that could not get a working stop, and what was done about it.
public struct ProtectionAlarm: Codable, Sendable, Equatable {
    public var symbol: String
    public var entryClientOrderId: String?
    public var problem: String
    public var action: String
}

/// One event for `LiveRecorder.record(batch:)`.
public struct LiveRecord: Sendable {
    public var type: String
    public var symbol: String?
    public var payload: Data

    public init<T: Encodable>(type: String, symbol: String?, _ value: T) throws {
        self.type = type
        self.symbol = symbol
        payload = try JSONCoding.encoder().encode(value)
    }
}

/// Where LIVE events go: the ledger, in the order given. Appending must be durable before it returns.
public protocol LiveRecorder: Sendable {
    /// Appends one event of `type` with `value` as its JSON payload.
    func record<T: Encodable & Sendable>(cycleId: String, time: Int64, type: String, symbol: String?, _ value: T) throws
    /// Appends several events atomically: all of them or none (an order's result and its fill).
    func record(cycleId: String, time: Int64, batch: [LiveRecord]) throws
}

/// How LIVE trades, from `policy.yaml` (`execution`, `risk.max_leverage`, `futures`).
public struct LiveSettings: Sendable, Equatable {
    /// Leverage set before each Binance entry: `risk.max_leverage` rounded down, at least 1.
    public var leverage: Int
    public var marginType: MarginType
    /// Coinbase stop-limit: the limit sits this far beyond the stop (so it still fills in a fast market).
    public var stopLimitOffsetPct: Double
    public var futures: FuturesThresholds

    public init(leverage: Int, marginType: MarginType, stopLimitOffsetPct: Double, futures: FuturesThresholds) {
        self.leverage = leverage
        self.marginType = marginType
        self.stopLimitOffsetPct = stopLimitOffsetPct
        self.futures = futures
    }

    /// From the policy: leverage capped by `risk.max_leverage`.
    public init(_ policy: PolicyConfig) {
        self.init(leverage: max(1, min(125, Int(policy.risk.maxLeverage.rounded(.down)))),
                  marginType: MarginType(venue: policy.execution.marginType) ?? .isolated,
                  stopLimitOffsetPct: policy.execution.stopLimitOffsetPct,
                  futures: FuturesThresholds(policy.futures))
    }
}

extension ClientOrderId {
    /// A deterministic id for an order that belongs to `base` (its stop, its close): `<base>-<suffix>` when that
    /// fits Binance's 36 characters, otherwise `ag-<hash of base>-<suffix>`.
    public static func derived(from base: String, suffix: String) -> String {
        let readable = "\(base)-\(suffix)"
        if readable.count <= 36 { return readable }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in base.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String("ag-\(String(hash, radix: 16))-\(suffix)".prefix(36))
    }
}

/// Sends one order ledger-first: `live_order_intent`, the request, `live_order_result` (+ `live_fill`).
/// An unknown outcome is looked up by client id (the connectors already do it once); never resent.
public struct LiveOrderSender: Sendable {
    public var venue: any TradingVenue
    public var recorder: any LiveRecorder

    public init(venue: any TradingVenue, recorder: any LiveRecorder) {
        self.venue = venue
        self.recorder = recorder
    }

    /// Places `request` (rules applied first, so the intent records what is really sent). Returns the recorded
    /// result. Recording failures throw (nothing is sent when the intent could not be recorded).
    public func send(_ request: OrderRequest, purpose: LiveOrderPurpose, parent: String?, tier: Tier? = nil,
                     stopLossPct: Double? = nil, reason: String, cycleId: String, time: Int64,
                     previouslyFilled: Double = 0) async throws -> LiveOrderResult {
        var prepared = request
        do {
            prepared = try await venue.rules(for: request.symbol).prepare(request, venue: venue.name)
        } catch {
            // Nothing was sent: record the refusal against an intent of what was asked.
            try recorder.record(cycleId: cycleId, time: time, type: "live_order_intent", symbol: request.symbol,
                                Self.intent(request, purpose: purpose, parent: parent, tier: tier, stopLossPct: stopLossPct, reason: reason))
            await LiveTestHook.reached(LiveTestHook.points(for: purpose).beforeSend)
            let result = LiveOrderResult(clientOrderId: request.clientOrderId, symbol: request.symbol, purpose: purpose,
                                         status: LiveOrderResult.failed, error: "\(error)", source: "send")
            try recorder.record(cycleId: cycleId, time: time, type: "live_order_result", symbol: request.symbol, result)
            await LiveTestHook.reached(LiveTestHook.points(for: purpose).afterResult)
            return result
        }
        // Ledger first (invariant 8).
        try recorder.record(cycleId: cycleId, time: time, type: "live_order_intent", symbol: request.symbol,
                            Self.intent(prepared, purpose: purpose, parent: parent, tier: tier, stopLossPct: stopLossPct, reason: reason))
        let points = LiveTestHook.points(for: purpose)
        await LiveTestHook.reached(points.beforeSend)
        let result: LiveOrderResult
        do {
            var order = try await venue.placeOrder(prepared)
            await LiveTestHook.reached(points.afterSend)
            // Coinbase answers a market order before it fills: read its state once to learn the fill.
            if case .market = prepared.kind, order.filledQuantity == 0,
               let refreshed = try? await venue.order(symbol: prepared.symbol, clientOrderId: prepared.clientOrderId) {
                order = refreshed
            }
            result = Self.result(order, purpose: purpose, source: "send")
        } catch {
            // An answer we cannot read may still mean the venue acted on it: look it up, never call it nothing.
            switch error.reason == .badResponse ? .unknownOutcome : error.disposition {
            case .unknownOutcome:
                // The connector looked it up once already; try once more before calling it unknown.
                if let found = try? await venue.order(symbol: prepared.symbol, clientOrderId: prepared.clientOrderId) {
                    result = Self.result(found, purpose: purpose, source: "lookup")
                } else {
                    result = LiveOrderResult(clientOrderId: prepared.clientOrderId, symbol: prepared.symbol, purpose: purpose,
                                             status: LiveOrderResult.unknown, error: "\(error)", source: "send")
                }
            case .rejected, .retryable:
                result = LiveOrderResult(clientOrderId: prepared.clientOrderId, symbol: prepared.symbol, purpose: purpose,
                                         status: LiveOrderResult.failed, error: "\(error)", source: "send")
            }
        }
        try recordResult(result, side: prepared.side, previouslyFilled: previouslyFilled, cycleId: cycleId, time: time)
        await LiveTestHook.reached(points.afterResult)
        return result
    }

    /// Records a result and, when more quantity filled than `previouslyFilled`, the new fill.
    public func recordResult(_ result: LiveOrderResult, side: OrderSide, previouslyFilled: Double, cycleId: String,
                             time: Int64) throws {
        try recorder.record(cycleId: cycleId, time: time,
                            batch: Self.resultRecords(result, side: side, previouslyFilled: previouslyFilled, time: time))
    }

    /// An order's result and, when more filled than `previouslyFilled`, its fill: written together, so no crash can
    /// leave a FILLED result without the fill that opened the position.
    public static func resultRecords(_ result: LiveOrderResult, side: OrderSide, previouslyFilled: Double, time: Int64) throws -> [LiveRecord] {
        var records = [try LiveRecord(type: "live_order_result", symbol: result.symbol, result)]
        let added = result.filledQuantity - previouslyFilled
        if added > 1e-12 {
            records.append(try LiveRecord(type: "live_fill", symbol: result.symbol, LiveFill(
                clientOrderId: result.clientOrderId, symbol: result.symbol, side: side, quantity: added,
                price: result.averagePrice ?? 0, purpose: result.purpose, time: time)))
        }
        return records
    }

    /// The result recorded for an order the venue reported.
    public static func result(_ order: VenueOrder, purpose: LiveOrderPurpose, source: String) -> LiveOrderResult {
        LiveOrderResult(clientOrderId: order.clientOrderId, symbol: order.symbol, purpose: purpose, status: order.status.rawValue,
                        venueOrderId: order.orderId, filledQuantity: Dec.double(order.filledQuantity),
                        averagePrice: order.averagePrice.map(Dec.double), source: source)
    }

    static func intent(_ r: OrderRequest, purpose: LiveOrderPurpose, parent: String?, tier: Tier?, stopLossPct: Double?,
                       reason: String) -> LiveOrderIntent {
        var trigger: Decimal?
        var limit: Decimal?
        switch r.kind {
        case .market: break
        case .limit(let p, _): limit = p
        case .stopLimit(let s, let l): trigger = s; limit = l
        case .stopMarket(let t), .takeProfitMarket(let t): trigger = t
        }
        return LiveOrderIntent(clientOrderId: r.clientOrderId, symbol: r.symbol, side: r.side, kind: r.kind.name,
                               quantity: Dec.double(r.quantity), triggerPrice: trigger.map(Dec.double),
                               limitPrice: limit.map(Dec.double), reduceOnly: r.reduceOnly, purpose: purpose,
                               parentClientOrderId: parent, tier: tier, stopLossPct: stopLossPct, reason: reason)
    }
}

/// Decimal conversions for LIVE quantities and prices.
public enum Dec {
    /// The decimal of a double through its shortest text, so 0.1 stays 0.1.
    public static func from(_ value: Double) -> Decimal {
        Decimal(string: "\(value)", locale: Locale(identifier: "en_US_POSIX")) ?? Decimal(value)
    }

    /// The double nearest the decimal's text (so 0.0333 stays 0.0333, not 0.033299999999999996).
    public static func double(_ value: Decimal) -> Double { Double(value.description) ?? NSDecimalNumber(decimal: value).doubleValue }
}

/// Protective stops, venue by venue.
public enum LiveProtection {
    /// The stop order for a position of `quantity` (signed: positive long) entered at `entryPrice`:
    /// Binance a reduce-only stop-market on the mark price; Coinbase a stop-limit with the limit `offsetPct` beyond.
    public static func stopRequest(venue: String, symbol: String, quantity: Double, entryPrice: Double, stopLossPct: Double,
                                   offsetPct: Double, clientOrderId: String) -> OrderRequest {
        let trigger = quantity > 0 ? entryPrice * (1 - stopLossPct / 100) : entryPrice * (1 + stopLossPct / 100)
        var request = stopRequest(venue: venue, symbol: symbol, quantity: quantity, trigger: trigger, offsetPct: offsetPct,
                                  clientOrderId: clientOrderId)
        request.referencePrice = Dec.from(entryPrice)
        return request
    }

    /// A stop for `quantity` (signed: positive long) at an explicit `trigger` (a moved stop: breakeven or trailing).
    public static func stopRequest(venue: String, symbol: String, quantity: Double, trigger: Double, offsetPct: Double,
                                   clientOrderId: String) -> OrderRequest {
        let long = quantity > 0
        let kind: OrderKind
        if venue == "coinbase" {
            let limit = long ? trigger * (1 - offsetPct / 100) : trigger * (1 + offsetPct / 100)
            kind = .stopLimit(stopPrice: Dec.from(trigger), limitPrice: Dec.from(limit))
        } else {
            kind = .stopMarket(triggerPrice: Dec.from(trigger))
        }
        return OrderRequest(symbol: symbol, side: long ? .sell : .buy, kind: kind, quantity: Dec.from(abs(quantity)),
                            clientOrderId: clientOrderId, reduceOnly: true, referencePrice: Dec.from(trigger))
    }

    /// A reduce-only take-profit for `quantity` (unsigned) of a position whose sign is `positionSign`, triggered at `target`.
    public static func takeProfitRequest(symbol: String, positionSign: Double, quantity: Double, target: Double,
                                         clientOrderId: String) -> OrderRequest {
        OrderRequest(symbol: symbol, side: positionSign > 0 ? .sell : .buy, kind: .takeProfitMarket(triggerPrice: Dec.from(target)),
                     quantity: Dec.from(abs(quantity)), clientOrderId: clientOrderId, reduceOnly: true, referencePrice: Dec.from(target))
    }

    /// A reduce-only market order taking `quantity` (unsigned) off a position whose sign is `positionSign`.
    public static func closeRequest(symbol: String, positionSign: Double, quantity: Double, referencePrice: Double?,
                                    clientOrderId: String) -> OrderRequest {
        OrderRequest(symbol: symbol, side: positionSign > 0 ? .sell : .buy, kind: .market, quantity: Dec.from(abs(quantity)),
                     clientOrderId: clientOrderId, reduceOnly: true, referencePrice: referencePrice.map(Dec.from))
    }
}

/// LIVE: approved entries become real market orders, each followed by its mandatory protective stop.
///
/// Before a Binance entry, margin type and leverage (capped by `risk.max_leverage`) are set and the estimated
/// liquidation distance is checked with the symbol's real maintenance brackets. A filled entry without a working
/// stop is an alarm: it is closed reduce-only at once.
public struct LiveExecutor: Executor {
    public var venue: any TradingVenue
    public var recorder: any LiveRecorder
    public var settings: LiveSettings
    /// The kill switch's reason when it is on (checked again right before each entry is sent).
    public var haltReason: @Sendable () -> String?

    public init(venue: any TradingVenue, recorder: any LiveRecorder, settings: LiveSettings,
                haltReason: @escaping @Sendable () -> String?) {
        self.venue = venue
        self.recorder = recorder
        self.settings = settings
        self.haltReason = haltReason
    }

    public var mode: Mode { .live }

    public func intent(for request: ExecutionRequest) -> OrderIntent {
        OrderIntent.market(request, mode: .live)
    }

    public func execute(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws(ExecutionError) -> ExecutionOutcome {
        do {
            return try await place(intent, tier: tier, quote: quote, time: time)
        } catch let e as ExecutionError {
            throw e
        } catch {
            throw ExecutionError(clientOrderId: intent.clientOrderId, message: "LIVE \(venue.name): \(error)")
        }
    }

    private func place(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws -> ExecutionOutcome {
        var order = intent
        if let reason = haltReason() {
            order.status = "halted"
            try recorder.record(cycleId: intent.cycleId, time: time, type: "halted", symbol: intent.symbol,
                                ["reason": "entry \(intent.clientOrderId) not sent: \(reason)"])
            return ExecutionOutcome(order: order)
        }
        let side: OrderSide = intent.side == .buy ? .buy : .sell
        let touch = side == .buy ? quote.ask : quote.bid
        let price = touch > 0 ? touch : intent.price
        guard price > 0, intent.notionalUsd > 0 else {
            order.status = "rejected"
            return ExecutionOutcome(order: order)
        }
        let quantity = intent.notionalUsd / price
        if let futures = venue as? BinanceFutures {
            if let refusal = try await prepareFutures(futures, intent: intent, quantity: quantity * Double(side.sign), price: price, time: time) {
                order.status = refusal
                return ExecutionOutcome(order: order)
            }
        }
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        let request = OrderRequest(symbol: intent.symbol, side: side, kind: .market, quantity: Dec.from(quantity),
                                   clientOrderId: intent.clientOrderId, referencePrice: Dec.from(price))
        let entry = try await sender.send(request, purpose: .entry, parent: nil, tier: tier, stopLossPct: intent.stopLossPct,
                                          reason: "approved proposal \(intent.proposalId)", cycleId: intent.cycleId, time: time)
        switch entry.status {
        case LiveOrderResult.unknown:
            // Invariant: an intended order in unknown state stops new entries until a person looks.
            try recorder.record(cycleId: intent.cycleId, time: time, type: "review_required", symbol: intent.symbol,
                                ReviewRequired(reasons: ["entry \(intent.clientOrderId) on \(intent.symbol) is in unknown state: \(entry.error ?? "no answer")"]))
            order.status = "unknown"
            return ExecutionOutcome(order: order)
        default:
            if entry.filledQuantity <= 0, !entry.isLive {
                order.status = "rejected"
                return ExecutionOutcome(order: order)
            }
        }
        await LiveTestHook.reached("after_fill")
        let filled = entry.filledQuantity
        let average = entry.averagePrice ?? price
        order.quantity = filled
        order.price = average
        order.notionalUsd = filled * average
        order.status = entry.status == "FILLED" ? "filled" : (filled > 0 ? "partially_filled" : "open")
        if filled > 0 {
            _ = try await protect(symbol: intent.symbol, entryClientOrderId: intent.clientOrderId,
                                  quantity: filled * Double(side.sign), entryPrice: average, stopLossPct: intent.stopLossPct,
                                  attempt: 1, cycleId: intent.cycleId, time: time)
        }
        return ExecutionOutcome(order: order)
    }

    /// Places the protective stop for a position; when that fails, closes the position reduce-only and records a
    /// `protection_alarm`. Returns whether the position ended protected (false = it was closed or could not be).
    public func protect(symbol: String, entryClientOrderId: String, quantity: Double, entryPrice: Double, stopLossPct: Double,
                        attempt: Int, cycleId: String, time: Int64) async throws -> Bool {
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        let stopId = ClientOrderId.derived(from: entryClientOrderId, suffix: attempt <= 1 ? "sl" : "sl\(attempt)")
        let stop = LiveProtection.stopRequest(venue: venue.name, symbol: symbol, quantity: quantity, entryPrice: entryPrice,
                                              stopLossPct: stopLossPct, offsetPct: settings.stopLimitOffsetPct, clientOrderId: stopId)
        let placed = try await sender.send(stop, purpose: .stop, parent: entryClientOrderId,
                                           reason: "protective stop \(stopLossPct)% from \(entryPrice)", cycleId: cycleId, time: time)
        if placed.isLive || placed.status == "FILLED" { return true }
        let closeId = ClientOrderId.derived(from: entryClientOrderId, suffix: attempt <= 1 ? "cl" : "cl\(attempt)")
        let close = LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity),
                                                referencePrice: entryPrice, clientOrderId: closeId)
        let closed = try await sender.send(close, purpose: .close, parent: entryClientOrderId,
                                           reason: "no working stop: closing", cycleId: cycleId, time: time)
        try recorder.record(cycleId: cycleId, time: time, type: "protection_alarm", symbol: symbol, ProtectionAlarm(
            symbol: symbol, entryClientOrderId: entryClientOrderId,
            problem: "stop \(stopId) could not be placed: \(placed.status) \(placed.error ?? "")",
            action: "reduce-only close \(closeId): \(closed.status)"))
        await LiveTestHook.reached("after_alarm")
        try recorder.record(cycleId: cycleId, time: time, type: "review_required", symbol: symbol, ReviewRequired(
            reasons: ["\(symbol) had no working stop (\(placed.error ?? placed.status)); close \(closeId) is \(closed.status)"]))
        return false
    }

    /// Binance: margin type and leverage before the entry (recorded first), then the liquidation-distance check
    /// with the real brackets. Returns a refusal status, or nil to go on.
    private func prepareFutures(_ futures: BinanceFutures, intent: OrderIntent, quantity: Double, price: Double,
                                time: Int64) async throws -> String? {
        let brackets = try await futures.leverageBrackets(symbol: intent.symbol)
        let leverage = settings.leverage
        if let distance = FuturesGuard.entryLiquidationDistancePct(quantity: quantity, price: price, leverage: leverage, brackets: brackets),
           distance < settings.futures.minLiquidationDistancePct {
            try recorder.record(cycleId: intent.cycleId, time: time, type: "futures_entry_refused", symbol: intent.symbol,
                                ["reason": "estimated liquidation \(Format.number(distance))% away, below the minimum \(Format.number(settings.futures.minLiquidationDistancePct))%"])
            return "refused_liquidation_distance"
        }
        try recorder.record(cycleId: intent.cycleId, time: time, type: "live_setting", symbol: intent.symbol,
                            LiveSetting(symbol: intent.symbol, leverage: leverage, marginType: settings.marginType.rawValue))
        await LiveTestHook.reached("after_setting")
        try await futures.setMarginType(symbol: intent.symbol, settings.marginType)
        let applied = try await futures.setLeverage(symbol: intent.symbol, leverage: leverage)
        guard applied <= leverage else {
            return "refused_leverage_\(applied)"
        }
        return nil
    }
}

/// `review_required`: a critical discrepancy; no new entries until `agent reconcile --ack`.
public struct ReviewRequired: Codable, Sendable, Equatable {
    public var reasons: [String]
    public init(reasons: [String]) { self.reasons = reasons }
}
