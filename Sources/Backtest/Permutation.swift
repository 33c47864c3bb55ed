import Foundation
import Market
import Model

/// A small deterministic random generator (splitmix64): the same seed gives the same permutations everywhere.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Price series rebuilt from their own bar returns in shuffled blocks: the same distribution of bar moves (and
/// the same first and last price), with the order that a strategy could exploit destroyed beyond `block` bars.
///
/// Each bar is kept as its moves relative to the previous close: gap (open / previous close), high, low and close
/// relative to the open, and its volume. Bars opening before `keepBefore` (the warm-up history) stay as they
/// are; the rest are cut into blocks of `block` bars, the blocks shuffled, and prices chained again from the last
/// kept close. Times stay in place. Symbols of equal length share one block order, so their co-movement survives.
public enum BlockPermutation {
    /// The permuted copy of `series` number `index` of a run seeded with `seed`.
    public static func permute(_ series: [CandleSeries], keepBefore: Int64, block: Int, seed: UInt64,
                               index: Int) -> [CandleSeries] {
        var rng = SeededRandom(seed: seed ^ (UInt64(index) &* 0xA24B_AED4_963E_E407))
        var orders: [Int: [Int]] = [:]
        return series.map { s in
            let keep = max(1, s.candles.firstIndex { $0.time >= keepBefore } ?? s.candles.count)
            let movable = s.candles.count - keep
            guard movable > block else { return s }
            let blocks = (movable + block - 1) / block
            let order: [Int]
            if let shared = orders[s.candles.count] {
                order = shared
            } else {
                order = Array(0..<blocks).shuffled(using: &rng)
                orders[s.candles.count] = order
            }
            return CandleSeries(symbol: s.symbol, candles: rebuild(s.candles, keep: keep, blockOrder: order, block: block),
                                source: "\(s.source) (block-permuted #\(index))", interval: s.interval)
        }
    }

    /// The candles with bars `keep...` rebuilt in `blockOrder`.
    static func rebuild(_ candles: [Candle], keep: Int, blockOrder: [Int], block: Int) -> [Candle] {
        var out = Array(candles[0..<keep])
        var previousClose = candles[keep - 1].close
        var slot = keep
        for b in blockOrder {
            let lo = keep + b * block
            let hi = min(lo + block, candles.count)
            for i in lo..<hi {
                let c = candles[i], before = candles[i - 1].close
                guard before > 0, c.open > 0 else { continue }
                let open = previousClose * (c.open / before)
                let scale = open / c.open
                out.append(Candle(time: candles[slot].time, open: open, high: c.high * scale, low: c.low * scale,
                                  close: c.close * scale, volume: c.volume))
                previousClose = c.close * scale
                slot += 1
            }
        }
        // Bars skipped above (a zero price) leave their slots at the original candles.
        while slot < candles.count {
            out.append(candles[slot])
            slot += 1
        }
        return out
    }
}

/// The answer of a permutation test: how often the strategy did at least as well on shuffled data.
public struct PermutationReport: Codable, Sendable, Equatable {
    public var metric: String
    public var permutations: Int
    public var blockBars: Int
    public var seed: UInt64
    /// The metric on the real data.
    public var actual: Double?
    /// Permutations scoring at least `actual` (an undefined score counts as the worst).
    public var atLeastAsGood: Int
    /// `(1 + atLeastAsGood) / (1 + permutations)`: the chance of an edge this large from order alone.
    public var pValue: Double
    /// The permuted scores' mean and 5th / 50th / 95th percentiles.
    public var permutedMean: Double?
    public var permutedQuantiles: [Double]
}

/// A Monte Carlo permutation test of a strategy's edge.
public enum PermutationTest {
    /// Runs `evaluate` on `permutations` block-shuffled copies of `series` (all cores: up to `parallelism` at
    /// once) and compares `metric` (a walk-forward objective) with `actual`.
    public static func run(series: [CandleSeries], keepBefore: Int64, permutations: Int, block: Int, seed: UInt64,
                           metric: String, actual: BacktestMetrics,
                           parallelism: Int = ProcessInfo.processInfo.activeProcessorCount,
                           progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
                           evaluate: @escaping @Sendable ([CandleSeries]) async throws -> BacktestMetrics) async throws -> PermutationReport {
        var scores: [Double?] = Array(repeating: nil, count: permutations)
        try await withThrowingTaskGroup(of: (Int, Double?).self) { group in
            var started = 0, done = 0
            while started < permutations {
                if started >= max(parallelism, 1), case let (i, score)? = try await group.next() {
                    scores[i] = score
                    done += 1
                    progress(done, permutations)
                }
                let i = started
                group.addTask {
                    let shuffled = BlockPermutation.permute(series, keepBefore: keepBefore, block: block, seed: seed, index: i)
                    return (i, WalkForward.score(try await evaluate(shuffled), objective: metric))
                }
                started += 1
            }
            while case let (i, score)? = try await group.next() {
                scores[i] = score
                done += 1
                progress(done, permutations)
            }
        }
        let real = WalkForward.score(actual, objective: metric)
        let atLeast = scores.filter { s in
            guard let real else { return true }
            guard let s else { return false }
            return s >= real
        }.count
        let defined = scores.compactMap { $0 }.sorted()
        func quantile(_ q: Double) -> Double { defined[min(defined.count - 1, Int(q * Double(defined.count - 1) + 0.5))] }
        return PermutationReport(metric: metric, permutations: permutations, blockBars: block, seed: seed, actual: real,
                                 atLeastAsGood: atLeast, pValue: Double(1 + atLeast) / Double(1 + permutations),
                                 permutedMean: defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count),
                                 permutedQuantiles: defined.isEmpty ? [] : [quantile(0.05), quantile(0.5), quantile(0.95)])
    }
}
