import Foundation

/// A `String`-backed enum whose invalid values are reported with the list of valid ones:
/// `'MAYBE' is not one of: DRY_RUN, PAPER, LIVE`. Adopt it on configuration enums
/// (`enum Mode: String, Decodable, ConfigEnum { ... }`); nothing needs implementing.
public protocol ConfigEnum: CaseIterable, RawRepresentable, Decodable where RawValue == String {
    /// The valid raw values, in declaration order. Defaults to every case's raw value.
    static var configRawValues: [String] { get }
}

extension ConfigEnum {
    /// Every case's raw value, in declaration order.
    public static var configRawValues: [String] { allCases.map(\.rawValue) }
}

/// Decodes `Decodable` values from a `YAMLNode` tree, reporting problems at source positions.
///
/// Rules:
/// - Keys: a property matches a YAML key equal to its coding key, or equal after lowercasing and
///   removing underscores (`maxOpenPositions` ~ `max_open_positions`, `tier1Core` ~ `tier_1_core`);
///   see `ConfigKeys`. Dictionaries (`[String: T]`) keep their YAML keys unconverted.
/// - Unknown keys: any key of a decoded mapping that was never looked up is reported as
///   `unknown key 'x'` (plus `; did you mean 'y'?` when a requested key is within edit distance 3),
///   all at once, in document order, but only if decoding otherwise succeeded.
/// - Scalars: only plain scalars are booleans (`true/True/TRUE/false/False/FALSE`), integers
///   (decimal, optional sign, `_` separators, range-checked), numbers (decimal/scientific; `.inf`
///   and `.nan` are rejected; `Decimal` is read from the exact text) or null (`~`, `null`, `Null`,
///   `NULL`, empty). Any scalar decodes as a `String`. A null or empty value where a mapping or sequence is expected counts as empty.
/// - The first decoding failure is thrown, with the position of the offending node (the
///   enclosing mapping's position for a missing key).
public struct YAMLDecoder: Sendable {
    /// Creates a decoder.
    public init() {}

    /// Decodes `type` from `node`. Throws the first decoding failure, or, if decoding succeeded,
    /// every unknown key at once (each at its key mark).
    public func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode) throws(ConfigDiagnostics) -> T {
        let state = DecodingState()
        let decoder = NodeDecoder(node: node, path: [], codingPath: [], state: state)
        let value: T
        do {
            value = try decoder.decodeValue(T.self)
        } catch let failure as DecodeFailure {
            throw ConfigDiagnostics([failure.problem])
        } catch {
            throw ConfigDiagnostics(at: node.mark, "\(error)")
        }
        let unknown = state.unknownKeyProblems(in: node)
        if !unknown.isEmpty { throw ConfigDiagnostics(unknown) }
        return value
    }
}

// MARK: - Internals

/// A decoding failure that already knows its position.
struct DecodeFailure: Error {
    var problem: ConfigProblem
    init(_ mark: SourceMark, _ message: String) {
        problem = ConfigProblem(mark: mark, message: message)
    }
}

/// One step from the root to a node: a mapping key (as written) or a sequence index.
enum PathStep: Hashable {
    case key(String)
    case index(Int)
}

/// Which keys were looked up, shared by every container of one `decode` call.
final class DecodingState {
    /// Paths of entries that were looked up or listed.
    var used = Set<[PathStep]>()
    /// Paths of mappings opened as keyed containers.
    var openedMappings = Set<[PathStep]>()
    /// Property names requested per mapping path, in request order.
    var requested: [[PathStep]: [String]] = [:]

    func request(_ name: String, in path: [PathStep]) {
        if requested[path]?.contains(name) != true {
            requested[path, default: []].append(name)
        }
    }

