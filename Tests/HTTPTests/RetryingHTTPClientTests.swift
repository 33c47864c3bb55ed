import Foundation
import HTTP
import Testing
import TestSupport

@Suite("RetryingHTTPClient over the loopback server")
struct RetryingOverLoopbackTests {
    /// A server answering the scripted statuses in order (with headers), then 200.
    static func scriptedServer(_ script: [StubResponse]) throws -> LoopbackHTTPServer {
        let queue = Locked(script)
        return try LoopbackHTTPServer { _ in
            queue.withLock { $0.isEmpty ? StubResponse.json(#"{"ok":true}"#) : $0.removeFirst() }
        }
    }

    @Test("429 with Retry-After: 0 then 200 succeeds after 2 requests")
    func retryAfterZero() async throws {
        let server = try Self.scriptedServer([StubResponse.json("{}", status: 429).with(header: "Retry-After", "0")])
        defer { server.stop() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), sleep: sleeper.sleep)
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/limited"))
        #expect(response.status == 200)
        #expect(response.text == #"{"ok":true}"#)
        #expect(server.requests.count == 2)
        #expect(sleeper.delays == [0])
    }

    @Test("503 on every attempt throws retriesExhausted after exactly maxAttempts requests")
    func exhausted() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.json("{}", status: 503) }
        defer { server.stop() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(maxAttempts: 3), sleep: sleeper.sleep)
        let url = server.baseURL + "/down"
        let error = await sendExpectingError(client, HTTPRequest(url: url))
        #expect(error == .retriesExhausted(url: url, attempts: 3, lastStatus: 503, lastError: nil))
        #expect(server.requests.count == 3)
        #expect(sleeper.delays.count == 2)
    }

    @Test("400 is returned at once after 1 request")
    func clientErrorNotRetried() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.json(#"{"code":-1102}"#, status: 400) }
        defer { server.stop() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), sleep: sleeper.sleep)
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/bad"))
        #expect(response.status == 400)
        #expect(response.text == #"{"code":-1102}"#)
        #expect(server.requests.count == 1)
        #expect(sleeper.delays.isEmpty)
    }

    @Test("529 (overloaded) is retried")
    func overloadedRetried() async throws {
        let server = try Self.scriptedServer([StubResponse.json(#"{"type":"overloaded_error"}"#, status: 529)])
        defer { server.stop() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), sleep: sleeper.sleep)
        let response = try await client.send(HTTPRequest(method: "POST", url: server.baseURL + "/v1/messages",
                                                         body: Data("{}".utf8)))
        #expect(response.status == 200)
        #expect(server.requests.count == 2)
        #expect(server.requests.allSatisfy { $0.method == "POST" && $0.text == "{}" })
        #expect(sleeper.delays.count == 1)
    }

    @Test("with retryOnTimeout off a timeout is thrown after a single request")
    func timeoutNotRetriedForOrders() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("late").delayed(by: 60) }
        defer { server.stop() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(retryOnTimeout: false),
                                        sleep: sleeper.sleep)
        let url = server.baseURL + "/order"
        let error = await sendExpectingError(client, HTTPRequest(method: "POST", url: url, timeout: 0.3))
        #expect(error == .timeout(url: url, seconds: 0.3))
        #expect(server.requests.count == 1)
        #expect(sleeper.delays.isEmpty)
    }

    @Test("connection failures are retried, even with retryOnTimeout off")
    func connectionFailureRetried() async throws {
        // Held refusing for the whole test: a probed "unused" port could be taken by another test's server.
        let (port, release) = try LoopbackHTTPServer.refusingPort()
        defer { release() }
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(maxAttempts: 2, retryOnTimeout: false),
                                        sleep: sleeper.sleep)
        let url = "http://127.0.0.1:\(port)/x"
        let error = await sendExpectingError(client, HTTPRequest(url: url))
        guard case .retriesExhausted(let reportedURL, let attempts, let lastStatus, let lastError) = error else {
            Issue.record("expected retriesExhausted, got \(String(describing: error))")
            return
        }
        #expect(reportedURL == url)
        #expect(attempts == 2)
        #expect(lastStatus == nil)
        #expect(lastError?.contains("connection") == true)
        #expect(sleeper.delays.count == 1)
    }
}

@Suite("RetryingHTTPClient decisions")
struct RetryDecisionTests {
    let request = HTTPRequest(url: "http://example.invalid/v1?api_key=SECRET")
    let redacted = "http://example.invalid/v1?api_key=<redacted>"

