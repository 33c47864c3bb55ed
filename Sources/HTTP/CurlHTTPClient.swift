import CCurl
import CCurlShim
import Foundation

/// Result of the one-time `curl_global_init`; Swift initialises globals lazily and exactly once.
private let curlGlobalInitCode: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

/// An ``HTTPTransport`` over libcurl easy handles.
///
/// Each request runs on its own dedicated thread (never on the cooperative pool) inside a private
/// `curl_multi` handle, so cancelling the awaiting `Task` wakes the transfer at once and aborts it
/// (reported as ``HTTPError/cancellation(url:)``).
///
/// Settings: HTTP/1.1, `CURLOPT_NOSIGNAL`, no redirects, `Accept-Encoding` for every encoding libcurl
/// can decode, user agent `agent/0.1`, only `http` and `https`, no `Expect: 100-continue` unless the
/// caller sends that header. Bodies are copied into libcurl (`CURLOPT_COPYPOSTFIELDS`).
public final class CurlHTTPClient: HTTPTransport {
    /// The default `User-Agent`.
    public static let userAgent = "agent/0.1"

    /// Creates a client. Clients hold no connections; one instance can be shared freely.
    public init() {}

    /// Performs `request` on a dedicated thread. Any HTTP status is returned as a response.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let prepared = try PreparedRequest(request)
        guard curlGlobalInitCode == CURLE_OK else {
            throw .transport(url: prepared.loggedURL, code: Int(curlGlobalInitCode.rawValue),
                             message: "curl_global_init failed")
        }
        let control = TransferControl()
        let result: Result<HTTPResponse, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, HTTPError>, Never>) in
                let thread = Thread {
                    continuation.resume(returning: CurlTransfer.run(prepared, control: control))
                }
                thread.name = "agent.http"
                thread.start()
            }
        } onCancel: {
            control.cancel()
        }
        return try result.get()
    }
}

extension CurlHTTPClient {
    /// The transfer on the calling thread, for a caller that owns its threads (the `serve` benchmark's clients run
    /// at a lower priority, as clients on other machines would not compete with the bot for its cores).
    package func sendBlocking(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let prepared = try PreparedRequest(request)
        guard curlGlobalInitCode == CURLE_OK else {
            throw .transport(url: prepared.loggedURL, code: Int(curlGlobalInitCode.rawValue), message: "curl_global_init failed")
        }
        return try CurlTransfer.run(prepared, control: TransferControl()).get()
    }
}

/// A validated request, ready for libcurl.
struct PreparedRequest: Sendable {
    var method: String
    var url: String
    /// The URL as it may appear in errors and logs.
    var loggedURL: String
    var headerLines: [String]
    var body: Data?
    var timeoutMilliseconds: Int
    var connectTimeoutMilliseconds: Int
    var timeout: Double

    static let methods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]

    init(_ request: HTTPRequest) throws(HTTPError) {
        loggedURL = SensitiveHeaders.redactedURL(request.url)
        method = request.method.uppercased()
        guard Self.methods.contains(method) else {
            throw .invalidRequest(url: loggedURL, message: "unsupported method \(request.method)")
        }
        let lowerURL = request.url.lowercased()
        guard lowerURL.hasPrefix("http://") || lowerURL.hasPrefix("https://") else {
            throw .invalidRequest(url: loggedURL, message: "URL must start with http:// or https://")
        }
        guard !request.url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw .invalidRequest(url: loggedURL, message: "URL contains whitespace or control characters")
        }
        url = request.url
        guard request.timeout.isFinite, request.timeout > 0,
              request.connectTimeout.isFinite, request.connectTimeout > 0 else {
            throw .invalidRequest(url: loggedURL, message: "timeouts must be positive and finite")
        }
        timeout = request.timeout
        timeoutMilliseconds = Self.milliseconds(request.timeout)
        connectTimeoutMilliseconds = Self.milliseconds(request.connectTimeout)

        var lines: [String] = []
        var sendsExpect = false
        for header in request.headers {
            guard !header.name.isEmpty,
                  header.name.unicodeScalars.allSatisfy(Self.isTokenCharacter) else {
                throw .invalidRequest(url: loggedURL, message: "invalid header name \"\(header.name)\"")
            }
            guard !header.value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                // Name only: the value may be a secret.
                throw .invalidRequest(url: loggedURL, message: "header \(header.name) contains a line break")
            }
            if header.name.lowercased() == "expect" { sendsExpect = true }
            let value = header.value.trimmingCharacters(in: .whitespaces)
            // "Name;" is libcurl's spelling for a header with an empty value.
            lines.append(value.isEmpty ? "\(header.name);" : "\(header.name): \(value)")
        }
        if !sendsExpect { lines.append("Expect:") }
        headerLines = lines
        body = request.body ?? (method == "POST" || method == "PUT" || method == "PATCH" ? Data() : nil)
    }

    static func milliseconds(_ seconds: Double) -> Int {
        max(1, Int(min(seconds * 1000, Double(Int32.max)).rounded(.up)))
    }

    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }
}

