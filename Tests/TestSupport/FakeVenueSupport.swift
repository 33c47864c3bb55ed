import Foundation

/// A fault a fake venue injects into the next matching request(s).
public enum VenueFault: Sendable, Equatable {
    /// 429 with an optional Retry-After (seconds).
    case tooManyRequests(retryAfter: Int?)
    /// 418 IP ban with Retry-After (seconds).
    case banned(retryAfter: Int)
    /// Binance -1021: answered as if the timestamp were outside the receive window.
    case timestampOutsideWindow
    /// Binance 503 "Unknown error": the request IS executed, then the answer says the outcome is unknown.
    case unknownErrorAfterExecuting
    /// Binance 503 "Unknown error" without executing anything.
    case unknownErrorWithoutExecuting
    /// 503 "Service Unavailable": nothing executed.
    case serviceUnavailable
    /// The request is executed, but the answer comes only after `seconds` (the client times out first).
    case slowAnswer(seconds: Double)
    /// The request is executed, then answered 200 with a body that is not the expected JSON.
    case garbledAfterExecuting
    /// The request is executed, then the connection is closed without an answer.
    case droppedAfterExecuting
}

/// Thread-safe fault queue and counters shared by the fake venues.
public final class FaultBook: @unchecked Sendable {
    private let lock = NSLock()
    private var faults: [(method: String?, path: String, fault: VenueFault, remaining: Int)] = []

    public init() {}

    /// Injects `fault` into the next `times` requests to `path` (method nil = any).
    public func inject(_ fault: VenueFault, path: String, method: String? = nil, times: Int = 1) {
        lock.withLock { faults.append((method, path, fault, times)) }
    }

    /// Takes the next fault for this request, if any.
    func take(method: String, path: String) -> VenueFault? {
        lock.withLock {
            guard let i = faults.firstIndex(where: { ($0.method == nil || $0.method == method) && $0.path == path && $0.remaining > 0 }) else {
                return nil
            }
            faults[i].remaining -= 1
            let fault = faults[i].fault
            if faults[i].remaining == 0 { faults.remove(at: i) }
            return fault
        }
    }
}

/// Query/form parsing for the fakes.
public enum FakeForm {
    /// `a=1&b=x%2Fy` -> ordered pairs, percent-decoded.
    public static func parse(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            return (key, value)
        }
    }

    /// The query part of a request target ("" when none).
    public static func query(_ target: String) -> String {
        guard let q = target.firstIndex(of: "?") else { return "" }
        return String(target[target.index(after: q)...])
    }
}

/// Deterministic synthetic prices for the fakes: a gentle wave around a base price.
public enum FakeTape {
    public static func close(base: Double, openTime: Int64) -> Double {
        let hours = Double(openTime) / 3600
        return base * (1 + 0.02 * sin(hours / 9) + 0.005 * sin(hours / 2.3))
    }
}
