import HTTP
import Testing

@Suite("SensitiveHeaders")
struct SensitiveHeadersTests {
    @Test("credential headers are redacted in place, others kept")
    func redaction() {
        let headers = [
            HTTPHeader("Authorization", "Bearer sk-123"),
            HTTPHeader("Content-Type", "application/json"),
            HTTPHeader("x-api-key", "sk-ant-456"),
            HTTPHeader("X-MBX-APIKEY", "binance-key"),
            HTTPHeader("Cookie", "session=1"),
            HTTPHeader("CB-ACCESS-SIGN", "sig"),
            HTTPHeader("X-Goog-Api-Key", "g"),
            HTTPHeader("X-Refresh-Token", "t"),
            HTTPHeader("anthropic-version", "2023-06-01"),
        ]
        let redacted = SensitiveHeaders.redacted(headers)
        #expect(redacted.map(\.name) == headers.map(\.name))
        #expect(redacted.map(\.value) == [
            "<redacted>", "application/json", "<redacted>", "<redacted>", "<redacted>",
            "<redacted>", "<redacted>", "<redacted>", "2023-06-01",
        ])
    }

    @Test("isSensitive is case-insensitive")
    func caseInsensitive() {
        #expect(SensitiveHeaders.isSensitive("AUTHORIZATION"))
        #expect(SensitiveHeaders.isSensitive("x-mbx-apikey"))
        #expect(!SensitiveHeaders.isSensitive("Accept"))
    }

    @Test("HTTPHeader's description hides sensitive values")
    func headerDescription() {
        #expect(HTTPHeader("Authorization", "Bearer sk-123").description == "Authorization: <redacted>")
        #expect(HTTPHeader("Accept", "text/plain").description == "Accept: text/plain")
    }

    @Test("credential query parameters are redacted from URLs")
    func urls() {
        #expect(SensitiveHeaders.redactedURL("https://h/v1beta/models?key=AIza123&alt=sse")
                    == "https://h/v1beta/models?key=<redacted>&alt=sse")
        #expect(SensitiveHeaders.redactedURL("https://fapi/order?symbol=BTCUSDT&timestamp=1&signature=abc#frag")
                    == "https://fapi/order?symbol=BTCUSDT&timestamp=1&signature=<redacted>#frag")
        #expect(SensitiveHeaders.redactedURL("https://h/path") == "https://h/path")
        #expect(SensitiveHeaders.redactedURL("https://h/p?flag&access_token=t") == "https://h/p?flag&access_token=<redacted>")
    }
}