    func unknownKeyProblems(in root: YAMLNode) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        collect(root, path: [], into: &problems)
        var seen = Set<String>()
        return problems.filter { seen.insert($0.description).inserted }  // aliases repeat marks
    }

    private func collect(_ node: YAMLNode, path: [PathStep], into problems: inout [ConfigProblem]) {
        switch node.content {
        case .scalar:
            break
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                collect(item, path: path + [.index(index)], into: &problems)
            }
        case .mapping(let entries):
            let opened = openedMappings.contains(path)
            for entry in entries {
                let entryPath = path + [.key(entry.key)]
                if opened && !used.contains(entryPath) {
                    let normalizedKey = ConfigKeys.normalized(entry.key)
                    let twin = entries.first {
                        $0.key != entry.key && used.contains(path + [.key($0.key)])
                            && ConfigKeys.normalized($0.key) == normalizedKey
                    }
                    let message = twin.map { "unknown key '\(entry.key)': the same setting is already given as '\($0.key)'" }
                        ?? unknownKeyMessage(entry.key, requested: requested[path] ?? [])
                    problems.append(ConfigProblem(mark: entry.keyMark, message: message))
                } else {
                    collect(entry.value, path: entryPath, into: &problems)
                }
            }
        }
    }

    private func unknownKeyMessage(_ key: String, requested: [String]) -> String {
        let normalizedKey = ConfigKeys.normalized(key)
        var best: (name: String, distance: Int)?
        for name in requested {
            let distance = ConfigKeys.editDistance(normalizedKey, ConfigKeys.normalized(name))
            if distance <= 3, distance < (best?.distance ?? Int.max) {
                best = (name, distance)
            }
        }
        if let best {
            return "unknown key '\(key)'; did you mean '\(ConfigKeys.snakeCase(best.name))'?"
        }
        return "unknown key '\(key)'"
    }
}

