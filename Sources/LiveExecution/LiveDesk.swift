import Config
import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
import Pipeline
import Venues

/// The comparison of the ledger's LIVE book with the venue, and what was done about each difference.
package struct ReconcileReport: Codable, Sendable {
    package struct PositionRow: Codable, Sendable, Equatable {
        package var symbol: String
        package var ledgerQuantity: Double
        package var venueQuantity: Double
        package var managed: Bool
        /// Client ids of our working stops.
        package var stops: [String]

        package init(symbol: String, ledgerQuantity: Double, venueQuantity: Double, managed: Bool, stops: [String]) {
            self.symbol = symbol
            self.ledgerQuantity = ledgerQuantity
            self.venueQuantity = venueQuantity
            self.managed = managed
            self.stops = stops
        }
    }

    package struct OrderRow: Codable, Sendable, Equatable {
        package var clientOrderId: String
        package var symbol: String
        package var purpose: LiveOrderPurpose
        /// The last result the ledger holds; nil while only the intent is recorded.
        package var ledgerStatus: OrderStatus?
        package var venueStatus: OrderStatus?

        package init(clientOrderId: String, symbol: String, purpose: LiveOrderPurpose, ledgerStatus: OrderStatus?, venueStatus: OrderStatus? = nil) {
            self.clientOrderId = clientOrderId
            self.symbol = symbol
            self.purpose = purpose
            self.ledgerStatus = ledgerStatus
            self.venueStatus = venueStatus
        }
    }

    package struct Discrepancy: Codable, Sendable, Equatable {
        package var kind: ReconcileFinding
        package var symbol: String?
        package var detail: String
        /// Critical = REQUIRES_MANUAL_REVIEW.
        package var critical: Bool
        /// What the agent did (nil in a read-only comparison).
        package var action: String?

        package init(kind: ReconcileFinding, symbol: String? = nil, detail: String, critical: Bool, action: String? = nil) {
            self.kind = kind
            self.symbol = symbol
            self.detail = detail
            self.critical = critical
            self.action = action
        }
    }

    package var venue: String
    package var timestamp: String
    /// False for `agent reconcile` without `--ack` (compare only: nothing recorded or sent).
    package var acted: Bool
    package var positions: [PositionRow] = []
    package var orders: [OrderRow] = []
    package var discrepancies: [Discrepancy] = []
    package var futuresRisk: [FuturesRisk] = []
    package var equityUsd: Double?
    package var requiresManualReview = false
    package var reviewReasons: [String] = []

    package init(venue: String, timestamp: String, acted: Bool, positions: [PositionRow] = [], orders: [OrderRow] = [], discrepancies: [Discrepancy] = [], futuresRisk: [FuturesRisk] = [], equityUsd: Double? = nil, reviewReasons: [String] = []) {
        self.venue = venue
        self.timestamp = timestamp
        self.acted = acted
        self.positions = positions
        self.orders = orders
        self.discrepancies = discrepancies
        self.futuresRisk = futuresRisk
        self.equityUsd = equityUsd
        self.reviewReasons = reviewReasons
    }
}

