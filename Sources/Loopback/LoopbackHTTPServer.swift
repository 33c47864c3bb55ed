import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A header field seen or sent by ``LoopbackHTTPServer``. Independent of the `HTTP` module on purpose.
public struct TestHeader: Sendable, Equatable, Hashable {
    /// The field name (lowercased in ``RecordedRequest``; as given in ``StubResponse``).
    public var name: String
    /// The field value, trimmed.
    public var value: String
    /// Creates a header field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request as received by ``LoopbackHTTPServer``.
public struct RecordedRequest: Sendable {
    /// The method as sent, e.g. `GET`.
    public var method: String
    /// The request target: path with query, e.g. `/v1/ticker?symbol=BTCUSDT`.
    public var path: String
    /// Header fields in the order received, names lowercased.
    public var headers: [TestHeader]
    /// The body (Content-Length or chunked), empty when there is none.
    public var body: Data

    /// Creates a recorded request.
    public init(method: String, path: String, headers: [TestHeader], body: Data) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// The first value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    /// The path without the query.
    public var pathWithoutQuery: String {
        path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
    }

    /// The body decoded as UTF-8.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// What ``LoopbackHTTPServer`` answers.
public struct StubResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Headers sent as given. `Content-Length` and `Connection: close` are added unless present.
    public var headers: [TestHeader]
    /// The body.
    public var body: Data
    /// Seconds to wait before answering (interrupted by ``LoopbackHTTPServer/stop()``).
    public var delay: Double
    /// Close the connection without sending anything (after `delay`).
    public var dropConnection: Bool

    /// Creates a response.
    public init(status: Int = 200, headers: [TestHeader] = [], body: Data = Data(), delay: Double = 0,
                dropConnection: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delay = delay
        self.dropConnection = dropConnection
    }

    /// A JSON response (`Content-Type: application/json`).
    public static func json(_ text: String, status: Int = 200) -> StubResponse {
        StubResponse(status: status, headers: [TestHeader("Content-Type", "application/json")], body: Data(text.utf8))
    }

    /// A plain-text response.
    public static func text(_ text: String, status: Int = 200) -> StubResponse {
        StubResponse(status: status, headers: [TestHeader("Content-Type", "text/plain")], body: Data(text.utf8))
    }

    /// The same response with an added header.
    public func with(header name: String, _ value: String) -> StubResponse {
        var copy = self
        copy.headers.append(TestHeader(name, value))
        return copy
    }

    /// The same response answered after `seconds`.
    public func delayed(by seconds: Double) -> StubResponse {
        var copy = self
        copy.delay = seconds
        return copy
    }
}

/// Why ``LoopbackHTTPServer`` could not start.
public struct LoopbackServerError: Error, CustomStringConvertible {
    /// What failed, with `errno`'s text.
    public var description: String
}

/// A real HTTP/1.1 server on 127.0.0.1 for tests, over POSIX sockets.
///
/// Each connection is served on its own thread: one request per connection, answered with
/// `Connection: close`. A request carrying `Expect: 100-continue` first gets an interim
/// `100 Continue` response that includes the header `X-Interim: 1`.
public final class LoopbackHTTPServer: Sendable {
    /// The bound port.
    public let port: Int
    private let state: ServerState

    /// Binds 127.0.0.1 on an ephemeral port and serves each connection on its own thread;
    /// `handler` is called once per request on that connection's thread.
    public init(handler: @escaping @Sendable (RecordedRequest) -> StubResponse) throws {
        let fd = socket(AF_INET, Socket.streamType, 0)
        guard fd >= 0 else { throw LoopbackServerError(description: "socket: \(Socket.errorText())") }
        var yes: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Socket.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let text = Socket.errorText()
            close(fd)
            throw LoopbackServerError(description: "bind/listen on 127.0.0.1: \(text)")
        }
        guard let boundPort = Socket.localPort(fd) else {
            close(fd)
            throw LoopbackServerError(description: "getsockname: \(Socket.errorText())")
        }
        port = boundPort
        state = ServerState(listener: fd, handler: handler)
        let state = self.state
        let thread = Thread { state.acceptLoop() }
        thread.name = "loopback-accept"
        thread.start()
    }

    deinit {
        state.stop()
    }

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request received so far, in arrival order.
    public var requests: [RecordedRequest] { state.recorded }

    /// Closes the listener and interrupts open connections and delays. Idempotent; also run by `deinit`.
    public func stop() {
        state.stop()
    }

    /// Waits (polling, up to `timeout` seconds) until at least `count` requests have arrived.
    /// Returns whether they did.
    @discardableResult
    public func waitForRequests(_ count: Int, timeout: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while state.recorded.count < count {
            if Date() >= deadline { return false }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return true
    }

    /// A port on 127.0.0.1 with nothing listening (bound once, then released), for "connection refused".
    public static func unusedPort() throws -> Int {
        let (port, fd) = try boundPort()
        close(fd)
        return port
    }

    /// A port on which every connection is refused, and which stays so until `release` (a socket bound there but not
    /// listening): unlike `unusedPort`, no concurrent test's server can take it in between.
    public static func refusingPort() throws -> (port: Int, release: @Sendable () -> Void) {
        let (port, fd) = try boundPort()
        return (port, { close(fd) })
    }

    private static func boundPort() throws -> (port: Int, fd: Int32) {
        let fd = socket(AF_INET, Socket.streamType, 0)
        guard fd >= 0 else { throw LoopbackServerError(description: "socket: \(Socket.errorText())") }
        var address = Socket.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, let port = Socket.localPort(fd) else {
            let text = Socket.errorText()
            close(fd)
            throw LoopbackServerError(description: "bind: \(text)")
        }
        return (port, fd)
    }
}

/// Socket helpers.
enum Socket {
    #if os(Linux)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    static let streamType = SOCK_STREAM
    static let sendFlags: Int32 = 0
    #endif

