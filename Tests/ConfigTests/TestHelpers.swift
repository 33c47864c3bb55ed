import Config
import Testing

/// Runs `body` and returns the diagnostics it threw, or nil when it succeeded.
/// Any other error is recorded as a test failure.
func diagnostics<T>(_ body: () throws -> T) -> ConfigDiagnostics? {
    do {
        _ = try body()
        return nil
    } catch let error as ConfigDiagnostics {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

func mark(_ file: String, _ line: Int, _ column: Int) -> SourceMark {
    SourceMark(file: file, line: line, column: column)
}

/// A scalar's text and style, comparable in `#expect`.
struct Scalar: Equatable {
    var text: String
    var style: YAMLNode.ScalarStyle
    init(_ text: String, _ style: YAMLNode.ScalarStyle) {
        self.text = text
        self.style = style
    }
}

/// The scalar text and style of a node, or nil when it is not a scalar.
func scalar(_ node: YAMLNode?) -> Scalar? {
    guard let node, case .scalar(let text, let style) = node.content else { return nil }
    return Scalar(text, style)
}

func keys(_ node: YAMLNode?) -> [String] {
    guard let node, case .mapping(let entries) = node.content else { return [] }
    return entries.map(\.key)
}
