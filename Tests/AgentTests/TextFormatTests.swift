import Foundation
import Model
import TestSupport
import Testing

/// The hand-written number and time formats print exactly what their `String(format:)` definitions print.
@Suite struct TextFormatTests {
    /// The definition `Format.number` had before it was rewritten without `String(format:)`.
    static func referenceNumber(_ x: Double) -> String {
        guard x.isFinite else { return x > 0 ? "inf" : (x < 0 ? "-inf" : "nan") }
        let rounded = (x * 100).rounded() / 100
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        var s = String(format: "%.2f", rounded)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    @Test func numbersMatchTheirDefinition() {
        var random = Fixtures.SeededRandom(seed: 77)
        var values: [Double] = [0, -0.0, 0.005, -0.005, 0.015, 1.005, 2.675, -2.675, 0.1, 0.07, -0.07, 12.5, -12.5,
                                99.995, 1e15, -1e15, 1e16 + 0.5, 123_456.78, .infinity, -.infinity, .nan]
        for _ in 0..<20_000 {
            let magnitude = pow(10, Double.random(in: -4...12, using: &random))
            values.append((Bool.random(using: &random) ? 1 : -1) * Double.random(in: 0...1, using: &random) * magnitude)
        }
        for x in values {
            #expect(Format.number(x) == Self.referenceNumber(x), "\(x)")
        }
        #expect(Format.number(2.5) == "2.5")
        #expect(Format.number(-0.13) == "-0.13")
        #expect(Format.number(0.07) == "0.07")
    }

    @Test func timesMatchTheirDefinition() {
        var random = Fixtures.SeededRandom(seed: 78)
        for _ in 0..<5_000 {
            let t = Int64.random(in: 0...4_102_444_800, using: &random)
            var time = time_t(t)
            var p = tm()
            gmtime_r(&time, &p)
            let date = (Int(p.tm_year) + 1900, Int(p.tm_mon) + 1, Int(p.tm_mday), Int(p.tm_hour), Int(p.tm_min), Int(p.tm_sec))
            #expect(UTC.iso8601(t) == String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", date.0, date.1, date.2, date.3, date.4, date.5))
            #expect(UTC.compact(t) == String(format: "%04d%02d%02dT%02d%02d%02dZ", date.0, date.1, date.2, date.3, date.4, date.5))
        }
        #expect(UTC.iso8601(1_795_212_000) == "2026-11-20T22:00:00Z")
    }
}
