import Foundation
import Ledger
import Model

package extension NewEvent {
    /// An event of `type` whose payload is `value` in the product's one JSON convention (`JSONCoding`: snake_case
    /// keys). The type names the kind and its payload together, so a payload cannot be written under another
    /// kind: it does not compile.
    package static func json<T: Encodable>(_ cycleId: String, _ type: EventType<T>, _ time: Int64, symbol: String? = nil, _ value: T) throws -> NewEvent {
        NewEvent(cycleId: cycleId, kind: type.kind, time: time, symbol: symbol, payload: try JSONCoding.encoder().encode(value))
    }
}

/// A payload that does not decode: names the event so the problem can be found.
package struct PayloadError: Error, CustomStringConvertible {
    package var seq: Int64
    package var type: String
    package var message: String
    package var description: String { "ledger event #\(seq) (\(type)): \(message)" }

    package init(seq: Int64, type: String, message: String) {
        self.seq = seq
        self.type = type
        self.message = message
    }
}

package extension LedgerEvent {
    /// The payload of an event of `type`. An event of another kind is refused (it would decode into the wrong
    /// shape, or worse, into the right shape with the wrong meaning).
    package func value<T: Decodable>(_ type: EventType<T>) throws -> T {
        guard self.type == type.kind.rawValue else {
            throw PayloadError(seq: seq, type: self.type, message: "read as \(type.kind.rawValue) (\(T.self))")
        }
        return try value(T.self)
    }

    /// The payload of an event of any of `types`, which share one payload (the four stream events).
    package func value<T: Decodable>(oneOf types: [EventType<T>]) throws -> T {
        guard types.contains(where: { $0.kind.rawValue == self.type }) else {
            throw PayloadError(seq: seq, type: self.type, message: "read as one of \(types.map(\.kind.rawValue)) (\(T.self))")
        }
        return try value(T.self)
    }

    /// Decodes the payload written by `NewEvent.json` as `T`, whatever the event's kind; prefer `value(_: EventType)`.
    package func value<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONCoding.decoder().decode(T.self, from: payload)
        } catch {
            throw PayloadError(seq: seq, type: self.type, message: "\(error)")
        }
    }
}
