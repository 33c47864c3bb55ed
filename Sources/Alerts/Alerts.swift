// Operator alerts: one short message per event, formatted for each channel kind and delivered with a short
// timeout and bounded retries. Channel URLs come from the environment; they are never logged, returned in an
// error or recorded: a failure is described by its kind (timeout, HTTP status...) only.

import Config
import Foundation
import HTTP

/// One thing to tell the operator. `key` identifies it for duplicate suppression (e.g. `halted#1234`).
public struct AlertMessage: Sendable, Equatable {
    public var event: AlertEventKind
    public var cycleId: String
    /// A few words, e.g. `HALTED` or `PAPER entry`.
    public var title: String
    /// One or two short sentences; the cycle id is appended by the formatter.
    public var text: String
    public var key: String

    public init(event: AlertEventKind, cycleId: String, title: String, text: String, key: String) {
        self.event = event
        self.cycleId = cycleId
        self.title = title
        self.text = text
        self.key = key
    }

    /// The message as one line per channel's markup: Slack `*bold*`, Discord `**bold**`, plain elsewhere.
    public func rendered(for kind: AlertChannelKind) -> String {
        let tail = "\(text) (cycle \(cycleId))"
        switch kind {
        case .slack: return "*agent: \(title)* \(tail)"
        case .discord: return "**agent: \(title)** \(tail)"
        case .telegram, .webhook: return "agent: \(title). \(tail)"
        }
    }
}

/// The outcome of one message on one channel, as recorded in the ledger (`alert_delivered` / `alert_failed`).
public struct AlertDelivery: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable { case delivered, failed, suppressed }
    public var channel: String
    public var kind: AlertChannelKind
    public var event: AlertEventKind
    public var key: String
    public var cycleId: String
    public var outcome: Outcome
    public var attempts: Int
    /// The last HTTP status seen, if any.
    public var status: Int?
    /// Why it failed or was suppressed, without the URL.
    public var problem: String?
}

/// A channel whose URL was found in the environment.
public struct AlertChannel: Sendable {
    public var config: AlertChannelConfig
    let url: String

    /// Resolves every configured channel; returns the ones whose variable is unset as `missing` (names only).
    public static func resolve(_ config: AlertsConfig, environment: [String: String]) -> (channels: [AlertChannel], missing: [String]) {
        var channels: [AlertChannel] = []
        var missing: [String] = []
        for c in config.channels {
            if let url = environment[c.urlEnv], !url.isEmpty {
                channels.append(AlertChannel(config: c, url: url))
            } else {
                missing.append("\(c.name) (\(c.urlEnv) is not set)")
            }
        }
        return (channels, missing)
    }

    /// The HTTP request that posts `message` in this channel's format.
    public func request(_ message: AlertMessage, timeout: Double) -> HTTPRequest {
        let body: [String: Any]
        var target = url
        let text = message.rendered(for: config.kind)
        switch config.kind {
        case .slack: body = ["text": text]
        case .discord: body = ["content": text, "allowed_mentions": ["parse": [String]()]]
        case .telegram:
            target = url.hasSuffix("/") ? url + "sendMessage" : url + "/sendMessage"
            body = ["chat_id": config.chatId ?? "", "text": text, "disable_web_page_preview": true]
        case .webhook:
            body = ["event": message.event.rawValue, "cycle_id": message.cycleId, "title": message.title, "text": text, "key": message.key]
        }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return HTTPRequest(method: "POST", url: target, headers: [HTTPHeader("Content-Type", "application/json")], body: data,
                           timeout: timeout, connectTimeout: min(timeout, 2))
    }
}

/// Delivers messages to the channels subscribed to them: duplicates and too-frequent messages are suppressed,
/// failures retried `maxAttempts` times, each attempt bounded by `timeoutSeconds`.
public actor AlertDispatcher {
    public let channels: [AlertChannel]
    let settings: AlertsConfig
    let transport: any HTTPTransport
    let clock: @Sendable () -> Double
    let pause: @Sendable (Double) async -> Void
    private var sent: [String: Set<String>] = [:]       // channel -> keys delivered
    private var lastSent: [String: Double] = [:]        // "channel/event" -> wall time

    public init(settings: AlertsConfig, channels: [AlertChannel], transport: any HTTPTransport = CurlHTTPClient(),
                alreadySent: [String: Set<String>] = [:],
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                pause: @escaping @Sendable (Double) async -> Void = RetryingHTTPClient.taskSleep) {
        self.settings = settings
        self.channels = channels
        self.transport = transport
        self.sent = alreadySent
        self.clock = clock
        self.pause = pause
    }

    /// Sends each message to every channel subscribed to its event; one outcome per (message, channel).
    public func deliver(_ messages: [AlertMessage], ignoringSubscriptions: Bool = false) async -> [AlertDelivery] {
        var out: [AlertDelivery] = []
        for message in messages {
            for channel in channels where ignoringSubscriptions || channel.config.events.contains(message.event) {
                out.append(await deliver(message, to: channel))
            }
        }
        return out
    }

    private func deliver(_ message: AlertMessage, to channel: AlertChannel) async -> AlertDelivery {
        let name = channel.config.name
        var delivery = AlertDelivery(channel: name, kind: channel.config.kind, event: message.event, key: message.key,
                                     cycleId: message.cycleId, outcome: .suppressed, attempts: 0)
        if sent[name, default: []].contains(message.key) {
            delivery.problem = "duplicate: already delivered"
            return delivery
        }
        let rateKey = "\(name)/\(message.event.rawValue)"
        if let last = lastSent[rateKey], clock() - last < channel.config.minIntervalSeconds {
            delivery.problem = "rate limited: one \(message.event.rawValue) per \(Int(channel.config.minIntervalSeconds))s"
            return delivery
        }
        let request = channel.request(message, timeout: settings.timeoutSeconds)
        for attempt in 1...max(1, settings.maxAttempts) {
            delivery.attempts = attempt
            do {
                let response = try await transport.send(request)
                delivery.status = response.status
                if response.isSuccess {
                    delivery.outcome = .delivered
                    delivery.problem = nil
                    sent[name, default: []].insert(message.key)
                    lastSent[rateKey] = clock()
                    return delivery
                }
                delivery.problem = "HTTP \(response.status)"
                if (400..<500).contains(response.status) && response.status != 429 { break }  // will not get better
            } catch {
                delivery.problem = Self.describe(error)
            }
            if attempt < settings.maxAttempts { await pause(0.25 * Double(attempt)) }
        }
        delivery.outcome = .failed
        return delivery
    }

    /// A failure without the URL (a webhook URL is itself the secret).
    static func describe(_ error: HTTPError) -> String {
        switch error {
        case .timeout(_, let seconds): "timeout after \(seconds)s"
        case .connectionFailed: "connection failed"
        case .transport(_, let code, _): "transport error (curl \(code))"
        case .invalidRequest: "invalid request (check the URL in the environment variable)"
        case .retriesExhausted(_, let attempts, let status, _): "gave up after \(attempts) attempts\(status.map { " (HTTP \($0))" } ?? "")"
        }
    }
}
