import Foundation
import HTTP

/// The wall clock and the sleeper a venue connector uses; injectable so tests assert backoff without waiting.
public struct VenueClock: Sendable {
    /// Unix time in seconds (fractional).
    public var now: @Sendable () -> Double
    /// Waits the given number of seconds.
    public var sleep: @Sendable (Double) async -> Void

    public init(now: @escaping @Sendable () -> Double, sleep: @escaping @Sendable (Double) async -> Void) {
        self.now = now
        self.sleep = sleep
    }

    /// The system clock and `Task.sleep`.
    public static let system = VenueClock(now: { Date().timeIntervalSince1970 },
                                          sleep: { await RetryingHTTPClient.taskSleep($0) })
}

/// Limits a connector keeps to, and how hard it retries. Defaults follow the venues' published limits.
public struct VenueLimits: Sendable, Equatable {
    /// Retries after a 429, a connection failure, or (for reads only) a timeout.
    public var maxRetries: Int
    /// First backoff in seconds (doubles per retry) when the venue gives no Retry-After.
    public var baseBackoff: Double
    /// Upper bound of any single wait, including Retry-After.
    public var maxBackoff: Double
    /// How long to stop calling after a 418 without Retry-After.
    public var defaultBanSeconds: Double
    /// Binance request weight per minute (exchangeInfo `REQUEST_WEIGHT`).
    public var weightPerMinute: Int
    /// Binance orders per 10 s and per minute.
    public var ordersPer10s: Int
    public var ordersPerMinute: Int
    /// Fraction of a budget at which the connector waits for the next window before calling again.
    public var slowdownFraction: Double
    /// Per-request time limit in seconds.
    public var timeout: Double

    public init(maxRetries: Int = 2, baseBackoff: Double = 1, maxBackoff: Double = 60, defaultBanSeconds: Double = 120,
                weightPerMinute: Int = 2400, ordersPer10s: Int = 300, ordersPerMinute: Int = 1200,
                slowdownFraction: Double = 0.9, timeout: Double = 10) {
        self.maxRetries = maxRetries
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.defaultBanSeconds = defaultBanSeconds
        self.weightPerMinute = weightPerMinute
        self.ordersPer10s = ordersPer10s
        self.ordersPerMinute = ordersPerMinute
        self.slowdownFraction = slowdownFraction
        self.timeout = timeout
    }
}

/// What a venue's rate-limit headers said last, and until when calls are held back.
public struct VenueUsage: Sendable, Equatable {
    /// `X-MBX-USED-WEIGHT-1M`.
    public var usedWeight1m: Int?
    /// `X-MBX-ORDER-COUNT-10S` and `-1M`.
    public var orderCount10s: Int?
    public var orderCount1m: Int?
    /// Coinbase `x-ratelimit-remaining` and `x-ratelimit-limit`.
    public var remaining: Int?
    public var limit: Int?
    /// No call is made before this Unix time (418 ban).
    public var bannedUntil: Double
    /// Calls wait until this Unix time (429 or slowdown before the limit).
    public var pausedUntil: Double
}

extension VenueUsage {
    /// The share (0...1) of the request budget used: Binance's used weight over `weightPerMinute`, or Coinbase's
    /// `1 - remaining / limit`; nil before the venue said.
    public func budgetUsed(weightPerMinute: Int) -> Double? {
        if let used = usedWeight1m, weightPerMinute > 0 { return min(1, Double(used) / Double(weightPerMinute)) }
        if let remaining, let limit, limit > 0 { return min(1, max(0, 1 - Double(remaining) / Double(limit))) }
        return nil
    }
}

