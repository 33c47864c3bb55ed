import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback WebSocket server (127.0.0.1, a free port) on plain sockets, for the ping/pong exchange Hummingbird's
/// server hides: after the handshake it sends a text message every `every`, never answers a client's ping (a venue
/// whose connection still delivers data but no longer answers us), and with `pings` sends its own pings. It counts
/// connections, the pings clients sent, and the pongs they answered with.
public final class RawStreamServer: @unchecked Sendable {
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var sockets: [Int32] = []
    private var opened = 0
    private var pingsSeen = 0
    private var pongsSeen = 0
    private let pingEvery: Duration?
    private var stopped = false
    private let every: Duration
    private let message: String

    public init(every: Duration = .milliseconds(50), message: String = #"{"e":"noop"}"#, pings: Duration? = nil) {
        self.every = every
        self.message = message
        pingEvery = pings
    }

    public var connections: Int { lock.withLock { opened } }
    /// Pings the clients sent.
    public var pings: Int { lock.withLock { pingsSeen } }
    /// Pongs the clients answered our pings with.
    public var pongs: Int { lock.withLock { pongsSeen } }

    /// Starts listening; returns `ws://127.0.0.1:PORT`.
    public func start() throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket() failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw Failure("bind/listen failed") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        lock.withLock { listener = fd }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        Thread.detachNewThread { [self] in acceptLoop(fd) }
        return "ws://127.0.0.1:\(port)"
    }

    public func stop() {
        let all: [Int32] = lock.withLock {
            stopped = true
            defer { sockets = []; listener = -1 }
            return sockets + [listener]
        }
        for fd in all where fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    deinit { stop() }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop(_ fd: Int32) {
        while !isStopped {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            lock.withLock { sockets.append(client) }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ fd: Int32) {
        // The HTTP upgrade request, up to its blank line.
        var request = Data()
        var byte = [UInt8](repeating: 0, count: 1_024)
        while !request.contains(Data("\r\n\r\n".utf8)) {
            let n = recv(fd, &byte, byte.count, 0)
            guard n > 0 else { return }
            request.append(contentsOf: byte[0..<n])
        }
        let text = String(decoding: request, as: UTF8.self)
        guard let keyLine = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("sec-websocket-key:") }) else { return }
        let key = keyLine.drop { $0 != ":" }.dropFirst().trimmingCharacters(in: .whitespaces)
        let accept = Data(Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
        guard write(fd, Array(response.utf8)) else { return }
        lock.withLock { opened += 1 }
        Thread.detachNewThread { [self] in readFrames(fd) }
        // Data keeps flowing: the reader's stall watch never fires; only the missing pong is wrong.
        let payload = Array(message.utf8)
        let frame: [UInt8] = [0x81, UInt8(payload.count)] + payload
        let ping: [UInt8] = [0x89, 4, 1, 2, 3, 4]
        var nextPing = pingEvery.map { ContinuousClock.now + $0 }
        while !isStopped, write(fd, frame) {
            if let due = nextPing, ContinuousClock.now >= due, let period = pingEvery {
                guard write(fd, ping) else { return }
                nextPing = due + period
            }
            Thread.sleep(forTimeInterval: Double(every.components.seconds) + Double(every.components.attoseconds) / 1e18)
        }
    }

    /// Reads the client's frames (masked), counting pings and answering none.
    private func readFrames(_ fd: Int32) {
        func read(_ count: Int) -> [UInt8]? {
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: count)
            while out.count < count {
                let n = recv(fd, &chunk, count - out.count, 0)
                guard n > 0 else { return nil }
                out += chunk[0..<n]
            }
            return out
        }
        while let head = read(2) {
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 { guard let l = read(2) else { return }; length = Int(l[0]) << 8 | Int(l[1]) }
            if length == 127 { guard let l = read(8) else { return }; length = l.reduce(0) { $0 << 8 | Int($1) } }
            let masked = head[1] & 0x80 != 0
            guard read((masked ? 4 : 0) + length) != nil else { return }
            if opcode == 0x9 { lock.withLock { pingsSeen += 1 } }
            if opcode == 0xA { lock.withLock { pongsSeen += 1 } }
            if opcode == 0x8 { return }
        }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
