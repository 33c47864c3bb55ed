import Foundation
import HTTP
import TestSupport

/// A tiny lock-protected box for test bookkeeping.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Records the delays passed to `RetryingHTTPClient`'s sleeper without sleeping.
final class SleepRecorder: Sendable {
    private let box = Locked<[Double]>([])
    var delays: [Double] { box.current }
    var sleep: @Sendable (Double) async -> Void {
        { [box] seconds in box.withLock { $0.append(seconds) } }
    }
}

/// A transport that plays back scripted results, then answers 200.
final class ScriptedTransport: HTTPTransport {
    private let script: Locked<[Result<HTTPResponse, HTTPError>]>
    private let count = Locked(0)
    init(_ script: [Result<HTTPResponse, HTTPError>]) { self.script = Locked(script) }
    var calls: Int { count.current }
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        count.withLock { $0 += 1 }
        let next = script.withLock { $0.isEmpty ? .success(HTTPResponse(status: 200)) : $0.removeFirst() }
        return try next.get()
    }
}

/// Sends and returns the error, or nil if a response came back.
func sendExpectingError(_ transport: any HTTPTransport, _ request: HTTPRequest) async -> HTTPError? {
    do {
        _ = try await transport.send(request)
        return nil
    } catch {
        return error
    }
}

/// Sends and returns the outcome as a `Result`.
func outcome(_ transport: any HTTPTransport, _ request: HTTPRequest) async -> Result<HTTPResponse, HTTPError> {
    do {
        return .success(try await transport.send(request))
    } catch {
        return .failure(error)
    }
}

func status(_ code: Int, _ headers: [HTTPHeader] = []) -> Result<HTTPResponse, HTTPError> {
    .success(HTTPResponse(status: code, headers: headers))
}

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in bytes.indices {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return Data(bytes)
}
