import Foundation

/// One HTTP header field. Request headers keep the caller's spelling; response header names are lowercased.
public struct HTTPHeader: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The field name, e.g. `content-type`.
    public var name: String
    /// The field value, without surrounding whitespace.
    public var value: String

    /// Creates a header field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Creates a header field from a name and a value.
    public init(_ name: String, _ value: String) {
        self.init(name: name, value: value)
    }

    /// `name: value`, with the value redacted when the name is sensitive (see ``SensitiveHeaders``).
    public var description: String {
        SensitiveHeaders.isSensitive(name) ? "\(name): \(SensitiveHeaders.placeholder)" : "\(name): \(value)"
    }
}

/// A request for an ``HTTPTransport``.
public struct HTTPRequest: Sendable {
    /// The method: `GET`, `POST`, `DELETE`, `PUT`, `PATCH` or `HEAD`.
    public var method: String
    /// An absolute `http://` or `https://` URL, including any query string.
    public var url: String
    /// Extra request headers, sent in this order. A `User-Agent` here replaces the default.
    public var headers: [HTTPHeader]
    /// The request body, if any. A `POST` without a body sends an empty body.
    public var body: Data?
    /// Limit for the whole transfer in seconds (connect, send, wait and receive).
    public var timeout: Double
    /// Limit for establishing the connection (TCP and TLS) in seconds.
    public var connectTimeout: Double
    /// Asked by ``RetryingHTTPClient`` before each retry; `false` stops retrying. A caller whose every request
    /// counts against a cap (the reviewers' hourly call cap) claims the retry here.
    public var beforeRetry: (@Sendable () async -> Bool)?

    /// Creates a request. Times are in seconds.
    public init(method: String = "GET", url: String, headers: [HTTPHeader] = [], body: Data? = nil,
                timeout: Double = 30, connectTimeout: Double = 5) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// The first value of the header `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// A complete HTTP response. Any status, including 4xx and 5xx, is a response rather than an error.
public struct HTTPResponse: Sendable {
    /// The status code of the final response (never an interim 1xx or a redirect hop).
    public var status: Int
    /// Headers of the final response in the order received, with lowercased names.
    public var headers: [HTTPHeader]
    /// The body after any content decoding (e.g. gzip).
    public var body: Data
    /// Wall-clock duration of the transfer in seconds.
    public var elapsed: Double

    /// Creates a response; mainly for test doubles of ``HTTPTransport``.
    public init(status: Int, headers: [HTTPHeader] = [], body: Data = Data(), elapsed: Double = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
    }

    /// The first value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// Whether the status is in 200...299.
    public var isSuccess: Bool { (200...299).contains(status) }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Transport-level failures. An HTTP status is NOT an error at this layer.
///
/// Every case carries the request URL with sensitive query values redacted
/// (``SensitiveHeaders/redactedURL(_:)``); no case ever carries header values.
public enum HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The transfer did not complete within `seconds` after the request may have been sent.
    /// Whether the server acted on it is unknown.
    case timeout(url: String, seconds: Double)
    /// No connection was established (refused, DNS failure, TLS handshake failure, connect timeout):
    /// the request was not sent.
    case connectionFailed(url: String, message: String)
    /// Any other libcurl failure, with its `CURLcode`. Cancellation of the awaiting task is reported as
    /// code ``HTTPError/cancelledCode`` (see ``isCancellation``).
    case transport(url: String, code: Int, message: String)
    /// The request could not be built (bad URL, method or header); nothing was sent.
    case invalidRequest(url: String, message: String)
    /// Retries exhausted: the last status seen (if any attempt got a response) and the last attempt's
    /// error (if it failed at the transport level).
    case retriesExhausted(url: String, attempts: Int, lastStatus: Int?, lastError: String?)

    /// The `code` of ``transport(url:code:message:)`` when the awaiting task was cancelled
    /// (libcurl's `CURLE_ABORTED_BY_CALLBACK`).
    public static let cancelledCode = 42

    /// The error reported when the awaiting task is cancelled.
    public static func cancellation(url: String) -> HTTPError {
        .transport(url: url, code: cancelledCode, message: "request cancelled")
    }

    /// Whether this error reports cancellation of the awaiting task.
    public var isCancellation: Bool {
        if case .transport(_, let code, _) = self { return code == Self.cancelledCode }
        return false
    }

    /// The (redacted) URL of the failed request.
    public var url: String {
        switch self {
        case .timeout(let url, _), .connectionFailed(let url, _), .transport(let url, _, _),
             .invalidRequest(let url, _), .retriesExhausted(let url, _, _, _):
            return url
        }
    }

    /// A one-line explanation naming the URL.
    public var description: String {
        switch self {
        case .timeout(let url, let seconds):
            return "HTTP request to \(url) timed out after \(Self.format(seconds)) s"
        case .connectionFailed(let url, let message):
            return "HTTP connection for \(url) failed: \(message)"
        case .transport(let url, let code, let message):
            return "HTTP transfer for \(url) failed (curl \(code)): \(message)"
        case .invalidRequest(let url, let message):
            return "invalid HTTP request for \(url): \(message)"
        case .retriesExhausted(let url, let attempts, let lastStatus, let lastError):
            var text = "HTTP request to \(url) gave up after \(attempts) attempt\(attempts == 1 ? "" : "s")"
            if let lastStatus { text += "; last status \(lastStatus)" }
            if let lastError { text += "; last error: \(lastError)" }
            return text
        }
    }

    static func format(_ seconds: Double) -> String {
        let rounded = (seconds * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}

/// Anything that can perform an HTTP request: ``CurlHTTPClient``, ``RetryingHTTPClient`` or a test double.
public protocol HTTPTransport: Sendable {
    /// Performs `request` and returns the response, whatever its status.
    /// Throws only for transport-level failures.
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse
}
