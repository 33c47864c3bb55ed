import Foundation
import Model

/// `venue_backoff`: until when a venue must not be called (a 418 ban) or calls must wait (a 429's Retry-After, a
/// request budget nearly spent). Kept outside the process, so a restart during a ban or a back-off window honours
/// it instead of calling straight into it (and turning a 429 into a 418).
public struct VenueBackoff: Codable, Sendable, Equatable {
    /// Why the venue is held back.
    public enum Cause: String, Codable, Sendable {
        /// 418: the IP is banned; no call at all until `bannedUntil`.
        case banned
        /// 429: Retry-After (or our backoff) until `pausedUntil`.
        case rateLimited = "rate_limited"
        /// The venue's usage headers said a budget is nearly spent: wait for the next window.
        case slowdown
    }

    /// `binance` or `coinbase`.
    public var venue: String
    public var cause: Cause
    /// Unix seconds; no call before this (0 = not banned).
    public var bannedUntil: Double
    /// Unix seconds; calls wait until this (0 = no pause).
    public var pausedUntil: Double
    /// Binance `X-MBX-USED-WEIGHT-1M` when the hold began.
    public var usedWeight1m: Int?

    /// Whether anything is still held back at `now`.
    public func holds(at now: Double) -> Bool { bannedUntil > now || pausedUntil > now }
}

/// Where a connector's back-off is kept between processes: the hold found at start (restored before the first
/// call) and a sink for every new one. The agent keeps them in the ledger.
public struct VenueBackoffKeeper: Sendable {
    public var restored: VenueBackoff?
    /// Called inside the throttle whenever a ban or a pause is extended; must not call the venue.
    public var record: @Sendable (VenueBackoff) -> Void

    public init(restored: VenueBackoff?, record: @escaping @Sendable (VenueBackoff) -> Void) {
        self.restored = restored
        self.record = record
    }
}

extension EventType where Payload == VenueBackoff {
    public static var venueBackoff: Self { Self(.venueBackoff) }
}
