import Config
import Foundation

/// A span of calendar time: whole months (calendar arithmetic) or days.
public enum CalendarSpan: Sendable, Equatable, CustomStringConvertible {
    case months(Int)
    case days(Int)

    /// The longest span: a hundred years (longer ones cannot fit any data and would overflow the calendar).
    public static let maxMonths = 1_200

    /// `4M` (months), `2W` (weeks), `10D` (days), `1Y` (years), at most a hundred years.
    public static func parse(_ text: String) -> CalendarSpan? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        guard let unit = t.last, let n = Int(t.dropLast()), n > 0, n <= maxMonths * 31 else { return nil }
        switch unit {
        case "M": return n <= maxMonths ? .months(n) : nil
        case "Y": return n <= maxMonths / 12 ? .months(12 * n) : nil
        case "W": return n <= maxMonths * 31 / 7 ? .days(7 * n) : nil
        case "D": return .days(n)
        default: return nil
        }
    }

    /// `t` moved forward by this span.
    public func advance(_ t: Int64) -> Int64 {
        switch self {
        case .months(let n): BacktestCalendar.addMonths(t, n)
        case .days(let n): t + Int64(n) * 86_400
        }
    }

    public var description: String {
        switch self {
        case .months(let n): "\(n)M"
        case .days(let n): "\(n)D"
        }
    }
}

/// `train=4M,test=2M,step=1M`.
public struct WalkForwardSpec: Sendable, Equatable {
    public var train: CalendarSpan
    public var test: CalendarSpan
    public var step: CalendarSpan

    public init(train: CalendarSpan, test: CalendarSpan, step: CalendarSpan) {
        self.train = train
        self.test = test
        self.step = step
    }

    /// Parses `train=4M,test=2M,step=1M` (step defaults to test).
    public static func parse(_ text: String) throws(BacktestError) -> WalkForwardSpec {
        var parts: [String: CalendarSpan] = [:]
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard kv.count == 2, ["train", "test", "step"].contains(kv[0]), let span = CalendarSpan.parse(kv[1]) else {
                throw BacktestError(source: "--walk-forward", message: "'\(item)': expected train=4M, test=2M or step=1M (units D, W, M, Y; at most 100 years)")
            }
            parts[kv[0]] = span
        }
        guard let train = parts["train"], let test = parts["test"] else {
            throw BacktestError(source: "--walk-forward", message: "needs train= and test= (e.g. train=4M,test=2M,step=1M)")
        }
        return WalkForwardSpec(train: train, test: test, step: parts["step"] ?? test)
    }

    /// Windows `(trainFrom, testFrom, testTo)` over `[start, end]`: train is `[trainFrom, testFrom)`, test
    /// `[testFrom, testTo)`; only windows whose test ends by `end` are listed.
    public func windows(start: Int64, end: Int64) -> [(trainFrom: Int64, testFrom: Int64, testTo: Int64)] {
        var out: [(Int64, Int64, Int64)] = []
        var s = start
        while true {
            let testFrom = train.advance(s)
            let testTo = test.advance(testFrom)
            guard testTo <= end, out.count < 10_000 else { break }
            out.append((s, testFrom, testTo))
            s = step.advance(s)
        }
        return out
    }
}

/// The parameter grid file (YAML):
///
/// ```yaml
/// strategy: ema_cross          # or pipeline (grid keys are then --set keys, e.g. signals.rules.min_trigger_strength)
/// objective: sharpe            # sharpe, sortino, total_return, cagr, profit_factor
/// grid:
///   fast: [5, 8, 13]
///   slow: [21, 34]
/// ```
public struct ParameterGrid: Decodable, Sendable, Equatable {
    public var strategy: String?
    public var objective: String?
    public var grid: [String: [String]]

    /// A grid in code (the file form is `load`).
    public init(strategy: String? = nil, objective: String? = nil, grid: [String: [String]]) {
        self.strategy = strategy
        self.objective = objective
        self.grid = grid
    }

