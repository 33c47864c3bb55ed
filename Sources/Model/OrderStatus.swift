/// The life-cycle state of an order, mapped from each venue's vocabulary.
public enum OrderStatus: String, Codable, Sendable {
    case open = "OPEN"
    case partiallyFilled = "PARTIALLY_FILLED"
    case filled = "FILLED"
    case cancelled = "CANCELLED"
    case rejected = "REJECTED"
    case expired = "EXPIRED"
    /// Conditional order waiting for its trigger.
    case pending = "PENDING"
    /// The outcome could not be established (no readable answer, lookup failed): never resent, looked up again.
    case unknown = "UNKNOWN"
    /// Looked up by client id (after a crash or a lost answer): the venue never received it.
    case notFound = "NOT_FOUND"
    /// Refused before it was sent (the symbol's rules) or by the venue: nothing happened.
    case failed = "FAILED"

    /// Whether the order can still fill.
    public var isLive: Bool { self == .open || self == .partiallyFilled || self == .pending }
}
