import Foundation
import Model

/// A number that venues send as a JSON string ("0.001") or a JSON number; kept exact as `Decimal`.
public struct Num: Decodable, Sendable, Equatable {
    public var value: Decimal

    public init(_ value: Decimal) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            if text.isEmpty {
                value = 0
                return
            }
            guard let parsed = Dec.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a number")
            }
            value = parsed
        } else if let int = try? container.decode(Int64.self) {
            value = Decimal(int)
        } else {
            let double = try container.decode(Double.self)
            guard let parsed = Dec.parse(String(double)) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(double) is not a finite number")
            }
            value = parsed
        }
    }

    public var double: Double { Dec.double(value) }
}

/// One element of a heterogeneous JSON array (Binance klines).
enum JSONScalar: Decodable, Sendable {
    case number(Double)
    case string(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let d = try? container.decode(Double.self) {
            self = .number(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else {
            self = .other
        }
    }

    var double: Double? {
        switch self {
        case .number(let d): d
        case .string(let s): Double(s)
        case .other: nil
        }
    }
}

enum VenueJSON {
    /// Decodes `T`, turning decoding failures into a ``VenueError`` naming the field path.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, venue: String, operation: String,
                                     status: Int? = nil) throws(VenueError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw .badResponse(venue, operation, "unexpected JSON: " + describe(error), status: status)
        } catch {
            throw .badResponse(venue, operation, "unexpected JSON: \(error)", status: status)
        }
    }

    /// "field path: problem" for a decoding error.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "<root>" : (text.hasPrefix(".") ? String(text.dropFirst()) : text)
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Compact JSON without escaped slashes, keys sorted (stable request bodies).
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
