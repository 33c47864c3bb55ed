import Foundation
import Logging
import WSClient

/// How one venue stream connection behaves: where it goes, how it stays alive and how it comes back.
public struct StreamSettings: Sendable, Equatable {
    /// A ping is sent this often; a missing pong closes the connection (and it reconnects).
    public var pingInterval: Duration
    /// No message (data or heartbeat) for this long means the connection is stalled: it is dropped and reopened.
    public var stallTimeout: Duration
    public var backoff: Backoff
    /// How long a close handshake may take before the socket is closed anyway.
    public var closeTimeout: Duration

    public init(pingInterval: Duration = .seconds(20), stallTimeout: Duration = .seconds(30),
                backoff: Backoff = Backoff(), closeTimeout: Duration = .seconds(2)) {
        self.pingInterval = pingInterval
        self.stallTimeout = stallTimeout
        self.backoff = backoff
        self.closeTimeout = closeTimeout
    }
}

/// Exponential backoff with full jitter: attempt n waits a random time in [0.5, 1] x min(initial * 2^n, maximum).
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before reconnect attempt `attempt` (0 = the first retry), with `unit` in [0, 1) as the jitter draw.
    public func delay(attempt: Int, unit: Double) -> Duration {
        let base = Self.seconds(initial) * pow(2, Double(min(attempt, 30)))
        let capped = min(base, Self.seconds(maximum))
        let jittered = capped * (0.5 + 0.5 * min(max(unit, 0), 1))
        return .milliseconds(Int64((jittered * 1_000).rounded()))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// What a subscription does with one inbound message.
public enum StreamReply: Sendable, Equatable {
    case keep
    /// Send these messages on the same connection (a resubscribe after a sequence gap).
    case send([String])
    /// Drop the connection and open it again (a listenKey that expired, a stream that cannot be trusted).
    case reconnect(reason: String)
}

/// A venue stream: where to connect (asked again at every connect: a Binance user stream needs a fresh listenKey)
/// and what to subscribe to once connected.
public protocol StreamSubscription: Sendable {
    /// A short name for the ledger and logs, e.g. `binance.market`.
    var name: String { get }
    /// The URL to open now.
    func url() async throws -> String
    /// Messages sent right after every connect: the subscription, re-sent after each reconnect.
    func subscribeMessages() async throws -> [String]
    /// One inbound text message.
    func receive(_ text: String) async -> StreamReply
}

/// A change of a connection's state, for the ledger (`stream_connected`, `stream_disconnected`, ...).
public enum StreamStatus: Sendable, Equatable {
    case connected(stream: String, url: String, attempt: Int)
    case disconnected(stream: String, reason: String, reconnectIn: Duration)
    case stalled(stream: String, silentFor: Duration)
}

/// Why a connection was closed by us.
struct StreamClosed: Error, CustomStringConvertible {
    var description: String
}

/// One venue WebSocket, kept open: connect, subscribe, read; ping on a timer; a silent connection is stalled and
/// dropped; every disconnect is followed by a reconnect after an exponential backoff with jitter, and the
/// subscription is sent again. Runs until its task is cancelled.
public struct StreamConnection: Sendable {
    public var subscription: any StreamSubscription
    public var settings: StreamSettings
    public var logger: Logger

    public init(subscription: any StreamSubscription, settings: StreamSettings, logger: Logger) {
        self.subscription = subscription
        self.settings = settings
        self.logger = logger
    }

    /// Keeps the connection open until cancelled, reporting each state change to `status`.
    public func run(status: @escaping @Sendable (StreamStatus) async -> Void) async {
        var failures = 0
        while !Task.isCancelled {
            var reason: String
            var stayed = false
            do {
                let url = try await subscription.url()
                let messages = try await subscription.subscribeMessages()
                let outcome = try await connectOnce(url: url, messages: messages, attempt: failures, status: status)
                stayed = outcome.receivedData
                reason = outcome.reason
            } catch is CancellationError {
                return
            } catch {
                reason = "\(error)"
            }
            if Task.isCancelled { return }
            // A connection that delivered data resets the backoff; one that failed at once backs off further.
            failures = stayed ? 0 : failures + 1
            let wait = settings.backoff.delay(attempt: max(0, failures - 1), unit: Double.random(in: 0..<1))
            await status(.disconnected(stream: subscription.name, reason: reason, reconnectIn: wait))
            logger.warning("stream disconnected", metadata: ["stream": "\(subscription.name)", "reason": "\(reason)"])
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }

    private struct Outcome {
        var reason: String
        var receivedData: Bool
    }

    /// One connection from open to close.
    private func connectOnce(url: String, messages: [String], attempt: Int,
                             status: @escaping @Sendable (StreamStatus) async -> Void) async throws -> Outcome {
        let seen = Heard()
        let subscription = self.subscription
        let name = subscription.name
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22, closeTimeout: settings.closeTimeout,
                                                         autoPing: .enabled(timePeriod: settings.pingInterval))
        var wsLogger = logger
        wsLogger.logLevel = .warning
        let handler: WebSocketDataHandler<WebSocketClient.Context> = { inbound, outbound, _ in
            for m in messages { try await outbound.write(.text(m)) }
            seen.touch(data: false)
            await status(.connected(stream: name, url: Self.redacted(url), attempt: attempt))
            for try await message in inbound.messages(maxSize: 1 << 22) {
                guard case .text(let text) = message else { continue }
                seen.touch(data: true)
                switch await subscription.receive(text) {
                case .keep: break
                case .send(let more): for m in more { try await outbound.write(.text(m)) }
                case .reconnect(let why):
                    seen.closeReason = why
                    try await outbound.close(.normalClosure, reason: nil)
                    return
                }
            }
        }
        let stall = settings.stallTimeout
        let reason: String = try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { [wsLogger] in
                let client = WebSocketClient(url: url, configuration: configuration, logger: wsLogger, handler: handler)
                let frame = try await client.run()
                // No close frame: the connection dropped, or a ping of ours went unanswered until the next one
                // (`autoPing` then closes it).
                return seen.closeReason ?? frame.map { "closed by the venue (\($0.closeCode))" }
                    ?? "ended without a close frame (dropped, or no pong to our ping)"
            }
            group.addTask {
                let tick = min(stall / 4, .milliseconds(250))
                while true {
                    try await Task.sleep(for: tick)
                    if let silent = seen.silence(), silent > stall {
                        await status(.stalled(stream: name, silentFor: silent))
                        return "stalled: no message for \(silent)"
                    }
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return "closed" }
            return first
        }
        return Outcome(reason: reason, receivedData: seen.receivedData)
    }

    /// A URL without its secret part (a Binance listenKey is the last path component of the user stream).
    static func redacted(_ url: String) -> String {
        guard let range = url.range(of: "/private/ws/") else { return url }
        return String(url[..<range.upperBound]) + "<listenKey>"
    }
}

/// When the connection last heard anything, shared by the reader and the stall watch.
private final class Heard: @unchecked Sendable {
    private let lock = NSLock()
    private var last: ContinuousClock.Instant?
    private var data = false
    private var reason: String?

    func touch(data isData: Bool) {
        lock.withLock {
            last = ContinuousClock.now
            if isData { data = true }
        }
    }

    /// Time since the last message, nil before the connection opened.
    func silence() -> Duration? {
        lock.withLock { last.map { ContinuousClock.now - $0 } }
    }

    var receivedData: Bool { lock.withLock { data } }

    var closeReason: String? {
        get { lock.withLock { reason } }
        set { lock.withLock { reason = newValue } }
    }
}
