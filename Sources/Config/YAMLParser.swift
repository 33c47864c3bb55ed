import CYAML

/// Turns YAML text into a `YAMLNode` tree using libyaml's event API.
///
/// Two passes: libyaml events are first copied into Swift values (so no C memory outlives the
/// parser), then the tree is built from them. Anchors and aliases are resolved by copying, and
/// `<<` merge keys (a mapping or a sequence of mappings) are applied: explicit keys win over merged
/// ones, earlier merge sources win over later ones.
enum YAMLParser {
    /// One libyaml event, copied out of C memory.
    private enum Event {
        case documentStart(SourceMark)
        case alias(anchor: String, mark: SourceMark)
        case scalar(value: String, style: YAMLNode.ScalarStyle, anchor: String?, mark: SourceMark)
        case sequenceStart(anchor: String?, mark: SourceMark)
        case sequenceEnd
        case mappingStart(anchor: String?, mark: SourceMark)
        case mappingEnd
    }

    static func parse(_ text: String, file: String) throws(ConfigDiagnostics) -> YAMLNode {
        let events = try readEvents(text, file: file)
        var builder = TreeBuilder(events: events, file: file)
        return try builder.buildDocument()
    }

    // MARK: - Pass 1: events

    private static func readEvents(_ text: String, file: String) throws(ConfigDiagnostics) -> [Event] {
        var bytes = Array(text.utf8)
        let length = bytes.count
        bytes.append(0)  // never empty, so the buffer always has a base address
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ConfigDiagnostics(at: SourceMark(file: file, line: 1, column: 1),
                                    "cannot initialize the YAML parser")
        }
        defer { yaml_parser_delete(&parser) }

