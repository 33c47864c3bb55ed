import Foundation
import HTTP
import Testing
import TestSupport

@Suite("LoopbackHTTPServer")
struct LoopbackServerTests {
    @Test("a delayed answer does not hold up other connections")
    func delaysDoNotBlock() async throws {
        let server = try LoopbackHTTPServer { request in
            request.path == "/slow" ? StubResponse.text("slow").delayed(by: 60) : StubResponse.text("fast")
        }
        defer { server.stop() }
        let client = CurlHTTPClient()
        let slow = Task { await outcome(client, HTTPRequest(url: server.baseURL + "/slow", timeout: 30)) }
        #expect(await server.waitForRequests(1))
        let clock = ContinuousClock()
        let start = clock.now
        let fast = try await client.send(HTTPRequest(url: server.baseURL + "/fast"))
        #expect(clock.now - start < .seconds(30))
        #expect(fast.text == "fast")
        slow.cancel()
        _ = await slow.value
    }

    @Test("stop is idempotent and refuses later connections")
    func stop() async throws {
        let server = try LoopbackHTTPServer { _ in StubResponse.text("ok") }
        let url = server.baseURL + "/"
        #expect(try await CurlHTTPClient().send(HTTPRequest(url: url)).text == "ok")
        server.stop()
        server.stop()
        let error = await sendExpectingError(CurlHTTPClient(), HTTPRequest(url: url, timeout: 2, connectTimeout: 1))
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(server.requests.count == 1)
    }

    @Test("chunked request bodies are decoded")
    func chunkedBody() async throws {
        let server = try LoopbackHTTPServer { request in StubResponse.text(request.text) }
        defer { server.stop() }
        let response = try await CurlHTTPClient().send(HTTPRequest(
            method: "POST", url: server.baseURL + "/chunks",
            headers: [HTTPHeader("Transfer-Encoding", "chunked")], body: Data("hello chunks".utf8)))
        #expect(server.requests.first?.header("transfer-encoding") == "chunked")
        #expect(response.text == "hello chunks")
    }
}