/// A coding key for sequence indices and `super`.
struct PlainCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// A `Decoder` positioned on one node.
struct NodeDecoder: Decoder {
    let node: YAMLNode
    let path: [PathStep]
    let codingPath: [any CodingKey]
    let state: DecodingState
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let entries: [YAMLMappingEntry]
        switch node.content {
        case .mapping(let existing):
            entries = existing
        case .scalar where node.isNull:
            entries = []
        default:
            throw DecodeFailure(node.mark, "expected a mapping, found \(node.kindDescription)")
        }
        state.openedMappings.insert(path)
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, entries: entries))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch node.content {
        case .sequence(let items):
            return UnkeyedContainer(decoder: self, items: items)
        case .scalar where node.isNull:
            return UnkeyedContainer(decoder: self, items: [])
        default:
            throw DecodeFailure(node.mark, "expected a sequence, found \(node.kindDescription)")
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(decoder: self)
    }

    func child(_ node: YAMLNode, step: PathStep, key: any CodingKey) -> NodeDecoder {
        NodeDecoder(node: node, path: path + [step], codingPath: codingPath + [key], state: state)
    }

    // MARK: Values

    /// Decodes this decoder's node as `T`: primitives directly, everything else through
    /// `T(from:)`, with foreign errors converted to positioned failures.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if let primitive = try decodePrimitive(type) {
            return primitive
        }
        if let enumType = T.self as? any ConfigEnum.Type, case .scalar(let text, _) = node.content {
            let allowed = enumType.configRawValues
            if !allowed.contains(text) {
                throw DecodeFailure(node.mark, "'\(ConfigProblem.excerpt(text))' is not one of: \(allowed.joined(separator: ", "))")
            }
        }
        do {
            return try T(from: self)
        } catch let failure as DecodeFailure {
            throw failure
        } catch let error as DecodingError {
            throw convert(error, decoding: T.self)
        } catch {
            throw DecodeFailure(node.mark, "\(error)")
        }
    }

    private func decodePrimitive<T>(_ type: T.Type) throws -> T? {
        switch type {
        case is String.Type: return try string() as? T
        case is Bool.Type: return try bool() as? T
        case is Double.Type: return try double() as? T
        case is Float.Type: return try float() as? T
        case is Int.Type: return try integer(Int.self) as? T
        case is Int8.Type: return try integer(Int8.self) as? T
        case is Int16.Type: return try integer(Int16.self) as? T
        case is Int32.Type: return try integer(Int32.self) as? T
        case is Int64.Type: return try integer(Int64.self) as? T
        case is UInt.Type: return try integer(UInt.self) as? T
        case is UInt8.Type: return try integer(UInt8.self) as? T
        case is UInt16.Type: return try integer(UInt16.self) as? T
        case is UInt32.Type: return try integer(UInt32.self) as? T
        case is UInt64.Type: return try integer(UInt64.self) as? T
        case is Decimal.Type: return try decimal() as? T
        default: return nil
        }
    }

    private func scalar(expected: String) throws -> (String, YAMLNode.ScalarStyle) {
        guard case .scalar(let text, let style) = node.content else {
            throw DecodeFailure(node.mark, "expected \(expected), found \(node.kindDescription)")
        }
        return (text, style)
    }

    private func mismatch(_ expected: String) -> DecodeFailure {
        DecodeFailure(node.mark, "expected \(expected), found \(node.kindDescription)")
    }

    func string() throws -> String {
        try scalar(expected: "a string").0
    }

    func bool() throws -> Bool {
        let (text, style) = try scalar(expected: "true or false")
        guard let value = YAMLScalars.bool(text, style) else { throw mismatch("true or false") }
        return value
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let expected = I.isSigned ? "an integer" : "a non-negative integer"
        let (text, style) = try scalar(expected: expected)
        switch YAMLScalars.integer(type, text, style) {
        case .success(let value): return value
        case .failure(.invalid(let message)): throw DecodeFailure(node.mark, message)
        case .failure(.mismatch): throw mismatch(expected)
        }
    }

    func double() throws -> Double {
        let (text, style) = try scalar(expected: "a number")
        switch YAMLScalars.double(text, style) {
        case .success(let value): return value
        case .failure(.invalid(let message)): throw DecodeFailure(node.mark, message)
        case .failure(.mismatch): throw mismatch("a number")
        }
    }

    /// A `Decimal` from the exact decimal text (no binary rounding), under the `Double` rules.
    func decimal() throws -> Decimal {
        let (text, style) = try scalar(expected: "a number")
        switch YAMLScalars.double(text, style) {
        case .success:
            guard let value = Decimal(string: text.filter { $0 != "_" }, locale: Locale(identifier: "en_US_POSIX")),
                  !value.isNaN else {
                throw mismatch("a number")
            }
            return value
        case .failure(.invalid(let message)): throw DecodeFailure(node.mark, message)
        case .failure(.mismatch): throw mismatch("a number")
        }
    }

    func float() throws -> Float {
        let value = Float(try double())
        guard value.isFinite else {
            throw DecodeFailure(node.mark, "\(node.kindDescription) is out of range for Float")
        }
        return value
    }

    // MARK: Foreign errors

    /// Converts a `DecodingError` thrown by a type's own `init(from:)` (or the standard library's
    /// `RawRepresentable` conformance) into a positioned failure.
    private func convert(_ error: DecodingError, decoding type: Any.Type) -> DecodeFailure {
        switch error {
        case .keyNotFound(let key, let context):
            return DecodeFailure(locate(context.codingPath).mark, "missing key '\(ConfigKeys.snakeCase(key.stringValue))'")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return DecodeFailure(locate(context.codingPath).mark, context.debugDescription)
        case .dataCorrupted(let context):
            let target = locate(context.codingPath)
            if type is any RawRepresentable.Type, target == node, case .scalar(let text, _) = node.content {
                return DecodeFailure(node.mark, "invalid value \(YAMLScalars.quote(text))")
            }
            return DecodeFailure(target.mark, context.debugDescription)
        @unknown default:
            return DecodeFailure(node.mark, "\(error)")
        }
    }

    /// The node an error's coding path points at, starting from this decoder's node.
    private func locate(_ errorPath: [any CodingKey]) -> YAMLNode {
        guard errorPath.count >= codingPath.count else { return node }
        var current = node
        for key in errorPath.dropFirst(codingPath.count) {
            let component = key.intValue.map(String.init) ?? key.stringValue
            guard let next = current.child(component) else { break }
            current = next
        }
        return current
    }
}

