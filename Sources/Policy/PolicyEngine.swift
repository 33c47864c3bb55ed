import Config
import Model

private let fmt = Format.number

/// Everything the policy compares against, besides the proposals and their reviews.
public struct PolicyInput: Sendable {
    public var now: Int64
    public var killSwitchOn: Bool
    public var state: PortfolioState
    public var tape: [TapeFacts]

    public init(now: Int64, killSwitchOn: Bool, state: PortfolioState, tape: [TapeFacts]) {
        self.now = now
        self.killSwitchOn = killSwitchOn
        self.state = state
        self.tape = tape
    }
}

/// A proposal with the reviews applied to it. The engine recomputes final conviction itself.
public struct ReviewedProposal: Sendable {
    public var proposal: Proposal
    public var reviews: [AppliedReview]
    public init(proposal: Proposal, reviews: [AppliedReview]) {
        self.proposal = proposal
        self.reviews = reviews
    }
}

/// The policy.yaml engine. Deterministic; runs last and alone decides approval.
///
/// Every named check is evaluated for every proposal and reported passed or violated with the numbers
/// compared. Sizes are cut to caps when `cut_to_caps` allows, never raised. A reviewer veto can only
/// reject; no reviewer answer can make a violated check pass.
public struct PolicyEngine: Sendable {
    public static let checkNames = [
        "kill_switch", "daily_stop_loss", "weekly_stop_loss", "max_drawdown", "max_trades_per_day",
        "max_trades_per_hour", "min_seconds_between_trades", "consecutive_loss_cooldown", "max_open_positions",
        "per_symbol_cooldown", "min_conviction", "min_combined_conviction", "max_spread_bps", "min_24h_volume",
        "max_leverage", "max_position_pct", "max_per_asset_pct", "cluster_limit", "max_total_at_risk_pct", "min_size_pct",
        "min_liquidation_distance",
    ]

    public var policy: PolicyConfig
    public var universe: UniverseConfig

    public init(policy: PolicyConfig, universe: UniverseConfig) {
        self.policy = policy
        self.universe = universe
    }

