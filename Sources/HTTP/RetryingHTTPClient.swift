import Foundation

/// When and how long ``RetryingHTTPClient`` waits before trying again.
public struct RetryPolicy: Sendable, Equatable {
    /// Total attempts including the first. Values below 1 count as 1.
    public var maxAttempts: Int
    /// Ceiling of the first backoff in seconds; the ceiling doubles per retry ("full jitter": the
    /// actual delay is uniform in `0...ceiling`).
    public var baseDelay: Double
    /// Upper bound of every delay in seconds, including one taken from `Retry-After`.
    public var maxDelay: Double
    /// Response statuses that are retried. Every other status is returned at once.
    public var retryStatuses: Set<Int>
    /// Whether timeouts and other failures after the request may have reached the server
    /// (``HTTPError/timeout(url:seconds:)``, ``HTTPError/transport(url:code:message:)``) are retried.
    /// Turn off for non-idempotent requests such as order placement. Connection failures, where
    /// the request was never sent, are always retried.
    public var retryOnTimeout: Bool
    /// Whether a `Retry-After` header (seconds or HTTP date, capped at `maxDelay`) replaces the computed delay.
    public var honourRetryAfter: Bool

    /// Creates a policy; every argument defaults to the value in ``default``.
    public init(maxAttempts: Int = 3, baseDelay: Double = 0.5, maxDelay: Double = 8,
                retryStatuses: Set<Int> = [429, 500, 502, 503, 504, 529],
                retryOnTimeout: Bool = true, honourRetryAfter: Bool = true) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.retryStatuses = retryStatuses
        self.retryOnTimeout = retryOnTimeout
        self.honourRetryAfter = honourRetryAfter
    }

    /// 3 attempts, 0.5 s base, 8 s cap, statuses 429/500/502/503/504/529, timeouts retried, `Retry-After` honoured.
    public static let `default` = RetryPolicy()

    /// A single attempt: ``RetryingHTTPClient`` passes the base transport's result through unchanged.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The largest delay before retry number `retry` (1 for the first retry): `baseDelay * 2^(retry-1)`,
    /// capped at `maxDelay`.
    public func delayCeiling(forRetry retry: Int) -> Double {
        let exponent = Double(max(0, retry - 1))
        let raw = max(0, baseDelay) * pow(2, min(exponent, 62))
        return max(0, min(raw, maxDelay))
    }

    /// The delay requested by a `Retry-After` value (delta seconds or an HTTP date), capped at
    /// `maxDelay`; nil when absent, unparseable, or `honourRetryAfter` is off.
    public func retryAfterDelay(_ value: String?, now: Date = Date()) -> Double? {
        guard honourRetryAfter, let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        var seconds: Double?
        if let number = Double(trimmed), number.isFinite {
            seconds = number
        } else {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: trimmed) {
                seconds = date.timeIntervalSince(now)
            }
        }
        guard let seconds else { return nil }
        return min(max(0, seconds), max(0, maxDelay))
    }
}

/// Wraps a transport with bounded retries.
///
/// - A response whose status is not in ``RetryPolicy/retryStatuses`` (including every other 4xx) is
///   returned at once.
/// - A retryable status on the last attempt throws ``HTTPError/retriesExhausted(url:attempts:lastStatus:lastError:)``.
/// - ``HTTPError/connectionFailed(url:message:)`` is always retried; timeouts and other transport errors
///   only when ``RetryPolicy/retryOnTimeout`` is set (otherwise they are rethrown unchanged), and
///   cancellation and ``HTTPError/invalidRequest(url:message:)`` never.
/// - With ``RetryPolicy/none`` (one attempt) the base transport's result passes through unchanged.
public struct RetryingHTTPClient: HTTPTransport {
    /// The wrapped transport.
    public let base: any HTTPTransport
    /// The retry policy.
    public let policy: RetryPolicy
    private let sleep: @Sendable (Double) async -> Void
    private let jitter: @Sendable (Double) -> Double

    /// Wraps `base`.
    /// - Parameters:
    ///   - sleep: waits the given number of seconds between attempts (injectable for tests).
    ///   - jitter: maps a backoff ceiling to the actual delay; the result is clamped to `0...ceiling`.
    ///     The default draws uniformly from `0...ceiling` (full jitter). Not applied to `Retry-After`.
    public init(_ base: any HTTPTransport, policy: RetryPolicy = .default,
                sleep: @escaping @Sendable (Double) async -> Void = RetryingHTTPClient.taskSleep,
                jitter: @escaping @Sendable (Double) -> Double = RetryingHTTPClient.fullJitter) {
        self.base = base
        self.policy = policy
        self.sleep = sleep
        self.jitter = jitter
    }

    /// The default sleeper: `Task.sleep`, returning early if the task is cancelled.
    @Sendable public static func taskSleep(_ seconds: Double) async {
        guard seconds > 0, seconds.isFinite else { return }
        try? await Task.sleep(nanoseconds: UInt64(min(seconds, 86_400) * 1_000_000_000))
    }

    /// The default jitter: uniform in `0...ceiling`.
    @Sendable public static func fullJitter(_ ceiling: Double) -> Double {
        ceiling > 0 ? Double.random(in: 0...ceiling) : 0
    }

    /// Sends `request`, retrying according to ``policy``.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let attempts = max(1, policy.maxAttempts)
        if attempts == 1 { return try await base.send(request) }
        let url = SensitiveHeaders.redactedURL(request.url)
        var lastStatus: Int?
        var lastError: HTTPError?
        var made = 0

        for attempt in 1...attempts {
            made = attempt
            let delay: Double
            do {
                let response = try await base.send(request)
                guard policy.retryStatuses.contains(response.status) else { return response }
                lastStatus = response.status
                lastError = nil
                if attempt == attempts { break }
                delay = policy.retryAfterDelay(response.header("retry-after")) ?? backoff(forRetry: attempt)
            } catch {
                guard isRetryable(error) else { throw error }
                lastError = error
                if attempt == attempts { break }
                delay = backoff(forRetry: attempt)
            }
            if Task.isCancelled { throw .cancellation(url: url) }
            if let claim = request.beforeRetry, !(await claim()) { break }
            await sleep(delay)
            if Task.isCancelled { throw .cancellation(url: url) }
        }
        throw .retriesExhausted(url: url, attempts: made, lastStatus: lastStatus, lastError: lastError?.description)
    }

    private func backoff(forRetry retry: Int) -> Double {
        let ceiling = policy.delayCeiling(forRetry: retry)
        let value = jitter(ceiling)
        return value.isFinite ? min(max(0, value), ceiling) : ceiling
    }

    private func isRetryable(_ error: HTTPError) -> Bool {
        if error.isCancellation { return false }
        switch error {
        case .connectionFailed: return true
        case .timeout, .transport: return policy.retryOnTimeout
        case .invalidRequest, .retriesExhausted: return false
        }
    }
}
