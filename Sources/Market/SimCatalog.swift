import Foundation

/// Liquidity tier of a simulated symbol, mirroring the universe tiers.
public enum SimTier: String, Sendable, CaseIterable {
    /// Deep, tight majors (BTC, ETH, SOL).
    case core
    /// Mid-cap alts that rotate in and out of favour.
    case rotational
    /// Thin, jumpy memecoins that trade on events.
    case eventDriven = "event_driven"
}

/// The static character of one simulated symbol. Hour-by-hour values vary around these.
public struct SimSymbolProfile: Sendable, Equatable {
    /// Product id, e.g. `BTC-USD`.
    public var symbol: String
    /// Liquidity tier.
    public var tier: SimTier
    /// Price level the long-run path wanders around (USD).
    public var basePrice: Double
    /// Annualised volatility of log returns (0.6 = 60%).
    public var annualVolatility: Double
    /// Typical 24h traded volume in USD.
    public var dailyVolumeUSD: Double
    /// Quoted spread in calm hours, in basis points; wider in volatile hours.
    public var spreadBps: Double
    /// Typical USD resting within 20 bps of the mid, per side; thinner in volatile hours.
    public var depthUSD: Double
    /// Whether a perpetual contract exists (the snapshot then carries a funding rate).
    public var perpetual: Bool
    /// Sensitivity to the shared market factor (BTC = 1).
    public var beta: Double

    /// Creates a profile.
    public init(symbol: String, tier: SimTier, basePrice: Double, annualVolatility: Double,
                dailyVolumeUSD: Double, spreadBps: Double, depthUSD: Double, perpetual: Bool, beta: Double) {
        self.symbol = symbol
        self.tier = tier
        self.basePrice = basePrice
        self.annualVolatility = annualVolatility
        self.dailyVolumeUSD = dailyVolumeUSD
        self.spreadBps = spreadBps
        self.depthUSD = depthUSD
        self.perpetual = perpetual
        self.beta = beta
    }
}

