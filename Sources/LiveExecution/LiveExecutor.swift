import Config
import Engine
import Execution
import Foundation
import Market
import Model
import Venues

// LIVE execution: real orders through a `TradingVenue`, every one recorded in the ledger before it is sent
// (`live_order_intent`) and after its answer (`live_order_result`, `live_fill`). The ledger is reached through
// `LiveRecorder`, so this target stays free of the storage layer.

/// How LIVE trades, from `policy.yaml` (`execution`, `risk.max_leverage`, `futures`).
public struct LiveSettings: Sendable, Equatable {
    /// The most leverage set before a Binance entry: `risk.max_leverage` rounded down, at least 1. Each entry sets
    /// its own intent's leverage under it (`venueLeverage(for:)`).
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
        self.init(leverage: PaperMarginRule.venueLeverage(policy),
                  marginType: MarginType(venue: policy.execution.marginType) ?? .isolated,
                  stopLimitOffsetPct: policy.execution.stopLimitOffsetPct,
                  futures: FuturesThresholds(policy.futures))
    }

    /// The leverage set on the venue for an entry whose intent asks for `asked`: rounded down (the venue takes whole
    /// numbers), at least 1, never above `leverage` (`risk.max_leverage`).
    public func venueLeverage(for asked: Double) -> Int {
        min(leverage, Int(OrderIntent.heldLeverage(asked)))
    }
}

