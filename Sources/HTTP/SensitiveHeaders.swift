import Foundation

/// Header names (and URL query parameters) whose values must never be logged or recorded.
public enum SensitiveHeaders {
    /// What replaces a sensitive value.
    public static let placeholder = "<redacted>"

    /// Lowercased header names that always carry credentials.
    public static let names: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie",
        "x-api-key", "api-key", "x-goog-api-key", "x-mbx-apikey",
        "cb-access-key", "cb-access-sign", "cb-access-passphrase", "cb-access-timestamp",
        "openai-organization", "openai-project", "x-auth-token", "x-access-token",
    ]

    /// Fragments that mark a header name or query parameter as sensitive wherever they appear.
    static let fragments = ["token", "secret", "password", "passphrase", "apikey", "api-key", "api_key",
                            "signature", "credential", "session"]

    /// Lowercased query parameter names whose values are redacted by ``redactedURL(_:)``.
    public static let queryNames: Set<String> = ["key", "auth", "sig", "signature", "token"]

    /// Whether values of the header `name` must be redacted (case-insensitive).
    public static func isSensitive(_ name: String) -> Bool {
        let lower = name.lowercased()
        return names.contains(lower) || fragments.contains { lower.contains($0) }
    }

    /// The headers in the same order with each sensitive value replaced by ``placeholder``.
    public static func redacted(_ headers: [HTTPHeader]) -> [HTTPHeader] {
        headers.map { isSensitive($0.name) ? HTTPHeader(name: $0.name, value: placeholder) : $0 }
    }

    /// `url` with the values of credential-like query parameters (`key`, `api_key`, `signature`, `token`,
    /// ...) replaced by ``placeholder``. Everything else is kept verbatim.
    public static func redactedURL(_ url: String) -> String {
        guard let queryStart = url.firstIndex(of: "?") else { return url }
        let fragmentStart = url[queryStart...].firstIndex(of: "#") ?? url.endIndex
        let query = url[url.index(after: queryStart)..<fragmentStart]
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            guard let eq = part.firstIndex(of: "=") else { return String(part) }
            let name = part[..<eq]
            let lower = (name.removingPercentEncoding ?? String(name)).lowercased()
            if queryNames.contains(lower) || isSensitive(lower) {
                return "\(name)=\(placeholder)"
            }
            return String(part)
        }
        return String(url[...queryStart]) + parts.joined(separator: "&") + String(url[fragmentStart...])
    }
}