/// Shared rate-limit state of one connector: bans, pauses, and the usage the venue reported.
actor VenueThrottle {
    private let venue: String
    private let limits: VenueLimits
    private let clock: VenueClock
    private let keeper: VenueBackoffKeeper?
    private(set) var usage = VenueUsage(bannedUntil: 0, pausedUntil: 0)

    /// With a `keeper`, a hold left by an earlier process is restored and every new one is recorded.
    init(venue: String, limits: VenueLimits, clock: VenueClock, keeper: VenueBackoffKeeper? = nil) {
        self.venue = venue
        self.limits = limits
        self.clock = clock
        self.keeper = keeper
        if let held = keeper?.restored, held.venue == venue {
            usage.bannedUntil = held.bannedUntil
            usage.pausedUntil = held.pausedUntil
            usage.usedWeight1m = held.usedWeight1m
        }
    }

    /// Records the current hold when it grew past `before`.
    private func keep(_ cause: VenueBackoff.Cause, from before: VenueUsage) {
        guard let keeper, usage.bannedUntil > before.bannedUntil || usage.pausedUntil > before.pausedUntil else { return }
        keeper.record(VenueBackoff(venue: venue, cause: cause, bannedUntil: usage.bannedUntil, pausedUntil: usage.pausedUntil,
                                   usedWeight1m: usage.usedWeight1m))
    }

    /// Waits out any pause; refuses at once while banned.
    func admit(operation: String) async throws(VenueError) {
        let now = clock.now()
        if usage.bannedUntil > now {
            throw VenueError(venue: venue, operation: operation, disposition: .retryable, reason: .banned, status: 418,
                             message: "IP banned by the venue; not calling until the ban ends",
                             retryAfter: usage.bannedUntil - now)
        }
        if usage.pausedUntil > now {
            await clock.sleep(min(usage.pausedUntil - now, limits.maxBackoff))
        }
    }

    func ban(seconds: Double) {
        let before = usage
        usage.bannedUntil = max(usage.bannedUntil, clock.now() + seconds)
        keep(.banned, from: before)
    }

    func pause(seconds: Double) {
        let before = usage
        usage.pausedUntil = max(usage.pausedUntil, clock.now() + seconds)
        keep(.rateLimited, from: before)
    }

    /// Reads the usage headers and schedules a pause when a budget is nearly spent.
    func record(_ response: HTTPResponse) {
        let before = usage
        defer { keep(.slowdown, from: before) }
        let now = clock.now()
        func int(_ name: String) -> Int? { response.header(name).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        if let weight = int("x-mbx-used-weight-1m") {
            usage.usedWeight1m = weight
            if Double(weight) >= Double(limits.weightPerMinute) * limits.slowdownFraction {
                usage.pausedUntil = max(usage.pausedUntil, Self.nextWindow(now, 60))
            }
        }
        if let orders = int("x-mbx-order-count-10s") {
            usage.orderCount10s = orders
            if Double(orders) >= Double(limits.ordersPer10s) * limits.slowdownFraction {
                usage.pausedUntil = max(usage.pausedUntil, Self.nextWindow(now, 10))
            }
        }
        if let orders = int("x-mbx-order-count-1m") {
            usage.orderCount1m = orders
            if Double(orders) >= Double(limits.ordersPerMinute) * limits.slowdownFraction {
                usage.pausedUntil = max(usage.pausedUntil, Self.nextWindow(now, 60))
            }
        }
        if let limit = int("x-ratelimit-limit") { usage.limit = limit }
        if let remaining = int("x-ratelimit-remaining") {
            usage.remaining = remaining
            if remaining <= 0 {
                // Coinbase: reset is seconds until the window resets (or a Unix time).
                let reset = response.header("x-ratelimit-reset").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } ?? 1
                let until = reset > 1_000_000_000 ? reset : now + reset
                usage.pausedUntil = max(usage.pausedUntil, min(until, now + limits.maxBackoff))
            }
        }
    }

    static func nextWindow(_ now: Double, _ window: Double) -> Double {
        (now / window).rounded(.down) * window + window
    }
}

/// One prepared request: everything but the per-attempt signing.
struct VenueCall: Sendable {
    var method: String
    var path: String
    /// Whether sending it twice is harmless (reads, cancels). Order placement is not.
    var idempotent: Bool
    /// Binance request weight, for logs only.
    var operation: String { "\(method) \(path)" }
}

