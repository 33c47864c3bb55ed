import Foundation
import HTTP
import Testing
import TestSupport

@Suite("CurlHTTPClient against the loopback server")
struct CurlHTTPClientTests {
    let client = CurlHTTPClient()

    @Test("GET: method, path with query and headers reach the server; status, headers and body come back")
    func getRoundTrip() async throws {
        let server = try LoopbackHTTPServer { _ in
            StubResponse.json(#"{"price":"42000.5"}"#).with(header: "X-Reply", "pong")
        }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(
            url: server.baseURL + "/v1/ticker?symbol=BTCUSDT&limit=5",
            headers: [HTTPHeader("X-Custom", "abc"), HTTPHeader("Accept", "application/json")]))

        let requests = server.requests
        try #require(requests.count == 1)
        let seen = requests[0]
        #expect(seen.method == "GET")
        #expect(seen.path == "/v1/ticker?symbol=BTCUSDT&limit=5")
        #expect(seen.header("x-custom") == "abc")
        #expect(seen.header("accept") == "application/json")
        #expect(seen.header("user-agent") == "agent/0.1")
        #expect(seen.header("expect") == nil)
        #expect(seen.header("accept-encoding")?.contains("gzip") == true)
        #expect(seen.body.isEmpty)

        #expect(response.status == 200)
        #expect(response.text == #"{"price":"42000.5"}"#)
        #expect(response.header("x-reply") == "pong")
        #expect(response.header("X-REPLY") == "pong")
        #expect(response.header("content-type") == "application/json")
        #expect(response.headers.allSatisfy { $0.name == $0.name.lowercased() })
        #expect(response.elapsed >= 0 && response.elapsed < 10)
    }