/// Shared between the awaiting task (cancellation) and the transfer thread.
final class TransferControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var multi: UnsafeMutableRawPointer?

    /// Marks the transfer cancelled and wakes its poll loop.
    func cancel() {
        lock.withLock {
            cancelled = true
            if let multi { _ = curl_multi_wakeup(multi) }
        }
    }

    var isCancelled: Bool { lock.withLock { cancelled } }

    /// Publishes the multi handle for wake-ups; false when already cancelled.
    func attach(_ handle: UnsafeMutableRawPointer) -> Bool {
        lock.withLock {
            multi = handle
            return !cancelled
        }
    }

    /// Withdraws the multi handle before it is cleaned up.
    func detach() {
        lock.withLock { multi = nil }
    }
}

/// Accumulates the response on the transfer thread. Reached from the C callbacks via `Unmanaged`.
final class ResponseSink {
    var body = Data()
    var headers: [HTTPHeader] = []

    func addHeaderLine(_ raw: UnsafeBufferPointer<UInt8>) {
        var line = String(decoding: raw, as: UTF8.self)
        // Note: "\r\n" is a single Character, so test for newline-ness rather than for "\n".
        while let last = line.last, last.isNewline { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new status line: an interim (1xx) or redirect hop ended; keep only the final headers.
            headers.removeAll()
            return
        }
        if line.isEmpty { return }
        if let first = line.first, first == " " || first == "\t" {
            // Obsolete line folding: continue the previous value.
            if !headers.isEmpty {
                let extra = line.trimmingCharacters(in: .whitespaces)
                headers[headers.count - 1].value += " " + extra
            }
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers.append(HTTPHeader(name: name, value: value))
    }
}

/// One blocking libcurl transfer. Runs on a dedicated thread.
enum CurlTransfer {
    static func run(_ request: PreparedRequest, control: TransferControl) -> Result<HTTPResponse, HTTPError> {
        let url = request.loggedURL
        if control.isCancelled { return .failure(.cancellation(url: url)) }
        let sink = ResponseSink()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for line in request.headerLines {
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(.transport(url: url, code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_slist_append failed"))
            }
            headerList = appended
        }

        // Declared after the buffers it points at, so it is cleaned up before they are freed.
        guard let easy = curl_easy_init() else {
            return .failure(.transport(url: url, code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed"))
        }
        defer { curl_easy_cleanup(easy) }

        let configured = withExtendedLifetime(sink) {
            configure(easy, request, sink: sink, headers: headerList, errorBuffer: errorBuffer)
        }
        if let failure = configured {
            return .failure(.invalidRequest(url: url, message: failure))
        }

        guard let multi = curl_multi_init() else {
            return .failure(.transport(url: url, code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_multi_init failed"))
        }
        defer { curl_multi_cleanup(multi) }
        guard curl_multi_add_handle(multi, easy) == CURLM_OK else {
            return .failure(.transport(url: url, code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_multi_add_handle failed"))
        }
        defer { curl_multi_remove_handle(multi, easy) }

        let code: CURLcode = withExtendedLifetime(sink) {
            guard control.attach(multi) else { return CURLE_ABORTED_BY_CALLBACK }
            defer { control.detach() }
            return drive(multi, control: control)
        }

        if code == CURLE_ABORTED_BY_CALLBACK || (code != CURLE_OK && control.isCancelled) {
            return .failure(.cancellation(url: url))
        }
        guard code == CURLE_OK else {
            return .failure(classify(code, easy: easy, request: request, errorBuffer: errorBuffer))
        }

        var status = 0
        _ = ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var elapsed = 0.0
        _ = ccurl_getinfo_double(easy, CURLINFO_TOTAL_TIME, &elapsed)
        return .success(HTTPResponse(status: status, headers: sink.headers, body: sink.body, elapsed: elapsed))
    }

    /// Runs the multi loop until the transfer finishes or `control` is cancelled.
    private static func drive(_ multi: UnsafeMutableRawPointer, control: TransferControl) -> CURLcode {
        while true {
            if control.isCancelled { return CURLE_ABORTED_BY_CALLBACK }
            var running: Int32 = 0
            let performed = curl_multi_perform(multi, &running)
            guard performed == CURLM_OK else { return CURLE_FAILED_INIT }
            if running == 0 { break }
            // Sleeps until socket activity, libcurl's next timer, a wake-up from cancel(), or 1 s.
            let polled = curl_multi_poll(multi, nil, 0, 1000, nil)
            guard polled == CURLM_OK else { return CURLE_FAILED_INIT }
        }
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            if message.pointee.msg == CURLMSG_DONE {
                return message.pointee.data.result
            }
        }
        return CURLE_FAILED_INIT
    }

    /// Sets every option; returns a message naming the first option libcurl rejected.
    private static func configure(_ easy: UnsafeMutableRawPointer, _ request: PreparedRequest, sink: ResponseSink,
                                  headers: UnsafeMutablePointer<curl_slist>?,
                                  errorBuffer: UnsafeMutablePointer<CChar>) -> String? {
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var results: [(String, CURLcode)] = [
            ("ERRORBUFFER", ccurl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("URL", ccurl_setopt_string(easy, CURLOPT_URL, request.url)),
            ("PROTOCOLS_STR", ccurl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")),
            ("NOSIGNAL", ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)),
            ("HTTP_VERSION", ccurl_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))),
            ("FOLLOWLOCATION", ccurl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)),
            ("ACCEPT_ENCODING", ccurl_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "")),
            ("USERAGENT", ccurl_setopt_string(easy, CURLOPT_USERAGENT, CurlHTTPClient.userAgent)),
            ("TIMEOUT_MS", ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)),
            ("CONNECTTIMEOUT_MS", ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds)),
            ("HTTPHEADER", ccurl_setopt_slist(easy, CURLOPT_HTTPHEADER, headers)),
            ("WRITEDATA", ccurl_setopt_pointer(easy, CURLOPT_WRITEDATA, context)),
            ("HEADERDATA", ccurl_setopt_pointer(easy, CURLOPT_HEADERDATA, context)),
            ("WRITEFUNCTION", ccurl_setopt_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, userdata in
                let length = size * count
                guard let userdata else { return 0 }
                if length > 0, let data {
                    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata).takeUnretainedValue()
                    data.withMemoryRebound(to: UInt8.self, capacity: length) { sink.body.append($0, count: length) }
                }
                return length
            }),
            ("HEADERFUNCTION", ccurl_setopt_callback(easy, CURLOPT_HEADERFUNCTION) { data, size, count, userdata in
                let length = size * count
                guard let userdata else { return 0 }
                if length > 0, let data {
                    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata).takeUnretainedValue()
                    data.withMemoryRebound(to: UInt8.self, capacity: length) {
                        sink.addHeaderLine(UnsafeBufferPointer(start: $0, count: length))
                    }
                }
                return length
            }),
        ]

