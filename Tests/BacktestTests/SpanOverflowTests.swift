import Backtest
import Foundation
import TestSupport
import Testing

/// Walk-forward spans and dates from user input never overflow: huge counts are refused, valid ones stay in range.
@Suite struct SpanOverflowTests {
    @Test func randomSpansAreRefusedOrAdvanceWithoutTrapping() {
        var random = Fixtures.SeededRandom(seed: 15)
        let units = ["D", "W", "M", "Y", "d", "m", "X"]
        for _ in 0..<2_000 {
            let digits = Int.random(in: 1...25, using: &random)
            let number = String((0..<digits).map { _ in Character(String(Int.random(in: 0...9, using: &random))) })
            let text = number + (units.randomElement(using: &random) ?? "D")
            guard let span = CalendarSpan.parse(text) else { continue }
            let start = BacktestCalendar.parse("2019-01-01") ?? 0
            let moved = span.advance(start)
            #expect(moved > start && moved - start <= 102 * 366 * 86_400, "\(text)")
        }
        #expect(CalendarSpan.parse("9999999999999M") == nil)
        #expect(CalendarSpan.parse("1200M") == .months(1_200))
        #expect(CalendarSpan.parse("101Y") == nil)
    }

    @Test func impossibleDatesAreRefused() {
        #expect(BacktestCalendar.parse("2026-02-30") == nil)
        #expect(BacktestCalendar.parse("2026-04-31") == nil)
        #expect(BacktestCalendar.parse("2024-02-29") != nil)
        #expect(BacktestCalendar.parse("2023-02-29") == nil)
        #expect(BacktestCalendar.parse("2026-02-28T23:59:60Z") == nil)
    }
}
