import Foundation
import Market
import Model

/// The answer of `agent backtest --check-lookahead`.
public struct LookaheadReport: Codable, Sendable, Equatable {
    /// The cut times tried (ISO 8601): every bar opening at or after a cut was replaced by a spike (x3), and
    /// removed, in two further runs.
    public var cuts: [String]
    /// Decisions at or before the cuts compared, summed over the cuts and both altered runs.
    public var decisionsCompared: Int
    /// True when every decision up to each cut was the same whatever came after it.
    public var identical: Bool
    /// The first difference of each failing run, e.g. `cut 2018-03-01T00:00:00Z, spiked: at ... honest "..." vs "..."`.
    public var differences: [String]
}

/// Decisions up to a time must not depend on bars after it: the check the tests do, for any configuration.
public enum LookaheadCheck {
    /// `count` distinct cut times drawn (with `seed`) from the middle 10%..90% of `clock`, sorted.
    public static func cuts(clock: [Int64], count: Int, seed: UInt64) -> [Int64] {
        guard clock.count >= 10, count > 0 else { return [] }
        var rng = SeededRandom(seed: seed)
        let lo = clock.count / 10, hi = clock.count * 9 / 10
        var picked = Set<Int64>()
        var tries = 0
        while picked.count < min(count, hi - lo), tries < 100 * count {
            picked.insert(clock[Int.random(in: lo..<hi, using: &rng)])
            tries += 1
        }
        return picked.sorted()
    }

    /// Bars opening at or after `cut` with prices x3 and volume x5: a future no honest decision can know of.
    public static func spiked(_ series: [CandleSeries], after cut: Int64) -> [CandleSeries] {
        series.map { s in
            let candles = s.candles.map { c in
                c.time < cut ? c : Candle(time: c.time, open: c.open * 3, high: c.high * 3, low: c.low * 3, close: c.close * 3,
                                          volume: c.volume * 5)
            }
            return CandleSeries(symbol: s.symbol, candles: candles, source: s.source, interval: s.interval)
        }
    }

    /// Only the bars opening before `cut`.
    public static func truncated(_ series: [CandleSeries], before cut: Int64) -> [CandleSeries] {
        series.map { s in
            CandleSeries(symbol: s.symbol, candles: s.candles.filter { $0.time < cut }, source: s.source, interval: s.interval)
        }
    }

    /// Runs `evaluate` on the real series and, for each cut, on the spiked and the truncated series (concurrently),
    /// and compares the decisions timed at or before the cut. `time(d)` is a decision's time (a bar close) and
    /// `describe(d)` its text in a difference.
    public static func run<Decision: Equatable & Sendable>(
        series: [CandleSeries], cuts: [Int64], time: @escaping @Sendable (Decision) -> Int64,
        describe: @escaping @Sendable (Decision) -> String,
        evaluate: @escaping @Sendable ([CandleSeries]) async throws -> [Decision]) async throws -> LookaheadReport {
        let honest = try await evaluate(series)
        var compared = 0
        var differences: [String] = []
        try await withThrowingTaskGroup(of: (Int64, String, [Decision]).self) { group in
            for cut in cuts {
                group.addTask { (cut, "spiked", try await evaluate(spiked(series, after: cut))) }
                group.addTask { (cut, "truncated", try await evaluate(truncated(series, before: cut))) }
            }
            var results: [(Int64, String, [Decision])] = []
            while let r = try await group.next() { results.append(r) }
            for (cut, kind, altered) in results.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                let a = honest.filter { time($0) <= cut }, b = altered.filter { time($0) <= cut }
                compared += a.count
                guard a != b else { continue }
                let at = (0..<min(a.count, b.count)).first { a[$0] != b[$0] }
                let detail: String
                if let at {
                    detail = "at \(BacktestCalendar.iso(time(a[at]))) honest \"\(describe(a[at]))\" vs \"\(describe(b[at]))\""
                } else {
                    detail = "\(a.count) decisions honest vs \(b.count) \(kind)"
                }
                differences.append("cut \(BacktestCalendar.iso(cut)), \(kind): \(detail)")
            }
        }
        return LookaheadReport(cuts: cuts.map(BacktestCalendar.iso), decisionsCompared: compared,
                               identical: differences.isEmpty, differences: differences)
    }
}
