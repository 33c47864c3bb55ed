import Foundation
import Ledger
import Model

package extension NewEvent {
    /// An event whose payload is `value` in the product's JSON convention (snake_case keys).
    package static func json<T: Encodable>(_ cycleId: String, _ type: String, _ time: Int64, symbol: String? = nil, _ value: T) throws -> NewEvent {
        NewEvent(cycleId: cycleId, type: type, time: time, symbol: symbol, payload: try JSONCoding.encoder().encode(value))
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
    /// Decodes the payload written by `NewEvent.json`.
    package func value<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONCoding.decoder().decode(T.self, from: payload)
        } catch {
            throw PayloadError(seq: seq, type: self.type, message: "\(error)")
        }
    }
}
