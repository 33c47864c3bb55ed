import Config
import Execution
import Ledger
import Market
import Model
import Risk

/// The book the between-cycle guard's margin rule watches: a `MarginAccount` re-marked on every mark and evaluated by
/// Market's `FuturesMargin`. LIVE fills it from the venue's positions (LiveExecution); PAPER on Binance futures and
/// backtests with leverage fill it from the paper book (`PaperMarginRule`). One rule, whatever the book.
package struct FuturesMarginBook: MarginBook {
    package var account: MarginAccount
    /// Paper books: each position's resting stop. A mark beyond it means the stop was crossed first and fills (the
    /// exits stage closes it at the stop), unless the margin rule already acts at the stop price.
    package var stops: [String: Double] = [:]

    package init(_ account: MarginAccount, stops: [String: Double] = [:]) {
        self.account = account
        self.stops = stops
    }

    package var positions: [String: MarginPosition] { account.positions }

    package mutating func mark(_ symbol: String, at mark: Double) -> MarginVerdict? {
        guard let held = account.positions[symbol] else { return nil }
        if let stop = stops[symbol], held.quantity > 0 ? mark <= stop : mark >= stop {
            var atStop = account
            if let s = atStop.mark(symbol, at: stop), s.action == .none {
                _ = account.mark(symbol, at: mark)
                return MarginVerdict(action: .none, ratio: s.ratio, limit: account.limits.reduceRatio, quantity: s.quantity)
            }
        }
        guard let s = account.mark(symbol, at: mark) else { return nil }
        let action: MarginVerdict.Action = switch s.action {
        case .none: .none
        case .reduce: .reduce
        case .close: .close
        }
        return MarginVerdict(action: action, ratio: s.ratio, limit: account.limits.limit(of: s.action), quantity: s.quantity)
    }

    package mutating func halve(_ symbol: String) { account.halve(symbol) }

    package mutating func close(_ symbol: String) { account.close(symbol) }
}

/// The margin rule on a paper book: PAPER on Binance futures, and backtests (and PAPER on `sim`) whose rules may ask
/// for leverage. Each position is an isolated one at its own leverage (`PaperPosition.leverage`, from the intent that
/// opened it: a wallet of `|quantity| * entry / leverage`), maintenance from the symbol's brackets or, without them,
/// one bracket at `futures.maintenance_margin_rate`. Spot books (Coinbase) have no margin. The same rule prices the
/// paper book's liquidations (`PaperDesk.liquidated`).
package struct PaperMarginRule: Sendable, Equatable {
    package var brackets: [String: [LeverageBracket]]
    package var maintenanceRate: Double
    package var limits: MarginLimits

    package init(policy: PolicyConfig, brackets: [String: [LeverageBracket]] = [:]) {
        self.brackets = brackets
        maintenanceRate = policy.futures.maintenanceMarginRate
        limits = MarginLimits(reduceRatio: policy.futures.reduceMarginRatio, closeRatio: policy.futures.closeMarginRatio)
    }

    /// The rule of a PAPER book on `exchange`, or nil where a paper book has no margin: always on Binance futures;
    /// on `sim` (so in every backtest) when `rules.leverage` is above 1 (at 1x nothing can be liquidated); never on
    /// Coinbase spot.
    package static func paperBook(_ config: LoadedConfig, exchange: Exchange,
                                  brackets: [String: [LeverageBracket]] = [:]) -> PaperMarginRule? {
        switch exchange {
        case .binance: PaperMarginRule(policy: config.policy, brackets: brackets)
        case .sim: config.signals.rules.leverage > 1 ? PaperMarginRule(policy: config.policy, brackets: brackets) : nil
        case .coinbase: nil
        }
    }

    /// The most leverage LIVE sets before a Binance entry: `risk.max_leverage` rounded down, 1 to 125. Each entry
    /// sets its own intent's leverage under it (`LiveSettings.venueLeverage(for:)`).
    package static func venueLeverage(_ policy: PolicyConfig) -> Int {
        max(1, min(125, Int(policy.risk.maxLeverage.rounded(.down))))
    }

    /// The maintenance brackets of `symbol`: its own, else one flat bracket at the policy's rate.
    package func brackets(for symbol: String) -> [LeverageBracket] {
        brackets[symbol] ?? FuturesMargin.flatBrackets(maintenanceRate: maintenanceRate)
    }

    /// The paper book's positions for which `includes` holds, marked at `marks` (else their entry), each at its own
    /// leverage.
    package func book(_ portfolio: Portfolio, marks: [String: Double], includes: (PaperPosition) -> Bool = { _ in true }) -> FuturesMarginBook {
        var positions: [MarginPosition] = []
        var stops: [String: Double] = [:]
        var used: [String: [LeverageBracket]] = [:]
        for p in portfolio.account.positions where includes(p) && !portfolio.unmanaged.contains(p.symbol) {
            let signed = p.side == .buy ? p.quantity : -p.quantity
            positions.append(.isolated(symbol: p.symbol, quantity: signed, entryPrice: p.entryPrice, leverage: p.leverage,
                                       mark: marks[p.symbol] ?? portfolio.marks[p.symbol] ?? p.entryPrice))
            stops[p.symbol] = p.stopPrice
            used[p.symbol] = brackets(for: p.symbol)
        }
        let account = MarginAccount(positions: positions, brackets: used, walletBalance: portfolio.account.cashUsd, limits: limits)
        return FuturesMarginBook(account, stops: stops)
    }
}

extension GuardKeeper {
    /// A keeper whose guard starts with the halt a `guard_action` left and no cycle acted on yet: the process that
    /// recorded it was killed before its next cycle. The first cycle after a halt-type action always halts with it
    /// (`halted`), so an action with no `halted` after it is still pending; the halt lasts as it would have, until
    /// that cycle has seen it.
    package static func restoring(_ guardState: BetweenCycleGuard, store: any EventStore) throws -> GuardKeeper {
        var restored = guardState
        // Newest first: a `halted` before any halt-type action means every earlier one was acted on.
        for e in try store.events(types: [EventKind.guardAction.rawValue, EventKind.halted.rawValue], limit: 1_000, newestFirst: true) {
            if e.type == EventKind.halted.rawValue { break }
            if let reason = BetweenCycleGuard.haltReason(of: try e.value(.guardAction)) {
                restored.restoreHalt("\(reason) (recorded before a restart)")
                break
            }
        }
        return GuardKeeper(restored)
    }
}
