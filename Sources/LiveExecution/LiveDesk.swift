import Config
import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
import Pipeline
import Venues

/// Appends LIVE events to the ledger (durable before it returns: the ledger runs `synchronous=FULL`).
package struct LedgerRecorder: LiveRecorder {
    package let ledger: Ledger

    package func record<T: Encodable & Sendable>(cycleId: String, time: Int64, type: EventType<T>, symbol: String?, _ value: T) throws {
        try ledger.append(NewEvent.json(cycleId, type, time, symbol: symbol, value))
    }

    package func record(cycleId: String, time: Int64, batch: [LiveRecord]) throws {
        try ledger.append(batch.map { NewEvent(cycleId: cycleId, kind: $0.type, time: time, symbol: $0.symbol, payload: $0.payload) })
    }

    package init(ledger: Ledger) {
        self.ledger = ledger
    }
}

/// The LIVE book, rebuilt from ledger events in order: our orders with their latest known state, the positions
/// their fills opened (corrected to the venue's truth when they differ), and the manual-review flag.
package struct LiveBook: Sendable {
    package static let eventKinds: [EventKind] = [.liveOrderIntent, .liveOrderResult, .liveFill, .livePositionCorrection,
                                                  .reviewRequired, .reviewAck, .liveFunding, .liveEquity]

    package struct Order: Sendable {
        package var intent: LiveOrderIntent
        package var result: LiveOrderResult?
        package var filled: Decimal { result?.filledQuantity ?? 0 }
        /// No answer recorded yet, or an unknown outcome: must be looked up by client id.
        package var isPending: Bool { result == nil || result?.isUnresolved == true }
        package var isLive: Bool { result?.isLive == true }
        /// What is still to execute.
        package var unfilled: Double { max(0, intent.size - Dec.double(filled)) }

        package init(intent: LiveOrderIntent, result: LiveOrderResult? = nil) {
            self.intent = intent
            self.result = result
        }
    }

    package struct Position: Sendable {
        package var symbol: String
        /// Signed: positive long.
        package var quantity: Double
        package var entryPrice: Double
        package var tier: Tier
        package var entryClientOrderId: String?
        package var stopLossPct: Double
        /// False for positions adopted at `reconcile --ack`: tracked, never traded by the agent.
        package var managed: Bool
        package var openedAt: Int64

        package init(symbol: String, quantity: Double, entryPrice: Double, tier: Tier, entryClientOrderId: String? = nil, stopLossPct: Double, managed: Bool, openedAt: Int64) {
            self.symbol = symbol
            self.quantity = quantity
            self.entryPrice = entryPrice
            self.tier = tier
            self.entryClientOrderId = entryClientOrderId
            self.stopLossPct = stopLossPct
            self.managed = managed
            self.openedAt = openedAt
        }
    }

    package var orders: [String: Order] = [:]
    package var orderIds: [String] = []
    package var positions: [String: Position] = [:]
    /// Critical discrepancies since the last acknowledgement (non-empty = REQUIRES_MANUAL_REVIEW).
    package var reviewReasons: [String] = []
    package var adoptedOrders: Set<String> = []
    package var fundingIds: Set<String> = []
    package var lastFundingTime: Int64?
    package var equity: [(time: Int64, equityUsd: Double)] = []

    package var requiresManualReview: Bool { !reviewReasons.isEmpty }

    package static func rebuild(ledger: Ledger) throws -> LiveBook {
        var book = LiveBook()
        try ledger.forEach(kinds: eventKinds) { try book.apply($0) }
        return book
    }

    package mutating func apply(_ event: LedgerEvent) throws {
        guard let kind = event.kind else { return }
        try apply(kind, time: event.time, payload: event.payload, seq: event.seq)
    }

    package mutating func apply(_ kind: EventKind, time: Int64, payload: Data, seq: Int64 = 0) throws {
        func value<T: Decodable>(_ t: EventType<T>) throws -> T {
            do {
                return try JSONCoding.decoder().decode(T.self, from: payload)
            } catch {
                throw PayloadError(seq: seq, type: kind.rawValue, message: "\(error)")
            }
        }
        switch kind {
        case .liveOrderIntent:
            let intent = try value(.liveOrderIntent)
            if orders[intent.clientOrderId] == nil { orderIds.append(intent.clientOrderId) }
            orders[intent.clientOrderId] = Order(intent: intent, result: orders[intent.clientOrderId]?.result)
        case .liveOrderResult:
            let result = try value(.liveOrderResult)
            orders[result.clientOrderId]?.result = result
        case .liveFill:
            applyFill(try value(.liveFill), time: time)
        case .livePositionCorrection:
            let c = try value(.livePositionCorrection)
            if abs(c.to) < 1e-12 {
                positions[c.symbol] = nil
            } else {
                positions[c.symbol]?.quantity = c.to
            }
        case .reviewRequired:
            reviewReasons += try value(.reviewRequired).reasons
        case .reviewAck:
            let ack = try value(.reviewAck)
            reviewReasons = []
            for a in ack.adoptedPositions {
                positions[a.symbol] = Position(symbol: a.symbol, quantity: a.quantity, entryPrice: a.entryPrice, tier: .eventDriven,
                                               entryClientOrderId: nil, stopLossPct: 0, managed: false, openedAt: time)
            }
            adoptedOrders.formUnion(ack.adoptedOrders)
        case .liveFunding:
            let f = try value(.liveFunding)
            fundingIds.insert(f.transactionId)
            lastFundingTime = max(lastFundingTime ?? f.settlementTime, f.settlementTime)
        case .liveEquity:
            equity.append((time, try value(.liveEquity).equityUsd))
        default:
            break
        }
    }

    private mutating func applyFill(_ fill: LiveFill, time: Int64) {
        let signed = Dec.double(fill.quantity) * Double(fill.side.sign)
        let price = Dec.double(fill.price)
        if fill.purpose == .entry {
            let intent = orders[fill.clientOrderId]?.intent
            var p = positions[fill.symbol] ?? Position(
                symbol: fill.symbol, quantity: 0, entryPrice: price, tier: intent?.tier ?? .rotational,
                entryClientOrderId: fill.clientOrderId, stopLossPct: intent?.stopLossPct ?? 10, managed: true, openedAt: time)
            let total = p.quantity + signed
            if abs(total) > 1e-12, p.quantity * signed >= 0 {
                p.entryPrice = (abs(p.quantity) * p.entryPrice + abs(signed) * price) / abs(total)
            }
            p.quantity = Self.clean(total)
            if p.entryClientOrderId == nil { p.entryClientOrderId = fill.clientOrderId }
            positions[fill.symbol] = p
        } else if var p = positions[fill.symbol] {
            // Reducing orders never flip a position.
            let reduced = p.quantity + signed
            p.quantity = Self.clean(p.quantity > 0 ? max(0, reduced) : min(0, reduced))
            positions[fill.symbol] = abs(p.quantity) < 1e-12 ? nil : p
        }
    }

    /// Quantities summed from fills, rounded to 1e-10 so 0.03 - 0.01 is 0.02.
    package static func clean(_ q: Double) -> Double { (q * 1e10).rounded() / 1e10 }

    /// Our working (or not yet answered) orders on `symbol` that carry a stop: stops, and on spot the take-profit
    /// brackets (each holds the stop for its slice).
    package func stops(on symbol: String) -> [Order] {
        orderIds.compactMap { orders[$0] }.filter { $0.intent.symbol == symbol && $0.intent.carriesStop && ($0.isLive || $0.isPending) }
    }

    /// How many orders of `purpose` (and, for take-profits, of `rung`) were made for `parent`, to derive the next client id.
    package func count(_ purpose: LiveOrderPurpose, parent: String?, rung: Int? = nil) -> Int {
        orders.values.filter { $0.intent.purpose == purpose && $0.intent.parentClientOrderId == parent && (rung == nil || $0.intent.rung == rung) }.count
    }

    /// Orders whose outcome is still to be established, oldest first.
    package var pendingOrders: [Order] { orderIds.compactMap { orders[$0] }.filter(\.isPending) }
    /// Orders last known to be working, oldest first.
    package var liveOrders: [Order] { orderIds.compactMap { orders[$0] }.filter(\.isLive) }

    package init(orders: [String: Order] = [:], orderIds: [String] = [], positions: [String: Position] = [:], reviewReasons: [String] = [], adoptedOrders: Set<String> = [], fundingIds: Set<String> = [], lastFundingTime: Int64? = nil, equity: [(time: Int64, equityUsd: Double)] = []) {
        self.orders = orders
        self.orderIds = orderIds
        self.positions = positions
        self.reviewReasons = reviewReasons
        self.adoptedOrders = adoptedOrders
        self.fundingIds = fundingIds
        self.lastFundingTime = lastFundingTime
        self.equity = equity
    }
}

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
    private struct Journal {
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
    private func record(_ result: LiveOrderResult, intent: LiveOrderIntent, previous: Decimal, into j: inout Journal) throws {
        try j.emitTogether(LiveOrderSender.resultRecords(result, side: intent.side, previouslyFilled: previous, time: j.time, intent: intent))
    }

    /// Cancels one of our orders, ledger first (`live_cancel`, then its final `live_order_result`).
    private func cancel(_ intent: LiveOrderIntent, reason: String, journal j: inout Journal) async throws {
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

    /// The exit policy on the venue (`signals.yaml` `exits`, the same rules PAPER and backtests simulate), for the
    /// positions the agent manages:
    /// - the time stop: past `time_stop_hours` our orders on the symbol are cancelled and the rest is closed;
    /// - the stop follows `ExitManager.trail` (breakeven after a rung, then ATR trailing; never looser) and always
    ///   covers the whole remaining quantity;
    /// - the ladder, laid out by the venue's ``ExitOrderStyle``:
    ///   - futures: each remaining rung rests as a reduce-only `TAKE_PROFIT_MARKET` beside one stop for the whole
    ///     position; a moved stop is placed before the old one is cancelled;
    ///   - spot: a resting sell holds its coins, so the position is split into slices: one bracket per remaining
    ///     rung (limit at the rung, stop trigger at the stop) and a stop-limit for the rest (``layOutSlices``).
    /// Returns the protection changes for the portfolio to record.
    package func manageExits(positions: [PaperPosition], snapshot: MarketSnapshot, plan: ExitsConfig, atrPeriod: Int,
                     cycleId: String, time: Int64) async throws -> [ProtectionUpdate] {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        var updates: [ProtectionUpdate] = []
        for position in positions.sorted(by: { $0.symbol < $1.symbol }) {
            guard let held = j.book.positions[position.symbol], held.managed, let entry = held.entryClientOrderId,
                  let tape = snapshot.symbol(position.symbol) else { continue }
            let sign: Double = position.side == .buy ? 1 : -1
            let remaining = abs(held.quantity)
            let ours = j.book.orderIds.compactMap { j.book.orders[$0] }.filter { $0.intent.symbol == position.symbol && $0.isLive }

            if Double(time - position.entryTime) >= plan.timeStopHours * 3_600 {
                for order in ours { try await cancel(order.intent, reason: "time stop", journal: &j) }
                _ = try await sender.send(LiveProtection.closeRequest(symbol: position.symbol, positionSign: sign, quantity: remaining,
                                                                      referencePrice: tape.last,
                                                                      clientOrderId: ClientOrderId.derived(from: entry, suffix: "ts")),
                                          purpose: .timeStop, parent: entry, reason: "time stop after \(Format.number(plan.timeStopHours))h",
                                          cycleId: cycleId, time: time)
                try j.reload()
                continue
            }

            var p = position
            let checkedFrom = p.managedThrough.map { $0 + tape.interval.seconds } ?? p.entryTime
            let bars = tape.candles.filter { $0.time >= checkedFrom && $0.time >= p.entryTime }
            let atr = Indicators.atr(tape.candles, period: atrPeriod).last ?? nil
            for bar in bars { ExitManager.trail(&p, bar: bar, atr: atr, plan: plan) }
            if let last = bars.last {
                updates.append(ProtectionUpdate(symbol: p.symbol, stopPrice: p.stopPrice, highWater: p.highWater, rungsTaken: p.rungsTaken,
                                                managedThrough: last.time, reason: p.stopPrice != position.stopPrice ? "trailing" : "checked"))
            }

            switch venue.exitOrders {
            case .reduceOnlyConditional:
                try await restTakeProfits(p, entry: entry, remaining: remaining, working: ours, plan: plan, sender: sender, journal: &j)
                try await moveStop(p, entry: entry, remaining: remaining, sender: sender, journal: &j)
            case .slicedBrackets:
                try await layOutSlices(p, entry: entry, remaining: remaining, plan: plan, sender: sender, journal: &j)
            }
        }
        return updates
    }

    /// Futures: every remaining rung rests as a reduce-only take-profit beside the stop (they hold nothing).
    private func restTakeProfits(_ p: PaperPosition, entry: String, remaining: Double, working: [LiveBook.Order], plan: ExitsConfig,
                                 sender: LiveOrderSender, journal j: inout Journal) async throws {
        let sign: Double = p.side == .buy ? 1 : -1
        var resting = working.filter { $0.intent.purpose == .takeProfit }.reduce(0.0) { $0 + $1.unfilled }
        for rung in min(p.rungsTaken, plan.ladder.count)..<plan.ladder.count {
            guard let target = ExitManager.target(p, rung: rung, plan: plan) else { break }
            let id = ClientOrderId.derived(from: entry, suffix: "tp\(rung + 1)")
            guard j.book.orders[id] == nil else { continue }
            let quantity = min(p.initialQuantity * plan.ladder[rung].fraction, remaining - resting)
            guard quantity > remaining * 1e-6 else { break }
            _ = try await sender.send(LiveProtection.takeProfitRequest(symbol: p.symbol, positionSign: sign, quantity: quantity,
                                                                       target: target, clientOrderId: id),
                                      purpose: .takeProfit, parent: entry,
                                      reason: "take-profit rung \(rung + 1) at \(Format.number(plan.ladder[rung].r))R", rung: rung,
                                      cycleId: j.cycleId, time: j.time)
            resting += quantity
        }
        try j.reload()
    }

    /// Futures: the stop is replaced for the whole remaining quantity when the policy moved it (`replaceStops`).
    private func moveStop(_ p: PaperPosition, entry: String, remaining: Double, sender: LiveOrderSender,
                          journal j: inout Journal) async throws {
        let sign: Double = p.side == .buy ? 1 : -1
        let stops = j.book.stops(on: p.symbol).filter(\.isLive)
        guard let current = stops.compactMap({ $0.intent.triggerPrice.map(Dec.double) }).first,
              Self.tighter(p.stopPrice, than: current, long: p.side == .buy) else { return }
        try await replaceStops(stops, symbol: p.symbol, entry: entry, quantity: sign * remaining, trigger: p.stopPrice,
                               reason: "stop moved from \(Format.number(current)) to \(Format.number(p.stopPrice))", journal: &j)
    }

    /// Whether `stop` is tighter than `current` by more than a basis point (a tick is below that).
    static func tighter(_ stop: Double, than current: Double, long: Bool) -> Bool {
        long ? stop > current * (1 + 1e-4) : stop < current * (1 - 1e-4)
    }

    /// One slice of a spot position's exits: a rung's bracket (`rung` set) or the runner's stop.
    struct Slice: Equatable {
        var rung: Int?
        var quantity: Decimal
        var target: Double?
    }

    /// The slices a spot position's exits should rest as: one per remaining rung (its ladder fraction of the
    /// initial size, rounded down to the symbol's step, never more than is left) and the runner (the rest, so the
    /// slices add up to exactly the remaining quantity). A rung slice below the symbol's minimum size or notional
    /// stays with the runner (the venue would refuse it, and the layout would be retried every cycle).
    static func slices(_ p: PaperPosition, remaining: Decimal, plan: ExitsConfig, rules: SymbolRules) -> [Slice] {
        var out: [Slice] = []
        var left = remaining
        for rung in min(p.rungsTaken, plan.ladder.count)..<plan.ladder.count {
            guard let target = ExitManager.target(p, rung: rung, plan: plan) else { break }
            let wanted = SymbolRules.floor(Dec.from(p.initialQuantity * plan.ladder[rung].fraction), step: rules.stepSize)
            let quantity = min(wanted, left)
            guard quantity > 0, quantity >= rules.minQuantity, quantity * Dec.from(target) >= rules.minNotional else { break }
            out.append(Slice(rung: rung, quantity: quantity, target: target))
            left -= quantity
        }
        if left > 0 { out.append(Slice(rung: nil, quantity: left, target: nil)) }
        return out
    }

    /// Spot (Coinbase): each remaining rung's slice rests as one bracket (a limit at the rung and a stop trigger at
    /// the stop on the same coins) and the rest under a stop-limit, so every coin of the position sits under the
    /// stop at all times and no two orders hold the same coins. When the layout differs from what rests (a rung
    /// filled, the size changed, the stop moved tighter), every slice is replaced: all of our exits on the symbol
    /// are cancelled first (they hold the coins), ledger first, then the new slices are placed. A slice the venue
    /// refuses falls to the runner's stop; a runner stop refused is a protection alarm.
    private func layOutSlices(_ p: PaperPosition, entry: String, remaining: Double, plan: ExitsConfig, sender: LiveOrderSender,
                              journal j: inout Journal) async throws {
        let long = p.side == .buy
        let working = j.book.stops(on: p.symbol).filter(\.isLive)
        let rules = try await venue.rules(for: p.symbol)
        let size = SymbolRules.floor(Dec.from(remaining), step: rules.stepSize)
        let wanted = Self.slices(p, remaining: size, plan: plan, rules: rules)
        let current = working.compactMap { $0.intent.triggerPrice.map(Dec.double) }.min(by: { long ? $0 < $1 : $0 > $1 })
        let resting = working.map { Slice(rung: $0.intent.rung, quantity: Dec.from($0.unfilled), target: nil) }
        let sameSlices = resting.count == wanted.count && zip(resting.sorted { ($0.rung ?? 99) < ($1.rung ?? 99) }, wanted).allSatisfy {
            $0.rung == $1.rung && LiveDesk.same(Dec.double($0.quantity), Dec.double($1.quantity))
        }
        let stopMoved = current.map { Self.tighter(p.stopPrice, than: $0, long: long) } ?? true
        guard !sameSlices || stopMoved else { return }
        let stopPrice = current.map { stopMoved ? p.stopPrice : $0 } ?? p.stopPrice
        let why = current.map { stopMoved ? "stop moved from \(Format.number($0)) to \(Format.number(stopPrice))" : "slices resized" }
            ?? "exits laid out"
        for order in working { try await cancel(order.intent, reason: "\(why): replaced by new slices", journal: &j) }

        let sign: Double = long ? 1 : -1
        var uncovered: Decimal = 0
        for slice in wanted {
            guard let rung = slice.rung, let target = slice.target else { continue }
            let count = j.book.count(.takeProfit, parent: entry, rung: rung)
            let id = ClientOrderId.derived(from: entry, suffix: count == 0 ? "tp\(rung + 1)" : "tp\(rung + 1)-\(count + 1)")
            let placed = try await sender.send(LiveProtection.bracketRequest(symbol: p.symbol, positionSign: sign,
                                                                             quantity: Dec.double(slice.quantity), target: target,
                                                                             stop: stopPrice, clientOrderId: id),
                                               purpose: .takeProfit, parent: entry,
                                               reason: "take-profit rung \(rung + 1) at \(Format.number(plan.ladder[rung].r))R with its stop at \(Format.number(stopPrice)) (\(why))",
                                               rung: rung, cycleId: j.cycleId, time: j.time)
            try j.reload()
            if !placed.isLive { uncovered += slice.quantity }
        }
        let runner = (wanted.last { $0.rung == nil }?.quantity ?? 0) + uncovered
        guard runner > 0 else { return }
        let id = ClientOrderId.derived(from: entry, suffix: "sl\(j.book.count(.stop, parent: entry) + 1)")
        let placed = try await sender.send(LiveProtection.stopRequest(style: venue.exitOrders, symbol: p.symbol,
                                                                      quantity: sign * Dec.double(runner), trigger: stopPrice,
                                                                      offsetPct: settings.stopLimitOffsetPct, clientOrderId: id),
                                           purpose: .stop, parent: entry,
                                           reason: "stop for the \(Format.number(Dec.double(runner))) not under a rung's bracket (\(why))",
                                           cycleId: j.cycleId, time: j.time)
        try j.reload()
        if !(placed.isLive || placed.status == .filled) {
            // Nothing else to fall back to here; reconciliation replaces the stop for the full size next cycle.
            try j.emit(.protectionAlarm, symbol: p.symbol, ProtectionAlarm(
                symbol: p.symbol, entryClientOrderId: entry,
                problem: "stop \(id) for \(Format.number(Dec.double(runner))) could not be placed: \(placed.status.rawValue) \(placed.error ?? "")",
                action: "reconciliation places a stop for the full size"))
        }
    }

    /// Replaces `stops` by one stop for `quantity` (signed) at `trigger`: on futures the new one is placed first and the
    /// old ones cancelled once it works; on spot the old ones go first, because they hold the coins.
    private func replaceStops(_ stops: [LiveBook.Order], symbol: String, entry: String, quantity: Double, trigger: Double,
                              reason: String, journal j: inout Journal) async throws {
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        if stopsHoldTheirCoins {
            for stop in stops { try await cancel(stop.intent, reason: reason, journal: &j) }
        }
        let id = ClientOrderId.derived(from: entry, suffix: "sl\(j.book.count(.stop, parent: entry) + 1)")
        let placed = try await sender.send(LiveProtection.stopRequest(style: venue.exitOrders, symbol: symbol, quantity: quantity,
                                                                      trigger: trigger, offsetPct: settings.stopLimitOffsetPct,
                                                                      clientOrderId: id),
                                           purpose: .stop, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        try j.reload()
        if !stopsHoldTheirCoins, placed.isLive {
            for stop in stops { try await cancel(stop.intent, reason: "replaced by \(id): \(reason)", journal: &j) }
        }
    }

    /// An order update from the user stream, recorded at once: the new state, and the fill it adds beyond what the
    /// ledger already has (reconciliation later finds nothing new, so nothing is counted twice). A take-profit fill
    /// resizes the stop to what remains. Returns the purpose of a filled order, or nil when nothing was new.
    @discardableResult
    package func recordStreamUpdate(_ order: VenueOrder, cycleId: String, time: Int64) async throws -> LiveOrderPurpose? {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        guard let known = j.book.orders[order.clientOrderId] else { return nil }
        let filled = order.filledQuantity
        guard filled > known.filled || order.status != known.result?.status else { return nil }
        try record(LiveOrderSender.result(order, purpose: known.intent.purpose, source: "stream"), intent: known.intent,
                   previous: known.filled, into: &j)
        guard filled > known.filled else { return nil }
        if known.intent.purpose == .takeProfit { try await resizeStops(symbol: order.symbol, journal: &j) }
        return known.intent.purpose
    }

    /// The working stops of a managed position, replaced by one for its current size at the same trigger when they
    /// cover more or less than it (a take-profit rung filled between cycles).
    private func resizeStops(symbol: String, journal j: inout Journal) async throws {
        guard let position = j.book.positions[symbol], position.managed, let entry = position.entryClientOrderId else { return }
        let stops = j.book.stops(on: symbol).filter(\.isLive)
        let covered = stops.reduce(0.0) { $0 + $1.unfilled }
        let size = abs(position.quantity)
        guard let trigger = stops.compactMap({ $0.intent.triggerPrice.map(Dec.double) }).first, !Self.same(covered, size) else { return }
        if size < 1e-12 {
            for stop in stops { try await cancel(stop.intent, reason: "the position is closed", journal: &j) }
            return
        }
        try await replaceStops(stops, symbol: symbol, entry: entry, quantity: position.quantity, trigger: trigger,
                               reason: "stop resized from \(Format.number(covered)) to the remaining \(Format.number(size))", journal: &j)
    }

    /// The futures guard acting between cycles on a mark price: closes half (`reduce`) or all (`close`, stops cancelled
    /// first) of a managed position reduce-only, ledger first. Returns false when the agent does not manage it.
    @discardableResult
    package func marginExit(_ action: FuturesRisk.Action, symbol: String, markPrice: Double, reason: String, cycleId: String,
                    time: Int64) async throws -> Bool {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        guard action != .none, let ours = j.book.positions[symbol], ours.managed, let entry = ours.entryClientOrderId else { return false }
        let held = try await positionsOnVenue()[symbol].map { Dec.double($0.quantity) } ?? ours.quantity
        try await marginExit(action, symbol: symbol, quantity: held, entry: entry, markPrice: markPrice, reason: reason, journal: &j)
        return true
    }

    private func marginExit(_ action: FuturesRisk.Action, symbol: String, quantity: Double, entry: String, markPrice: Double,
                            reason: String, journal j: inout Journal) async throws {
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        guard abs(quantity) > 1e-12 else { return }
        if action == .close {
            for stop in j.book.stops(on: symbol) where stop.isLive {
                try await cancel(stop.intent, reason: "futures guard closes the position", journal: &j)
            }
            _ = try await sender.send(
                LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity), referencePrice: markPrice,
                                            clientOrderId: ClientOrderId.derived(from: entry, suffix: "gc\(j.book.count(.guardClose, parent: entry) + 1)")),
                purpose: .guardClose, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        } else {
            _ = try await sender.send(
                LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity) / 2, referencePrice: markPrice,
                                            clientOrderId: ClientOrderId.derived(from: entry, suffix: "gr\(j.book.count(.guardReduce, parent: entry) + 1)")),
                purpose: .guardReduce, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        }
        try j.reload()
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