/// Sends requests through a transport with the connector's throttle, retries and fault mapping.
struct VenueHTTP: Sendable {
    let venue: String
    let transport: any HTTPTransport
    let limits: VenueLimits
    let clock: VenueClock
    let throttle: VenueThrottle

    init(venue: String, transport: any HTTPTransport, limits: VenueLimits, clock: VenueClock, backoff: VenueBackoffKeeper? = nil) {
        self.venue = venue
        self.transport = transport
        self.limits = limits
        self.clock = clock
        self.throttle = VenueThrottle(venue: venue, limits: limits, clock: clock, keeper: backoff)
    }

    /// Sends the request built by `build` (called again for each attempt, so signatures and timestamps are
    /// fresh). Handles 418 (ban), 429 (backoff honouring Retry-After), connection failures and, for idempotent
    /// calls, timeouts. Returns any other response for the venue to interpret.
    func send(_ call: VenueCall, build: @Sendable () async throws(VenueError) -> HTTPRequest) async throws(VenueError) -> HTTPResponse {
        var attempt = 0
        while true {
            try await throttle.admit(operation: call.operation)
            var request = try await build()
            request.timeout = limits.timeout
            request.connectTimeout = min(5, limits.timeout)
            let response: HTTPResponse
            do {
                response = try await transport.send(request)
            } catch {
                if case .invalidRequest = error {
                    throw VenueError(venue: venue, operation: call.operation, disposition: .rejected, reason: .invalidRequest,
                                     message: error.description)
                }
                var sent = true
                if case .connectionFailed = error { sent = false }
                if error.isCancellation {
                    throw VenueError(venue: venue, operation: call.operation,
                                     disposition: call.idempotent ? .retryable : .unknownOutcome, reason: .transport,
                                     message: error.description)
                }
                if sent && !call.idempotent {
                    throw VenueError(venue: venue, operation: call.operation, disposition: .unknownOutcome, reason: .transport,
                                     message: "\(error.description); the request may have reached the venue: look the order up by client id")
                }
                if attempt < limits.maxRetries {
                    attempt += 1
                    await clock.sleep(backoff(attempt))
                    continue
                }
                throw VenueError(venue: venue, operation: call.operation, disposition: .retryable, reason: .transport,
                                 message: error.description)
            }
            await throttle.record(response)
            switch response.status {
            case 418:
                let seconds = retryAfter(response) ?? limits.defaultBanSeconds
                await throttle.ban(seconds: seconds)
                throw VenueError(venue: venue, operation: call.operation, disposition: .retryable, reason: .banned,
                                 status: 418, code: errorCode(response),
                                 message: "IP banned after exceeding the rate limit; calls stop until the ban ends",
                                 retryAfter: seconds)
            case 429:
                let wait = min(retryAfter(response) ?? backoff(attempt + 1), limits.maxBackoff)
                await throttle.pause(seconds: wait)
                if attempt < limits.maxRetries {
                    attempt += 1
                    continue
                }
                throw VenueError(venue: venue, operation: call.operation, disposition: .retryable, reason: .rateLimited,
                                 status: 429, code: errorCode(response), message: "rate limited (429) after \(attempt + 1) attempts",
                                 retryAfter: wait)
            default:
                return response
            }
        }
    }

    private func backoff(_ retry: Int) -> Double {
        min(limits.baseBackoff * pow(2, Double(max(0, retry - 1))), limits.maxBackoff)
    }

    private func retryAfter(_ response: HTTPResponse) -> Double? {
        RetryPolicy(maxDelay: 86_400).retryAfterDelay(response.header("retry-after"), now: Date(timeIntervalSince1970: clock.now()))
    }

    private func errorCode(_ response: HTTPResponse) -> String? {
        struct Body: Decodable { var code: Int? }
        return (try? JSONDecoder().decode(Body.self, from: response.body))?.code.map(String.init)
    }
}

/// Percent-encoding for query strings and form bodies: only RFC 3986 unreserved characters stay as they are.
enum FormEncoding {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// `a=1&b=2`, in the given order.
    static func encode(_ params: [(String, String)]) -> String {
        params.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }
}
