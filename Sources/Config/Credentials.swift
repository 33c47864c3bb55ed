import Foundation
import Model

/// The environment variables the venue connectors read their trading keys from. Invariant 11: a reviewer is
/// never handed one, so an `api_key_env` naming one (or anything under a venue's prefix) is refused.
public enum VenueCredentials {
    /// The variables each venue reads (LIVE needs all of its exchange's).
    public static func names(exchange: Exchange) -> [String] {
        switch exchange {
        case .coinbase: ["COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY"]
        case .binance: ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
        case .sim: []
        }
    }

    /// Every venue's variables.
    public static let all = Exchange.allCases.flatMap { names(exchange: $0) }

    /// Names under these prefixes belong to a venue, whether or not a connector reads them today.
    public static let prefixes = ["BINANCE_", "COINBASE_"]

    /// Whether `name` is (or looks like) a venue credential; case-insensitive.
    public static func isVenueCredential(_ name: String) -> Bool {
        let upper = name.uppercased()
        return all.contains(upper) || prefixes.contains { upper.hasPrefix($0) }
    }
}

/// Where a base URL points, for deciding whether a key may be sent there and whether a model is free.
public enum Endpoint {
    /// The host of an absolute URL, lowercased, without brackets (nil when unparsable).
    public static func host(_ url: String) -> String? {
        guard let host = URL(string: url)?.host, !host.isEmpty else { return nil }
        return host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    }

    /// A loopback host: `localhost`, 127.0.0.0/8 or ::1. Nothing sent there leaves the machine.
    public static func isLoopback(_ url: String) -> Bool {
        guard let host = host(url) else { return false }
        if host == "localhost" || host == "::1" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public static func isHTTPS(_ url: String) -> Bool { url.lowercased().hasPrefix("https://") }

    /// Whether a key may be sent to `url`: only over https, or to a loopback host.
    public static func mayCarryKey(_ url: String) -> Bool { isHTTPS(url) || isLoopback(url) }
}
