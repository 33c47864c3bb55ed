/// Interpretation of scalar text for the decoder. Only plain scalars are ever booleans, numbers
/// or null; quoted scalars are always strings.
enum YAMLScalars {
    static let nullWords: Set<String> = ["~", "null", "Null", "NULL", ""]
    static let trueWords: Set<String> = ["true", "True", "TRUE"]
    static let falseWords: Set<String> = ["false", "False", "FALSE"]

    static func isNull(_ text: String) -> Bool { nullWords.contains(text) }

    /// How a scalar appears in "found ..." messages.
    static func describe(_ text: String, _ style: YAMLNode.ScalarStyle) -> String {
        switch style {
        case .quoted:
            return "the string \(quote(text))"
        case .plain:
            if text.isEmpty { return "an empty value" }
            if isNull(text) { return "null" }
            return quote(text)
        }
    }

    static func quote(_ text: String) -> String {
        var escaped = ""
        for char in ConfigProblem.excerpt(text) {
            switch char {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default: escaped.append(char)
            }
        }
        return "\"\(escaped)\""
    }

    /// Outcome of interpreting a scalar.
    enum Failure: Error {
        /// The text is not of the requested kind; the message is completed by the caller.
        case mismatch
        /// The text is of the right kind but unusable; the message is complete.
        case invalid(String)
    }

    static func bool(_ text: String, _ style: YAMLNode.ScalarStyle) -> Bool? {
        guard style == .plain else { return nil }
        if trueWords.contains(text) { return true }
        if falseWords.contains(text) { return false }
        return nil
    }

    /// Plain decimal integers with an optional sign and `_` digit separators.
    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ text: String,
                                              _ style: YAMLNode.ScalarStyle) -> Result<I, Failure> {
        guard style == .plain else { return .failure(.mismatch) }
        var body = Substring(text)
        var sign = ""
        if let first = body.first, first == "+" || first == "-" {
            sign = first == "-" ? "-" : ""
            body = body.dropFirst()
        }
        guard let first = body.first, first.isASCII, first.isNumber,
              body.allSatisfy({ $0 == "_" || ($0.isASCII && $0.isNumber) }) else {
            return .failure(.mismatch)
        }
        let digits = sign + body.filter { $0 != "_" }
        if let value = I(digits, radix: 10) {
            return .success(value)
        }
        return .failure(.invalid("\(text) is out of range for \(I.self) (\(I.min)...\(I.max))"))
    }

    /// Plain decimal or scientific numbers (with `_` separators), and the YAML `.inf`/`.nan`
    /// spellings, which are rejected because configuration values must be finite.
    static func double(_ text: String, _ style: YAMLNode.ScalarStyle) -> Result<Double, Failure> {
        guard style == .plain else { return .failure(.mismatch) }
        let nonFinite: Set<String> = [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                      "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"]
        if nonFinite.contains(text) {
            return .failure(.invalid("expected a finite number, found \(text)"))
        }
        let cleaned = text.filter { $0 != "_" }
        guard isDecimalNumber(cleaned), let value = Double(cleaned) else {
            return .failure(.mismatch)
        }
        guard value.isFinite else {
            return .failure(.invalid("\(text) is out of range for a number"))
        }
        return .success(value)
    }

    /// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
    private static func isDecimalNumber(_ text: String) -> Bool {
        var chars = Substring(text)
        if let first = chars.first, first == "+" || first == "-" { chars = chars.dropFirst() }
        func digits(_ s: inout Substring) -> Int {
            let count = s.prefix { $0.isASCII && $0.isNumber }.count
            s = s.dropFirst(count)
            return count
        }
        var mantissaDigits = digits(&chars)
        if chars.first == "." {
            chars = chars.dropFirst()
            mantissaDigits += digits(&chars)
        }
        guard mantissaDigits > 0 else { return false }
        if let first = chars.first, first == "e" || first == "E" {
            chars = chars.dropFirst()
            if let sign = chars.first, sign == "+" || sign == "-" { chars = chars.dropFirst() }
            guard digits(&chars) > 0 else { return false }
        }
        return chars.isEmpty
    }
}
