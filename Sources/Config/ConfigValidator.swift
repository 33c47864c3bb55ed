/// Range and consistency checks after decoding, reported at the source position of a value's path.
///
/// Paths are dotted YAML keys (`risk.max_open_positions`; camelCase spellings match too, see
/// `ConfigKeys`). When the path does not exist in the tree, the problem is reported at the nearest
/// existing ancestor and the message is prefixed with the path (`'risk.max_open_positions' ...`) so
/// it still names the value.
public struct ConfigValidator: Sendable {
    private let root: YAMLNode

    /// Every problem reported so far, in order.
    public private(set) var problems: [ConfigProblem] = []

    /// Creates a validator over the (merged, overridden) tree the configuration was decoded from.
    public init(root: YAMLNode) {
        self.root = root
    }

    /// Reports `message` at `path` unless `condition` holds.
    public mutating func check(_ condition: Bool, at path: String, _ message: @autoclosure () -> String) {
        if !condition { report(message(), at: path) }
    }

    /// Reports "must be between \(lower) and \(upper), got \(value)" when `value` is outside `range`.
    /// Integral floating-point numbers print without a trailing `.0`.
    public mutating func range<T: Comparable & Sendable>(_ value: T, _ range: ClosedRange<T>, at path: String) {
        guard !range.contains(value) else { return }
        let lower = Self.format(range.lowerBound)
        let upper = Self.format(range.upperBound)
        report("must be between \(lower) and \(upper), got \(Self.format(value))", at: path)
    }

    /// Reports `message` at the mark of `path` (or of its nearest existing ancestor).
    public mutating func report(_ message: String, at path: String) {
        let (node, complete) = root.resolve(path)
        let text = complete || path.isEmpty ? message : "'\(path)' \(message)"
        problems.append(ConfigProblem(mark: node.mark, message: text))
    }

    /// Throws every reported problem at once, if there are any.
    public func throwIfProblems() throws(ConfigDiagnostics) {
        if !problems.isEmpty { throw ConfigDiagnostics(problems) }
    }

    /// Formats a value for messages: integral `Double`/`Float` values without `.0`.
    static func format<T>(_ value: T) -> String {
        if let double = value as? Double { return formatFloatingPoint(double, fallback: "\(double)") }
        if let float = value as? Float { return formatFloatingPoint(Double(float), fallback: "\(float)") }
        return "\(value)"
    }

    private static func formatFloatingPoint(_ value: Double, fallback: String) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return fallback
    }
}
