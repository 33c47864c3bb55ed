import Ledger
import Model

/// Portfolio state is never stored: it is rebuilt from ledger events at the start of every cycle.
///
/// In DRY_RUN there are no fills, so equity stays at the starting equity and no position opens, but the
/// orders DRY_RUN would have placed count as trades for the frequency checks (trades per hour and day,
/// spacing, per-symbol cooldown), so an unattended DRY_RUN behaves as the live bot would be allowed to.
/// In PAPER, equity, positions, P&L windows and loss streaks come from the paper book (`PaperBook`).
/// Only orders of the same mode count: a DRY_RUN history never limits PAPER or LIVE.
public enum StateProjection {
    public static let tradeWindow: Int64 = 7 * 86_400
    static let tradedStatuses: Set<String> = ["simulated", "filled", "partially_filled"]

    static func rebuild(ledger: Ledger, mode: Mode, now: Int64, startingEquity: Double, paper: PaperBook? = nil,
                        marks: [String: Double] = [:]) throws -> PortfolioState {
        // Streamed from the first order of the window on: memory stays flat however long the ledger grows.
        var trades: [TradeRecord] = []
        let since = now - tradeWindow
        if let first = try ledger.events(types: ["order_result"], since: since, limit: 1).first {
            try ledger.forEach(afterSeq: first.seq - 1, types: ["order_result"]) { event in
                guard event.time >= since, event.time <= now else { return }
                let order = try event.value(OrderIntent.self)
                guard order.mode == mode, tradedStatuses.contains(order.status) else { return }
                trades.append(TradeRecord(time: event.time, symbol: order.symbol, side: order.side))
            }
        }
        if let paper { return paper.portfolioState(now: now, marks: marks, trades: trades) }
        var state = PortfolioState.flat(equityUsd: startingEquity)
        state.recentTrades = trades
        return state
    }
}
