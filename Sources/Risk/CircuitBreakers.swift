import Config
import Model

/// A tripped circuit breaker: recorded as a `circuit_breaker` event, reported in the summary and the audit.
package struct BreakerTrip: Codable, Sendable, Equatable {
    package var breaker: String
    package var value: Double?
    package var limit: Double?
    package var detail: String
    /// `halt` (no entries this cycle) or `kill_switch` (also turns the kill switch on).
    package var action: String

    package init(breaker: String, value: Double? = nil, limit: Double? = nil, detail: String, action: String) {
        self.breaker = breaker
        self.value = value
        self.limit = limit
        self.detail = detail
        self.action = action
    }
}

/// Whole-cycle safety stops, evaluated after the state and the market are known and before any reviewer runs,
/// so a tripped breaker spends no AI budget and opens nothing. The per-proposal policy checks of the same
/// names remain as a second line.
package enum CircuitBreakers {
    package static func evaluate(_ policy: PolicyConfig, state: PortfolioState, snapshot: MarketSnapshot, now: Int64) -> [BreakerTrip] {
        let risk = policy.risk, limits = policy.circuitBreakers
        let fmt = Format.number
        var trips: [BreakerTrip] = []
        if state.drawdownPct >= risk.maxDrawdownPct {
            trips.append(BreakerTrip(breaker: "max_drawdown", value: state.drawdownPct, limit: risk.maxDrawdownPct,
                                     detail: "drawdown \(fmt(state.drawdownPct))% from peak equity \(Format.usd(state.peakEquityUsd)) >= \(fmt(risk.maxDrawdownPct))%",
                                     action: "kill_switch"))
        }
        if state.dailyPnlPct <= -risk.dailyStopLossPct {
            trips.append(BreakerTrip(breaker: "daily_stop_loss", value: state.dailyPnlPct, limit: -risk.dailyStopLossPct,
                                     detail: "daily P&L \(fmt(state.dailyPnlPct))% <= -\(fmt(risk.dailyStopLossPct))%", action: "halt"))
        }
        if state.weeklyPnlPct <= -risk.weeklyStopLossPct {
            trips.append(BreakerTrip(breaker: "weekly_stop_loss", value: state.weeklyPnlPct, limit: -risk.weeklyStopLossPct,
                                     detail: "weekly P&L \(fmt(state.weeklyPnlPct))% <= -\(fmt(risk.weeklyStopLossPct))%", action: "halt"))
        }
        let cooldown = risk.consecutiveLossCooldown
        if state.consecutiveLosses >= cooldown.losses, let last = state.lastLossTime,
           now - last < Int64(cooldown.cooldownMinutes) * 60 {
            trips.append(BreakerTrip(breaker: "consecutive_loss_cooldown", value: Double(state.consecutiveLosses), limit: Double(cooldown.losses),
                                     detail: "\(state.consecutiveLosses) losses in a row; cooling down until \(UTC.iso8601(last + Int64(cooldown.cooldownMinutes) * 60))",
                                     action: "halt"))
        }
        let recentLosses = state.lossTimes.filter { $0 > now - 86_400 && $0 <= now }
        if recentLosses.count >= limits.maxLosses24h, let last = recentLosses.max(),
           now - last < Int64(limits.losses24hCooldownMinutes) * 60 {
            trips.append(BreakerTrip(breaker: "losses_24h_cooldown", value: Double(recentLosses.count), limit: Double(limits.maxLosses24h),
                                     detail: "\(recentLosses.count) losing trades in 24h; cooling down until \(UTC.iso8601(last + Int64(limits.losses24hCooldownMinutes) * 60))",
                                     action: "halt"))
        }
        let newestClose = snapshot.symbols.compactMap(\.lastClose).max()
        if let newestClose {
            let ageMinutes = Double(now - newestClose) / 60
            if ageMinutes > Double(limits.maxDataAgeMinutes) {
                trips.append(BreakerTrip(breaker: "stale_data", value: ageMinutes, limit: Double(limits.maxDataAgeMinutes),
                                         detail: "the newest closed bar is \(fmt(ageMinutes)) min old (max \(limits.maxDataAgeMinutes))",
                                         action: "halt"))
            }
        } else {
            trips.append(BreakerTrip(breaker: "stale_data", value: nil, limit: Double(limits.maxDataAgeMinutes),
                                     detail: "the market returned no candles for any symbol", action: "halt"))
        }
        return trips
    }
}

extension EventType where Payload == BreakerTrip {
    package static var circuitBreaker: Self { Self(.circuitBreaker) }
}
