import Foundation

/// One `key: value` pair of a YAML mapping, with the position of the key.
public struct YAMLMappingEntry: Sendable, Equatable {
    /// The key text, exactly as written (no case conversion).
    public var key: String
    /// Where the key is.
    public var keyMark: SourceMark
    /// The value node.
    public var value: YAMLNode

    /// Creates an entry.
    public init(key: String, keyMark: SourceMark, value: YAMLNode) {
        self.key = key
        self.keyMark = keyMark
        self.value = value
    }
}

/// A YAML node with its source position. Scalars keep their text untyped; the decoder decides
/// what a scalar means from the requested type and the scalar's style.
public struct YAMLNode: Sendable, Equatable {
    /// How a scalar was written.
    public enum ScalarStyle: Sendable, Equatable {
        /// Unquoted: may be a number, boolean or null.
        case plain
        /// Single- or double-quoted, literal (`|`) or folded (`>`), or tagged `!!str`: always a string.
        case quoted
    }

    /// What the node holds.
    public enum Content: Sendable, Equatable {
        /// A scalar's text and style.
        case scalar(String, ScalarStyle)
        /// A sequence of nodes.
        case sequence([YAMLNode])
        /// A mapping, in document order.
        case mapping([YAMLMappingEntry])
    }

    /// What the node holds.
    public var content: Content
    /// Where the node starts (for block mappings and sequences: their first key or item).
    public var mark: SourceMark

    /// Creates a node.
    public init(content: Content, mark: SourceMark) {
        self.content = content
        self.mark = mark
    }

    // MARK: - Parsing

    /// Parses one YAML document. An empty document is an empty mapping.
    ///
    /// Syntax errors, duplicate mapping keys (reported at the second key), non-scalar mapping keys,
    /// unknown aliases and multiple documents are `ConfigDiagnostics` with exact positions.
    /// Anchors and aliases are resolved (an alias yields a copy of the anchored node, with the
    /// anchored node's marks), and `<<` merge keys are applied.
    public static func parse(_ text: String, file: String) throws(ConfigDiagnostics) -> YAMLNode {
        try YAMLParser.parse(text, file: file)
    }

    /// Reads and parses a UTF-8 file. A missing or unreadable file is a `ConfigDiagnostics` at
    /// `path:1:1` saying so.
    public static func parseFile(atPath path: String) throws(ConfigDiagnostics) -> YAMLNode {
        let start = SourceMark(file: path, line: 1, column: 1)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigDiagnostics(at: start, "configuration file not found")
        }
        guard !isDirectory.boolValue else {
            throw ConfigDiagnostics(at: start, "configuration path is a directory, not a file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigDiagnostics(at: start, "cannot read configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigDiagnostics(at: start, "configuration file is not valid UTF-8")
        }
        return try parse(text, file: path)
    }

    // MARK: - Queries

    /// Whether this is a plain null scalar: `~`, `null`, `Null`, `NULL` or nothing at all.
    public var isNull: Bool {
        guard case .scalar(let text, .plain) = content else { return false }
        return YAMLScalars.isNull(text)
    }

