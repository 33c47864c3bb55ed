import Foundation

/// The one set of conversions between `Decimal` (what goes to and comes from a venue) and `Double` (the book's
/// arithmetic), and decimal text in venue payloads.
public enum Dec {
    static let posix = Locale(identifier: "en_US_POSIX")

    /// Parses a plain decimal string ("0.00100", "-1.5", "1e-3"); nil for anything that is not wholly a number.
    public static func parse(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, let value = Decimal(string: trimmed, locale: posix) else { return nil }
        // Decimal(string:) accepts a numeric prefix ("12abc"); insist on a full number.
        guard Double(trimmed) != nil else { return nil }
        return value
    }

    /// The plain text of a decimal, e.g. "0.001" (no exponent, no trailing zeros, at most 18 places).
    public static func text(_ value: Decimal) -> String {
        var v = value
        var normalized = Decimal()
        NSDecimalRound(&normalized, &v, 18, .plain)
        return NSDecimalNumber(decimal: normalized).stringValue
    }

    /// The decimal of a double through its shortest text, so 0.1 stays 0.1.
    public static func from(_ value: Double) -> Decimal {
        Decimal(string: "\(value)", locale: posix) ?? Decimal(value)
    }

    /// The double nearest the decimal's text (so 0.0333 stays 0.0333, not 0.033299999999999996).
    public static func double(_ value: Decimal) -> Double {
        Double(value.description) ?? NSDecimalNumber(decimal: value).doubleValue
    }
}
