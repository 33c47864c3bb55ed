/// The tape facts reviewers and the policy compare against (no candles: reviewers can't see the market).
public struct TapeFacts: Codable, Sendable, Equatable {
    public var symbol: String
    public var price: Double
    public var spreadBps: Double
    public var depthUsd: Double
    public var change24hPct: Double
    public var volume24hUsd: Double
    /// The last bar's volume over the average bar of the 24h before it.
    public var volumeRatio: Double
    public var fundingRate: Double?

    public init(symbol: String, price: Double, spreadBps: Double, depthUsd: Double, change24hPct: Double,
                volume24hUsd: Double, volumeRatio: Double, fundingRate: Double?) {
        self.symbol = symbol
        self.price = price
        self.spreadBps = spreadBps
        self.depthUsd = depthUsd
        self.change24hPct = change24hPct
        self.volume24hUsd = volume24hUsd
        self.volumeRatio = volumeRatio
        self.fundingRate = fundingRate
    }

    public init(_ tape: SymbolSnapshot) {
        let candles = tape.candles
        let prior = candles.dropLast().suffix(tape.bars(hours: 24))
        let average = prior.isEmpty ? 0 : prior.reduce(0) { $0 + $1.volume } / Double(prior.count)
        self.init(symbol: tape.symbol, price: tape.last, spreadBps: tape.spreadBps, depthUsd: tape.depthUSD,
                  change24hPct: tape.changePct(hours: 24) ?? 0, volume24hUsd: tape.volume24hUSD,
                  volumeRatio: average > 0 ? (candles.last?.volume ?? 0) / average : 0,
                  fundingRate: tape.fundingRate)
    }
}

/// An open position as the state projection sees it.
public struct OpenPosition: Codable, Sendable, Equatable {
    public var symbol: String
    public var tier: Tier
    public var side: Side
    /// Exposure as % of equity at entry.
    public var sizePct: Double
    public var openedAt: Int64

    public init(symbol: String, tier: Tier, side: Side, sizePct: Double, openedAt: Int64) {
        self.symbol = symbol
        self.tier = tier
        self.side = side
        self.sizePct = sizePct
        self.openedAt = openedAt
    }
}

/// A trade (an order intent in DRY_RUN, a fill in PAPER/LIVE) as far as frequency limits are concerned.
public struct TradeRecord: Codable, Sendable, Equatable {
    public var time: Int64
    public var symbol: String
    public var side: Side
    public init(time: Int64, symbol: String, side: Side) {
        self.time = time
        self.symbol = symbol
        self.side = side
    }
}

/// Portfolio state: a projection rebuilt from ledger events, never stored on its own.
public struct PortfolioState: Codable, Sendable, Equatable {
    public var equityUsd: Double
    public var peakEquityUsd: Double
    /// Equity at the start of the current UTC day and ISO week.
    public var dayStartEquityUsd: Double
    public var weekStartEquityUsd: Double
    public var openPositions: [OpenPosition]
    /// Trades of the last 7 days, oldest first.
    public var recentTrades: [TradeRecord]
    public var consecutiveLosses: Int
    public var lastLossTime: Int64?
    /// Exit times of losing trades within the trade window, oldest first.
    public var lossTimes: [Int64] = []

    public init(equityUsd: Double, peakEquityUsd: Double? = nil, dayStartEquityUsd: Double? = nil,
                weekStartEquityUsd: Double? = nil, openPositions: [OpenPosition] = [], recentTrades: [TradeRecord] = [],
                consecutiveLosses: Int = 0, lastLossTime: Int64? = nil) {
        self.equityUsd = equityUsd
        self.peakEquityUsd = peakEquityUsd ?? equityUsd
        self.dayStartEquityUsd = dayStartEquityUsd ?? equityUsd
        self.weekStartEquityUsd = weekStartEquityUsd ?? equityUsd
        self.openPositions = openPositions
        self.recentTrades = recentTrades
        self.consecutiveLosses = consecutiveLosses
        self.lastLossTime = lastLossTime
    }

    public static func flat(equityUsd: Double) -> PortfolioState { PortfolioState(equityUsd: equityUsd) }

    public var dailyPnlPct: Double { pct(equityUsd, from: dayStartEquityUsd) }
    public var weeklyPnlPct: Double { pct(equityUsd, from: weekStartEquityUsd) }
    public var drawdownPct: Double { -min(pct(equityUsd, from: peakEquityUsd), 0) }

    private func pct(_ now: Double, from then: Double) -> Double {
        then > 0 ? (now - then) / then * 100 : 0
    }
}

/// The one formula for a proposal's final conviction, computed by code from the applied reviews.
public enum Conviction {
    /// `base` plus every review's delta, each clamped again to `bound` (defence in depth), the total clamped to 0...1.
    public static func combine(base: Double, reviews: [AppliedReview], bound: Double) -> Double {
        let b = abs(bound.isFinite ? bound : 0)
        var total = base.isFinite ? base : 0
        for review in reviews where review.delta.isFinite {
            total += min(max(review.delta, -b), b)
        }
        return min(max(total, 0), 1)
    }
}
