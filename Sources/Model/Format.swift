import Foundation

/// Numbers in the human-readable texts (reasons, check details, audits).
public enum Format {
    /// A price: two decimals from 1 up, else six significant digits, so a coin at 0.0000213 does not print as 0.
    public static func price(_ x: Double) -> String {
        guard x.isFinite, x != 0, abs(x) < 1 else { return number(x) }
        var s = String(format: "%.*f", max(2, 5 - Int(log10(abs(x)).rounded(.down))), x)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// At most 2 decimals, no trailing zeros: 3, 2.5, -0.13.
    ///
    /// Written with integer arithmetic (no `String(format:)`): it runs for every policy check of every proposal.
    public static func number(_ x: Double) -> String {
        guard x.isFinite else { return x > 0 ? "inf" : (x < 0 ? "-inf" : "nan") }
        let rounded = (x * 100).rounded() / 100
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        let scaled = (rounded * 100).rounded()
        guard abs(scaled) < 9e15 else {
            var s = String(format: "%.2f", rounded)
            while s.hasSuffix("0") { s.removeLast() }
            return s
        }
        let cents = Int64(scaled)
        let magnitude = cents.magnitude
        let whole = magnitude / 100, fraction = magnitude % 100
        var s = cents < 0 ? "-" : ""
        s += String(whole)
        s += "."
        if fraction % 10 == 0 {
            s += String(fraction / 10)
        } else {
            if fraction < 10 { s += "0" }
            s += String(fraction)
        }
        return s
    }

    /// USD amounts: $12.3M, $450k, $900.
    public static func usd(_ x: Double) -> String {
        let a = abs(x)
        if a >= 1e9 { return "$\(number(x / 1e9))B" }
        if a >= 1e6 { return "$\(number(x / 1e6))M" }
        if a >= 1e3 { return "$\(number(x / 1e3))k" }
        return "$\(number(x))"
    }

    /// Round to `places` decimals (for JSON output that people read).
    public static func round(_ x: Double, _ places: Int = 4) -> Double {
        guard x.isFinite else { return x }
        let m = pow(10.0, Double(places))
        return (x * m).rounded() / m
    }
}

extension Int64 {
    /// Mathematical modulo (non-negative for a positive divisor): the start of a UTC day is `t - t.mod(86_400)`.
    public func mod(_ n: Int64) -> Int64 {
        let r = self % n
        return r < 0 ? r + n : r
    }
}