    @Test("POST: body and content type reach the server")
    func postRoundTrip() async throws {
        let server = try LoopbackHTTPServer { request in
            StubResponse.json(#"{"received":\#(request.body.count)}"#, status: 201)
        }
        defer { server.stop() }
        let payload = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        let response = try await client.send(HTTPRequest(
            method: "POST", url: server.baseURL + "/v1/messages",
            headers: [HTTPHeader("Content-Type", "application/json")], body: Data(payload.utf8)))

        let seen = try #require(server.requests.first)
        #expect(seen.method == "POST")
        #expect(seen.path == "/v1/messages")
        #expect(seen.text == payload)
        #expect(seen.header("content-type") == "application/json")
        #expect(seen.header("content-length") == String(payload.utf8.count))
        #expect(response.status == 201)
        #expect(response.text == #"{"received":\#(payload.utf8.count)}"#)
    }

    @Test("POST without a body sends an empty body", arguments: ["POST", "PUT"])
    func emptyBody(method: String) async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("ok") }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(method: method, url: server.baseURL + "/empty"))
        let seen = try #require(server.requests.first)
        #expect(seen.method == method)
        #expect(seen.header("content-length") == "0")
        #expect(response.text == "ok")
    }

    @Test("PUT, PATCH and DELETE send their method and body", arguments: ["PUT", "PATCH", "DELETE"])
    func otherMethods(method: String) async throws {
        let server = try LoopbackHTTPServer { request in StubResponse.text("\(request.method) \(request.text)") }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(
            method: method, url: server.baseURL + "/orders/7?symbol=ETHUSDT", body: Data("x=1".utf8)))
        let seen = try #require(server.requests.first)
        #expect(seen.method == method)
        #expect(seen.path == "/orders/7?symbol=ETHUSDT")
        #expect(seen.text == "x=1")
        #expect(response.text == "\(method) x=1")
    }

    @Test("DELETE without a body, lowercase method accepted")
    func deleteWithoutBody() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse(status: 204) }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(method: "delete", url: server.baseURL + "/orders/7"))
        let seen = try #require(server.requests.first)
        #expect(seen.method == "DELETE")
        #expect(seen.body.isEmpty)
        #expect(response.status == 204)
        #expect(response.body.isEmpty)
    }

    @Test("non-2xx statuses are responses, not errors", arguments: [301, 400, 401, 404, 418, 429, 500, 503, 529])
    func nonSuccessStatuses(code: Int) async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.json(#"{"code":\#(code)}"#, status: code) }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/status"))
        #expect(response.status == code)
        #expect(response.text == #"{"code":\#(code)}"#)
        #expect(response.isSuccess == false)
    }

    @Test("redirects are not followed")
    func noRedirects() async throws {
        let server = try LoopbackHTTPServer { request in
            request.path == "/old" ? StubResponse(status: 302, headers: [TestHeader("Location", "/new")]) : StubResponse.text("new")
        }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/old"))
        #expect(response.status == 302)
        #expect(response.header("location") == "/new")
        #expect(server.requests.map(\.path) == ["/old"])
    }

    @Test("response headers keep their order and duplicates, names lowercased")
    func headerOrder() async throws {
        let server = try LoopbackHTTPServer { _ in
            StubResponse(status: 200, headers: [TestHeader("X-B", "2"), TestHeader("X-A", "1"),
                                                TestHeader("X-Multi", "first"), TestHeader("X-Multi", "second")],
                         body: Data("ok".utf8))
        }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/"))
        let custom = response.headers.filter { $0.name.hasPrefix("x-") }
        #expect(custom == [HTTPHeader("x-b", "2"), HTTPHeader("x-a", "1"),
                           HTTPHeader("x-multi", "first"), HTTPHeader("x-multi", "second")])
        #expect(response.header("X-Multi") == "first")
    }

    @Test("headers of an interim 100 Continue response are not reported")
    func interimHeadersDropped() async throws {
        let server = try LoopbackHTTPServer { request in StubResponse.text("got \(request.body.count)") }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(
            method: "POST", url: server.baseURL + "/upload",
            headers: [HTTPHeader("Expect", "100-continue")], body: Data("abc".utf8)))
        #expect(server.requests.first?.header("expect") == "100-continue")
        #expect(response.status == 200)
        #expect(response.text == "got 3")
        #expect(response.header("x-interim") == nil)
        #expect(response.header("content-type") == "text/plain")
    }

    @Test("gzip bodies are decoded")
    func gzip() async throws {
        let compressed = Data([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9,
                               0xc9, 0xd7, 0x51, 0x48, 0xaf, 0xca, 0x2c, 0x50, 0x28, 0xcf, 0x2f, 0xca, 0x49, 0x01,
                               0x00, 0xeb, 0x83, 0x46, 0x82, 0x11, 0x00, 0x00, 0x00])
        let server = try LoopbackHTTPServer { _ in
            StubResponse(status: 200, headers: [TestHeader("Content-Encoding", "gzip")], body: compressed)
        }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/gz"))
        #expect(response.text == "hello, gzip world")
    }

    @Test("a caller's User-Agent replaces the default")
    func customUserAgent() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("ok") }
        defer { server.stop() }
        _ = try await client.send(HTTPRequest(url: server.baseURL + "/", headers: [HTTPHeader("User-Agent", "probe/1")]))
        #expect(server.requests.first?.header("user-agent") == "probe/1")
    }

    @Test("a slow server yields HTTPError.timeout well before the server answers")
    func timeout() async throws {
        // The server would answer after 60 s (stop() interrupts that). The bound is loose on purpose: the
        // suite runs CPU-heavy tests in parallel on a small cooperative pool, so resuming after the timeout
        // can wait seconds; 30 s still proves the client gave up long before the server answered.
        let server = try LoopbackHTTPServer { _ in StubResponse.text("late").delayed(by: 60) }
        defer { server.stop() }
        let url = server.baseURL + "/slow"
        let clock = ContinuousClock()
        let start = clock.now
        let error = await sendExpectingError(client, HTTPRequest(url: url, timeout: 0.3))
        #expect(clock.now - start < .seconds(30))
        #expect(error == .timeout(url: url, seconds: 0.3))
    }

    @Test("a closed port yields HTTPError.connectionFailed")
    func connectionRefused() async throws {
        let port = try LoopbackHTTPServer.unusedPort()
        let url = "http://127.0.0.1:\(port)/nothing"
        let error = await sendExpectingError(client, HTTPRequest(url: url))
        guard case .connectionFailed(let reportedURL, let message) = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(reportedURL == url)
        #expect(!message.isEmpty)
    }

    @Test("a connection closed without a response is a transport error")
    func droppedConnection() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse(dropConnection: true) }
        defer { server.stop() }
        let url = server.baseURL + "/drop"
        let error = await sendExpectingError(client, HTTPRequest(url: url))
        guard case .transport(let reportedURL, let code, _) = error else {
            Issue.record("expected transport error, got \(String(describing: error))")
            return
        }
        #expect(reportedURL == url)
        #expect(code == 52) // CURLE_GOT_NOTHING
        #expect(error?.isCancellation == false)
    }

    @Test("malformed requests are rejected before anything is sent", arguments: [
        ("GET", "ftp://127.0.0.1/file", [HTTPHeader]()),
        ("GET", "not a url", []),
        ("FETCH", "http://127.0.0.1:1/", []),
        ("GET", "http://127.0.0.1:1/", [HTTPHeader("X-Bad", "a\r\nInjected: yes")]),
        ("GET", "http://127.0.0.1:1/", [HTTPHeader("Bad Name", "v")]),
    ])
    func invalidRequests(method: String, url: String, headers: [HTTPHeader]) async {
        let error = await sendExpectingError(client, HTTPRequest(method: method, url: url, headers: headers))
        guard case .invalidRequest = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }

    @Test("a non-positive timeout is an invalid request")
    func invalidTimeout() async {
        let error = await sendExpectingError(client, HTTPRequest(url: "http://127.0.0.1:1/", timeout: 0))
        guard case .invalidRequest = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }

    @Test("errors name the URL but never header values or query secrets")
    func errorsAreRedacted() async throws {
        let port = try LoopbackHTTPServer.unusedPort()
        let error = await sendExpectingError(client, HTTPRequest(
            url: "http://127.0.0.1:\(port)/v1/models?key=TOPSECRET&alt=json",
            headers: [HTTPHeader("Authorization", "Bearer sk-SECRET-TOKEN")]))
        let text = try #require(error).description
        #expect(text.contains("127.0.0.1:\(port)/v1/models"))
        #expect(text.contains("alt=json"))
        #expect(!text.contains("TOPSECRET"))
        #expect(!text.contains("sk-SECRET-TOKEN"))
        #expect(error?.url == "http://127.0.0.1:\(port)/v1/models?key=<redacted>&alt=json")
    }

    @Test("20 concurrent requests all succeed with their own answers")
    func concurrentRequests() async throws {
        let server = try LoopbackHTTPServer { request in StubResponse.text("echo \(request.path)").delayed(by: 0.05) }
        defer { server.stop() }
        let client = self.client
        let bodies = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<20 {
                group.addTask {
                    let response = try await client.send(HTTPRequest(url: server.baseURL + "/item/\(index)"))
                    return (index, response.status == 200 ? response.text : "status \(response.status)")
                }
            }
            var collected: [Int: String] = [:]
            for try await (index, text) in group { collected[index] = text }
            return collected
        }
        #expect(bodies.count == 20)
        for index in 0..<20 { #expect(bodies[index] == "echo /item/\(index)") }
        #expect(server.requests.count == 20)
    }

    @Test("a 1 MB body travels both ways intact")
    func largeBodies() async throws {
        let server = try LoopbackHTTPServer { request in
            StubResponse(status: 200, headers: [TestHeader("Content-Type", "application/octet-stream")],
                         body: Data(request.body.reversed()))
        }
        defer { server.stop() }
        let payload = pseudoRandomBytes(1 << 20)
        let response = try await client.send(HTTPRequest(
            method: "POST", url: server.baseURL + "/echo",
            headers: [HTTPHeader("Content-Type", "application/octet-stream")], body: payload))
        #expect(server.requests.first?.body == payload)
        #expect(response.status == 200)
        #expect(response.body.count == 1 << 20)
        #expect(response.body == Data(payload.reversed()))
    }

    @Test("cancelling the awaiting task aborts a slow request promptly")
    func cancellation() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("late").delayed(by: 60) }
        defer { server.stop() }
        let client = self.client
        let request = HTTPRequest(url: server.baseURL + "/slow", timeout: 30)
        let task = Task { await outcome(client, request) }
        #expect(await server.waitForRequests(1))
        let clock = ContinuousClock()
        let start = clock.now
        task.cancel()
        let result = await task.value
        #expect(clock.now - start < .seconds(30))
        guard case .failure(let error) = result else {
            Issue.record("expected cancellation, got \(result)")
            return
        }
        #expect(error.isCancellation)
        #expect(error == .cancellation(url: request.url))
    }

    @Test("a task cancelled before sending never contacts the server")
    func cancelledBeforeStart() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("ok") }
        defer { server.stop() }
        let client = self.client
        let request = HTTPRequest(url: server.baseURL + "/never")
        let task = Task {
            while !Task.isCancelled { await Task.yield() }
            return await outcome(client, request)
        }
        task.cancel()
        let result = await task.value
        guard case .failure(let error) = result else {
            Issue.record("expected cancellation, got \(result)")
            return
        }
        #expect(error.isCancellation)
        #expect(server.requests.isEmpty)
    }
}
