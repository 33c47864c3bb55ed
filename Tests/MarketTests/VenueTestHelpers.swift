import Foundation
import HTTP
@testable import Market
@testable import Venues

/// An in-memory transport: answers from a closure and records every request exactly as the connector built it.
final class RecordingTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [HTTPRequest] = []
    private let answer: @Sendable (HTTPRequest) -> HTTPResponse

    init(_ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.answer = answer
    }

    var requests: [HTTPRequest] { lock.withLock { recorded } }

    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        lock.withLock { recorded.append(request) }
        return answer(request)
    }

    /// The path of a URL without scheme, host and query.
    static func path(_ url: String) -> String {
        var rest = Substring(url)
        if let s = rest.range(of: "://") { rest = rest[s.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[slash...] }
        if let q = rest.firstIndex(of: "?") { rest = rest[..<q] }
        return String(rest)
    }
}

func ok(_ json: String, status: Int = 200, headers: [HTTPHeader] = []) -> HTTPResponse {
    HTTPResponse(status: status, headers: [HTTPHeader("content-type", "application/json")] + headers, body: Data(json.utf8))
}

/// A clock frozen at `now` whose sleeps are recorded instead of taken.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var time: Double
    private var sleeps: [Double] = []

    init(now: Double = Date().timeIntervalSince1970) { time = now }

    var slept: [Double] { lock.withLock { sleeps } }
    func advance(_ seconds: Double) { lock.withLock { time += seconds } }

    /// Sleeps advance the fake time (so pauses end) and are recorded.
    var clock: VenueClock {
        VenueClock(now: { [self] in lock.withLock { time } },
                   sleep: { [self] s in lock.withLock { sleeps.append(s); time += s } })
    }
}

/// A clock on real time whose sleeps are recorded, not taken (for tests against the loopback fakes).
final class RealTimeRecordingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var sleeps: [Double] = []
    var slept: [Double] { lock.withLock { sleeps } }
    var clock: VenueClock {
        VenueClock(now: { Date().timeIntervalSince1970 }, sleep: { [self] s in lock.withLock { sleeps.append(s) } })
    }
}

extension Decimal {
    init(_ text: StaticString) {
        self = Decimal(string: "\(text)", locale: Locale(identifier: "en_US_POSIX")) ?? .nan
    }
}