/// Keyed access to a mapping node.
struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let entries: [YAMLMappingEntry]

    var codingPath: [any CodingKey] { decoder.codingPath }

    /// The raw YAML keys (unconverted) that `Key` accepts; each one listed counts as used.
    var allKeys: [Key] {
        entries.compactMap { entry in
            guard let key = Key(stringValue: entry.key) else { return nil }
            decoder.state.used.insert(decoder.path + [.key(entry.key)])
            return key
        }
    }

    /// Finds the entry for `key` (exact key first, then by normalized spelling), recording the
    /// request and marking the entry used. Two different spellings of the key are an error.
    private func lookup(_ key: Key) throws -> YAMLMappingEntry? {
        let name = key.stringValue
        decoder.state.request(name, in: decoder.path)
        let found: YAMLMappingEntry
        if let exact = entries.first(where: { $0.key == name }) {
            found = exact
        } else {
            let matches = entries.filter { ConfigKeys.matches(yamlKey: $0.key, name: name) }
            guard let first = matches.first else { return nil }
            if matches.count > 1 {
                let second = matches[1]
                throw DecodeFailure(second.keyMark,
                                    "key '\(second.key)' repeats '\(first.key)' (line \(first.keyMark.line) column \(first.keyMark.column))")
            }
            found = first
        }
        decoder.state.used.insert(decoder.path + [.key(found.key)])
        return found
    }

    private func require(_ key: Key) throws -> NodeDecoder {
        guard let entry = try lookup(key) else {
            throw DecodeFailure(decoder.node.mark, "missing key '\(ConfigKeys.snakeCase(key.stringValue))'")
        }
        return decoder.child(entry.value, step: .key(entry.key), key: key)
    }

    func contains(_ key: Key) -> Bool {
        do {
            return try lookup(key) != nil
        } catch {
            return true  // two spellings: let the following decode report it
        }
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        try require(key).node.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try require(key).decodeValue(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let entry = try lookup(key), !entry.value.isNull else { return nil }
        return try decoder.child(entry.value, step: .key(entry.key), key: key).decodeValue(type)
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try require(key).decodeValue(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try require(key).decodeValue(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try require(key).decodeValue(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try require(key).decodeValue(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try require(key).decodeValue(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try require(key).decodeValue(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try require(key).decodeValue(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try require(key).decodeValue(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try require(key).decodeValue(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try require(key).decodeValue(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try require(key).decodeValue(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try require(key).decodeValue(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try require(key).decodeValue(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try require(key).decodeValue(type) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeIfPresent(type, forKey: key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type,
                                               forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try require(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try require(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(named: PlainCodingKey(stringValue: "super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(named: key)
    }

    private func superDecoder(named key: any CodingKey) throws -> any Decoder {
        let name = key.stringValue
        decoder.state.request(name, in: decoder.path)
        let entry = entries.first { $0.key == name }
            ?? entries.first { ConfigKeys.matches(yamlKey: $0.key, name: name) }
        guard let entry else {
            let empty = YAMLNode(content: .scalar("", .plain), mark: decoder.node.mark)
            return decoder.child(empty, step: .key(name), key: key)
        }
        decoder.state.used.insert(decoder.path + [.key(entry.key)])
        return decoder.child(entry.value, step: .key(entry.key), key: key)
    }
}

/// Sequential access to a sequence node.
struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [YAMLNode]
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder, items: [YAMLNode]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private func current() throws -> NodeDecoder {
        guard currentIndex < items.count else {
            throw DecodeFailure(decoder.node.mark,
                                "expected another item in this sequence (it has only \(items.count))")
        }
        return decoder.child(items[currentIndex], step: .index(currentIndex),
                             key: PlainCodingKey(intValue: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        let isNull = try current().node.isNull
        if isNull { currentIndex += 1 }
        return isNull
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try current().decodeValue(type)
        currentIndex += 1
        return value
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) }

    private mutating func next<T: Decodable>(_ type: T.Type) throws -> T {
        try decode(type)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try current().container(keyedBy: type)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try current().unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let child = try current()
        currentIndex += 1
        return child
    }
}

/// Access to a single node as one value.
struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder

    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.node.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }

    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool() }
    func decode(_ type: String.Type) throws -> String { try decoder.string() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.double() }
    func decode(_ type: Float.Type) throws -> Float { try decoder.float() }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(type) }
}
