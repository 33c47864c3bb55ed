/// Buy or sell.
public enum OrderSide: String, Codable, Sendable, CaseIterable {
    case buy = "BUY"
    case sell = "SELL"

    /// +1 for buy/long, -1 for sell/short.
    public var sign: Int { self == .buy ? 1 : -1 }
    /// The other side.
    public var opposite: OrderSide { self == .buy ? .sell : .buy }
}
