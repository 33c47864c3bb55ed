import Foundation

extension Coinbase {
    /// Measures the venue's clock from the public `GET /time` (`{"iso", "epochSeconds", "epochMillis"}`) and keeps
    /// its offset from ours, so JWT `nbf`/`exp` are in the venue's time even when the local clock is off.
    public func syncTime() async throws(VenueError) {
        struct Time: Decodable { var epochMillis: Num?; var epochSeconds: Num?; var iso: String? }
        let before = clock.now()
        let data = try await call("GET", "/time")
        let after = clock.now()
        let time = try VenueJSON.decode(Time.self, from: data, venue: name, operation: "GET /time")
        let server: Double
        if let ms = time.epochMillis?.double, ms > 0 {
            server = ms / 1000
        } else if let s = time.epochSeconds?.double, s > 0 {
            server = s
        } else if let iso = time.iso, let parsed = Self.parseTime(iso) {
            server = Double(parsed)
        } else {
            throw .badResponse(name, "GET /time", "the venue's time answer has no epochMillis, epochSeconds or iso")
        }
        timeOffsetSeconds = server - (before + after) / 2
    }

    /// The venue's clock minus ours, in seconds (nil before the first signed call).
    public func clockOffset() -> Double? { timeOffsetSeconds }
}
