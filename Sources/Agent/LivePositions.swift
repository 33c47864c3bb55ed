import Execution
import Foundation
import Ledger
import Market
import Model

/// LIVE positions: the venue desk reconciles before the cycle decides and flattens on a kill-switch trip; every
/// order it sends is recorded ledger first by the order sender, and the journal reads those events back.
struct LivePositions: PositionDesk {
    var desk: LiveDesk

    func synchronize(cycleId: String, time: Int64) async throws -> String? {
        let (report, _) = try await desk.reconcileBook(cycleId: cycleId, time: time, act: true)
        return report.requiresManualReview ? report.reviewReasons.joined(separator: "; ") : nil
    }

    /// The protective stop rests on the venue from the entry on, and reconciliation repairs it every cycle.
    func manageExits(snapshot: MarketSnapshot, journal: inout CycleJournal) async throws -> [PaperFill] { [] }

    func flatten(snapshot: MarketSnapshot, journal: inout CycleJournal, reason: String) async throws -> [PaperFill] {
        let held = journal.portfolio.account.positions
        let results = try await desk.flatten(cycleId: journal.cycleId, time: journal.time, reason: reason)
        try journal.catchUp()
        return results.filter { $0.filledQuantity > 0 }.map { r in
            let position = held.first { $0.symbol == r.symbol }
            return PaperFill(clientOrderId: r.clientOrderId, symbol: r.symbol, tier: position?.tier ?? .rotational,
                             side: position?.side == .sell ? .buy : .sell, quantity: r.filledQuantity,
                             price: r.averagePrice ?? 0, feeUsd: 0, liquidity: "taker", time: journal.time, reason: reason)
        }
    }
}
