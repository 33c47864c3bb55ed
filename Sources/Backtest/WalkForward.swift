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
    /// Out-of-sample metrics of the best parameters on the test span.
    public var test: BacktestMetrics
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
    /// the test span. `evaluate(parameters, from, to)` runs one backtest trading bars in `[from, to)`.
    /// `progress(done, total)` counts evaluations: every combination in-sample plus one out-of-sample run per window.
    public static func run(spec: WalkForwardSpec, grid: ParameterGrid, start: Int64, end: Int64, strategy: String,
                           progress: (Int, Int) -> Void = { _, _ in },
                           evaluate: ([String: String], Int64, Int64) async throws -> BacktestRun) async throws -> WalkForwardReport {
        let objective = grid.objective ?? "sharpe"
        let combos = grid.combinations
        var windows: [WalkForwardWindow] = []
        let spans = spec.windows(start: start, end: end)
        let total = spans.count * (combos.count + 1)
        var done = 0
        for (i, w) in spans.enumerated() {
            var best: (params: [String: String], score: Double?)?
            for params in combos {
                let s = score(try await evaluate(params, w.trainFrom, w.testFrom).metrics, objective: objective)
                if isBetter(s, than: best) { best = (params, s) }
                done += 1
                progress(done, total)
            }
            guard let chosen = best else { continue }
            let test = try await evaluate(chosen.params, w.testFrom, w.testTo)
            done += 1
            progress(done, total)
            windows.append(WalkForwardWindow(index: i + 1, trainFrom: BacktestCalendar.iso(w.trainFrom),
                                             testFrom: BacktestCalendar.iso(w.testFrom), testTo: BacktestCalendar.iso(w.testTo),
                                             bestParameters: chosen.params, trainObjective: chosen.score, test: test.metrics))
        }
        let returns = windows.map(\.test.totalReturn)
        return WalkForwardReport(strategy: strategy, objective: objective,
                                 spec: "train=\(spec.train),test=\(spec.test),step=\(spec.step)", combinations: combos.count,
                                 windows: windows, meanTestReturn: returns.isEmpty ? nil : returns.reduce(0, +) / Double(returns.count),
                                 profitableWindows: returns.filter { $0 > 0 }.count)
    }
}
