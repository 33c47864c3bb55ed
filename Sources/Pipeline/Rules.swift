import Config
import Model

private let fmt = Format.number

/// Turns triggers into proposals. This is the only place in the program that creates a `Proposal`.
///
/// With a `StrategyContext` (the cycle always passes one) the strategy features of `signals.yaml` apply: the
/// higher-timeframe gate, the composite scorer, risk-based and Kelly-capped sizing, and the leverage rule.
public enum RulesEngine {
    public static func propose(_ config: RulesConfig, tiers: TiersConfig, regime: Regime, universe: UniverseResult,
                               triggers: [Trigger], snapshot: MarketSnapshot, strategy: StrategyContext? = nil) -> [Proposal] {
        let members = Dictionary(universe.eligible.map { ($0.symbol, $0) }, uniquingKeysWith: { a, _ in a })
        let usable = triggers.filter { $0.strength >= config.minTriggerStrength && members[$0.symbol] != nil }

        // Group by symbol and direction, keeping first-seen order for determinism.
        var groups: [(symbol: String, direction: Direction, triggers: [Trigger])] = []
        for t in usable {
            if let i = groups.firstIndex(where: { $0.symbol == t.symbol && $0.direction == t.direction }) {
                groups[i].triggers.append(t)
            } else {
                groups.append((t.symbol, t.direction, [t]))
            }
        }

        var drafts: [Proposal] = []
        for group in groups {
            guard let member = members[group.symbol], let tape = snapshot.symbol(group.symbol) else { continue }
            let side: Side = group.direction == .up ? .buy : .sell
            if side == .sell && !config.allowShorts { continue }
            // Both directions on one symbol is no signal at all.
            if groups.contains(where: { $0.symbol == group.symbol && $0.direction != group.direction }) { continue }

            var notes: [String] = []
            if let strategy, strategy.strategy.higherTimeframe.enabled {
                // Multi-timeframe trend: entries only in the direction of the longer timeframe's trend.
                let higher = HigherTimeframeTrend.measure(strategy.strategy.higherTimeframe, tape: tape)
                guard higher.direction == group.direction else { continue }
                notes.append(higher.text)
            }

            let strongest = group.triggers.max { $0.strength < $1.strength } ?? group.triggers[0]
            let kinds = Array(Set(group.triggers.map(\.kind))).sorted { $0.rawValue < $1.rawValue }
            var components: [ConvictionComponent]
            if let strategy, strategy.strategy.scorer == .composite {
                components = CompositeScore.components(strategy.strategy.composite, trend: strategy.trend, funding: strategy.funding,
                                                       side: side, strongest: strongest.strength, tape: tape)
            } else {
                components = [
                    ConvictionComponent(name: "base", value: config.baseConviction),
                    ConvictionComponent(name: "strength", value: config.strengthWeight * strongest.strength),
                ]
                if kinds.count > 1 {
                    components.append(ConvictionComponent(name: "confluence", value: config.confluenceBonus * Double(kinds.count - 1)))
                }
            }
            let regimeAdjustment = config.regimeAdjustment.value(for: regime)
            if regimeAdjustment != 0 {
                components.append(ConvictionComponent(name: "regime_\(regime.rawValue)", value: regimeAdjustment))
            }
            let conviction = min(max(components.reduce(0) { $0 + $1.value }, 0), 1)
            let tierConfig = tiers.config(for: member.tier)
            var sizePct = member.maxSizePct
            var leverage = config.leverage
            if let strategy {
                let sized = PositionSizing.size(strategy.strategy.sizing, tierSizePct: member.maxSizePct,
                                                stopLossPct: tierConfig.stopLossPct, account: strategy.account)
                sizePct = sized.sizePct
                if !sized.note.isEmpty { notes.append(sized.note) }
                let volatility = tape.annualizedVolatilityPct(bars: tape.bars(hours: 168))
                leverage = LeverageRule.leverage(strategy.strategy.leverage, ceiling: config.leverage, volatilityPct: volatility,
                                                 account: strategy.account)
                if leverage != config.leverage { notes.append("leverage \(fmt(leverage))x of at most \(fmt(config.leverage))x") }
            }
            let evidence = group.triggers.sorted { $0.strength > $1.strength }.map(\.evidence)
            let extra = notes
            drafts.append(Proposal(
                id: "", symbol: group.symbol, tier: member.tier, side: side, sizePct: sizePct,
                leverage: leverage, conviction: conviction, components: components,
                stopLossPct: tierConfig.stopLossPct, takeProfitPct: tierConfig.takeProfitPct,
                rationale: .later((evidence.map(\.text) + extra).joined(separator: "; ")), triggers: kinds, referencePrice: tape.last))
        }
        drafts.sort { $0.conviction != $1.conviction ? $0.conviction > $1.conviction : $0.symbol < $1.symbol }
        return drafts.prefix(max(config.maxProposals, 0)).enumerated().map { index, draft in
            var p = draft
            p.id = "p\(index + 1)"
            return p
        }
    }
}