    /// Decides every proposal, strongest final conviction first, so approvals earlier in the cycle count
    /// against the limits of later ones. Decisions are returned in the proposals' original order.
    public func decide(_ reviewed: [ReviewedProposal], input: PolicyInput) -> [Decision] {
        let bound = policy.reviewers.deltaBound
        let ranked = reviewed.enumerated().map { index, r in
            (index: index, item: r, final: Conviction.combine(base: r.proposal.conviction, reviews: r.reviews, bound: bound))
        }.sorted { $0.final != $1.final ? $0.final > $1.final : $0.index < $1.index }

        var running = RunningBook(state: input.state)
        var decisions: [(Int, Decision)] = []
        for entry in ranked {
            let decision = decideOne(entry.item, finalConviction: entry.final, input: input, running: running)
            if decision.approved {
                running.add(entry.item.proposal, sizePct: decision.sizePct)
            }
            decisions.append((entry.index, decision))
        }
        return decisions.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Exposure and counts as they stand, including what this cycle already approved.
    struct RunningBook {
        var positions: [OpenPosition]
        var approvedThisCycle: [Proposal] = []
        let state: PortfolioState

        init(state: PortfolioState) {
            self.state = state
            self.positions = state.openPositions
        }

        mutating func add(_ p: Proposal, sizePct: Double) {
            approvedThisCycle.append(p)
            positions.append(OpenPosition(symbol: p.symbol, tier: p.tier, side: p.side, sizePct: sizePct, openedAt: 0))
        }

        var totalPct: Double { positions.reduce(0) { $0 + $1.sizePct } }
        func assetPct(_ symbol: String) -> Double { positions.filter { $0.symbol == symbol }.reduce(0) { $0 + $1.sizePct } }
    }

    func decideOne(_ item: ReviewedProposal, finalConviction: Double, input: PolicyInput, running: RunningBook) -> Decision {
        let p = item.proposal
        let risk = policy.risk
        let state = input.state
        let now = input.now
        var checks: [CheckResult] = []
        // The sentence of each check is formatted only when read (the ledger's encoder, `agent show`): a backtest
        // decides thousands of proposals and reads none of them.
        func check(_ name: String, _ passed: Bool, value: Double? = nil, limit: Double? = nil,
                   _ detail: @autoclosure @escaping @Sendable () -> String) {
            checks.append(CheckResult(name: name, passed: passed, value: value, limit: limit, detail: Explanation(deferred: detail)))
        }

        check("kill_switch", !input.killSwitchOn, input.killSwitchOn ? "kill switch is on" : "kill switch is off")
        check("daily_stop_loss", state.dailyPnlPct > -risk.dailyStopLossPct, value: state.dailyPnlPct, limit: -risk.dailyStopLossPct,
              "daily P&L \(fmt(state.dailyPnlPct))% vs stop -\(fmt(risk.dailyStopLossPct))%")
        check("weekly_stop_loss", state.weeklyPnlPct > -risk.weeklyStopLossPct, value: state.weeklyPnlPct, limit: -risk.weeklyStopLossPct,
              "weekly P&L \(fmt(state.weeklyPnlPct))% vs stop -\(fmt(risk.weeklyStopLossPct))%")
        check("max_drawdown", state.drawdownPct < risk.maxDrawdownPct, value: state.drawdownPct, limit: risk.maxDrawdownPct,
              "drawdown \(fmt(state.drawdownPct))% from peak vs max \(fmt(risk.maxDrawdownPct))%")

        let thisCycle = Double(running.approvedThisCycle.count)
        let dayStart = now - now.mod(86_400)
        let tradesToday = Double(state.recentTrades.filter { $0.time >= dayStart }.count) + thisCycle
        check("max_trades_per_day", tradesToday + 1 <= Double(risk.maxTradesPerDay), value: tradesToday + 1, limit: Double(risk.maxTradesPerDay),
              "this would be trade \(Int(tradesToday + 1)) today, max \(risk.maxTradesPerDay)")
        let tradesHour = Double(state.recentTrades.filter { $0.time > now - 3_600 }.count) + thisCycle
        check("max_trades_per_hour", tradesHour + 1 <= Double(risk.maxTradesPerHour), value: tradesHour + 1, limit: Double(risk.maxTradesPerHour),
              "this would be trade \(Int(tradesHour + 1)) in the last hour, max \(risk.maxTradesPerHour)")
        if let last = state.recentTrades.map(\.time).max() {
            let elapsed = Double(now - last)
            check("min_seconds_between_trades", elapsed >= Double(risk.minSecondsBetweenTrades), value: elapsed,
                  limit: Double(risk.minSecondsBetweenTrades),
                  "\(Int(elapsed))s since the last trade, min \(risk.minSecondsBetweenTrades)s")
        } else {
            check("min_seconds_between_trades", true, limit: Double(risk.minSecondsBetweenTrades), "no earlier trade")
        }
        let cooldown = risk.consecutiveLossCooldown
        let inCooldown = state.consecutiveLosses >= cooldown.losses
            && (state.lastLossTime.map { now - $0 < Int64(cooldown.cooldownMinutes) * 60 } ?? false)
        check("consecutive_loss_cooldown", !inCooldown, value: Double(state.consecutiveLosses), limit: Double(cooldown.losses),
              inCooldown ? "\(state.consecutiveLosses) losses in a row: cooling down for \(cooldown.cooldownMinutes) min after the last"
                  : "\(state.consecutiveLosses) consecutive losses (cooldown at \(cooldown.losses))")
        let open = Double(running.positions.count)
        check("max_open_positions", open + 1 <= Double(risk.maxOpenPositions), value: open + 1, limit: Double(risk.maxOpenPositions),
              "this would be position \(Int(open + 1)), max \(risk.maxOpenPositions)")
        let cooldownSeconds = Int64(risk.perSymbolCooldownMinutes) * 60
        let lastOnSymbol = (state.recentTrades.filter { $0.symbol == p.symbol }.map(\.time)
            + (running.approvedThisCycle.contains { $0.symbol == p.symbol } ? [now] : [])).max()
        if let last = lastOnSymbol {
            let minutes = Double(now - last) / 60
            check("per_symbol_cooldown", now - last >= cooldownSeconds, value: minutes, limit: Double(risk.perSymbolCooldownMinutes),
                  "\(fmt(minutes)) min since the last \(p.symbol) trade, cooldown \(risk.perSymbolCooldownMinutes) min")
        } else {
            check("per_symbol_cooldown", true, limit: Double(risk.perSymbolCooldownMinutes), "no recent \(p.symbol) trade")
        }
        check("min_conviction", p.conviction >= risk.minConviction, value: p.conviction, limit: risk.minConviction,
              "rules conviction \(fmt(p.conviction)) vs min \(fmt(risk.minConviction))")
        check("min_combined_conviction", finalConviction >= risk.minCombinedConviction, value: finalConviction,
              limit: risk.minCombinedConviction,
              "final conviction \(fmt(finalConviction)) vs min \(fmt(risk.minCombinedConviction))")
        if let tape = input.tape.first(where: { $0.symbol == p.symbol }) {
            check("max_spread_bps", tape.spreadBps <= risk.maxSpreadBps, value: tape.spreadBps, limit: risk.maxSpreadBps,
                  "spread \(fmt(tape.spreadBps)) bps vs max \(fmt(risk.maxSpreadBps))")
            check("min_24h_volume", tape.volume24hUsd >= risk.min24hVolumeUsd, value: tape.volume24hUsd, limit: risk.min24hVolumeUsd,
                  "24h volume \(Format.usd(tape.volume24hUsd)) vs min \(Format.usd(risk.min24hVolumeUsd))")
        } else {
            check("max_spread_bps", false, limit: risk.maxSpreadBps, "no tape for \(p.symbol)")
            check("min_24h_volume", false, limit: risk.min24hVolumeUsd, "no tape for \(p.symbol)")
        }
        check("max_leverage", p.leverage <= risk.maxLeverage, value: p.leverage, limit: risk.maxLeverage,
              "leverage \(fmt(p.leverage)) vs max \(fmt(risk.maxLeverage))")

        // Size caps: each may cut the size (never raise it) or reject.
        var size = max(p.sizePct.isFinite ? p.sizePct : 0, 0)
        func cap(_ name: String, room: Double, limit: Double, what: String) {
            let room = max(room, 0)
            let current = size
            if current <= room + 1e-9 {
                check(name, true, value: current, limit: limit, "\(what): \(fmt(current))% fits in \(fmt(room))% of room (cap \(fmt(limit))%)")
            } else if risk.cutToCaps, room >= risk.minSizePct {
                check(name, true, value: current, limit: limit, "\(what): cut from \(fmt(current))% to \(fmt(room))% (cap \(fmt(limit))%)")
                size = room
            } else {
                check(name, false, value: current, limit: limit, "\(what): \(fmt(current))% exceeds the \(fmt(room))% of room left (cap \(fmt(limit))%)")
            }
        }
        let tierCap = risk.maxPositionPct.value(for: p.tier)
        cap("max_position_pct", room: tierCap, limit: tierCap, what: "\(p.tier.rawValue) position")
        cap("max_per_asset_pct", room: risk.maxPerAssetPct - running.assetPct(p.symbol), limit: risk.maxPerAssetPct,
            what: "\(p.symbol) exposure")
        let clusters = universe.clusters(of: p.symbol)
        if clusters.isEmpty {
            check("cluster_limit", true, limit: risk.clusterLimitPct, "\(p.symbol) is in no cluster")
        } else {
            let used = clusters.map { name in
                (name, running.positions.filter { universe.clusters[name]?.contains($0.symbol) ?? false }.reduce(0) { $0 + $1.sizePct })
            }.max { $0.1 < $1.1 } ?? (clusters[0], 0)
            cap("cluster_limit", room: risk.clusterLimitPct - used.1, limit: risk.clusterLimitPct, what: "cluster \(used.0)")
        }
        cap("max_total_at_risk_pct", room: risk.maxTotalAtRiskPct - running.totalPct, limit: risk.maxTotalAtRiskPct,
            what: "total exposure")
        let finalSize = size
        check("min_size_pct", finalSize >= risk.minSizePct, value: finalSize, limit: risk.minSizePct,
              "size \(fmt(finalSize))% vs the smallest tradable \(fmt(risk.minSizePct))%")

        // Futures guard: an isolated position at the proposal's leverage is liquidated about (1/leverage - MMR)
        // from its entry. Unlevered (spot) proposals are ~100% away and always pass. The LIVE executor repeats
        // the check with the symbol's real maintenance brackets before sending.
        let futures = policy.futures
        let liquidationDistance = (1 / max(p.leverage, 1) - futures.maintenanceMarginRate) * 100
        check("min_liquidation_distance", liquidationDistance >= futures.minLiquidationDistancePct, value: liquidationDistance,
              limit: futures.minLiquidationDistancePct,
              "estimated liquidation \(fmt(liquidationDistance))% away at \(fmt(p.leverage))x vs min \(fmt(futures.minLiquidationDistancePct))%")

        let violated = checks.filter { !$0.passed }.map(\.name)
        var vetoedBy: [ReviewerTier] = []
        for review in item.reviews where review.veto && !vetoedBy.contains(review.reviewer) { vetoedBy.append(review.reviewer) }
        let approved = violated.isEmpty && vetoedBy.isEmpty
        return Decision(proposalId: p.id, symbol: p.symbol, side: p.side, baseConviction: p.conviction, reviews: item.reviews,
                        finalConviction: finalConviction, approved: approved, vetoedBy: vetoedBy, violatedChecks: violated, checks: checks,
                        sizePct: approved ? min(size, p.sizePct) : 0, proposedSizePct: p.sizePct)
    }
}