    /// Reads and validates a grid file; problems name `file:line:column`.
    public static func load(path: String) throws(BacktestError) -> ParameterGrid {
        do {
            let node = try YAMLNode.parseFile(atPath: path)
            let grid = try YAMLDecoder().decode(ParameterGrid.self, from: node)
            if grid.grid.isEmpty || grid.grid.values.contains(where: \.isEmpty) {
                throw BacktestError(source: path, message: "grid: every parameter needs at least one value")
            }
            if let o = grid.objective, !WalkForward.objectives.contains(o) {
                throw BacktestError(source: path, message: "objective '\(o)' is not one of \(WalkForward.objectives.joined(separator: ", "))")
            }
            return grid
        } catch let e as BacktestError {
            throw e
        } catch {
            throw BacktestError(source: path, message: "\(error)")
        }
    }

    /// How many combinations the grid spans, without listing them (nil past `Int.max`).
    public var combinationCount: Int? {
        var n = 1
        for values in grid.values {
            let (product, overflow) = n.multipliedReportingOverflow(by: values.count)
            if overflow { return nil }
            n = product
        }
        return n
    }

    /// Every combination, keys sorted, values in file order (deterministic).
    public var combinations: [[String: String]] {
        var out: [[String: String]] = [[:]]
        for key in grid.keys.sorted() {
            out = out.flatMap { partial in (grid[key] ?? []).map { value in partial.merging([key: value]) { _, b in b } } }
        }
        return out
    }
}

/// One walk-forward window: the best parameters in-sample, and how they did out of sample.
public struct WalkForwardWindow: Codable, Sendable, Equatable {
    public var index: Int
    public var trainFrom: String
    public var testFrom: String
    public var testTo: String
    public var bestParameters: [String: String]
    public var trainObjective: Double?
    /// The objective of the best parameters out of sample (compare with `trainObjective`: the degradation).
    public var testObjective: Double?
    /// Out-of-sample metrics of the best parameters on the test span.
    public var test: BacktestMetrics
}

/// The out-of-sample spans of every window chained into one equity curve, as a trader following the walk-forward
/// would have lived it: each window's test run from its start until the next window's curve starts (all of the
/// last one), rescaled to start where the previous segment ended. With overlapping test spans (step < test) a
/// position still open at a boundary is marked there, not closed.
public struct StitchedOutOfSample: Codable, Sendable, Equatable {
    /// Metrics of the stitched curve (per-bar returns; trades of the stitched segments).
    public var metrics: BacktestMetrics
    /// Decimated to 1,000-2,000 points.
    public var equityCurve: [EquityPoint]
    /// Mean objective in sample (the best combination of each window) and out of sample, and their ratio
    /// (`out_of_sample_mean / in_sample_mean`, the walk-forward efficiency; nil unless the in-sample mean is > 0).
    public var inSampleMean: Double?
    public var outOfSampleMean: Double?
    public var efficiency: Double?
    /// The stitched Sharpe deflated for the number of combinations tried.
    public var deflatedSharpe: DeflatedSharpe?
}

/// The deflated Sharpe ratio (Bailey and López de Prado, 2014): the probability that the true Sharpe ratio of the
/// out-of-sample returns is above the best Sharpe ratio that `trials` tries of a strategy with no edge would show
/// by luck, given the variance of the trials' Sharpe ratios and the returns' skewness and kurtosis.
public struct DeflatedSharpe: Codable, Sendable, Equatable {
    /// Per-bar Sharpe of the returns (not annualised).
    public var sharpe: Double
    public var observations: Int
    public var skewness: Double
    /// Kurtosis (3 for normal returns).
    public var kurtosis: Double
    public var trials: Int
    /// Variance of the per-bar Sharpe across the combinations tried in sample (mean over windows).
    public var trialSharpeVariance: Double
    /// The per-bar Sharpe the best of `trials` luck-only tries is expected to reach.
    public var expectedMaxSharpe: Double
    /// P(true Sharpe > expectedMaxSharpe): above 0.95 is an edge that survives the search.
    public var probability: Double