package extension ClientOrderId {
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
                     stopLossPct: Double? = nil, reason: String, rung: Int? = nil, cycleId: String, time: Int64,
                     previouslyFilled: Decimal = 0) async throws -> LiveOrderResult {
        let order: PreparedOrder
        do {
            order = try await venue.prepare(request)
        } catch {
            // Nothing was sent: record the refusal against an intent of what was asked.
            try recorder.record(cycleId: cycleId, time: time, type: .liveOrderIntent, symbol: request.symbol,
                                Self.intent(request, purpose: purpose, parent: parent, tier: tier, stopLossPct: stopLossPct, reason: reason, rung: rung))
            await LiveTestHook.reached(LiveTestHook.points(for: purpose).beforeSend)
            let result = LiveOrderResult(clientOrderId: request.clientOrderId, symbol: request.symbol, purpose: purpose,
                                         status: .failed, error: "\(error)", source: "send")
            try recorder.record(cycleId: cycleId, time: time, type: .liveOrderResult, symbol: request.symbol, result)
            await LiveTestHook.reached(LiveTestHook.points(for: purpose).afterResult)
            return result
        }
        let prepared = order.request
        // Ledger first (invariant 8): the intent is the prepared order, exactly what is sent.
        try recorder.record(cycleId: cycleId, time: time, type: .liveOrderIntent, symbol: request.symbol,
                            Self.intent(order, purpose: purpose, parent: parent, tier: tier, stopLossPct: stopLossPct, reason: reason, rung: rung))
        let points = LiveTestHook.points(for: purpose)
        await LiveTestHook.reached(points.beforeSend)
        let result: LiveOrderResult
        do {
            var placed = try await venue.placeOrder(order)
            await LiveTestHook.reached(points.afterSend)
            // Coinbase answers a market order before it fills: read its state once to learn the fill.
            if case .market = prepared.kind, placed.filledQuantity == 0,
               let refreshed = try? await venue.order(symbol: prepared.symbol, clientOrderId: prepared.clientOrderId) {
                placed = refreshed
            }
            result = Self.result(placed, purpose: purpose, source: "send")
        } catch {
            // An answer we cannot read may still mean the venue acted on it: look it up, never call it nothing.
            switch error.reason == .badResponse ? .unknownOutcome : error.disposition {
            case .unknownOutcome:
                // The connector looked it up once already; try once more before calling it unknown.
                if let found = try? await venue.order(symbol: prepared.symbol, clientOrderId: prepared.clientOrderId) {
                    result = Self.result(found, purpose: purpose, source: "lookup")
                } else {
                    result = LiveOrderResult(clientOrderId: prepared.clientOrderId, symbol: prepared.symbol, purpose: purpose,
                                             status: .unknown, error: "\(error)", source: "send")
                }
            case .rejected, .retryable:
                result = LiveOrderResult(clientOrderId: prepared.clientOrderId, symbol: prepared.symbol, purpose: purpose,
                                         status: .failed, error: "\(error)", source: "send")
            }
        }
        try recordResult(result, side: prepared.side, previouslyFilled: previouslyFilled, cycleId: cycleId, time: time)
        await LiveTestHook.reached(points.afterResult)
        return result
    }

    /// Records a result and, when more quantity filled than `previouslyFilled`, the new fill.
    public func recordResult(_ result: LiveOrderResult, side: OrderSide, previouslyFilled: Decimal, cycleId: String,
                             time: Int64, intent: LiveOrderIntent? = nil) throws {
        try recorder.record(cycleId: cycleId, time: time,
                            batch: Self.resultRecords(result, side: side, previouslyFilled: previouslyFilled, time: time, intent: intent))
    }

    /// An order's result and, when more filled than `previouslyFilled`, its fill: written together, so no crash can
    /// leave a FILLED result without the fill that opened the position.
    ///
    /// A take-profit bracket executes either its limit (the rung) or its stop: a fill on the stop's side of the limit
    /// is recorded as a stop, so the portfolio does not count a stop-out as a rung taken.
    public static func resultRecords(_ result: LiveOrderResult, side: OrderSide, previouslyFilled: Decimal, time: Int64,
                                     intent: LiveOrderIntent? = nil) throws -> [LiveRecord] {
        var records = [try LiveRecord(type: .liveOrderResult, symbol: result.symbol, result)]
        let added = result.filledQuantity - previouslyFilled
        if added > 0 {
            var purpose = result.purpose
            if let intent, intent.kind == LiveOrderIntent.bracketKind, let limit = intent.limitPrice.map(Dec.double),
               let price = result.averagePrice.map(Dec.double), side == .sell ? price < limit * (1 - 1e-9) : price > limit * (1 + 1e-9) {
                purpose = .stop
            }
            records.append(try LiveRecord(type: .liveFill, symbol: result.symbol, LiveFill(
                clientOrderId: result.clientOrderId, symbol: result.symbol, side: side, quantity: added,
                price: result.averagePrice ?? 0, purpose: purpose, time: time)))
        }
        return records
    }

    /// The result recorded for an order the venue reported.
    public static func result(_ order: VenueOrder, purpose: LiveOrderPurpose, source: String) -> LiveOrderResult {
        LiveOrderResult(clientOrderId: order.clientOrderId, symbol: order.symbol, purpose: purpose, status: order.status,
                        venueOrderId: order.orderId, filledQuantity: order.filledQuantity,
                        averagePrice: order.averagePrice, source: source)
    }

    /// The intent of a prepared order: its decimals as they are, so the ledger holds exactly what is sent.
    package static func intent(_ order: PreparedOrder, purpose: LiveOrderPurpose, parent: String?, tier: Tier?, stopLossPct: Double?,
                       reason: String, rung: Int?) -> LiveOrderIntent {
        intent(order.request, purpose: purpose, parent: parent, tier: tier, stopLossPct: stopLossPct, reason: reason, rung: rung)
    }

    /// The intent of a request the symbol's rules refused (nothing was sent): what was asked.
    package static func intent(_ r: OrderRequest, purpose: LiveOrderPurpose, parent: String?, tier: Tier?, stopLossPct: Double?,
                       reason: String, rung: Int?) -> LiveOrderIntent {
        var trigger: Decimal?
        var limit: Decimal?
        switch r.kind {
        case .market: break
        case .limit(let p, _): limit = p
        case .stopLimit(let s, let l), .takeProfitBracket(let l, let s): trigger = s; limit = l
        case .stopMarket(let t), .takeProfitMarket(let t): trigger = t
        }
        return LiveOrderIntent(clientOrderId: r.clientOrderId, symbol: r.symbol, side: r.side, kind: r.kind.name,
                               quantity: r.quantity, triggerPrice: trigger, limitPrice: limit, reduceOnly: r.reduceOnly,
                               purpose: purpose, parentClientOrderId: parent, tier: tier, stopLossPct: stopLossPct,
                               reason: reason, rung: rung)
    }
}