    /// "a mapping", "a sequence", or the scalar described for error messages.
    var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let text, let style): return YAMLScalars.describe(text, style)
        }
    }

    /// The child of this node for one path component: a mapping key (matched by `ConfigKeys`'
    /// rule, exact match first) or, for sequences, a decimal index.
    func child(_ component: String) -> YAMLNode? {
        switch content {
        case .mapping(let entries):
            return Self.entryIndex(in: entries, for: component).map { entries[$0].value }
        case .sequence(let items):
            guard let index = Int(component), items.indices.contains(index) else { return nil }
            return items[index]
        case .scalar:
            return nil
        }
    }

    /// The index of the entry matching `name`: an exact key first, otherwise the first key that
    /// matches after normalization.
    static func entryIndex(in entries: [YAMLMappingEntry], for name: String) -> Int? {
        if let exact = entries.firstIndex(where: { $0.key == name }) { return exact }
        return entries.firstIndex { ConfigKeys.matches(yamlKey: $0.key, name: name) }
    }

    private static func components(_ path: String) -> [String] {
        path.isEmpty ? [] : path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    /// The node at a dotted path of mapping keys (numeric components index sequences), or nil.
    /// Keys match as in `ConfigKeys` (so `risk.max_open_positions` and `risk.maxOpenPositions`
    /// are the same path). The empty path is this node.
    public func node(at path: String) -> YAMLNode? {
        var current = self
        for component in Self.components(path) {
            guard let next = current.child(component) else { return nil }
            current = next
        }
        return current
    }

    /// The mark of the node at `path`, or of its nearest existing ancestor.
    public func mark(at path: String) -> SourceMark {
        resolve(path).node.mark
    }

    /// The deepest existing node along `path` and whether it is the node at the full path.
    func resolve(_ path: String) -> (node: YAMLNode, complete: Bool) {
        var current = self
        for component in Self.components(path) {
            guard let next = current.child(component) else { return (current, false) }
            current = next
        }
        return (current, true)
    }

    // MARK: - Replace

    /// This tree with the first node (outermost first) marked `mark` replaced by the node at the same path in
    /// `defaults`, or by null when the defaults have none. Nil when no node has that mark.
    func replacingNode(at mark: SourceMark, from defaults: YAMLNode) -> YAMLNode? {
        guard let path = path(to: mark) else { return nil }
        let replacement = defaults.node(at: path.joined(separator: "."))
            ?? YAMLNode(content: .scalar("", .plain), mark: mark)
        var copy = self
        copy.replace(at: path[...], with: replacement)
        return copy
    }

    /// This tree without the mapping entries whose keys are at `marks`.
    func removingEntries(keyedAt marks: Set<SourceMark>) -> YAMLNode {
        var copy = self
        switch content {
        case .scalar:
            break
        case .sequence(let items):
            copy.content = .sequence(items.map { $0.removingEntries(keyedAt: marks) })
        case .mapping(let entries):
            copy.content = .mapping(entries.filter { !marks.contains($0.keyMark) }.map { entry in
                var entry = entry
                entry.value = entry.value.removingEntries(keyedAt: marks)
                return entry
            })
        }
        return copy
    }

    private func path(to target: SourceMark) -> [String]? {
        if mark == target { return [] }
        switch content {
        case .scalar:
            return nil
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                if let rest = item.path(to: target) { return ["\(index)"] + rest }
            }
        case .mapping(let entries):
            for entry in entries {
                if let rest = entry.value.path(to: target) { return [entry.key] + rest }
            }
        }
        return nil
    }

    private mutating func replace(at path: ArraySlice<String>, with replacement: YAMLNode) {
        guard let first = path.first else {
            self = replacement
            return
        }
        switch content {
        case .sequence(var items):
            if let index = Int(first), items.indices.contains(index) {
                items[index].replace(at: path.dropFirst(), with: replacement)
                content = .sequence(items)
            }
        case .mapping(var entries):
            if let index = entries.firstIndex(where: { $0.key == first }) {
                entries[index].value.replace(at: path.dropFirst(), with: replacement)
                content = .mapping(entries)
            }
        case .scalar:
            break
        }
    }

    // MARK: - Merge

    /// Deep merge: mappings merge key by key recursively (self wins); anything else in self
    /// replaces the default wholesale. Keys only in self are kept (the decoder reports them as
    /// unknown). Marks stay those of the node that won. Order: self's keys in self's order, then
    /// keys only in the defaults in their order.
    public func merged(over defaults: YAMLNode) -> YAMLNode {
        guard case .mapping(let mine) = content, case .mapping(let theirs) = defaults.content else {
            return self
        }
        var result: [YAMLMappingEntry] = []
        var used = Set<Int>()
        for entry in mine {
            var entry = entry
            if let index = theirs.firstIndex(where: { $0.key == entry.key }) {
                used.insert(index)
                entry.value = entry.value.merged(over: theirs[index].value)
            }
            result.append(entry)
        }
        for (index, entry) in theirs.enumerated() where !used.contains(index) {
            result.append(entry)
        }
        return YAMLNode(content: .mapping(result), mark: mark)
    }

    // MARK: - --set

    /// Applies `--set dotted.path=value`: walks (or creates) mappings along `path` and replaces the
    /// leaf with `rawValue` parsed as a YAML value, so `5`, `true`, `abc`, `[a, b]` and `{x: 1}`
    /// all work; an empty `rawValue` is an empty plain scalar (null). Existing keys match as in
    /// `ConfigKeys`; new keys are created exactly as written. Every new node is marked
    /// `--set <path>:1:1`. A component crossing a scalar or sequence, an empty path or path
    /// component, and a value that does not parse are `ConfigDiagnostics`.
    /// `file` prefixes the path in messages and marks (`policy` gives `--set policy.risk.x`).
    public mutating func set(path: String, rawValue: String, file fileName: String? = nil) throws(ConfigDiagnostics) {
        let file = "--set \(fileName.map { "\($0)." } ?? "")\(path)"
        let setMark = SourceMark(file: file, line: 1, column: 1)
        let components = Self.components(path)
        guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigDiagnostics(at: setMark, "invalid --set path '\(path)': expected dotted keys like risk.max_open_positions")
        }
        var value: YAMLNode
        if rawValue.allSatisfy(\.isWhitespace) {
            value = YAMLNode(content: .scalar("", .plain), mark: setMark)
        } else {
            value = try YAMLNode.parse(rawValue, file: file)
        }
        value.replaceAllMarks(with: setMark)
        try Self.assign(value, into: &self, components: components[...], walked: [], setMark: setMark)
    }

    private static func assign(_ value: YAMLNode, into node: inout YAMLNode, components: ArraySlice<String>,
                               walked: [String], setMark: SourceMark) throws(ConfigDiagnostics) {
        guard let first = components.first else {
            node = value
            return
        }
        var entries: [YAMLMappingEntry]
        switch node.content {
        case .mapping(let existing):
            entries = existing
        case .scalar where node.isNull:
            entries = []
        case .scalar, .sequence:
            let location = walked.isEmpty ? "the document root" : "'\(walked.joined(separator: "."))'"
            let fullPath = (walked + components).joined(separator: ".")
            throw ConfigDiagnostics(at: setMark,
                                    "cannot set '\(fullPath)': \(location) is \(node.kindDescription), not a mapping")
        }
        if let index = entryIndex(in: entries, for: first) {
            try assign(value, into: &entries[index].value, components: components.dropFirst(),
                       walked: walked + [entries[index].key], setMark: setMark)
        } else {
            var child = YAMLNode(content: .mapping([]), mark: setMark)
            try assign(value, into: &child, components: components.dropFirst(),
                       walked: walked + [first], setMark: setMark)
            entries.append(YAMLMappingEntry(key: first, keyMark: setMark, value: child))
        }
        node.content = .mapping(entries)
    }

    private mutating func replaceAllMarks(with newMark: SourceMark) {
        mark = newMark
        switch content {
        case .scalar:
            break
        case .sequence(var items):
            for index in items.indices { items[index].replaceAllMarks(with: newMark) }
            content = .sequence(items)
        case .mapping(var entries):
            for index in entries.indices {
                entries[index].keyMark = newMark
                entries[index].value.replaceAllMarks(with: newMark)
            }
            content = .mapping(entries)
        }
    }

    // MARK: - Environment

    /// Expands `${NAME}` and `${NAME:-fallback}` in every scalar (plain or quoted; not in keys)
    /// from `environment`. The fallback is used when NAME is unset or empty. `$$` is a literal `$`;
    /// any other `$` is kept as is. An unset NAME without fallback is a problem at the scalar's
    /// mark: "environment variable NAME is not set"; an unterminated `${` or an invalid name is
    /// one too. All problems are collected, then thrown together. Scalar styles are kept, so a
    /// plain `${PORT}` expanding to `8080` still decodes as a number.
    public func expandingEnvironment(_ environment: [String: String]) throws(ConfigDiagnostics) -> YAMLNode {
        var problems: [ConfigProblem] = []
        let result = expanded(environment, problems: &problems)
        if !problems.isEmpty { throw ConfigDiagnostics(problems) }
        return result
    }

    private func expanded(_ environment: [String: String], problems: inout [ConfigProblem]) -> YAMLNode {
        var copy = self
        switch content {
        case .scalar(let text, let style):
            guard text.contains("$") else { return self }
            copy.content = .scalar(Self.expand(text, environment, at: mark, problems: &problems), style)
        case .sequence(let items):
            copy.content = .sequence(items.map { $0.expanded(environment, problems: &problems) })
        case .mapping(let entries):
            copy.content = .mapping(entries.map { entry in
                var entry = entry
                entry.value = entry.value.expanded(environment, problems: &problems)
                return entry
            })
        }
        return copy
    }

    private static func expand(_ text: String, _ environment: [String: String], at mark: SourceMark,
                               problems: inout [ConfigProblem]) -> String {
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let char = text[index]
            let next = text.index(after: index)
            guard char == "$", next < text.endIndex else {
                output.append(char)
                index = next
                continue
            }
            if text[next] == "$" {
                output.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{" else {
                output.append(char)
                index = next
                continue
            }
            let bodyStart = text.index(after: next)
            guard let close = text[bodyStart...].firstIndex(of: "}") else {
                problems.append(ConfigProblem(mark: mark, message: "unterminated '${' in \"\(text)\""))
                output.append(contentsOf: text[index...])
                break
            }
            let body = text[bodyStart..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = body.range(of: ":-") {
                name = body[..<separator.lowerBound]
                fallback = body[separator.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            if !isValidVariableName(name) {
                problems.append(ConfigProblem(mark: mark, message: "invalid environment variable name '\(name)' in \"\(text)\""))
            } else if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                output.append(value)
            } else if let fallback {
                output.append(contentsOf: fallback)
            } else {
                problems.append(ConfigProblem(mark: mark, message: "environment variable \(name) is not set"))
            }
            index = text.index(after: close)
        }
        return output
    }

    private static func isValidVariableName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
