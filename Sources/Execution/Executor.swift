import Config
import Model

/// An approved decision with what execution needs to size it.
public struct ExecutionRequest: Sendable {
    public var cycleId: String
    public var time: Int64
    public var proposal: Proposal
    public var decision: Decision
    public var equityUsd: Double
    public var price: Double

    public init(cycleId: String, time: Int64, proposal: Proposal, decision: Decision, equityUsd: Double, price: Double) {
        self.cycleId = cycleId
        self.time = time
        self.proposal = proposal
        self.decision = decision
        self.equityUsd = equityUsd
        self.price = price
    }
}

/// Failures of an executor, saying which order and why.
public struct ExecutionError: Error, Sendable, CustomStringConvertible {
    public var clientOrderId: String
    public var message: String
    public var description: String { "order \(clientOrderId): \(message)" }

    public init(clientOrderId: String, message: String) {
        self.clientOrderId = clientOrderId
        self.message = message
    }
}

/// The touch and depth an order executes against.
public struct MarketQuote: Codable, Sendable, Equatable {
    public var bid: Double
    public var ask: Double
    /// USD within 20 bps on the side the order takes.
    public var depthUsd: Double

    public init(bid: Double, ask: Double, depthUsd: Double) {
        self.bid = bid
        self.ask = ask
        self.depthUsd = depthUsd
    }
}

/// What an order did: the order with its final status, and its fills.
public struct ExecutionOutcome: Sendable, Equatable {
    public var order: OrderIntent
    public var fills: [PaperFill]

    public init(order: OrderIntent, fills: [PaperFill] = []) {
        self.order = order
        self.fills = fills
    }
}

/// The execution seam: DRY_RUN, PAPER, and LIVE behind the same protocol.
///
/// The cycle runner records every intent in the ledger before calling `execute`, and the client order id
/// is derived from the cycle and proposal, so re-running a recorded intent can never create a second order.
public protocol Executor: Sendable {
    var mode: Mode { get }
    /// The order this request would place, without placing it.
    func intent(for request: ExecutionRequest) -> OrderIntent
    /// Places (or simulates) the order against `quote`; returns it with its final status and its fills.
    func execute(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws(ExecutionError) -> ExecutionOutcome
}

public enum ClientOrderId {
    /// Deterministic id from the cycle and proposal ids, within Binance's `^[.A-Z:/a-z0-9_-]{1,36}$`
    /// and Coinbase's limits: `ag-<cycle id without "c-">-<proposal id>`, or a hash when that is too long.
    public static func make(cycleId: String, proposalId: String) -> String {
        let core = cycleId.hasPrefix("c-") ? String(cycleId.dropFirst(2)) : cycleId
        let readable = "ag-\(core)-\(proposalId)"
        let allowed = readable.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._:/-".contains($0)) }
        if readable.count <= 36 && allowed { return readable }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(cycleId)/\(proposalId)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "ag-" + String(hash, radix: 16)
    }
}

/// DRY_RUN: records what it would do; never touches a venue.
public struct DryRunExecutor: Executor {
    public init() {}
    public var mode: Mode { .dryRun }

    public func intent(for request: ExecutionRequest) -> OrderIntent {
        OrderIntent.market(request, mode: .dryRun)
    }

    public func execute(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws(ExecutionError) -> ExecutionOutcome {
        var done = intent
        done.status = .simulated
        return ExecutionOutcome(order: done)
    }
}

/// PAPER: fills market orders with the fill model (touch + size-dependent slippage, taker fee, partial fills).
public struct PaperExecutor: Executor {
    public var settings: PaperConfig
    /// A spot venue's paper book (Coinbase): every position at 1x, as LIVE holds it there.
    public var spotOnly: Bool

    public init(settings: PaperConfig, spotOnly: Bool = false) {
        self.settings = settings
        self.spotOnly = spotOnly
    }

    public var mode: Mode { .paper }

    public func intent(for request: ExecutionRequest) -> OrderIntent {
        OrderIntent.market(request, mode: .paper, leveraged: !spotOnly)
    }

    public func execute(_ intent: OrderIntent, tier: Tier, quote: MarketQuote, time: Int64) async throws(ExecutionError) -> ExecutionOutcome {
        var order = intent
        guard let fill = PaperFillModel.market(side: intent.side, notionalUsd: intent.notionalUsd, bid: quote.bid, ask: quote.ask,
                                               depthUsd: quote.depthUsd, settings: settings) else {
            order.status = .rejected
            return ExecutionOutcome(order: order)
        }
        order.status = fill.partial ? .partiallyFilled : .filled
        order.quantity = fill.quantity
        order.price = fill.price
        return ExecutionOutcome(order: order, fills: [PaperFill(
            clientOrderId: intent.clientOrderId, symbol: intent.symbol, tier: tier, side: intent.side, quantity: fill.quantity,
            price: fill.price, feeUsd: fill.feeUsd, liquidity: "taker", time: time, reason: "entry", partial: fill.partial,
            stopLossPct: intent.stopLossPct, takeProfitPct: intent.takeProfitPct, leverage: intent.leverage)])
    }
}

extension OrderIntent {
    /// A market order for the decision's size of `equityUsd`, at the proposal's reference price and leverage (the
    /// policy approves a leverage or rejects the proposal; it never changes it). `leveraged` is false on a spot
    /// venue, where every position is held at 1x whatever the proposal asked for.
    package static func market(_ request: ExecutionRequest, mode: Mode, leveraged: Bool = true) -> OrderIntent {
        let notional = request.equityUsd * request.decision.sizePct / 100
        return OrderIntent(
            clientOrderId: ClientOrderId.make(cycleId: request.cycleId, proposalId: request.proposal.id),
            cycleId: request.cycleId, proposalId: request.proposal.id, symbol: request.proposal.symbol,
            side: request.proposal.side, sizePct: request.decision.sizePct, notionalUsd: notional,
            quantity: request.price > 0 ? notional / request.price : 0, price: request.price,
            stopLossPct: request.proposal.stopLossPct, takeProfitPct: request.proposal.takeProfitPct,
            mode: mode, status: .intended, leverage: leveraged ? heldLeverage(request.proposal.leverage) : 1)
    }

    /// The leverage a position is held at for a proposal asking `asked`: a whole number (Binance takes only whole
    /// numbers, and PAPER and backtests hold what LIVE would set), rounded down, 1 to 125. LIVE caps it further at
    /// `risk.max_leverage` (`LiveSettings.venueLeverage(for:)`), which the policy has already checked.
    package static func heldLeverage(_ asked: Double) -> Double {
        guard asked.isFinite, asked >= 1 else { return 1 }
        return min(asked, 125).rounded(.down)
    }
}
