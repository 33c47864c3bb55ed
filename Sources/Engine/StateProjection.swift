import Ledger
import Model

/// Portfolio state is never stored: it is the `Portfolio` projection of the store's events. This is the
/// one-shot form for commands that read a ledger without running a cycle.
///
/// In DRY_RUN there are no fills, so equity stays at the starting equity and no position opens, but the
/// orders DRY_RUN would have placed count as trades for the frequency checks. Only orders of the same mode
/// count: a DRY_RUN history never limits PAPER or LIVE.
public enum StateProjection {
    public static let tradeWindow = Portfolio.tradeWindow

    package static func rebuild(ledger: any EventStore, mode: Mode, now: Int64, startingEquity: Double) throws -> PortfolioState {
        let (portfolio, _) = try Portfolio.rebuild(store: ledger, mode: mode, startingEquity: mode == .live ? nil : startingEquity)
        return portfolio.state(now: now, marks: [:])
    }
}