    /// From per-bar returns; nil with fewer than 3 returns or no variation.
    public static func of(returns: [Double], trials: Int, trialSharpeVariance: Double) -> DeflatedSharpe? {
        let n = Double(returns.count)
        guard returns.count >= 3 else { return nil }
        let mean = returns.reduce(0, +) / n
        let m2 = returns.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        guard m2 > 0 else { return nil }
        let sd = m2.squareRoot()
        let skew = returns.reduce(0) { $0 + pow(($1 - mean) / sd, 3) } / n
        let kurt = returns.reduce(0) { $0 + pow(($1 - mean) / sd, 4) } / n
        let sampleSd = (m2 * n / (n - 1)).squareRoot()
        let sr = mean / sampleSd
        let euler = 0.577_215_664_901_532_9
        var sr0 = 0.0
        if trials > 1 {
            let nTrials = Double(trials)
            sr0 = trialSharpeVariance.squareRoot()
                * ((1 - euler) * Normal.quantile(1 - 1 / nTrials) + euler * Normal.quantile(1 - 1 / (nTrials * M_E)))
        }
        let denominator = (1 - skew * sr + (kurt - 1) / 4 * sr * sr).squareRoot()
        let z = denominator > 0 ? (sr - sr0) * (n - 1).squareRoot() / denominator : 0
        return DeflatedSharpe(sharpe: sr, observations: returns.count, skewness: skew, kurtosis: kurt, trials: trials,
                              trialSharpeVariance: trialSharpeVariance, expectedMaxSharpe: sr0, probability: Normal.cdf(z))
    }
}

/// The standard normal distribution.
public enum Normal {
    public static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// The inverse of `cdf` by bisection (to about 1e-12), for p in (0, 1).
    public static func quantile(_ p: Double) -> Double {
        guard p > 0 else { return -.infinity }
        guard p < 1 else { return .infinity }
        var lo = -40.0, hi = 40.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if cdf(mid) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}

/// The walk-forward answer.
public struct WalkForwardReport: Codable, Sendable, Equatable {
    public var strategy: String
    public var objective: String
    public var spec: String
    public var combinations: Int
    public var windows: [WalkForwardWindow]
    /// Mean out-of-sample total return over the windows, and how many were profitable.
    public var meanTestReturn: Double?
    public var profitableWindows: Int
    /// The stitched out-of-sample curve, the in-sample vs out-of-sample degradation and the deflated Sharpe.
    public var stitched: StitchedOutOfSample?
}

/// Optimises in-sample, evaluates out of sample, window by window.
public enum WalkForward {
    public static let objectives = ["sharpe", "sortino", "total_return", "cagr", "profit_factor"]

    /// The objective's value (nil when undefined, e.g. Sharpe of a flat curve: never chosen over a defined one).
    public static func score(_ m: BacktestMetrics, objective: String) -> Double? {
        switch objective {
        case "sortino": m.sortino
        case "total_return": m.totalReturn
        case "cagr": m.cagr
        case "profit_factor": m.profitFactor
        default: m.sharpe
        }
    }

    private static func isBetter(_ s: Double?, than best: (params: [String: String], score: Double?)?) -> Bool {
        guard let best else { return true }
        guard let s else { return false }
        guard let b = best.score else { return true }
        return s > b
    }

    /// Runs every combination on each train span, picks the best (ties: the first combination), and runs it on
    /// the test span. `evaluate(parameters, from, to)` runs one backtest trading bars in `[from, to)`; give it
    /// full-resolution equity curves (`maxCurvePoints`) so the stitched curve's figures are exact.
    /// `progress(done, total)` counts evaluations: every combination in-sample plus one out-of-sample run per window.
    public static func run(spec: WalkForwardSpec, grid: ParameterGrid, start: Int64, end: Int64, strategy: String,
                           interval: Int64 = 3_600, progress: (Int, Int) -> Void = { _, _ in },
                           evaluate: ([String: String], Int64, Int64) async throws -> BacktestRun) async throws -> WalkForwardReport {
        let objective = grid.objective ?? "sharpe"
        let combos = grid.combinations
        var windows: [WalkForwardWindow] = []
        var tests: [BacktestRun] = []
        var trialVariances: [Double] = []
        let perBar = (365 * 86_400 / Double(max(interval, 1))).squareRoot()
        let spans = spec.windows(start: start, end: end)
        let total = spans.count * (combos.count + 1)
        var done = 0
        for (i, w) in spans.enumerated() {
            var best: (params: [String: String], score: Double?)?
            var trialSharpes: [Double] = []
            for params in combos {
                let metrics = try await evaluate(params, w.trainFrom, w.testFrom).metrics
                let s = score(metrics, objective: objective)
                if let sharpe = metrics.sharpe { trialSharpes.append(sharpe / perBar) }
                if isBetter(s, than: best) { best = (params, s) }
                done += 1
                progress(done, total)
            }
            if trialSharpes.count >= 2 {
                let mean = trialSharpes.reduce(0, +) / Double(trialSharpes.count)
                trialVariances.append(trialSharpes.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(trialSharpes.count - 1))
            }
            guard let chosen = best else { continue }
            let test = try await evaluate(chosen.params, w.testFrom, w.testTo)
            done += 1
            progress(done, total)
            tests.append(test)
            windows.append(WalkForwardWindow(index: i + 1, trainFrom: BacktestCalendar.iso(w.trainFrom),
                                             testFrom: BacktestCalendar.iso(w.testFrom), testTo: BacktestCalendar.iso(w.testTo),
                                             bestParameters: chosen.params, trainObjective: chosen.score,
                                             testObjective: score(test.metrics, objective: objective), test: test.metrics))
        }
        let returns = windows.map(\.test.totalReturn)
        var report = WalkForwardReport(strategy: strategy, objective: objective,
                                       spec: "train=\(spec.train),test=\(spec.test),step=\(spec.step)", combinations: combos.count,
                                       windows: windows, meanTestReturn: returns.isEmpty ? nil : returns.reduce(0, +) / Double(returns.count),
                                       profitableWindows: returns.filter { $0 > 0 }.count)
        let variance = trialVariances.isEmpty ? 0 : trialVariances.reduce(0, +) / Double(trialVariances.count)
        report.stitched = stitch(windows: windows, tests: tests, interval: interval, trials: combos.count, trialSharpeVariance: variance)
        return report
    }

