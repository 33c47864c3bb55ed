import Crypto
import Foundation

/// A Coinbase CDP API key: its name and an EC P-256 (SEC1 or PKCS#8 PEM) or Ed25519 private key.
/// Never printed (its description is redacted).
public struct CoinbaseCredentials: Sendable, CustomStringConvertible {
    enum Key: Sendable {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    /// `organizations/{org}/apiKeys/{id}`.
    public let keyName: String
    let key: Key

    /// Parses `privateKey`: a PEM EC key (literal `\n` sequences, as environment variables often carry, are
    /// accepted) or base64 of an Ed25519 key (32-byte seed, or 64 bytes seed + public key).
    public init(keyName: String, privateKey: String) throws(VenueError) {
        self.keyName = keyName
        let text = privateKey.replacingOccurrences(of: "\\n", with: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        if text.contains("-----BEGIN") {
            do {
                key = .p256(try P256.Signing.PrivateKey(pemRepresentation: text))
            } catch {
                throw Self.invalid("COINBASE_API_PRIVATE_KEY is a PEM but not an EC P-256 private key")
            }
            return
        }
        guard let raw = Data(base64Encoded: text), raw.count == 32 || raw.count == 64,
              let ed = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.prefix(32)) else {
            throw Self.invalid("COINBASE_API_PRIVATE_KEY is neither an EC PEM nor a base64 Ed25519 key")
        }
        key = .ed25519(ed)
    }

    /// Wraps an already parsed P-256 key (tests).
    public init(keyName: String, p256: P256.Signing.PrivateKey) {
        self.keyName = keyName
        self.key = .p256(p256)
    }

    /// Wraps an already parsed Ed25519 key (tests).
    public init(keyName: String, ed25519: Curve25519.Signing.PrivateKey) {
        self.keyName = keyName
        self.key = .ed25519(ed25519)
    }

    /// `COINBASE_API_KEY_NAME` and `COINBASE_API_PRIVATE_KEY`; nil when either is missing or empty.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(VenueError) -> CoinbaseCredentials? {
        guard let name = environment["COINBASE_API_KEY_NAME"], !name.isEmpty,
              let key = environment["COINBASE_API_PRIVATE_KEY"], !key.isEmpty else { return nil }
        return try CoinbaseCredentials(keyName: name, privateKey: key)
    }

    /// `ES256` or `EdDSA`.
    public var algorithm: String {
        switch key {
        case .p256: "ES256"
        case .ed25519: "EdDSA"
        }
    }

    public var description: String { "CoinbaseCredentials(\(algorithm), <redacted>)" }

    private static func invalid(_ message: String) -> VenueError {
        VenueError(venue: "coinbase", operation: "credentials", disposition: .rejected, reason: .missingCredentials,
                   message: message)
    }
}

/// Builds the per-request JWT Coinbase Advanced Trade expects.
public enum CoinbaseJWT {
    struct Header: Encodable { var alg: String; var kid: String; var nonce: String; var typ: String }
    /// `uri` is left out of WebSocket tokens.
    struct Claims: Encodable { var sub: String; var iss: String; var nbf: Int64; var exp: Int64; var uri: String? }

    /// The `uri` claim: `"<METHOD> <host[:port]><path>"`, no scheme and no query string.
    public static func uri(method: String, url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        return "\(method.uppercased()) \(rest)"
    }

    /// A signed token for one request, valid for 120 s from `now`, with a fresh random nonce.
    public static func token(credentials: CoinbaseCredentials, method: String, url: String, now: Int64) throws(VenueError) -> String {
        try signed(credentials: credentials, uri: uri(method: method, url: url), now: now)
    }

    /// A token for a WebSocket subscribe message (the `user` channel): the same claims without `uri`.
    public static func websocketToken(credentials: CoinbaseCredentials, now: Int64) throws(VenueError) -> String {
        try signed(credentials: credentials, uri: nil, now: now)
    }

    private static func signed(credentials: CoinbaseCredentials, uri: String?, now: Int64) throws(VenueError) -> String {
        var nonceBytes = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in nonceBytes.indices { nonceBytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let header = Header(alg: credentials.algorithm, kid: credentials.keyName,
                            nonce: nonceBytes.map { String(format: "%02x", $0) }.joined(), typ: "JWT")
        let claims = Claims(sub: credentials.keyName, iss: "cdp", nbf: now, exp: now + 120, uri: uri)
        let signingInput = base64url(VenueJSON.encode(header)) + "." + base64url(VenueJSON.encode(claims))
        let signature: Data
        do {
            switch credentials.key {
            case .p256(let key):
                signature = try key.signature(for: Data(signingInput.utf8)).rawRepresentation
            case .ed25519(let key):
                signature = try key.signature(for: Data(signingInput.utf8))
            }
        } catch {
            throw VenueError(venue: "coinbase", operation: "sign", disposition: .rejected, reason: .authentication,
                             message: "could not sign the request JWT: \(error)")
        }
        return signingInput + "." + base64url(signature)
    }

    /// Base64url without padding.
    public static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes base64url with or without padding.
    public static func base64urlDecode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