extension SimMarket {
    /// The 15 default symbols: 3 core, 9 rotational, 3 event-driven.
    ///
    /// BONK's calm spread sits above 60 bps (an illiquidity veto should fire), PEPE's stays tradable.
    public static let defaultCatalog: [SimSymbolProfile] = [
        // core
        .init(symbol: "BTC-USD", tier: .core, basePrice: 65_000, annualVolatility: 0.60,
              dailyVolumeUSD: 25e9, spreadBps: 1.2, depthUSD: 8e6, perpetual: true, beta: 1.0),
        .init(symbol: "ETH-USD", tier: .core, basePrice: 3_200, annualVolatility: 0.70,
              dailyVolumeUSD: 12e9, spreadBps: 1.6, depthUSD: 5e6, perpetual: true, beta: 1.1),
        .init(symbol: "SOL-USD", tier: .core, basePrice: 150, annualVolatility: 0.95,
              dailyVolumeUSD: 3e9, spreadBps: 2.4, depthUSD: 2e6, perpetual: true, beta: 1.3),
        // rotational
        .init(symbol: "AVAX-USD", tier: .rotational, basePrice: 30, annualVolatility: 1.00,
              dailyVolumeUSD: 350e6, spreadBps: 8, depthUSD: 300e3, perpetual: false, beta: 1.35),
        .init(symbol: "LINK-USD", tier: .rotational, basePrice: 15, annualVolatility: 0.95,
              dailyVolumeUSD: 400e6, spreadBps: 7, depthUSD: 400e3, perpetual: false, beta: 1.25),
        .init(symbol: "DOT-USD", tier: .rotational, basePrice: 6.5, annualVolatility: 0.90,
              dailyVolumeUSD: 200e6, spreadBps: 10, depthUSD: 200e3, perpetual: false, beta: 1.2),
        .init(symbol: "ADA-USD", tier: .rotational, basePrice: 0.45, annualVolatility: 0.90,
              dailyVolumeUSD: 400e6, spreadBps: 6, depthUSD: 350e3, perpetual: false, beta: 1.2),
        .init(symbol: "XRP-USD", tier: .rotational, basePrice: 0.55, annualVolatility: 0.90,
              dailyVolumeUSD: 1.5e9, spreadBps: 4.5, depthUSD: 800e3, perpetual: true, beta: 1.0),
        .init(symbol: "DOGE-USD", tier: .rotational, basePrice: 0.12, annualVolatility: 1.10,
              dailyVolumeUSD: 1.2e9, spreadBps: 5, depthUSD: 700e3, perpetual: true, beta: 1.3),
        .init(symbol: "LTC-USD", tier: .rotational, basePrice: 75, annualVolatility: 0.80,
              dailyVolumeUSD: 400e6, spreadBps: 6, depthUSD: 300e3, perpetual: false, beta: 1.0),
        .init(symbol: "ATOM-USD", tier: .rotational, basePrice: 8, annualVolatility: 0.95,
              dailyVolumeUSD: 150e6, spreadBps: 14, depthUSD: 150e3, perpetual: false, beta: 1.2),
        .init(symbol: "NEAR-USD", tier: .rotational, basePrice: 5, annualVolatility: 1.05,
              dailyVolumeUSD: 250e6, spreadBps: 12, depthUSD: 180e3, perpetual: false, beta: 1.35),
        // event-driven
        .init(symbol: "PEPE-USD", tier: .eventDriven, basePrice: 0.000009, annualVolatility: 1.60,
              dailyVolumeUSD: 600e6, spreadBps: 30, depthUSD: 80e3, perpetual: true, beta: 1.7),
        .init(symbol: "WIF-USD", tier: .eventDriven, basePrice: 2.2, annualVolatility: 1.80,
              dailyVolumeUSD: 300e6, spreadBps: 42, depthUSD: 50e3, perpetual: true, beta: 1.9),
        .init(symbol: "BONK-USD", tier: .eventDriven, basePrice: 0.00002, annualVolatility: 1.70,
              dailyVolumeUSD: 150e6, spreadBps: 78, depthUSD: 25e3, perpetual: false, beta: 1.8),
    ]

    /// A catalog of `count` symbols (the default ones first, then synthetic `SYM<n>-USD` ones) for benchmarks.
    ///
    /// Synthetic profiles are a pure function of `n`: mostly rotational, some event-driven, with
    /// tier-typical liquidity. `count <= 15` returns a prefix of the default catalog.
    public static func catalog(count: Int) -> [SimSymbolProfile] {
        let n = max(0, count)
        if n <= defaultCatalog.count { return Array(defaultCatalog.prefix(n)) }
        var out = defaultCatalog
        out.reserveCapacity(n)
        for i in 1...(n - defaultCatalog.count) {
            let key = UInt64(i)
            let u = { (k: Int64) in SimHash.uniform(key, SimStream.catalog, k) }
            let event = u(0) < 0.2
            let tier: SimTier = event ? .eventDriven : .rotational
            // log-uniform price between $0.00001 and $500
            let price = exp(log(0.00001) + u(1) * (log(500.0) - log(0.00001)))
            let vol = event ? 1.4 + 0.6 * u(2) : 0.8 + 0.4 * u(2)
            let beta = event ? 1.5 + 0.5 * u(3) : 1.0 + 0.4 * u(3)
            let spread = event ? 25 + 85 * u(4) : 4 + 20 * u(4)
            let depth = event ? 10e3 + 90e3 * u(5) : 100e3 + 900e3 * u(5)
            let volume = event ? 30e6 + 500e6 * u(6) : 50e6 + 950e6 * u(6)
            out.append(SimSymbolProfile(symbol: "SYM\(i)-USD", tier: tier, basePrice: price,
                                        annualVolatility: vol, dailyVolumeUSD: volume, spreadBps: spread,
                                        depthUSD: depth, perpetual: u(7) < 0.3, beta: beta))
        }
        return out
    }
}
