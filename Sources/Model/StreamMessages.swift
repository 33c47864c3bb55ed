/// What a venue stream message was about, as the between-cycle watch counts them (`agent_stream_messages_total`).
public enum StreamMessageKind: String, Codable, Sendable, CaseIterable, Comparable {
    case mark
    case quote
    case trade
    case bar
    case order
    case positions
    case marginCall = "margin_call"
    case heartbeat
    case resync
    case listenKeyExpired = "listen_key_expired"

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// How many stream messages of one kind arrived between two cycles (summary `stream_messages`).
public struct StreamMessageCount: Codable, Sendable, Equatable {
    public var kind: StreamMessageKind
    public var count: Int

    public init(kind: StreamMessageKind, count: Int) {
        self.kind = kind
        self.count = count
    }

    /// Counts per kind as a list sorted by kind, without zero counts.
    public static func list(_ counts: [StreamMessageKind: Int]) -> [StreamMessageCount] {
        counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { StreamMessageCount(kind: $0.key, count: $0.value) }
    }
}