        switch request.method {
        case "GET":
            results.append(("HTTPGET", ccurl_setopt_long(easy, CURLOPT_HTTPGET, 1)))
        case "HEAD":
            results.append(("NOBODY", ccurl_setopt_long(easy, CURLOPT_NOBODY, 1)))
        case "POST":
            results.append(("POST", ccurl_setopt_long(easy, CURLOPT_POST, 1)))
        default:
            results.append(("CUSTOMREQUEST", ccurl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)))
        }
        if let body = request.body {
            if request.method == "GET" {
                results.append(("CUSTOMREQUEST", ccurl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, "GET")))
            }
            results.append(("POSTFIELDSIZE_LARGE", ccurl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))))
            let copied: CURLcode = body.withUnsafeBytes { raw in
                if let base = raw.baseAddress, raw.count > 0 {
                    return ccurl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                }
                return ccurl_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "")
            }
            results.append(("COPYPOSTFIELDS", copied))
        }

        for (name, code) in results where code != CURLE_OK {
            return "libcurl rejected CURLOPT_\(name): \(String(cString: curl_easy_strerror(code)))"
        }
        return nil
    }

    /// Maps a failed `CURLcode` to an ``HTTPError``.
    private static func classify(_ code: CURLcode, easy: UnsafeMutableRawPointer, request: PreparedRequest,
                                 errorBuffer: UnsafeMutablePointer<CChar>) -> HTTPError {
        let url = request.loggedURL
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            // Nothing written yet means the connection never got as far as sending the request.
            var requestSize = 0
            _ = ccurl_getinfo_long(easy, CURLINFO_REQUEST_SIZE, &requestSize)
            if requestSize == 0 {
                return .connectionFailed(url: url, message: message)
            }
            return .timeout(url: url, seconds: request.timeout)
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
             CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION:
            return .connectionFailed(url: url, message: message)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return .invalidRequest(url: url, message: message)
        default:
            return .transport(url: url, code: Int(code.rawValue), message: message)
        }
    }
}
