import Foundation
import Logging
import Model

/// Logs as JSON lines on stderr, so stdout carries only the requested output (`agent --once | jq` works).
public struct JSONLinesLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = ["ts": UTC.iso8601(UTC.now()), "level": event.level.rawValue,
                                        "msg": "\(event.message)", "logger": label]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, b in b }) { fields[k] = "\(v)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(fields) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }
}

enum AgentLogging {
    static func logger(level: String) -> Logger {
        let parsed = Logger.Level(rawValue: level) ?? .info
        return Logger(label: "agent") { label in JSONLinesLogHandler(label: label, level: parsed) }
    }
}
