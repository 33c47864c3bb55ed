import Config
import Engine
import Execution
import Foundation
import Ledger
import Market
import Model

/// LIVE positions: the venue desk reconciles before the cycle decides and flattens on a kill-switch trip; every
/// order it sends is recorded ledger first by the order sender, and the journal reads those events back.
package struct LivePositions: PositionDesk {
    package var desk: LiveDesk
    package var exits: ExitsConfig
    package var atrPeriod: Int

    package func synchronize(cycleId: String, time: Int64) async throws -> String? {
        let (report, _) = try await desk.reconcileBook(cycleId: cycleId, time: time, act: true)
        return report.requiresManualReview ? report.reviewReasons.joined(separator: "; ") : nil
    }

    /// The same exit policy as PAPER, as reduce-only orders resting on the venue; the venue executes them, and their
    /// fills reach the portfolio through reconciliation.
    package func manageExits(snapshot: MarketSnapshot, journal: inout CycleJournal) async throws -> [PaperFill] {
        let managed = journal.portfolio.account.positions.filter { !journal.portfolio.unmanaged.contains($0.symbol) }
        guard !managed.isEmpty else { return [] }
        let updates = try await desk.manageExits(positions: managed, snapshot: snapshot, plan: exits, atrPeriod: atrPeriod,
                                                 cycleId: journal.cycleId, time: journal.time)
        try journal.catchUp()
        try journal.record(updates.map(PortfolioEvent.protection))
        return []
    }

    package func flatten(snapshot: MarketSnapshot, journal: inout CycleJournal, reason: String) async throws -> [PaperFill] {
        let held = journal.portfolio.account.positions
        let results = try await desk.flatten(cycleId: journal.cycleId, time: journal.time, reason: reason)
        try journal.catchUp()
        return results.filter { $0.filledQuantity > 0 }.map { r in
            let position = held.first { $0.symbol == r.symbol }
            return PaperFill(clientOrderId: r.clientOrderId, symbol: r.symbol, tier: position?.tier ?? .rotational,
                             side: position?.side == .sell ? .buy : .sell, quantity: Dec.double(r.filledQuantity),
                             price: r.averagePrice.map(Dec.double) ?? 0, feeUsd: 0, liquidity: "taker", time: journal.time, reason: reason)
        }
    }

    package init(desk: LiveDesk, exits: ExitsConfig, atrPeriod: Int) {
        self.desk = desk
        self.exits = exits
        self.atrPeriod = atrPeriod
    }
}
