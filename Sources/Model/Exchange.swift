/// Where the agent reads its market and, in LIVE, trades. The raw value is the name used in YAML, on the command
/// line (`--exchange`) and in JSON (`"exchange": "sim"`).
public enum Exchange: String, Codable, Sendable, CaseIterable {
    /// The embedded synthetic market (or CSV replay): no venue, nothing to trade LIVE.
    case sim
    /// Coinbase Advanced Trade (spot).
    case coinbase
    /// Binance USD-M perpetual futures.
    case binance

    /// Whether it is a real venue with trading endpoints (LIVE and `reconcile` need one).
    public var trades: Bool { self != .sim }
    /// Spot only: every position is held at 1x, whatever leverage a proposal asked for (Coinbase).
    public var spotOnly: Bool { self == .coinbase }
}
