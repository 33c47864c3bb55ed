import Foundation
import Ledger
import Model
import Venues

/// Keeps a connector's bans and Retry-After windows in the ledger (`venue_backoff`), so a process started during
/// one waits it out instead of calling straight into it.
package enum VenueBackoffLedger {
    /// How many recent `venue_backoff` events are searched for this venue's last hold.
    static let lookBack = 50

    /// The keeper for `venue`: the last hold the ledger has for it (if still in force), and a sink that records
    /// each new one. Nil without a ledger.
    package static func keeper(venue: Exchange, ledger: Ledger?, now: Double = Date().timeIntervalSince1970) -> VenueBackoffKeeper? {
        guard let ledger else { return nil }
        return VenueBackoffKeeper(restored: lastHold(venue: venue.rawValue, ledger: ledger, now: now)) { hold in
            // Best effort: the hold still applies in this process if the write fails, and the ledger's own failure
            // surfaces at the cycle's next write.
            _ = try? ledger.append(NewEvent.json("venue-\(hold.venue)", .venueBackoff, UTC.now(), hold))
        }
    }

    /// The newest hold recorded for `venue` that is still in force at `now`.
    static func lastHold(venue: String, ledger: Ledger, now: Double) -> VenueBackoff? {
        let recent = (try? ledger.events(kinds: [.venueBackoff], limit: lookBack, newestFirst: true)) ?? []
        let hold = recent.lazy.compactMap { try? JSONCoding.decoder().decode(VenueBackoff.self, from: $0.payload) }
            .first { $0.venue == venue }
        guard let hold, hold.holds(at: now) else { return nil }
        return hold
    }
}
