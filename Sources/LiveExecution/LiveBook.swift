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
        // The one typed read (`LedgerEvent.value`), so a payload read under another kind is refused here too.
        let event = LedgerEvent(seq: seq, cycleId: "", type: kind.rawValue, time: time, recordedAt: 0, symbol: nil, payload: payload)
        func value<T: Decodable>(_ t: EventType<T>) throws -> T { try event.value(t) }
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