    @Test("backoff ceilings double per retry and are capped at maxDelay")
    func backoffGrowsAndIsCapped() async throws {
        let transport = ScriptedTransport(Array(repeating: status(503), count: 7))
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, policy: RetryPolicy(maxAttempts: 7, baseDelay: 0.5, maxDelay: 3),
                                        sleep: sleeper.sleep, jitter: { $0 })
        let error = await sendExpectingError(client, request)
        #expect(error == .retriesExhausted(url: redacted, attempts: 7, lastStatus: 503, lastError: nil))
        #expect(transport.calls == 7)
        #expect(sleeper.delays == [0.5, 1, 2, 3, 3, 3])
    }

    @Test("default full jitter stays within each retry's ceiling")
    func fullJitterBounds() async throws {
        let policy = RetryPolicy(maxAttempts: 8, baseDelay: 0.5, maxDelay: 8)
        let transport = ScriptedTransport(Array(repeating: status(500), count: 8))
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, policy: policy, sleep: sleeper.sleep)
        _ = await sendExpectingError(client, request)
        let delays = sleeper.delays
        #expect(delays.count == 7)
        for (index, delay) in delays.enumerated() {
            #expect(delay >= 0 && delay <= policy.delayCeiling(forRetry: index + 1))
        }
        #expect([0.5, 1, 2, 4, 8, 8, 8] == (1...7).map { policy.delayCeiling(forRetry: $0) })
    }

    @Test("a jitter function returning garbage is clamped to the ceiling")
    func jitterClamped() async throws {
        let transport = ScriptedTransport([status(503), status(503)])
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, policy: RetryPolicy(maxAttempts: 3, baseDelay: 1, maxDelay: 8),
                                        sleep: sleeper.sleep, jitter: { $0 * 100 })
        _ = try await client.send(request)
        #expect(sleeper.delays == [1, 2])
    }

    @Test("Retry-After replaces the computed delay and is capped at maxDelay")
    func retryAfterCapped() async throws {
        let transport = ScriptedTransport([status(429, [HTTPHeader("retry-after", "120")]),
                                           status(503, [HTTPHeader("retry-after", "2")])])
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, policy: RetryPolicy(maxDelay: 8), sleep: sleeper.sleep,
                                        jitter: { _ in 0.25 })
        let response = try await client.send(request)
        #expect(response.status == 200)
        #expect(sleeper.delays == [8, 2])
    }

    @Test("with honourRetryAfter off the computed delay is used")
    func retryAfterIgnored() async throws {
        let transport = ScriptedTransport([status(429, [HTTPHeader("retry-after", "5")])])
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, policy: RetryPolicy(honourRetryAfter: false),
                                        sleep: sleeper.sleep, jitter: { $0 })
        _ = try await client.send(request)
        #expect(sleeper.delays == [0.5])
    }

    @Test("Retry-After as an HTTP date")
    func retryAfterDate() throws {
        let policy = RetryPolicy(maxDelay: 30)
        let now = try #require(ISO8601DateFormatter().date(from: "2015-10-21T07:27:50Z"))
        #expect(policy.retryAfterDelay("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == 10)
        #expect(policy.retryAfterDelay("Wed, 21 Oct 2015 07:20:00 GMT", now: now) == 0)
        #expect(policy.retryAfterDelay("soon", now: now) == nil)
        #expect(policy.retryAfterDelay(nil, now: now) == nil)
        #expect(RetryPolicy(honourRetryAfter: false).retryAfterDelay("3") == nil)
    }

    @Test("timeouts are retried by default and reported as the last error")
    func timeoutsRetried() async throws {
        let timeout = HTTPError.timeout(url: redacted, seconds: 1)
        let transport = ScriptedTransport([status(503), .failure(timeout), .failure(timeout)])
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, sleep: sleeper.sleep)
        let error = await sendExpectingError(client, request)
        #expect(error == .retriesExhausted(url: redacted, attempts: 3, lastStatus: 503, lastError: timeout.description))
        #expect(transport.calls == 3)
    }

    @Test("a transient failure followed by success returns the success")
    func recovers() async throws {
        let transport = ScriptedTransport([.failure(.transport(url: redacted, code: 56, message: "reset")), status(502)])
        let client = RetryingHTTPClient(transport, sleep: SleepRecorder().sleep)
        let response = try await client.send(request)
        #expect(response.status == 200)
        #expect(transport.calls == 3)
    }

    @Test("invalid requests and cancellation are never retried", arguments: [
        HTTPError.invalidRequest(url: "u", message: "bad"), HTTPError.cancellation(url: "u"),
    ])
    func notRetried(failure: HTTPError) async throws {
        let transport = ScriptedTransport([.failure(failure)])
        let client = RetryingHTTPClient(transport, sleep: SleepRecorder().sleep)
        let error = await sendExpectingError(client, request)
        #expect(error == failure)
        #expect(transport.calls == 1)
    }

    @Test("other 4xx statuses are returned at once", arguments: [400, 401, 403, 404, 409, 418, 422])
    func other4xx(code: Int) async throws {
        let transport = ScriptedTransport([status(code)])
        let sleeper = SleepRecorder()
        let client = RetryingHTTPClient(transport, sleep: sleeper.sleep)
        let response = try await client.send(request)
        #expect(response.status == code)
        #expect(transport.calls == 1)
        #expect(sleeper.delays.isEmpty)
    }

    @Test("RetryPolicy.none passes the base result through unchanged")
    func noneIsTransparent() async throws {
        let transport = ScriptedTransport([status(503)])
        let client = RetryingHTTPClient(transport, policy: .none, sleep: SleepRecorder().sleep)
        let response = try await client.send(request)
        #expect(response.status == 503)
        #expect(transport.calls == 1)
        #expect(RetryPolicy.none.maxAttempts == 1)
    }

    @Test("defaults match the documented policy")
    func defaults() {
        let policy = RetryPolicy.default
        #expect(policy.maxAttempts == 3)
        #expect(policy.baseDelay == 0.5)
        #expect(policy.maxDelay == 8)
        #expect(policy.retryStatuses == [429, 500, 502, 503, 504, 529])
        #expect(policy.retryOnTimeout)
        #expect(policy.honourRetryAfter)
    }

    @Test("cancellation during the backoff stops further attempts")
    func cancelledWhileWaiting() async throws {
        let transport = ScriptedTransport(Array(repeating: status(503), count: 5))
        let client = RetryingHTTPClient(transport, policy: RetryPolicy(maxAttempts: 5),
                                        sleep: { _ in withUnsafeCurrentTask { $0?.cancel() } })
        let request = self.request
        // An unstructured task, so the sleeper cancels it rather than the test itself.
        let error = await Task { await sendExpectingError(client, request) }.value
        #expect(error?.isCancellation == true)
        #expect(transport.calls == 1)
    }
}
