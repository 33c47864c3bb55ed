/// A position in a configuration source: 1-based line and column.
///
/// `file` is the path of the file, or a pseudo-source such as `"--set risk.max_open_positions"`
/// for command-line overrides or `"<default policy.yaml>"` for embedded defaults.
public struct SourceMark: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The path or pseudo-source name.
    public var file: String
    /// 1-based line number.
    public var line: Int
    /// 1-based column number (counted in characters).
    public var column: Int

    /// Creates a mark from a file name and 1-based line and column.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `"file:line:column"`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One configuration problem, printed as `"file:line:column: message"`.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is.
    public var mark: SourceMark
    /// What is wrong, without the position.
    public var message: String

    /// Creates a problem at `mark`. A message longer than ``maxMessage`` characters (a huge value echoed) is cut.
    public init(mark: SourceMark, message: String) {
        self.mark = mark
        self.message = Self.excerpt(message, limit: Self.maxMessage)
    }

    public static let maxMessage = 1_000
    public static let maxEchoedValue = 80

    /// `text`, or its first `limit` characters and how many more there were: values echoed in messages stay readable.
    public static func excerpt(_ text: String, limit: Int = maxEchoedValue) -> String {
        guard text.utf8.count > limit, text.count > limit else { return text }
        return String(text.prefix(limit)) + "… (\(text.count - limit) more characters)"
    }

    /// `"file:line:column: message"`.
    public var description: String { "\(mark): \(message)" }
}

/// One or more configuration problems, thrown by parsing, decoding and validation.
public struct ConfigDiagnostics: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, in the order they were found.
    public var problems: [ConfigProblem]

    /// Wraps a list of problems.
    public init(_ problems: [ConfigProblem]) {
        self.problems = problems
    }

    /// A single problem at `mark`.
    public init(at mark: SourceMark, _ message: String) {
        self.problems = [ConfigProblem(mark: mark, message: message)]
    }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
