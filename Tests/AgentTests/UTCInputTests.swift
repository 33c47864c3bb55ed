@testable import Agent
import Foundation
import Model
import TestSupport
import Testing

/// Times and spans typed by a person: impossible ones are refused, huge ones never trap.
@Suite struct UTCInputTests {
    @Test func randomSpansAreBoundedOrRefused() {
        var random = Fixtures.SeededRandom(seed: 15)
        for _ in 0..<2_000 {
            let mantissa = Double.random(in: 0...10, using: &random)
            let exponent = Int.random(in: 0...320, using: &random)
            let unit = ["s", "m", "h", "d", "w", "y"].randomElement(using: &random) ?? "s"
            let text = "\(mantissa)e\(exponent)\(unit)"
            if let seconds = UTC.duration(text) {
                #expect(seconds >= 0 && seconds <= UTC.maxDuration, "\(text)")
            }
        }
        #expect(UTC.duration("99999999999999999999m") == nil)
        #expect(UTC.duration("24h") == 86_400)
    }

    @Test func impossibleTimesAreRefused() {
        #expect(UTC.parse("2026-02-30") == nil)
        #expect(UTC.parse("2026-02-28T23:59:60Z") == nil)
        #expect(UTC.parse("2024-02-29T12:00:00Z") != nil)
        #expect(UTC.parse("2026-11-20T22:00:00Z") == 1_795_212_000)
    }
}
