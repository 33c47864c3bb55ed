import Foundation
import Venues

extension TradingVenue {
    /// Prepares `request` by the symbol's rules and places it, as LIVE's order sender does.
    func place(_ request: OrderRequest) async throws(VenueError) -> VenueOrder {
        try await placeOrder(prepare(request))
    }
}
