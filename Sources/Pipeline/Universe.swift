import Config
import Model

private let fmt = Format.number
private let usd = Format.usd

/// What the regime detector saw.
public struct RegimeReading: Codable, Sendable, Equatable {
    public var regime: Regime
    public var benchmark: String
    public var trendPct: Double?
    public var change24hPct: Double?
    public var volatilityPct: Double?
    public var reason: String
}

/// Bull / chop / bear / crash from the benchmark's trend and annualised volatility.
public enum RegimeDetector {
    public static func detect(_ config: RegimeDetectionConfig, benchmark: SymbolSnapshot?) -> RegimeReading {
        guard let tape = benchmark, let trend = tape.changePct(hours: config.trendLookbackHours) else {
            return RegimeReading(regime: .chop, benchmark: config.benchmark, trendPct: nil, change24hPct: nil,
                                 volatilityPct: nil,
                                 reason: "not enough \(config.benchmark) history for a \(config.trendLookbackHours)h trend: chop assumed")
        }
        let change24h = tape.changePct(hours: 24)
        let volatility = tape.annualizedVolatilityPct(bars: min(tape.bars(hours: config.trendLookbackHours), tape.candles.count - 1))
        func reading(_ regime: Regime, _ reason: String) -> RegimeReading {
            RegimeReading(regime: regime, benchmark: config.benchmark, trendPct: trend, change24hPct: change24h,
                          volatilityPct: volatility, reason: reason)
        }
        if let c = change24h, c <= config.crashChange24hPct {
            return reading(.crash, "\(config.benchmark) \(fmt(c))% in 24h <= \(fmt(config.crashChange24hPct))%")
        }
        if let v = volatility, v > config.crashVolatilityPct, trend < 0 {
            return reading(.crash, "\(config.benchmark) volatility \(fmt(v))% > \(fmt(config.crashVolatilityPct))% with a falling trend")
        }
        if trend >= config.bullTrendPct {
            return reading(.bull, "\(config.benchmark) 7d trend \(fmt(trend))% >= \(fmt(config.bullTrendPct))%")
        }
        if trend <= config.bearTrendPct {
            return reading(.bear, "\(config.benchmark) 7d trend \(fmt(trend))% <= \(fmt(config.bearTrendPct))%")
        }
        return reading(.chop, "\(config.benchmark) 7d trend \(fmt(trend))% between \(fmt(config.bearTrendPct))% and \(fmt(config.bullTrendPct))%")
    }
}

/// One symbol's standing in this cycle's universe.
public struct UniverseMember: Codable, Sendable, Equatable {
    public var symbol: String
    public var tier: Tier
    public var eligible: Bool
    /// Why it is excluded (empty when eligible).
    public var exclusions: [String]
    public var spreadBps: Double
    public var depthUsd: Double
    public var volume24hUsd: Double
    /// The regime-adjusted size for proposals on this symbol, % of equity.
    public var maxSizePct: Double
}

public struct UniverseResult: Codable, Sendable, Equatable {
    public var members: [UniverseMember]

    public var eligible: [UniverseMember] { members.filter(\.eligible) }

    /// Eligible symbols per tier, keyed by the tier's name.
    public var breakdown: [String: Int] {
        var counts: [String: Int] = [:]
        for tier in Tier.allCases { counts[tier.rawValue] = 0 }
        for m in eligible { counts[m.tier.rawValue, default: 0] += 1 }
        return counts
    }
}

/// Which symbols may be considered now: tiers, never-trade list, liquidity filters, regime caps.
public enum UniverseBuilder {
    /// Every symbol the universe may ask the market for (tier symbols not on the never-trade list).
    public static func candidateSymbols(_ config: UniverseConfig) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for tier in Tier.allCases {
            for s in config.tiers.config(for: tier).symbols where !config.neverTrade.contains(s) && seen.insert(s).inserted {
                out.append(s)
            }
        }
        return out
    }

    public static func build(_ config: UniverseConfig, regime: Regime, market: MarketSnapshot) -> UniverseResult {
        let rule = config.regimes.rule(for: regime)
        var members: [UniverseMember] = []
        for symbol in candidateSymbols(config) {
            guard let tier = config.tier(of: symbol) else { continue }
            let tierConfig = config.tiers.config(for: tier)
            guard let tape = market.symbol(symbol) else {
                members.append(UniverseMember(symbol: symbol, tier: tier, eligible: false,
                                              exclusions: ["no market data"], spreadBps: 0, depthUsd: 0,
                                              volume24hUsd: 0, maxSizePct: 0))
                continue
            }
            var reasons: [String] = []
            if !rule.tiers.contains(tier) {
                reasons.append("\(tier.rawValue) not eligible in a \(regime.rawValue) regime")
            }
            if tape.volume24hUSD < tierConfig.min24hVolumeUsd {
                reasons.append("24h volume \(usd(tape.volume24hUSD)) < \(usd(tierConfig.min24hVolumeUsd))")
            }
            if tape.spreadBps > tierConfig.maxSpreadBps {
                reasons.append("spread \(fmt(tape.spreadBps)) bps > \(fmt(tierConfig.maxSpreadBps)) bps")
            }
            if tape.depthUSD < tierConfig.minDepthUsd {
                reasons.append("depth \(usd(tape.depthUSD)) within 20 bps < \(usd(tierConfig.minDepthUsd))")
            }
            if tape.candles.count < tape.bars(hours: 48) {
                reasons.append("only \(fmt(Double(tape.candles.count * Int(tape.interval.seconds)) / 3_600)) hours of history (48 needed)")
            }
            members.append(UniverseMember(symbol: symbol, tier: tier, eligible: reasons.isEmpty, exclusions: reasons,
                                          spreadBps: tape.spreadBps, depthUsd: tape.depthUSD,
                                          volume24hUsd: tape.volume24hUSD,
                                          maxSizePct: tierConfig.baseSizePct * rule.sizeMultiplier))
        }
        return UniverseResult(members: members)
    }
}

extension EventType where Payload == RegimeReading {
    public static var regime: Self { Self(.regime) }
}

extension EventType where Payload == UniverseResult {
    public static var universe: Self { Self(.universe) }
}
