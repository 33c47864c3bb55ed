import Foundation
import HTTP

/// Every failure of a venue call, saying where (venue, operation), why, and what the caller may do next.
public struct VenueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What the caller may do after this error.
    public enum Disposition: String, Sendable, Equatable, Codable {
        /// Nothing happened at the venue; trying again later is safe (rate limits, outages, resync).
        case retryable
        /// The venue (or our rule check before sending) refused the request; retrying unchanged fails again.
        case rejected
        /// The request may or may not have taken effect: look the order up by client id, never resend blindly.
        case unknownOutcome
    }

    /// A finer reason, for logs and for callers that care (e.g. stop calling while `banned`).
    public enum Reason: String, Sendable, Equatable, Codable {
        case rateLimited = "rate_limited"
        case banned
        case timestampOutOfWindow = "timestamp_out_of_window"
        case authentication
        case unknownOrder = "unknown_order"
        /// The venue does not list the symbol (a typo, a delisting, or spot/futures mixed up).
        case unknownProduct = "unknown_product"
        case insufficientFunds = "insufficient_funds"
        case ruleViolation = "rule_violation"
        case invalidRequest = "invalid_request"
        case serverError = "server_error"
        case transport
        case badResponse = "bad_response"
        case missingCredentials = "missing_credentials"
        case other
    }

    /// `binance` or `coinbase`.
    public var venue: String
    /// The call, e.g. `POST /fapi/v1/order` or `rules`.
    public var operation: String
    public var disposition: Disposition
    public var reason: Reason
    /// The HTTP status, when a response arrived.
    public var status: Int?
    /// The venue's error code (Binance `-2019`, Coinbase `INSUFFICIENT_FUND`), when given.
    public var code: String?
    /// Human-readable cause (never contains credentials).
    public var message: String
    /// Seconds to wait before calling again, when the venue said so (Retry-After, ban end).
    public var retryAfter: Double?

    public init(venue: String, operation: String, disposition: Disposition, reason: Reason, status: Int? = nil,
                code: String? = nil, message: String, retryAfter: Double? = nil) {
        self.venue = venue
        self.operation = operation
        self.disposition = disposition
        self.reason = reason
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Whether calling again later is safe.
    public var isRetryable: Bool { disposition == .retryable }
    /// Whether the venue refused the request.
    public var isRejection: Bool { disposition == .rejected }
    /// Whether the order's fate is unknown.
    public var isUnknownOutcome: Bool { disposition == .unknownOutcome }

    public var description: String {
        var text = "\(venue) \(operation): \(disposition.rawValue) (\(reason.rawValue))"
        if let status { text += ", HTTP \(status)" }
        if let code { text += ", code \(code)" }
        text += ": \(message)"
        if let retryAfter { text += " (retry after \(HTTPErrorFormat.seconds(retryAfter)) s)" }
        return text
    }

    /// A local rule violation: nothing was sent.
    static func rule(_ venue: String, _ symbol: String, _ message: String) -> VenueError {
        VenueError(venue: venue, operation: "order \(symbol)", disposition: .rejected, reason: .ruleViolation,
                   message: message)
    }

    /// A response that could not be understood.
    static func badResponse(_ venue: String, _ operation: String, _ message: String, status: Int? = nil) -> VenueError {
        VenueError(venue: venue, operation: operation, disposition: .retryable, reason: .badResponse, status: status,
                   message: message)
    }
}

enum HTTPErrorFormat {
    static func seconds(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }
}
