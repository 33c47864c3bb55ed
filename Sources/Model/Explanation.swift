/// A sentence that explains a decision — a trigger's evidence, a proposal's reason, a policy check's comparison —
/// written only when somebody reads it. A backtest decides on every bar and reads almost none of these, so the stages
/// hand over the numbers and the sentence is formatted on first read (the ledger's encoder, `agent show`, a report).
///
/// Equal when their texts are equal; encoded as the text, so the JSON is the same as a plain string's.
public struct Explanation: Sendable {
    private enum Source: Sendable {
        case text(String)
        case deferred(@Sendable () -> String)
    }

    private let source: Source

    public init(_ text: String) { source = .text(text) }

    /// A sentence built from values captured now, formatted when read.
    public init(deferred render: @escaping @Sendable () -> String) { source = .deferred(render) }

    /// `detail: .later("volume \(fmt(ratio))x the 24h average")`: the interpolation runs when the text is read.
    public static func later(_ text: @autoclosure @escaping @Sendable () -> String) -> Explanation {
        Explanation(deferred: text)
    }

    public var text: String {
        switch source {
        case .text(let text): text
        case .deferred(let render): render()
        }
    }
}

extension Explanation: Equatable {
    public static func == (a: Explanation, b: Explanation) -> Bool { a.text == b.text }
}

extension Explanation: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

extension Explanation: ExpressibleByStringLiteral, CustomStringConvertible {
    public init(stringLiteral value: String) { self.init(value) }
    public var description: String { text }
}