    /// Chains the windows' test runs (see `StitchedOutOfSample`).
    static func stitch(windows: [WalkForwardWindow], tests: [BacktestRun], interval: Int64, trials: Int,
                       trialSharpeVariance: Double) -> StitchedOutOfSample? {
        guard let first = tests.first else { return nil }
        let initial = first.metrics.initialEquity
        var metrics = MetricsAccumulator(initialEquity: initial, interval: interval)
        var trades: [BacktestTrade] = []
        var returns: [Double] = []
        var equity = initial
        var fees = 0.0, funding = 0.0
        // A window's segment ends where the next window's curve begins (overlapping test spans are cut there).
        let boundaries = tests.indices.map { k in k + 1 < tests.count ? tests[k + 1].equityCurve.first?.time ?? .max : .max }
        for (k, run) in tests.enumerated() {
            let until = boundaries[k]
            let base = run.metrics.initialEquity
            guard base > 0 else { continue }
            let scale = equity / base
            var previous = base
            for p in run.equityCurve where p.time < until {
                let next = p.equity * scale
                returns.append(previous > 0 ? p.equity / previous - 1 : 0)
                previous = p.equity
                metrics.record(time: p.time, equity: next, inMarket: false)
                equity = next
            }
            let kept = run.trades.filter { $0.exitTime <= until }
            trades += kept.map { t in
                var t = t
                t.pnl *= scale
                t.fees *= scale
                return t
            }
            let share = run.trades.isEmpty ? 1 : Double(kept.count) / Double(run.trades.count)
            fees += run.metrics.feesPaid * scale * share
            funding += run.metrics.fundingPaid * scale * share
        }
        var m = metrics.finish(legs: trades, feesPaid: fees, fundingPaid: funding)
        // Exposure is not in the curve: weigh each window's by the bars it contributed.
        let bars = tests.enumerated().map { k, run in
            (Double(run.equityCurve.filter { $0.time < boundaries[k] }.count), run.metrics.exposure)
        }
        let totalBars = bars.reduce(0) { $0 + $1.0 }
        m.exposure = totalBars > 0 ? bars.reduce(0) { $0 + $1.0 * $1.1 } / totalBars : 0
        let isScores = windows.compactMap(\.trainObjective), oosScores = windows.compactMap(\.testObjective)
        let isMean = isScores.isEmpty ? nil : isScores.reduce(0, +) / Double(isScores.count)
        let oosMean = oosScores.isEmpty ? nil : oosScores.reduce(0, +) / Double(oosScores.count)
        return StitchedOutOfSample(
            metrics: m, equityCurve: metrics.curve, inSampleMean: isMean, outOfSampleMean: oosMean,
            efficiency: isMean.flatMap { i in oosMean.flatMap { i > 0 ? $0 / i : nil } },
            deflatedSharpe: DeflatedSharpe.of(returns: returns, trials: trials, trialSharpeVariance: trialSharpeVariance))
    }
}
