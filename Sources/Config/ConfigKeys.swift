/// Key-name helpers shared by the decoder, `YAMLNode.node(at:)`, `--set` and the validator.
///
/// Matching rule: a YAML key matches a property name when the two are equal, or when they are equal
/// after removing every `_` and lowercasing both. So the property `maxOpenPositions` matches
/// `maxOpenPositions`, `max_open_positions` and `MAX_OPEN_POSITIONS`, and `tier1Core` matches both
/// `tier1_core` and `tier_1_core`. An exact match always wins over a normalized one.
public enum ConfigKeys {
    /// The snake_case form of a camelCase name, like `JSONEncoder`'s `convertToSnakeCase`:
    /// `maxSpreadBps` -> `max_spread_bps`, `tier1Core` -> `tier1_core`, `myURLValue` -> `my_url_value`.
    /// Names without uppercase letters are returned unchanged.
    public static func snakeCase(_ name: String) -> String {
        let chars = Array(name)
        guard !chars.isEmpty else { return name }
        var words: [String] = []
        var current = ""
        for index in chars.indices {
            let char = chars[index]
            let previous = index > 0 ? chars[index - 1] : " "
            if char.isUppercase, !current.isEmpty, previous.isLetter || previous.isNumber {
                let previousUpper = previous.isUppercase
                let nextLower = index + 1 < chars.count && chars[index + 1].isLowercase
                if !previousUpper || nextLower {
                    words.append(current)
                    current = ""
                }
            }
            current.append(char)
        }
        words.append(current)
        return words.map { $0.lowercased() }.joined(separator: "_")
    }

    /// The comparison form of a key: lowercased, with underscores removed.
    public static func normalized(_ name: String) -> String {
        String(name.lowercased().filter { $0 != "_" })
    }

    /// Whether a YAML key matches a property (or path component) name under the rule above.
    public static func matches(yamlKey: String, name: String) -> Bool {
        yamlKey == name || normalized(yamlKey) == normalized(name)
    }

    /// Levenshtein distance between two strings, in characters.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let left = Array(a)
        let right = Array(b)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        var current = [Int](repeating: 0, count: right.count + 1)
        for i in 1...left.count {
            current[0] = i
            for j in 1...right.count {
                let cost = left[i - 1] == right[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }
}
