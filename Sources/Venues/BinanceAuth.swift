import Crypto
import Foundation

/// Binance API credentials. Read from the environment only; never printed (its description is redacted).
public struct BinanceCredentials: Sendable, CustomStringConvertible {
    public let apiKey: String
    let secret: String

    public init(apiKey: String, secret: String) {
        self.apiKey = apiKey
        self.secret = secret
    }

    /// `BINANCE_API_KEY` and `BINANCE_API_SECRET`, or nil when either is missing or empty.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> BinanceCredentials? {
        guard let key = environment["BINANCE_API_KEY"], !key.isEmpty,
              let secret = environment["BINANCE_API_SECRET"], !secret.isEmpty else { return nil }
        return BinanceCredentials(apiKey: key, secret: secret)
    }

    public var description: String { "BinanceCredentials(<redacted>)" }
}

/// Binance request signing: lowercase hex HMAC-SHA256 of the exact query string + body sent.
public enum BinanceSigning {
    /// The signature of `payload` (query string, then body, exactly as sent) with `secret`.
    public static func signature(secret: String, payload: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `id` is a valid `newClientOrderId` / `clientAlgoId` (`^[.A-Z:/a-z0-9_-]{1,36}$`).
    public static func isValidClientOrderId(_ id: String) -> Bool {
        guard (1...36).contains(id.count) else { return false }
        return id.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || ".:/_-".unicodeScalars.contains(c)
        }
    }
}