/// LIVE position keeping: reconciliation with the venue at the start of every LIVE cycle (and on demand),
/// protection of positions without a working stop, the futures guard, funding, and flattening.
///
/// Every order it sends goes through `LiveOrderSender` (intent recorded first); every cancel is recorded as
/// `live_cancel` before it is sent.
package struct LiveDesk: Sendable {
    package var venue: any TradingVenue
    package var ledger: Ledger
    package var settings: LiveSettings
    package static let quoteAssets: Set<String> = ["USD", "USDT", "USDC"]

    /// Spot: a resting stop holds the coins it would sell, so no second sell order (a take-profit, a replacement
    /// stop) can rest beside it. Futures reduce-only orders hold nothing.
    package var stopsHoldTheirCoins: Bool { venue.exitOrders.holdsCoins }

    package var recorder: LedgerRecorder { LedgerRecorder(ledger: ledger) }

    /// The executor for entries, sharing this desk's venue, ledger and settings.
    package func executor(haltReason: @escaping @Sendable () -> String?) -> LiveExecutor {
        LiveExecutor(venue: venue, recorder: recorder, settings: settings, haltReason: haltReason)
    }

    /// Records (when `act`) and applies an event to the working copy of the book.
    struct Journal {
        package let desk: LiveDesk
        package let cycleId: String
        package let time: Int64
        package let act: Bool
        package var book: LiveBook

        package mutating func emit<T: Encodable & Sendable>(_ type: EventType<T>, symbol: String?, _ value: T) throws {
            let payload = try JSONCoding.encoder().encode(value)
            if act { try desk.ledger.append(NewEvent(cycleId: cycleId, kind: type.kind, time: time, symbol: symbol, payload: payload)) }
            try book.apply(type.kind, time: time, payload: payload)
        }

        /// Records several events in one write and applies them.
        package mutating func emitTogether(_ records: [LiveRecord]) throws {
            if act {
                try desk.ledger.append(records.map { NewEvent(cycleId: cycleId, kind: $0.type, time: time, symbol: $0.symbol, payload: $0.payload) })
            }
            for r in records { try book.apply(r.type, time: time, payload: r.payload) }
        }

        /// Re-reads the book after orders were sent through the sender (which records on its own).
        package mutating func reload() throws {
            if act { book = try LiveBook.rebuild(ledger: desk.ledger) }
        }
    }

    /// Compares the ledger with the venue. With `act`, records every finding (`live_order_result`, `live_fill`,
    /// `manual_intervention`, `live_position_correction`, `futures_risk`, `live_funding`, `live_equity`,
    /// `review_required`, `reconciliation`), protects positions without a working stop, and enforces the futures
    /// guard. Without `act` it only reads.
    package func reconcile(cycleId: String, time: Int64, act: Bool) async throws -> ReconcileReport {
        try await reconcileBook(cycleId: cycleId, time: time, act: act).report
    }

    /// `reconcile`, also returning the LIVE book as it stands afterwards (kept current as events are recorded),
    /// so the cycle need not rebuild it from the ledger again.
    package func reconcileBook(cycleId: String, time: Int64, act: Bool) async throws -> (report: ReconcileReport, book: LiveBook) {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: act, book: try LiveBook.rebuild(ledger: ledger))
        var report = ReconcileReport(venue: venue.exchange.rawValue, timestamp: UTC.iso8601(time), acted: act)
        var critical: [String] = []
        func note(_ kind: ReconcileFinding, _ symbol: String?, _ detail: String, critical isCritical: Bool, action: String? = nil) {
            report.discrepancies.append(.init(kind: kind, symbol: symbol, detail: detail, critical: isCritical, action: act ? action : nil))
            if isCritical { critical.append("\(kind.rawValue)\(symbol.map { " \($0)" } ?? ""): \(detail)") }
        }

        // 1. Orders we intended whose outcome we don't know: look each up by client id, never resend.
        for order in j.book.pendingOrders {
            let intent = order.intent
            do {
                if let found = try await venue.order(symbol: intent.symbol, clientOrderId: intent.clientOrderId) {
                    try record(LiveOrderSender.result(found, purpose: intent.purpose, source: "reconcile"), intent: intent,
                               previous: order.filled, into: &j)
                } else {
                    try j.emit(.liveOrderResult, symbol: intent.symbol, LiveOrderResult(
                        clientOrderId: intent.clientOrderId, symbol: intent.symbol, purpose: intent.purpose,
                        status: .notFound, error: "not on the venue at reconciliation: never received", source: "reconcile"))
                }
            } catch {
                note(.orderUnknownState, intent.symbol, "\(intent.purpose.rawValue) \(intent.clientOrderId): lookup failed: \(error)", critical: true)
            }
        }

        // 2. Our working orders against the venue's open orders (regular and algo).
        let open = try await venue.openOrders(symbol: nil)
        let openById = Dictionary(open.map { ($0.clientOrderId, $0) }, uniquingKeysWith: { a, _ in a })
        for order in j.book.liveOrders {
            let intent = order.intent
            if let venueOrder = openById[intent.clientOrderId] {
                if venueOrder.filledQuantity > order.filled || venueOrder.status != order.result?.status {
                    try record(LiveOrderSender.result(venueOrder, purpose: intent.purpose, source: "reconcile"), intent: intent,
                               previous: order.filled, into: &j)
                }
                continue
            }
            let found = try await venue.order(symbol: intent.symbol, clientOrderId: intent.clientOrderId)
            guard let found else {
                try j.emit(.liveOrderResult, symbol: intent.symbol, LiveOrderResult(
                    clientOrderId: intent.clientOrderId, symbol: intent.symbol, purpose: intent.purpose,
                    status: .notFound, error: "no longer on the venue", source: "reconcile"))
                try j.emit(.manualIntervention, symbol: intent.symbol, ManualIntervention(
                    kind: .orderMissing, symbol: intent.symbol, clientOrderId: intent.clientOrderId,
                    detail: "working \(intent.purpose.rawValue) order vanished from the venue"))
                note(.orderMissing, intent.symbol, "\(intent.clientOrderId) vanished from the venue", critical: false, action: "recorded")
                continue
            }
            try record(LiveOrderSender.result(found, purpose: intent.purpose, source: "reconcile"), intent: intent,
                       previous: order.filled, into: &j)
            if found.status == .cancelled || found.status == .expired {
                try j.emit(.manualIntervention, symbol: intent.symbol, ManualIntervention(
                    kind: .orderCancelled, symbol: intent.symbol, clientOrderId: intent.clientOrderId,
                    detail: "\(intent.purpose.rawValue) order \(found.status.rawValue.lowercased()) outside the agent"))
                note(.orderCancelled, intent.symbol, "\(intent.clientOrderId) was \(found.status.rawValue.lowercased()) outside the agent",
                     critical: false, action: "recorded")
            }
        }

        // 3. Open orders the agent never placed.
        for o in open where j.book.orders[o.clientOrderId] == nil && !j.book.adoptedOrders.contains(o.clientOrderId) {
            try j.emit(.manualIntervention, symbol: o.symbol, ManualIntervention(
                kind: .unknownOrder, symbol: o.symbol, clientOrderId: o.clientOrderId,
                detail: "\(o.side.rawValue) \(o.type) \(Dec.double(o.quantity)) \(o.status.rawValue) not placed by the agent"))
            note(.unknownOrder, o.symbol, "\(o.clientOrderId.isEmpty ? o.orderId : o.clientOrderId): \(o.side.rawValue) \(o.type) not placed by the agent",
                 critical: true, action: "recorded; no new entries until reviewed")
        }

        // 4. Positions: the venue is the truth.
        var restopped: Set<String> = []
        let venuePositions = try await positionsOnVenue()
        let symbols = Set(venuePositions.keys).union(j.book.positions.keys).sorted()
        for symbol in symbols {
            let ours = j.book.positions[symbol]
            let ledgerQty = ours?.quantity ?? 0
            let venueQty = venuePositions[symbol].map { Dec.double($0.quantity) } ?? 0
            if Self.same(ledgerQty, venueQty) { continue }
            if ours == nil {
                try j.emit(.manualIntervention, symbol: symbol, ManualIntervention(
                    kind: .unknownPosition, symbol: symbol, clientOrderId: nil,
                    detail: "the venue holds \(venueQty) the agent did not open"))
                note(.unknownPosition, symbol, "the venue holds \(venueQty) \(symbol) the agent did not open", critical: true,
                     action: "recorded; no new entries until reviewed")
                continue
            }
            let kind: ReconcileFinding = abs(venueQty) < 1e-12 ? .positionClosed : .sizeMismatch
            try j.emit(.manualIntervention, symbol: symbol, ManualIntervention(
                kind: kind, symbol: symbol, clientOrderId: ours?.entryClientOrderId,
                detail: "ledger \(ledgerQty), venue \(venueQty)"))
            try j.emit(.livePositionCorrection, symbol: symbol, PositionCorrection(
                symbol: symbol, from: ledgerQty, to: venueQty, reason: kind == .positionClosed
                    ? "closed outside the agent" : "the venue's size differs (fills while the agent was down, or by hand)"))
            note(kind, symbol, "ledger \(ledgerQty), venue \(venueQty)", critical: false, action: "ledger corrected to the venue's \(venueQty)")
            // Stops sized for the old position: cancel them (a new one is placed below for what remains).
            for stop in j.book.stops(on: symbol) where stop.isLive {
                try await cancel(stop.intent, reason: "\(kind.rawValue): stop no longer matches the position", journal: &j)
                restopped.insert(symbol)
            }
        }

        // 5. Every managed position needs working stops that cover its whole size (a crash between an add-on's fill
        //    and its stop leaves the old stop covering only the first part).
        let executor = executor(haltReason: { nil })
        for position in j.book.positions.values.sorted(by: { $0.symbol < $1.symbol }) where position.managed {
            let working = j.book.stops(on: position.symbol)
            let covered = working.reduce(0.0) { $0 + $1.unfilled }
            let size = abs(position.quantity)
            let tolerance = max(1e-9, size * 1e-6)
            if !working.isEmpty && covered >= size - tolerance {
                // Take-profits filled while nobody listened: the stop is resized to what remains (a stop that itself
                // filled in part covers only its unfilled rest).
                let unfilled = covered
                if unfilled > size + tolerance {
                    note(.stopOversized, position.symbol, "stops cover \(Format.number(unfilled)) of \(Format.number(size))", critical: false,
                         action: "stop resized to the position")
                    if act { try await resizeStops(symbol: position.symbol, journal: &j) }
                }
                continue
            }
            if !working.isEmpty {
                note(.stopShortfall, position.symbol, "stops cover \(Format.number(covered)) of \(Format.number(size))", critical: false,
                     action: "protective stop replaced for the full size")
            } else if restopped.contains(position.symbol) {
                note(.stopResized, position.symbol, "stop replaced for the corrected size \(position.quantity)", critical: false,
                     action: "protective stop placed for the new size")
            } else {
                note(.positionWithoutStop, position.symbol, "\(position.quantity) \(position.symbol) has no working stop", critical: true,
                     action: "protective stop placed (or the position closed if it could not be)")
            }
            guard act, let entry = position.entryClientOrderId else { continue }
            // Spot stops hold the coins they sell, so the old ones go first; futures keep them until the new one works.
            let holdsBalance = stopsHoldTheirCoins
            if holdsBalance {
                for stop in working where stop.isLive { try await cancel(stop.intent, reason: "replaced by a stop for the full size", journal: &j) }
            }
            let protected = try await executor.protect(symbol: position.symbol, entryClientOrderId: entry, quantity: position.quantity,
                                                       entryPrice: position.entryPrice, stopLossPct: position.stopLossPct,
                                                       attempt: j.book.count(.stop, parent: entry) + 1, cycleId: cycleId, time: time)
            try j.reload()
            if !holdsBalance && protected {
                for stop in working where stop.isLive { try await cancel(stop.intent, reason: "replaced by a stop for the full size", journal: &j) }
            }
        }

        // 5b. Resting take-profits may never add up to more than the position (a size changed by hand or a fill found
        //     late): the rungs beyond it are cancelled, the farthest first. Brackets are sized with their stops above.
        for position in j.book.positions.values.sorted(by: { $0.symbol < $1.symbol }) where position.managed {
            let rungs = j.book.orderIds.compactMap { j.book.orders[$0] }
                .filter { $0.intent.symbol == position.symbol && $0.intent.purpose == .takeProfit && !$0.intent.carriesStop && $0.isLive }
            let size = abs(position.quantity)
            var resting = rungs.reduce(0.0) { $0 + $1.unfilled }
            guard resting > size + max(1e-9, size * 1e-6) else { continue }
            note(.takeProfitOversized, position.symbol,
                 "take-profits rest for \(Format.number(resting)) of a \(Format.number(size)) position", critical: false,
                 action: "the rungs beyond the position cancelled")
            guard act else { continue }
            for rung in rungs.sorted(by: { ($0.intent.rung ?? 0) > ($1.intent.rung ?? 0) }) where resting > size + max(1e-9, size * 1e-6) {
                try await cancel(rung.intent, reason: "take-profits exceed the \(Format.number(size)) position", journal: &j)
                resting -= rung.unfilled
            }
        }

        // 6. Futures guard, funding and equity.
        var equity: Double?
        var cashUsd: Double?
        if let futures = venue.futures {
            let balances = try await futures.balances()
            let wallet = balances.filter { Self.quoteAssets.contains($0.asset) }.reduce(0) { $0 + Dec.double($1.total) }
            let live = try await futures.positions()
            let upnl = live.reduce(0) { $0 + Dec.double($1.unrealizedPnl) }
            equity = wallet + upnl
            var brackets: [String: [LeverageBracket]] = [:]
            for p in live { brackets[p.symbol] = try await futures.leverageBrackets(symbol: p.symbol) }
            let risks = FuturesGuard.evaluateAccount(live, brackets: brackets, walletBalance: wallet, thresholds: settings.futures)
            for (p, risk) in zip(live, risks) {
                report.futuresRisk.append(risk)
                try j.emit(.futuresRisk, symbol: p.symbol, risk)
                guard risk.action != .none else { continue }
                let ours = j.book.positions[p.symbol]
                guard let ours, ours.managed, let entry = ours.entryClientOrderId else {
                    note(.futuresGuard, p.symbol, "margin ratio \(Format.number(risk.marginRatio)) on a position the agent does not manage",
                         critical: true)
                    continue
                }
                let qty = Dec.double(p.quantity)
                if risk.action == .close {
                    note(.futuresGuard, p.symbol, "margin ratio \(Format.number(risk.marginRatio)) > \(settings.futures.closeMarginRatio)",
                         critical: false, action: "position closed reduce-only")
                    guard act else { continue }
                    try await marginExit(.close, symbol: p.symbol, quantity: qty, entry: entry, markPrice: risk.markPrice,
                                         reason: "margin ratio \(Format.number(risk.marginRatio)) above \(settings.futures.closeMarginRatio)", journal: &j)
                } else {
                    note(.futuresGuard, p.symbol, "margin ratio \(Format.number(risk.marginRatio)) > \(settings.futures.reduceMarginRatio)",
                         critical: false, action: "half the position closed reduce-only")
                    guard act else { continue }
                    try await marginExit(.reduce, symbol: p.symbol, quantity: qty, entry: entry, markPrice: risk.markPrice,
                                         reason: "margin ratio \(Format.number(risk.marginRatio)) above \(settings.futures.reduceMarginRatio)", journal: &j)
                }
            }
            let since = (j.book.lastFundingTime.map { $0 + 1 }) ?? (time - 7 * 86_400)
            for income in try await futures.fundingIncome(since: since) where !j.book.fundingIds.contains(income.transactionId) {
                try j.emit(.liveFunding, symbol: income.symbol, LiveFunding(
                    symbol: income.symbol, amount: Dec.double(income.amount), asset: income.asset,
                    settlementTime: income.time, transactionId: income.transactionId))
            }
        } else {
            let balances = try await venue.balances()
            let cash = balances.filter { Self.quoteAssets.contains($0.asset) }.reduce(0) { $0 + Dec.double($1.total) }
            equity = cash + j.book.positions.values.reduce(0) { $0 + abs($1.quantity) * $1.entryPrice }
            cashUsd = cash
        }
        if let equity {
            report.equityUsd = equity
            // Spot holdings are valued at entry here; the portfolio marks them to the cycle's prices.
            try j.emit(.liveEquity, symbol: nil, LiveEquity(equityUsd: equity, cashUsd: cashUsd, positionsMarked: cashUsd == nil))
        }

        if !critical.isEmpty { try j.emit(.reviewRequired, symbol: nil, ReviewRequired(reasons: critical)) }
        let after = try await positionsOnVenue()
        report.positions = Set(after.keys).union(j.book.positions.keys).sorted().map { symbol in
            .init(symbol: symbol, ledgerQuantity: j.book.positions[symbol]?.quantity ?? 0,
                  venueQuantity: after[symbol].map { Dec.double($0.quantity) } ?? 0,
                  managed: j.book.positions[symbol]?.managed ?? false,
                  stops: j.book.stops(on: symbol).map(\.intent.clientOrderId))
        }
        report.orders = j.book.orderIds.suffix(50).compactMap { j.book.orders[$0] }.map {
            .init(clientOrderId: $0.intent.clientOrderId, symbol: $0.intent.symbol, purpose: $0.intent.purpose,
                  ledgerStatus: $0.result?.status, venueStatus: openById[$0.intent.clientOrderId]?.status)
        }
        report.requiresManualReview = j.book.requiresManualReview
        report.reviewReasons = j.book.reviewReasons
        if act { try j.emit(.reconciliation, symbol: nil, report) }
        return (report, j.book)
    }

    /// Records a venue answer for one of our orders (and the fill it adds).
    func record(_ result: LiveOrderResult, intent: LiveOrderIntent, previous: Decimal, into j: inout Journal) throws {
        try j.emitTogether(LiveOrderSender.resultRecords(result, side: intent.side, previouslyFilled: previous, time: j.time, intent: intent))
    }

    /// Cancels one of our orders, ledger first (`live_cancel`, then its final `live_order_result`).
    func cancel(_ intent: LiveOrderIntent, reason: String, journal j: inout Journal) async throws {
        guard j.act else { return }
        try j.emit(.liveCancel, symbol: intent.symbol, LiveCancel(clientOrderId: intent.clientOrderId, symbol: intent.symbol, reason: reason))
        await LiveTestHook.reached("before_cancel_send")
        let previous = j.book.orders[intent.clientOrderId]?.filled ?? 0
        do {
            let final = try await venue.cancelOrder(symbol: intent.symbol, clientOrderId: intent.clientOrderId)
            await LiveTestHook.reached("after_cancel_send")
            try record(LiveOrderSender.result(final, purpose: intent.purpose, source: "cancel"), intent: intent, previous: previous, into: &j)
        } catch let error as VenueError where error.reason == .unknownOrder {
            try j.emit(.liveOrderResult, symbol: intent.symbol, LiveOrderResult(
                clientOrderId: intent.clientOrderId, symbol: intent.symbol, purpose: intent.purpose, status: .cancelled,
                error: "\(error)", source: "cancel"))
        }
        await LiveTestHook.reached("after_cancel_result")
    }

    /// Positions as the venue holds them: Binance positions, or Coinbase base-asset balances as long positions.
    package func positionsOnVenue() async throws -> [String: VenuePosition] {
        if venue.futures != nil {
            return Dictionary(try await venue.positions().map { ($0.symbol, $0) }, uniquingKeysWith: { a, _ in a })
        }
        var out: [String: VenuePosition] = [:]
        for b in try await venue.balances() where !Self.quoteAssets.contains(b.asset) && b.total > 0 {
            let symbol = "\(b.asset)-USD"
            out[symbol] = VenuePosition(symbol: symbol, quantity: b.total, entryPrice: 0, markPrice: 0, unrealizedPnl: 0,
                                        leverage: 1, marginType: .cross, liquidationPrice: 0, isolatedMargin: 0)
        }
        return out
    }

    package static func same(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= max(1e-9, 1e-6 * max(abs(a), abs(b)))
    }

    /// `agent reconcile --ack`: clears REQUIRES_MANUAL_REVIEW and adopts what the venue holds that the agent does
    /// not know (tracked from now on, never traded by the agent).
    /// Every adopted position first gets a protective stop by its tier's rule (`stopLossPct(symbol)` from its entry
    /// price, or the venue's current price when the venue reports none); if one cannot be placed, the ack is refused
    /// and nothing is adopted. The stops are ours: recorded ledger first and kept by reconciliation.
    package func acknowledge(cycleId: String, time: Int64, stopLossPct: (String) -> Double) async throws -> ReviewAck {
        let book = try LiveBook.rebuild(ledger: ledger)
        var adopted: [ReviewAck.Adopted] = []
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        for (symbol, p) in try await positionsOnVenue().sorted(by: { $0.key < $1.key }) where book.positions[symbol] == nil {
            let quantity = Dec.double(p.quantity)
            var reference = Dec.double(p.entryPrice)
            if reference <= 0 { reference = Dec.double(p.markPrice) }
            if reference <= 0, let market = venue as? any VenueMarketData { reference = (try? await market.ticker(symbol: symbol).last) ?? 0 }
            guard reference > 0 else {
                throw CLIError.failed("refusing --ack: no price for \(symbol) to place its protective stop from; close it by hand or retry")
            }
            let base = "ag-adopt-\(UTC.compact(time))-\(symbol.split(separator: "-").first ?? "x")"
            let stop = LiveProtection.stopRequest(style: venue.exitOrders, symbol: symbol, quantity: quantity, entryPrice: reference,
                                                  stopLossPct: stopLossPct(symbol), offsetPct: settings.stopLimitOffsetPct,
                                                  clientOrderId: ClientOrderId.derived(from: base, suffix: "sl"))
            let placed = try await sender.send(stop, purpose: .stop, parent: base,
                                               reason: "protective stop for the adopted position \(symbol)", cycleId: cycleId, time: time)
            guard placed.isLive || placed.status == .filled else {
                throw CLIError.failed("refusing --ack: the protective stop for the adopted \(Format.number(quantity)) \(symbol) was not accepted "
                                      + "(\(placed.status.rawValue)\(placed.error.map { ": \($0)" } ?? "")); nothing was adopted")
            }
            adopted.append(.init(symbol: symbol, quantity: quantity, entryPrice: Dec.double(p.entryPrice) > 0 ? Dec.double(p.entryPrice) : reference))
        }
        let mine = Set(try LiveBook.rebuild(ledger: ledger).orders.keys)
        let foreign = try await venue.openOrders(symbol: nil).map(\.clientOrderId)
            .filter { !mine.contains($0) && !book.adoptedOrders.contains($0) }
        let ack = ReviewAck(acknowledged: book.reviewReasons, adoptedPositions: adopted, adoptedOrders: foreign)
        try ledger.append(NewEvent.json(cycleId, .reviewAck, time, ack))
        return ack
    }

    /// Kill switch with flatten: cancels every working order of ours and closes every position the agent manages
    /// (and, on Binance, every other position too) with reduce-only market orders, ledger first. Returns the
    /// results of the close orders.
    package func flatten(cycleId: String, time: Int64, reason: String) async throws -> [LiveOrderResult] {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        for order in j.book.liveOrders {
            try await cancel(order.intent, reason: "flatten: \(reason)", journal: &j)
        }
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        var results: [LiveOrderResult] = []
        let held = try await positionsOnVenue()
        var targets: [(symbol: String, quantity: Double, parent: String?)] = j.book.positions.values
            .filter(\.managed).map { ($0.symbol, held[$0.symbol].map { Dec.double($0.quantity) } ?? $0.quantity, $0.entryClientOrderId) }
        if venue.futures != nil {
            for (symbol, p) in held where !targets.contains(where: { $0.symbol == symbol }) {
                targets.append((symbol, Dec.double(p.quantity), nil))
            }
        }
        for t in targets.sorted(by: { $0.symbol < $1.symbol }) where abs(t.quantity) > 1e-12 {
            let base = t.parent ?? "ag-\(UTC.compact(time))-\(t.symbol.split(separator: "-").first ?? "x")"
            let id = ClientOrderId.derived(from: base, suffix: "fl\(j.book.count(.flatten, parent: t.parent) + 1)")
            results.append(try await sender.send(
                LiveProtection.closeRequest(symbol: t.symbol, positionSign: t.quantity, quantity: abs(t.quantity),
                                            referencePrice: nil, clientOrderId: id),
                purpose: .flatten, parent: t.parent, reason: "flatten: \(reason)", cycleId: cycleId, time: time))
            try j.reload()
        }
        return results
    }

    package init(venue: any TradingVenue, ledger: Ledger, settings: LiveSettings) {
        self.venue = venue
        self.ledger = ledger
        self.settings = settings
    }
}

/// Builds the LIVE desk for a run.
package extension LiveDesk {
    /// `backoff` keeps the venue's bans and Retry-After windows across processes.
    package static func make(exchange: Exchange, config: LoadedConfig, ledger: Ledger, backoff: VenueBackoffKeeper? = nil,
                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LiveDesk {
        LiveDesk(venue: try VenueFactory.trading(exchange: exchange, config: config.app, backoff: backoff, environment: environment),
                 ledger: ledger, settings: LiveSettings(config.policy))
    }
}

extension EventType where Payload == ReconcileReport {
    package static var reconciliation: Self { Self(.reconciliation) }
}