        var events: [Event] = []
        var failure: ConfigProblem?
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            yaml_parser_set_input_string(&parser, base, length)
            var documents = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    failure = syntaxProblem(parser, file: file)
                    return
                }
                defer { yaml_event_delete(&event) }
                let mark = SourceMark(file: file,
                                      line: Int(event.start_mark.line) + 1,
                                      column: Int(event.start_mark.column) + 1)
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 {
                        failure = ConfigProblem(
                            mark: mark,
                            message: "multiple YAML documents in one file are not supported")
                        return
                    }
                    events.append(.documentStart(mark))
                case YAML_ALIAS_EVENT:
                    events.append(.alias(anchor: string(event.data.alias.anchor) ?? "", mark: mark))
                case YAML_SCALAR_EVENT:
                    let scalar = event.data.scalar
                    let value: String
                    if let pointer = scalar.value {
                        value = String(decoding: UnsafeBufferPointer(start: pointer, count: scalar.length),
                                       as: UTF8.self)
                    } else {
                        value = ""
                    }
                    let tag = string(scalar.tag)
                    let forcedString = tag == "tag:yaml.org,2002:str" || tag == "!"
                    let style: YAMLNode.ScalarStyle =
                        scalar.style == YAML_PLAIN_SCALAR_STYLE && !forcedString ? .plain : .quoted
                    events.append(.scalar(value: value, style: style,
                                          anchor: string(scalar.anchor), mark: mark))
                case YAML_SEQUENCE_START_EVENT:
                    events.append(.sequenceStart(anchor: string(event.data.sequence_start.anchor), mark: mark))
                case YAML_SEQUENCE_END_EVENT:
                    events.append(.sequenceEnd)
                case YAML_MAPPING_START_EVENT:
                    events.append(.mappingStart(anchor: string(event.data.mapping_start.anchor), mark: mark))
                case YAML_MAPPING_END_EVENT:
                    events.append(.mappingEnd)
                default:
                    break  // stream start, document end, no event
                }
            }
        }
        if let failure {
            throw ConfigDiagnostics([failure])
        }
        return events
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    private static func syntaxProblem(_ parser: yaml_parser_t, file: String) -> ConfigProblem {
        let problemMark = parser.problem_mark
        let mark = SourceMark(file: file, line: Int(problemMark.line) + 1, column: Int(problemMark.column) + 1)
        var message = "YAML syntax error: "
        if let problem = parser.problem {
            message += String(cString: problem)
        } else {
            message += "unknown error"
        }
        if parser.error == YAML_READER_ERROR {
            message += " (at byte \(parser.problem_offset))"
        }
        if let context = parser.context {
            let contextMark = parser.context_mark
            message += " (\(String(cString: context)) starting at line \(contextMark.line + 1)"
                + " column \(contextMark.column + 1))"
        }
        return ConfigProblem(mark: mark, message: message)
    }

    // MARK: - Pass 2: tree

    private struct TreeBuilder {
        let events: [Event]
        let file: String
        var position = 0
        var anchors: [String: YAMLNode] = [:]
        /// Expanded size of each anchored node, and of the document so far: aliases are copies, so a small
        /// file can describe an enormous tree ("billion laughs"). Past `maxNodes` it is refused.
        var anchorSizes: [String: Int] = [:]
        var expandedNodes = 0
        static let maxNodes = 1_000_000
        /// Nesting of the collection being built. Building recurses once per level, so a hostile file of a few KB
        /// could exhaust the stack; past `maxDepth` it is refused. Every later stage walks this tree, so it bounds
        /// the decoder, the merge and `${ENV}` expansion too.
        var depth = 0
        static let maxDepth = 256

        init(events: [Event], file: String) {
            self.events = events
            self.file = file
        }

        mutating func buildDocument() throws(ConfigDiagnostics) -> YAMLNode {
            let start = SourceMark(file: file, line: 1, column: 1)
            guard position < events.count, case .documentStart(let documentMark) = events[position] else {
                return YAMLNode(content: .mapping([]), mark: start)
            }
            position += 1
            guard position < events.count else {
                return YAMLNode(content: .mapping([]), mark: documentMark)
            }
            let root = try node()
            if case .scalar("", .plain) = root.content {
                return YAMLNode(content: .mapping([]), mark: root.mark)
            }
            return root
        }

        private mutating func next() throws(ConfigDiagnostics) -> Event {
            guard position < events.count else {
                throw ConfigDiagnostics(at: SourceMark(file: file, line: 1, column: 1),
                                        "unexpected end of YAML events")
            }
            let event = events[position]
            position += 1
            return event
        }

        private mutating func remember(_ node: YAMLNode, anchor: String?, size: Int) {
            if let anchor {
                anchors[anchor] = node
                anchorSizes[anchor] = size
            }
        }

        private mutating func count(_ n: Int, at mark: SourceMark) throws(ConfigDiagnostics) {
            expandedNodes += n
            if expandedNodes > Self.maxNodes {
                throw ConfigDiagnostics(at: mark, "the document expands to more than \(Self.maxNodes) nodes through aliases")
            }
        }

        private mutating func enter(at mark: SourceMark) throws(ConfigDiagnostics) {
            depth += 1
            if depth > Self.maxDepth {
                throw ConfigDiagnostics(at: mark, "nested more than \(Self.maxDepth) levels deep")
            }
        }

        mutating func node() throws(ConfigDiagnostics) -> YAMLNode {
            let before = expandedNodes
            switch try next() {
            case .scalar(let value, let style, let anchor, let mark):
                try count(1, at: mark)
                let node = YAMLNode(content: .scalar(value, style), mark: mark)
                remember(node, anchor: anchor, size: expandedNodes - before)
                return node
            case .alias(let anchor, let mark):
                guard let target = anchors[anchor] else {
                    throw ConfigDiagnostics(at: mark, "unknown alias '*\(anchor)' (no earlier anchor '&\(anchor)')")
                }
                try count(anchorSizes[anchor] ?? 1, at: mark)
                return target
            case .sequenceStart(let anchor, let mark):
                try count(1, at: mark)
                try enter(at: mark)
                defer { depth -= 1 }
                var items: [YAMLNode] = []
                while position < events.count {
                    if case .sequenceEnd = events[position] {
                        position += 1
                        break
                    }
                    items.append(try node())
                }
                let node = YAMLNode(content: .sequence(items), mark: mark)
                remember(node, anchor: anchor, size: expandedNodes - before)
                return node
            case .mappingStart(let anchor, let mark):
                try count(1, at: mark)
                try enter(at: mark)
                defer { depth -= 1 }
                let node = try mapping(mark: mark)
                remember(node, anchor: anchor, size: expandedNodes - before)
                return node
            case .documentStart(let mark):
                throw ConfigDiagnostics(at: mark, "unexpected document start")
            case .sequenceEnd, .mappingEnd:
                throw ConfigDiagnostics(at: SourceMark(file: file, line: 1, column: 1),
                                        "unbalanced YAML collection events")
            }
        }

        private mutating func mapping(mark: SourceMark) throws(ConfigDiagnostics) -> YAMLNode {
            var entries: [YAMLMappingEntry] = []
            var seen: [String: SourceMark] = [:]
            var mergeSources: [YAMLNode] = []
            while position < events.count {
                if case .mappingEnd = events[position] {
                    position += 1
                    break
                }
                let keyNode = try node()
                let value = try node()
                guard case .scalar(let key, let style) = keyNode.content else {
                    let kind = keyNode.kindDescription
                    throw ConfigDiagnostics(at: keyNode.mark, "mapping keys must be scalars, found \(kind)")
                }
                if key == "<<", style == .plain {
                    mergeSources.append(contentsOf: try Self.mergeSources(value))
                    continue
                }
                if let first = seen[key] {
                    throw ConfigDiagnostics(
                        at: keyNode.mark,
                        "duplicate key '\(key)' (first defined at line \(first.line) column \(first.column))")
                }
                seen[key] = keyNode.mark
                entries.append(YAMLMappingEntry(key: key, keyMark: keyNode.mark, value: value))
            }
            for source in mergeSources {
                guard case .mapping(let merged) = source.content else { continue }
                for entry in merged where seen[entry.key] == nil {
                    seen[entry.key] = entry.keyMark
                    entries.append(entry)
                }
            }
            return YAMLNode(content: .mapping(entries), mark: mark)
        }

        private static func mergeSources(_ value: YAMLNode) throws(ConfigDiagnostics) -> [YAMLNode] {
            switch value.content {
            case .mapping:
                return [value]
            case .sequence(let items):
                for item in items {
                    guard case .mapping = item.content else {
                        throw ConfigDiagnostics(at: item.mark, "a '<<' merge list must contain only mappings")
                    }
                }
                return items
            case .scalar:
                throw ConfigDiagnostics(at: value.mark, "a '<<' merge value must be a mapping or a list of mappings")
            }
        }
    }
}
