import Config
import Model

/// A news risk flag M1 raised in an earlier cycle (rebuilt from the ledger).
public struct NewsRiskFlag: Codable, Sendable, Equatable {
    public var symbol: String
    public var level: NewsRiskLevel
    /// Decision time of the cycle that raised it.
    public var time: Int64
    public init(symbol: String, level: NewsRiskLevel, time: Int64) {
        self.symbol = symbol
        self.level = level
        self.time = time
    }
}

/// Decay of news risk flags: HIGH for `high_risk_block_hours`, then MEDIUM for `medium_risk_hours`, then LOW.
public enum NewsRiskDecay {
    public static func level(of flag: NewsRiskFlag, at now: Int64, policy: NewsRiskPolicy) -> NewsRiskLevel {
        let hours = Double(now - flag.time) / 3_600
        guard hours >= 0 else { return .low }
        switch flag.level {
        case .high:
            if hours < policy.highRiskBlockHours { return .high }
            return hours < policy.highRiskBlockHours + policy.mediumRiskHours ? .medium : .low
        case .medium:
            return hours < policy.mediumRiskHours ? .medium : .low
        case .low:
            return .low
        }
    }

    /// The effective level per symbol from earlier flags.
    public static func effective(_ flags: [NewsRiskFlag], at now: Int64, policy: NewsRiskPolicy) -> [String: (NewsRiskLevel, NewsRiskFlag)] {
        var out: [String: (NewsRiskLevel, NewsRiskFlag)] = [:]
        for flag in flags {
            let level = level(of: flag, at: now, policy: policy)
            if let current = out[flag.symbol], current.0 >= level { continue }
            out[flag.symbol] = (level, flag)
        }
        return out
    }
}
