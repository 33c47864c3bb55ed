import Foundation

/// Operator alerts (app.yaml `alerts`). Webhook URLs and bot tokens never live here: each channel names the
/// environment variable that holds its URL.
public struct AlertsConfig: Codable, Sendable, Equatable {
    public var channels: [AlertChannelConfig]
    /// Per-attempt limit for one delivery.
    public var timeoutSeconds: Double
    /// Attempts per message before it is recorded as failed (bounded retries).
    public var maxAttempts: Int

    public init(channels: [AlertChannelConfig] = [], timeoutSeconds: Double = 5, maxAttempts: Int = 3) {
        self.channels = channels
        self.timeoutSeconds = timeoutSeconds
        self.maxAttempts = maxAttempts
    }
}

/// Where alert messages go, and in which format.
public enum AlertChannelKind: String, Codable, Sendable, CaseIterable {
    case slack, discord, telegram, webhook
}

/// What an operator can be told about.
public enum AlertEventKind: String, Codable, Sendable, CaseIterable {
    /// An entry filled (PAPER/LIVE) or, in DRY_RUN, an approved order.
    case trade
    /// A position (or part of one) closed: stop, take profit, trailing or time stop, flatten.
    case exit
    /// The kill switch halted a cycle.
    case halted
    case circuitBreaker = "circuit_breaker"
    /// LIVE found something only a person can settle (`agent reconcile --ack`).
    case manualReview = "manual_review"
    /// A LIVE position lost (or never got) its protective stop.
    case protectionAlarm = "protection_alarm"
    /// The between-cycle guard reduced risk: a margin reduce or close, a flash move, a lost stream.
    case guardAction = "guard_action"
    /// A cycle failed.
    case error
    /// The AI budget ran out and the fallback was taken.
    case budgetExhausted = "budget_exhausted"
    /// Once per UTC day: cycles, statuses, equity, spend.
    case dailySummary = "daily_summary"
}

public struct AlertChannelConfig: Codable, Sendable, Equatable {
    public var name: String
    public var kind: AlertChannelKind
    /// The environment variable holding the webhook URL (Slack, Discord, webhook) or, for Telegram, the bot API
    /// base `https://api.telegram.org/bot<TOKEN>`.
    public var urlEnv: String
    /// Telegram only: the chat to send to.
    public var chatId: String?
    public var events: [AlertEventKind]
    /// At most one message per event kind in this many seconds on this channel (0: no limit).
    public var minIntervalSeconds: Double

    public init(name: String, kind: AlertChannelKind, urlEnv: String, chatId: String? = nil,
                events: [AlertEventKind], minIntervalSeconds: Double = 0) {
        self.name = name
        self.kind = kind
        self.urlEnv = urlEnv
        self.chatId = chatId
        self.events = events
        self.minIntervalSeconds = minIntervalSeconds
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, urlEnv, chatId, events, minIntervalSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(AlertChannelKind.self, forKey: .kind)
        urlEnv = try c.decode(String.self, forKey: .urlEnv)
        chatId = try c.decodeIfPresent(String.self, forKey: .chatId)
        events = try c.decodeIfPresent([AlertEventKind].self, forKey: .events) ?? AlertEventKind.allCases
        minIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .minIntervalSeconds) ?? 0
    }
}

extension Validation {
    static func alerts(_ a: AlertsConfig, _ v: inout ConfigValidator) {
        v.range(a.timeoutSeconds, 0.1...60, at: "alerts.timeout_seconds")
        v.range(a.maxAttempts, 1...10, at: "alerts.max_attempts")
        var names = Set<String>()
        for (i, channel) in a.channels.enumerated() {
            let key = "alerts.channels.\(i)"
            v.check(!channel.name.isEmpty, at: "\(key).name", "a channel needs a name")
            v.check(names.insert(channel.name).inserted, at: "\(key).name", "channel name '\(channel.name)' is used twice")
            v.check(channel.urlEnv.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil,
                    at: "\(key).url_env", "url_env names an environment variable (e.g. AGENT_SLACK_URL); the URL itself never goes in a file")
            v.check(channel.kind != .telegram || !(channel.chatId ?? "").isEmpty, at: "\(key).chat_id",
                    "a telegram channel needs chat_id")
            v.check(!channel.events.isEmpty, at: "\(key).events", "a channel needs at least one event")
            v.range(channel.minIntervalSeconds, 0...604_800, at: "\(key).min_interval_seconds")
        }
    }
}