/// Protective stops, venue by venue.
public enum LiveProtection {
    /// The stop order for a position of `quantity` (signed: positive long) entered at `entryPrice`:
    /// futures a reduce-only stop-market on the mark price; spot a stop-limit with the limit `offsetPct` beyond.
    public static func stopRequest(style: ExitOrderStyle, symbol: String, quantity: Double, entryPrice: Double, stopLossPct: Double,
                                   offsetPct: Double, clientOrderId: String) -> OrderRequest {
        let trigger = quantity > 0 ? entryPrice * (1 - stopLossPct / 100) : entryPrice * (1 + stopLossPct / 100)
        var request = stopRequest(style: style, symbol: symbol, quantity: quantity, trigger: trigger, offsetPct: offsetPct,
                                  clientOrderId: clientOrderId)
        request.referencePrice = Dec.from(entryPrice)
        return request
    }

    /// A stop for `quantity` (signed: positive long) at an explicit `trigger` (a moved stop: breakeven or trailing).
    public static func stopRequest(style: ExitOrderStyle, symbol: String, quantity: Double, trigger: Double, offsetPct: Double,
                                   clientOrderId: String) -> OrderRequest {
        let long = quantity > 0
        let kind: OrderKind
        switch style {
        case .slicedBrackets:
            let limit = long ? trigger * (1 - offsetPct / 100) : trigger * (1 + offsetPct / 100)
            kind = .stopLimit(stopPrice: Dec.from(trigger), limitPrice: Dec.from(limit))
        case .reduceOnlyConditional:
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

    /// A spot take-profit slice: `quantity` (unsigned) of a position whose sign is `positionSign` as one bracket, a
    /// limit at `target` and a stop trigger at `stop` on the same coins.
    public static func bracketRequest(symbol: String, positionSign: Double, quantity: Double, target: Double, stop: Double,
                                      clientOrderId: String) -> OrderRequest {
        OrderRequest(symbol: symbol, side: positionSign > 0 ? .sell : .buy,
                     kind: .takeProfitBracket(limitPrice: Dec.from(target), stopTriggerPrice: Dec.from(stop)),
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
/// Before a Binance entry, margin type and the intent's leverage (the proposal's, rounded down, capped by
/// `risk.max_leverage`) are set and the estimated
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
        // Spot (Coinbase) has no leverage: the position is held at 1x whatever the proposal asked for.
        OrderIntent.market(request, mode: .live, leveraged: venue.futures != nil)
    }

    public func execute(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws(ExecutionError) -> ExecutionOutcome {
        do {
            return try await place(intent, tier: tier, quote: quote, time: time)
        } catch let e as ExecutionError {
            throw e
        } catch {
            throw ExecutionError(clientOrderId: intent.clientOrderId, message: "LIVE \(venue.exchange.rawValue): \(error)")
        }
    }

    private func place(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws -> ExecutionOutcome {
        var order = intent
        if let reason = haltReason() {
            order.status = .halted
            try recorder.record(cycleId: intent.cycleId, time: time, type: .halted, symbol: intent.symbol,
                                CycleNote(reason: "entry \(intent.clientOrderId) not sent: \(reason)"))
            return ExecutionOutcome(order: order)
        }
        let side: OrderSide = intent.side == .buy ? .buy : .sell
        let touch = side == .buy ? quote.ask : quote.bid
        let price = touch > 0 ? touch : intent.price
        guard price > 0, intent.notionalUsd > 0 else {
            order.status = .rejected
            return ExecutionOutcome(order: order)
        }
        let quantity = intent.notionalUsd / price
        if let futures = venue.futures {
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
        case .unknown:
            // Invariant: an intended order in unknown state stops new entries until a person looks.
            try recorder.record(cycleId: intent.cycleId, time: time, type: .reviewRequired, symbol: intent.symbol,
                                ReviewRequired(reasons: ["entry \(intent.clientOrderId) on \(intent.symbol) is in unknown state: \(entry.error ?? "no answer")"]))
            order.status = .unknown
            return ExecutionOutcome(order: order)
        default:
            if entry.filledQuantity <= 0, !entry.isLive {
                order.status = .rejected
                return ExecutionOutcome(order: order)
            }
        }
        await LiveTestHook.reached("after_fill")
        let filled = Dec.double(entry.filledQuantity)
        let average = entry.averagePrice.map(Dec.double) ?? price
        order.quantity = filled
        order.price = average
        order.notionalUsd = filled * average
        order.status = entry.status == .filled ? .filled : (filled > 0 ? .partiallyFilled : .open)
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
        let stop = LiveProtection.stopRequest(style: venue.exitOrders, symbol: symbol, quantity: quantity, entryPrice: entryPrice,
                                              stopLossPct: stopLossPct, offsetPct: settings.stopLimitOffsetPct, clientOrderId: stopId)
        let placed = try await sender.send(stop, purpose: .stop, parent: entryClientOrderId,
                                           reason: "protective stop \(stopLossPct)% from \(entryPrice)", cycleId: cycleId, time: time)
        if placed.isLive || placed.status == .filled { return true }
        let closeId = ClientOrderId.derived(from: entryClientOrderId, suffix: attempt <= 1 ? "cl" : "cl\(attempt)")
        let close = LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity),
                                                referencePrice: entryPrice, clientOrderId: closeId)
        let closed = try await sender.send(close, purpose: .close, parent: entryClientOrderId,
                                           reason: "no working stop: closing", cycleId: cycleId, time: time)
        try recorder.record(cycleId: cycleId, time: time, type: .protectionAlarm, symbol: symbol, ProtectionAlarm(
            symbol: symbol, entryClientOrderId: entryClientOrderId,
            problem: "stop \(stopId) could not be placed: \(placed.status.rawValue) \(placed.error ?? "")",
            action: "reduce-only close \(closeId): \(closed.status.rawValue)"))
        await LiveTestHook.reached("after_alarm")
        try recorder.record(cycleId: cycleId, time: time, type: .reviewRequired, symbol: symbol, ReviewRequired(
            reasons: ["\(symbol) had no working stop (\(placed.error ?? placed.status.rawValue)); close \(closeId) is \(closed.status.rawValue)"]))
        return false
    }

    /// Binance: margin type and the intent's leverage before the entry (recorded first), then the liquidation-distance
    /// check at that leverage with the real brackets. Returns a refusal status, or nil to go on.
    private func prepareFutures(_ futures: any FuturesVenue, intent: OrderIntent, quantity: Double, price: Double,
                                time: Int64) async throws -> OrderIntentStatus? {
        let brackets = try await futures.leverageBrackets(symbol: intent.symbol)
        let leverage = settings.venueLeverage(for: intent.leverage)
        if let distance = FuturesGuard.entryLiquidationDistancePct(quantity: quantity, price: price, leverage: leverage, brackets: brackets),
           distance < settings.futures.minLiquidationDistancePct {
            try recorder.record(cycleId: intent.cycleId, time: time, type: .futuresEntryRefused, symbol: intent.symbol,
                                CycleNote(reason: "estimated liquidation \(Format.number(distance))% away, below the minimum \(Format.number(settings.futures.minLiquidationDistancePct))%"))
            return .refusedLiquidationDistance
        }
        try recorder.record(cycleId: intent.cycleId, time: time, type: .liveSetting, symbol: intent.symbol,
                            LiveSetting(symbol: intent.symbol, leverage: leverage, marginType: settings.marginType.rawValue))
        await LiveTestHook.reached("after_setting")
        try await futures.setMarginType(symbol: intent.symbol, settings.marginType)
        let applied = try await futures.setLeverage(symbol: intent.symbol, leverage: leverage)
        guard applied <= leverage else {
            return .refusedLeverage(applied)
        }
        return nil
    }
}