    static func errorText() -> String { String(cString: strerror(errno)) }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func localPort(_ fd: Int32) -> Int? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return result == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// Writes everything; false if the peer went away.
    static func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return true }
            var offset = 0
            while offset < raw.count {
                let written = send(fd, base + offset, raw.count - offset, sendFlags)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }

    /// Sets a receive timeout so a silent peer cannot hold a thread forever.
    static func setReceiveTimeout(_ fd: Int32, seconds: Int) {
        var value = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Mutable server state, guarded by `condition`.
final class ServerState: @unchecked Sendable {
    private let condition = NSCondition()
    private let listener: Int32
    private let handler: @Sendable (RecordedRequest) -> StubResponse
    private var stopped = false
    private var requests: [RecordedRequest] = []
    private var connections: Set<Int32> = []

    init(listener: Int32, handler: @escaping @Sendable (RecordedRequest) -> StubResponse) {
        self.listener = listener
        self.handler = handler
    }

    var recorded: [RecordedRequest] {
        condition.lock()
        defer { condition.unlock() }
        return requests
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    func stop() {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        stopped = true
        // Wakes accept(); the accept thread closes the listener itself, so the fd is never reused under it.
        _ = shutdown(listener, Int32(SHUT_RDWR))
        for fd in connections { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        condition.broadcast()
    }

    func acceptLoop() {
        defer { close(listener) }
        while !isStopped {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready <= 0 { continue }
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            condition.lock()
            if stopped {
                condition.unlock()
                close(client)
                break
            }
            connections.insert(client)
            condition.unlock()
            let thread = Thread { [self] in
                serve(client)
                condition.lock()
                connections.remove(client)
                condition.unlock()
                close(client)
            }
            thread.name = "loopback-connection"
            thread.start()
        }
    }

    /// Waits up to `seconds`; false if the server stopped meanwhile.
    private func wait(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            if !condition.wait(until: deadline) { break }
        }
        return !stopped
    }

    private func serve(_ fd: Int32) {
        Socket.setReceiveTimeout(fd, seconds: 10)
        guard let request = readRequest(fd) else { return }
        condition.lock()
        requests.append(request)
        condition.unlock()

        let response = handler(request)
        if response.delay > 0, !wait(response.delay) { return }
        if response.dropConnection || isStopped { return }

        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        let names = Set(response.headers.map { $0.name.lowercased() })
        for header in response.headers { head += "\(header.name): \(header.value)\r\n" }
        if !names.contains("content-length") { head += "Content-Length: \(response.body.count)\r\n" }
        if !names.contains("connection") { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Data(head.utf8)
        if request.method != "HEAD" { bytes.append(response.body) }
        guard Socket.sendAll(fd, bytes) else { return }

        // Half-close, then drain until the client closes, so no unread input turns the close into a reset.
        _ = shutdown(fd, Int32(SHUT_WR))
        Socket.setReceiveTimeout(fd, seconds: 2)
        var scratch = [UInt8](repeating: 0, count: 4096)
        while recv(fd, &scratch, scratch.count, 0) > 0 {}
    }

    /// Reads one request; nil if the connection closed or the request is malformed.
    private func readRequest(_ fd: Int32) -> RecordedRequest? {
        var buffer = Data()
        let terminator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        while headerEnd == nil {
            guard buffer.count < 1 << 20, receive(fd, into: &buffer) else { return nil }
            headerEnd = buffer.range(of: terminator)
        }
        guard let headerEnd else { return nil }
        let headText = String(decoding: buffer[buffer.startIndex..<headerEnd.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else { return nil }
        var headers: [TestHeader] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(TestHeader(line[..<colon].trimmingCharacters(in: .whitespaces).lowercased(),
                                      line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func value(_ name: String) -> String? { headers.first { $0.name == name }?.value }

        if value("expect")?.lowercased() == "100-continue" {
            guard Socket.sendAll(fd, Data("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n".utf8)) else { return nil }
        }

        var rest = Data(buffer[headerEnd.upperBound...])
        let body: Data
        if value("transfer-encoding")?.lowercased().contains("chunked") == true {
            guard let decoded = readChunked(fd, buffered: &rest) else { return nil }
            body = decoded
        } else if let lengthText = value("content-length"), let length = Int(lengthText), length >= 0 {
            while rest.count < length {
                guard receive(fd, into: &rest) else { return nil }
            }
            body = Data(rest.prefix(length))
        } else {
            body = Data()
        }
        return RecordedRequest(method: String(requestLine[0]), path: String(requestLine[1]),
                               headers: headers, body: body)
    }

    private func readChunked(_ fd: Int32, buffered: inout Data) -> Data? {
        var body = Data()
        let crlf = Data("\r\n".utf8)
        while true {
            var lineEnd = buffered.range(of: crlf)
            while lineEnd == nil {
                guard receive(fd, into: &buffered) else { return nil }
                lineEnd = buffered.range(of: crlf)
            }
            guard let lineEnd else { return nil }
            let sizeText = String(decoding: buffered[buffered.startIndex..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first.map(String.init) ?? "", radix: 16) else { return nil }
            buffered = Data(buffered[lineEnd.upperBound...])
            while buffered.count < size + 2 {
                guard receive(fd, into: &buffered) else { return nil }
            }
            if size == 0 { return body }
            body.append(buffered.prefix(size))
            buffered = Data(buffered.dropFirst(size + 2))
        }
    }

    /// Appends whatever arrives; false on EOF, error or timeout.
    private func receive(_ fd: Int32, into buffer: inout Data) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 418: return "I'm a teapot"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 529: return "Overloaded"
        default: return "Status"
        }
    }
}
