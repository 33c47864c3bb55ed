import ArgumentParser
import Backtest
import Config
import Execution
import Foundation
import Ledger
import Market
import Model
import Review

/// `agent backtest`: historical candles through the same pipeline (or the `ema_cross` reference strategy).
struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Replay historical candles through Universe -> Triggers -> Rules -> reviewers -> policy -> paper execution.",
        discussion: """
        Strictly point in time: the cycle at a bar's close sees only bars closed by then; its orders fill at the \
        next bar's open with the PAPER fill model (fees, slippage, depth); exits use the PAPER exit manager.

        Data: CryptoDataDownload-style CSV (banner line, newest first, `2019-10-17 09-AM` dates), Binance kline \
        CSV (with or without header) or JSON, generic timestamp,open,high,low,close,volume, CryptoCompare and \
        freqtrade/ccxt JSON. Gaps and duplicate bars are reported, never filled. Without --data, --symbol reads the \
        candle store that `agent data download` fills (see `agent data list`).

        Examples:
          agent backtest --data ../shared/data/coinbase_btcusd_1h.csv --from 2019-01-01 --to 2019-06-01
          agent backtest --data ../shared/data/coinbase_btcusd_1h.csv --strategy ema_cross --fast 8 --slow 21 --trades trades.csv
          agent backtest --data FILE --report out/ --reviewers offline
          agent backtest --data FILE --strategy ema_cross --walk-forward train=4M,test=2M,step=1M --grid grid.yaml
        """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Candle files (repeatable).", valueName: "file"))
    var data: [String] = []

    @Option(help: "Symbol of the data when the file does not say (single file), e.g. BTC-USD. Without --data: the stored symbols to read, comma-separated (agent data list).")
    var symbol: String?

    @Option(help: "Without --data: the exchange whose stored candles to read (needed only when several hold the symbol).")
    var exchange: String?

    @Option(help: "First bar close that may trade (YYYY-MM-DD or ISO 8601, UTC). Earlier bars are history only.")
    var from: String?

    @Option(help: "Last bar close included (YYYY-MM-DD or ISO 8601, UTC).")
    var to: String?

    @Option(help: "Bar length from 1m to 1d: 1m, 5m, 15m, 1h, 2h, 4h, 6h, 12h, 1d ...")
    var timeframe: String = "1h"

    @Option(help: "pipeline (the live stages) or ema_cross (the reference strategy).")
    var strategy: String = "pipeline"

    @Option(parsing: .unconditional, help: "ema_cross: fast EMA period.")
    var fast: Int = 8

    @Option(parsing: .unconditional, help: "ema_cross: slow EMA period.")
    var slow: Int = 21

    @Option(parsing: .unconditional, help: "ema_cross: commission, a fraction of notional on both legs.")
    var commission: Double = 0.0006

    @Option(parsing: .unconditional, help: "ema_cross: fixed quantity per trade (base units), or `all` for all equity.")
    var size: String = "all"

    @Option(parsing: .unconditional, help: "Starting equity in USD (pipeline default: app.yaml portfolio.starting_equity_usd; ema_cross: 10000).")
    var equity: Double?

    @Option(parsing: .unconditional, help: "Slippage in bps (pipeline: the fill model's base slippage, default app.yaml paper.base_slippage_bps; ema_cross default 0).")
    var slippageBps: Double?

    @Option(parsing: .unconditional, help: "pipeline: taker fee in bps (default app.yaml paper.taker_fee_bps, the same costs as PAPER).")
    var feeBps: Double?

    @Option(parsing: .unconditional, help: "pipeline: quoted spread synthesized around prices, in bps.")
    var spreadBps: Double = 2

    @Option(help: "pipeline: tier for symbols the universe does not list (tier_1_core, tier_2_rotational, tier_3_event_driven); given explicitly, it applies to every symbol.")
    var tier: String?

    @Option(help: "pipeline: offline (default), replay (recorded reviews from the ledger, point in time), live (app.yaml providers, under the AI budget), or none.")
    var reviewers: String = "offline"

    @Option(help: "pipeline with --reviewers replay: the ledger to read (default: <data-dir>/agent.sqlite).")
    var ledger: String?

    @Option(help: "Perpetuals: funding history JSON (rows [time_ms, rate, ...]).")
    var funding: String?

    @Option(parsing: .unconditional, help: "Perpetuals: a constant funding rate per 8h settlement instead of a file (e.g. 0.0001).")
    var fundingRate: Double?

    @Option(parsing: .unconditional, help: "Perpetuals: the most leverage the run trades at (sets rules.leverage and risk.max_leverage; each position is held at its proposal's leverage under it, and liquidates at it).")
    var leverage: Double?

    @Option(help: "Perpetuals: Binance leverage tiers JSON (maintenance brackets), e.g. ../shared/data/binance_usdm_leverage_tiers.json.")
    var leverageTiers: String?

    @Option(help: "Scale test: mirror-tile the data to this many candles (as `agent bench` does: every other copy runs backwards in time), e.g. 10000000.")
    var tile: Int?

    @Option(help: "Walk-forward windows, e.g. train=4M,test=2M,step=1M (needs --grid).")
    var walkForward: String?

    @Option(help: "Walk-forward parameter grid (YAML).")
    var grid: String?

    @Option(help: "Walk-forward: refuse a grid with more combinations than this (each is run once per window).")
    var maxCombinations: Int = 1_000

    @Option(parsing: .unconditional, help: "Permutation test: re-run on N block-shuffled copies of the bar returns and report the p-value of --permutation-metric (all cores).")
    var permutations: Int = 0

    @Option(help: "Permutation test: the metric compared (sharpe, sortino, total_return, cagr, profit_factor).")
    var permutationMetric: String = "sharpe"

    @Option(help: "Permutation test: length of the shuffled blocks of bars, as a time (e.g. 24h, 3d); order within a block is kept.")
    var permutationBlock: String = "24h"

    @Option(parsing: .unconditional, help: "Seed of the permutations and of the look-ahead cut points.")
    var seed: UInt64 = 1

    @Flag(help: "Check that decisions up to random cut points are identical when the bars after each cut are spiked or removed (exit 1 if not).")
    var checkLookahead = false

    @Option(parsing: .unconditional, help: "--check-lookahead: how many cut points.")
    var lookaheadCuts: Int = 3

    @Option(help: "Write a self-contained HTML report (index.html, trades.csv, report.json) into this folder.")
    var report: String?

    @Option(help: "Write the trade list as CSV.")
    var trades: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Pretty-print the JSON.")
    var pretty = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @OptionGroup var common: BacktestOptions

    func validate() throws {
        if data.isEmpty && symbol == nil {
            throw ValidationError("give --data FILE (one or more candle files), or --symbol S to read the candle store (agent data download)")
        }
        if BarInterval(timeframe) == nil { throw ValidationError("--timeframe '\(timeframe)': use a bar length from 1m to 1d, e.g. 15m, 1h, 4h, 6h, 12h, 1d") }
        if !["pipeline", "ema_cross"].contains(strategy) { throw ValidationError("--strategy must be pipeline or ema_cross") }
        if !["offline", "replay", "live", "none"].contains(reviewers) {
            throw ValidationError("--reviewers must be offline, replay, live or none")
        }
        if fast < 1 || slow < 1 || fast >= slow { throw ValidationError("--fast and --slow must be positive with fast < slow") }
        if !(commission >= 0 && commission < 1) { throw ValidationError("--commission must be a fraction in [0, 1)") }
        if size != "all", !(Double(size).map { $0 > 0 && $0 <= 1e9 } ?? false) {
            throw ValidationError("--size '\(size)': must be a positive quantity of at most 1e9 base units, or `all`")
        }
        // The same ranges as the YAML keys these flags override (NaN fails every range).
        try Self.range("--equity", equity, 1...1e12)
        try Self.range("--fee-bps", feeBps, 0...1_000)
        try Self.range("--slippage-bps", slippageBps, 0...1_000)
        try Self.range("--spread-bps", spreadBps, 0...10_000)
        try Self.range("--funding-rate", fundingRate, -0.05...0.05)
        try Self.range("--leverage", leverage, 1...125)
        if walkForward != nil && grid == nil { throw ValidationError("--walk-forward needs --grid FILE") }
        if maxCombinations < 1 { throw ValidationError("--max-combinations must be at least 1") }
        if funding != nil && fundingRate != nil { throw ValidationError("use either --funding FILE or --funding-rate, not both") }
        if let tile, tile < 1 || tile > 1_000_000_000 { throw ValidationError("--tile must be between 1 and 1000000000 candles") }
        if permutations < 0 || permutations > 100_000 { throw ValidationError("--permutations must be between 0 and 100000") }
        if !WalkForward.objectives.contains(permutationMetric) {
            throw ValidationError("--permutation-metric must be one of \(WalkForward.objectives.joined(separator: ", "))")
        }
        if UTC.duration(permutationBlock).map({ $0 > 0 }) != true {
            throw ValidationError("--permutation-block '\(permutationBlock)': expected a time such as 24h or 3d")
        }
        if lookaheadCuts < 1 || lookaheadCuts > 100 { throw ValidationError("--lookahead-cuts must be between 1 and 100") }
        if (permutations > 0 || checkLookahead) && walkForward != nil {
            throw ValidationError("--permutations and --check-lookahead test one backtest: drop --walk-forward")
        }
        if (permutations > 0 || checkLookahead) && reviewers == "live" {
            throw ValidationError("--permutations and --check-lookahead re-run the backtest many times: use --reviewers offline, replay or none, not live (paid) reviewers")
        }
        if let tier, Tier(rawValue: tier) == nil {
            throw ValidationError("--tier must be one of \(Tier.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    private static func range(_ flag: String, _ value: Double?, _ range: ClosedRange<Double>) throws {
        guard let value, !range.contains(value) else { return }
        throw ValidationError("\(flag) \(value): must be between \(Format.number(range.lowerBound)) and \(Format.number(range.upperBound))")
    }

    func run() async throws {
        try await AgentMain.guarded {
            do {
                try await execute()
            } catch let e as BacktestError {
                throw CLIError.badInput(e.description)
            }
        }
    }

    private func time(_ text: String?, flag: String) throws -> Int64? {
        guard let text else { return nil }
        guard let t = BacktestCalendar.parse(text) else {
            throw CLIError.badInput("\(flag) '\(text)': expected YYYY-MM-DD or an ISO 8601 time such as 2019-01-01T00:00:00Z")
        }
        return t
    }

    private func execute() async throws {
        let interval = Timeframe.seconds(timeframe) ?? 3_600
        let fromTime = try time(from, flag: "--from")
        let toTime = try time(to, flag: "--to")
        if let fromTime, let toTime, fromTime >= toTime {
            throw CLIError.badInput("--from \(from ?? "") is not before --to \(to ?? ""): no bar could trade")
        }
        if data.isEmpty {
            try await runStored(interval: interval, from: fromTime, to: toTime)
            return
        }
        if strategy == "ema_cross", walkForward == nil, data.count == 1, permutations == 0, !checkLookahead {
            // Streamed: the candles are never held, so memory stays flat in the file's length. A file of shorter
            // bars than --timeframe is resampled instead, below.
            do {
                try output(try emaCrossStreamed(path: data[0], interval: interval, from: fromTime, to: toTime))
                return
            } catch let error as BacktestError where CandleFiles.finerBars(than: interval).isEmpty {
                throw error
            } catch is BacktestError {}
        }
        var series: [CandleSeries] = []
        for path in data {
            series.append(try CandleFiles.load(path: path, symbol: data.count == 1 ? symbol : nil, resamplingTo: interval))
        }
        try await run(series: series, interval: interval, from: fromTime, to: toTime)
    }

    /// The funding file the candle store holds for `symbol` (from `--exchange`, or the first exchange holding one).
    /// A file check only: listing the store would read every stored candle file.
    private func storedFundingPath(symbol: String) -> String? {
        let store = CandleStore(dataDir: common.dataDir)
        let exchanges = exchange.map { [$0] } ?? Exchange.allCases.filter(\.trades).map(\.rawValue)
        return exchanges.map { store.fundingPath(exchange: $0, symbol: symbol) }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// No `--data`: each symbol's candles from the store (`--symbol BTC-USD,ETH-USD` for several), at `--timeframe`
    /// or resampled from a finer stored one.
    private func runStored(interval: Int64, from: Int64?, to: Int64?) async throws {
        let symbols = (self.symbol ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !symbols.isEmpty else { throw CLIError.badInput("--symbol is empty") }
        var series: [CandleSeries] = []
        for symbol in symbols { series.append(try storedSeries(symbol: symbol, interval: interval)) }
        try await run(series: series, interval: interval, from: from, to: to)
    }

    /// One symbol's stored candles at `interval`.
    private func storedSeries(symbol: String, interval: Int64) throws -> CandleSeries {
        do {
            return try CandleStore(dataDir: common.dataDir).series(symbol: symbol, exchange: exchange, interval: interval)
        } catch {
            throw CLIError.badInput(error.description + (error.isSeveralExchanges ? " (--exchange)" : ""))
        }
    }

    private func run(series loadedSeries: [CandleSeries], interval: Int64, from fromTime: Int64?, to toTime: Int64?) async throws {
        var series = loadedSeries
        if let tile {
            series = series.map { loaded in
                CandleSeries(symbol: loaded.symbol, candles: MirrorTile(base: loaded.candles, count: tile, interval: interval).materialize(),
                             source: "\(loaded.source) (mirror-tiled to \(tile) candles)", interval: interval)
            }
        }
        let notes = series.map(DataNote.of)
        for n in notes where n.gaps > 0 || n.duplicateBars > 0 {
            FileHandle.standardError.write(Data("agent backtest: \(n.source): \(n.gaps) gaps (\(n.missingBars) missing bars), \(n.duplicateBars) duplicate bars — reported, not filled\n".utf8))
        }
        let symbols = series.map(\.symbol)
        let first = series.compactMap { $0.candles.first?.time }.min() ?? 0
        let last = series.compactMap { $0.candles.last?.time }.max().map { $0 + interval } ?? 0
        let span = (BacktestCalendar.iso(fromTime ?? first), BacktestCalendar.iso(toTime ?? last))

        if let walkForward, let grid {
            try await runWalkForward(spec: try WalkForwardSpec.parse(walkForward), grid: try ParameterGrid.load(path: grid),
                                     series: series, interval: interval, start: fromTime ?? first, end: toTime ?? last)
            return
        }

        var backtestReport: BacktestReport
        let verdicts: Verdicts
        if strategy == "ema_cross" {
            guard series.count == 1, let s = series.first else {
                throw CLIError.badInput("ema_cross trades a single symbol: give one --data file")
            }
            let params = emaParameters(fast: fast, slow: slow)
            let run = EMACrossEngine.run(candles: s.candles, symbol: s.symbol, parameters: params, interval: interval,
                                         from: fromTime, to: toTime).run
            backtestReport = BacktestReport(
                strategy: "ema_cross", symbols: symbols, timeframe: timeframe, from: span.0, to: span.1, data: notes,
                costs: ["commission": "\(params.commission) of notional per leg", "slippage_bps": "\(params.slippageBps)",
                        "fills": "next bar's open", "sizing": params.fixedQuantity.map { "fixed \($0)" } ?? "all equity"],
                run: run, rulesOnly: nil,
                notes: ["benchmarks: buy and hold only; ema_cross is itself the reference and bypasses the rules (no rules-only shadow: use --strategy pipeline)"])
            // ema_cross's --from is the first bar (open time) that may trade: it decides at that bar's close.
            let clock = Benchmarks.decisionTimes(series: series, from: fromTime.map { $0 + interval }, to: toTime)
            backtestReport.attachBenchmarks(
                buyAndHold: Benchmarks.buyAndHold(series: series, clock: clock, initialEquity: params.initialEquity, feeFraction: params.commission),
                reference: nil)
            let symbol = s.symbol
            verdicts = Verdicts(
                metrics: { shuffled in
                    EMACrossEngine.run(candles: shuffled.first?.candles ?? [], symbol: symbol, parameters: params, interval: interval,
                                       from: fromTime, to: toTime).run.metrics
                },
                decisions: { altered in
                    EMACrossEngine.run(candles: altered.first?.candles ?? [], symbol: symbol, parameters: params, interval: interval,
                                       from: fromTime, to: toTime).signals.map { Decision(time: $0.time, text: "\($0.side.rawValue) signal") }
                })
        } else {
            (backtestReport, verdicts) = try await runPipeline(series: series, notes: notes, span: span, from: fromTime, to: toTime)
        }
        backtestReport.prices = series.map { PriceLine($0) }
        try await judge(&backtestReport, verdicts: verdicts, series: series, interval: interval, from: fromTime, to: toTime)
        try output(backtestReport)
        if let lookahead = backtestReport.lookahead, !lookahead.identical {
            throw CLIError.failed("--check-lookahead: decisions changed with the future: " + lookahead.differences.joined(separator: "; "))
        }
    }

    /// One decision of a run, for the look-ahead comparison.
    struct Decision: Equatable, Sendable {
        var time: Int64
        var text: String
    }

    /// How to re-run the backtest on other candles: for the permutation test (its metrics) and the look-ahead
    /// check (its decisions).
    struct Verdicts: Sendable {
        var metrics: @Sendable ([CandleSeries]) async throws -> BacktestMetrics
        var decisions: @Sendable ([CandleSeries]) async throws -> [Decision]
    }

    /// `--permutations` and `--check-lookahead`.
    private func judge(_ report: inout BacktestReport, verdicts: Verdicts, series: [CandleSeries], interval: Int64,
                       from: Int64?, to: Int64?) async throws {
        if permutations > 0 {
            let block = max(1, Int((UTC.duration(permutationBlock) ?? interval) / interval))
            let progress = ProgressReporter(label: "permutations", enabled: !quiet)
            report.permutation = try await PermutationTest.run(
                series: series, keepBefore: from ?? .min, permutations: permutations, block: block, seed: seed,
                metric: permutationMetric, actual: report.run.metrics, progress: { progress.update($0, $1) },
                evaluate: verdicts.metrics)
        }
        if checkLookahead {
            let clock = Benchmarks.decisionTimes(series: series, from: from, to: to)
            let cuts = LookaheadCheck.cuts(clock: clock, count: lookaheadCuts, seed: seed)
            if cuts.isEmpty { throw CLIError.badInput("--check-lookahead needs at least 10 decision times (bar closes) to cut") }
            report.lookahead = try await LookaheadCheck.run(series: series, cuts: cuts, time: \.time, describe: \.text,
                                                            evaluate: verdicts.decisions)
        }
    }

    /// `ema_cross` on one file, streamed from the reader (or from the mirror tile) into the engine.
    private func emaCrossStreamed(path: String, interval: Int64, from: Int64?, to: Int64?) throws -> BacktestReport {
        let params = emaParameters(fast: fast, slow: slow)
        let progress = ProgressReporter(label: "backtest ema_cross", enabled: !quiet)
        let end = to ?? .max
        let tradeFrom = from ?? .min
        var engine: EMACrossEngine
        // Buy and hold from the first bar the strategy may trade on (it decides at that bar's close).
        let holdBook = {
            BenchmarkBook(sleeves: [HoldSleeve(cash: params.initialEquity, interval: interval,
                                               firstClose: tradeFrom == .min ? .min : tradeFrom + interval,
                                               feeFraction: params.commission)],
                          initialEquity: params.initialEquity, interval: interval)
        }
        var hold = holdBook()
        let note: DataNote
        let symbol: String
        var span: (first: Int64, last: Int64) = (0, 0)
        if let tile {
            let base = try CandleFiles.load(path: path, symbol: self.symbol, interval: interval)
            let tiled = MirrorTile(base: base.candles, count: tile, interval: interval)
            engine = EMACrossEngine(parameters: params, symbol: base.symbol, interval: interval, tradeFrom: tradeFrom)
            var i = 0
            tiled.forEachOpenClose { t, o, c in
                if t + interval <= end {
                    engine.step(time: t, open: o, close: c)
                    hold.step(0, time: t, open: o, close: c)
                    if t >= tradeFrom { hold.record(time: t + interval) }
                }
                if i & 0xFFFFF == 0 { progress.update(i, tile) }
                i += 1
            }
            progress.update(tile, tile)
            let last = tiled.startTime + Int64(max(tiled.count - 1, 0)) * interval
            note = DataNote.of(CandleSummary(symbol: base.symbol, source: "\(path) (mirror-tiled to \(tile) candles)",
                                             interval: interval, count: tiled.count, first: tiled.count > 0 ? tiled.startTime : nil,
                                             last: tiled.count > 0 ? last : nil, gaps: [], duplicateTimes: []))
            symbol = base.symbol
            span = (tiled.startTime, last)
        } else {
            let (done, summary) = try CandleFiles.replay(
                path: path, symbol: self.symbol, interval: interval,
                initial: { symbol in (engine: EMACrossEngine(parameters: params, symbol: symbol, interval: interval, tradeFrom: tradeFrom),
                                      hold: holdBook(), bars: 0) },
                step: { state, c in
                    if c.time + interval <= end {
                        state.engine.step(time: c.time, open: c.open, close: c.close)
                        state.hold.step(0, time: c.time, open: c.open, close: c.close)
                        if c.time >= tradeFrom { state.hold.record(time: c.time + interval) }
                    }
                    state.bars += 1
                })
            engine = done.engine
            hold = done.hold
            progress.update(summary.count, summary.count)
            note = DataNote.of(summary)
            symbol = summary.symbol
            span = (summary.first ?? 0, summary.last ?? 0)
        }
        if note.gaps > 0 || note.duplicateBars > 0 {
            FileHandle.standardError.write(Data("agent backtest: \(note.source): \(note.gaps) gaps (\(note.missingBars) missing bars), \(note.duplicateBars) duplicate bars — reported, not filled\n".utf8))
        }
        let run = engine.finish()
        var report = BacktestReport(
            strategy: "ema_cross", symbols: [symbol], timeframe: timeframe,
            from: BacktestCalendar.iso(from ?? span.first), to: BacktestCalendar.iso(to ?? span.last + interval), data: [note],
            costs: ["commission": "\(params.commission) of notional per leg", "slippage_bps": "\(params.slippageBps)",
                    "fills": "next bar's open", "sizing": params.fixedQuantity.map { "fixed \($0)" } ?? "all equity"],
            run: run, rulesOnly: nil,
            notes: ["benchmarks: buy and hold only; ema_cross is itself the reference and bypasses the rules (no rules-only shadow: use --strategy pipeline)"])
        report.attachBenchmarks(buyAndHold: hold.finish(label: "buy and hold"), reference: nil)
        return report
    }

    private func emaParameters(fast: Int, slow: Int) -> EMACrossParameters {
        EMACrossParameters(fast: fast, slow: slow, commission: commission, slippageBps: slippageBps ?? 0,
                           fixedQuantity: size == "all" ? nil : Double(size), initialEquity: equity ?? 10_000)
    }

    /// The same fill costs and exits as PAPER (app.yaml `paper`, signals.yaml `exits`), with the flags as overrides.
    private func pipelineSettings(series: [CandleSeries], from: Int64?, to: Int64?) throws -> PipelineBacktestSettings {
        let config = try common.loadConfig()
        let paper = fillCosts(config)
        var fundingBySymbol: [String: FundingSchedule] = [:]
        if let funding {
            let schedule = try FundingSchedule.load(path: funding)
            for s in series { fundingBySymbol[s.symbol] = schedule }
        } else if let fundingRate {
            for s in series { fundingBySymbol[s.symbol] = FundingSchedule(constant: fundingRate) }
        } else if data.isEmpty {
            // From the candle store: the funding downloaded beside the candles, when there is any.
            for s in series {
                if let path = storedFundingPath(symbol: s.symbol) { fundingBySymbol[s.symbol] = try FundingSchedule.load(path: path) }
            }
        }
        var brackets: [String: [LeverageBracket]] = [:]
        if let leverageTiers {
            for s in series { brackets[s.symbol] = try LeverageTiersFile.brackets(path: leverageTiers, symbol: s.symbol) }
        }
        return PipelineBacktestSettings(
            paper: paper, exitPlan: config.signals.exits, spreadBps: spreadBps,
            funding: fundingBySymbol, leverage: leverage, brackets: brackets, from: from, to: to)
    }

    /// app.yaml `paper` costs with `--fee-bps` and `--slippage-bps` over them.
    private func fillCosts(_ config: LoadedConfig) -> PaperConfig {
        var paper = config.app.paper
        if let feeBps { paper.takerFeeBps = feeBps }
        if let slippageBps { paper.baseSlippageBps = slippageBps }
        return paper
    }

    private func loadConfig(symbols: [String]) throws -> LoadedConfig {
        var config = try common.loadConfig().forBacktest(symbols: symbols, tier: tier.flatMap(Tier.init(rawValue:)))
        if let equity { config.app.portfolio.startingEquityUsd = equity }
        return config
    }

    private func reviewerChoice(config: LoadedConfig, interval: Int64) throws -> BacktestReviewers {
        switch reviewers {
        case "none": return .none
        case "replay":
            let path = ledger ?? (common.dataDir as NSString).appendingPathComponent("agent.sqlite")
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError.badInput("--reviewers replay: no ledger at \(path) (pass --ledger FILE)")
            }
            let records = try RecordedReviewLoader.load(path: path, interval: interval)
            return .board(records.board(policy: config.policy), label: "replay", paid: false)
        case "live":
            let board = try ReviewSetup.board(config)
            return .board(board, label: board.hasPaidReviewers ? "live" : "offline", paid: board.hasPaidReviewers)
        default:
            return .board(.offline(policy: config.policy), label: "offline", paid: false)
        }
    }

    private func runPipeline(series: [CandleSeries], notes: [DataNote], span: (String, String), from: Int64?,
                             to: Int64?) async throws -> (BacktestReport, Verdicts) {
        let config = try loadConfig(symbols: series.map(\.symbol))
        let settings = try pipelineSettings(series: series, from: from, to: to)
        let interval = series.first?.interval ?? 3_600
        let choice = try reviewerChoice(config: config, interval: interval)
        let progress = ProgressReporter(label: "backtest pipeline", enabled: !quiet)
        let main = await PipelineBacktest(config: config, series: series, settings: settings, reviewers: choice)
            .run(progress: { progress.update($0, $1) })
        var rulesOnly: BacktestRun?
        if case .board = choice {
            let shadow = ProgressReporter(label: "backtest rules only", enabled: !quiet)
            rulesOnly = await PipelineBacktest(config: config, series: series, settings: settings, reviewers: .none)
                .run(progress: { shadow.update($0, $1) }).run
        }
        var costs = ["taker_fee_bps": "\(settings.paper.takerFeeBps)", "base_slippage_bps": "\(settings.paper.baseSlippageBps)",
                     "impact_bps_at_depth": "\(settings.paper.impactBpsAtDepth)", "spread_bps": "\(settings.spreadBps)",
                     "fills": "the decision-time quote (last close ± half the spread), PAPER fill model, as in PAPER", "exits": "PAPER exit manager (stop, R ladder, trailing ATR, time stop)"]
        let storedFunding = funding == nil && fundingRate == nil && data.isEmpty ? series.compactMap { storedFundingPath(symbol: $0.symbol) } : []
        if !storedFunding.isEmpty {
            costs["funding"] = "candle store " + storedFunding.joined(separator: ", ")
        } else if funding != nil || fundingRate != nil {
            costs["funding"] = funding.map { "file \($0)" } ?? "constant \(fundingRate ?? 0) per 8h"
        }
        let ceiling = settings.leverage ?? config.signals.rules.leverage
        if ceiling > 1 {
            costs["leverage"] = "at most \(ceiling)x, each position isolated at its proposal's leverage; maintenance from "
                + (leverageTiers ?? "futures.maintenance_margin_rate")
        }
        var report = BacktestReport(
            strategy: "pipeline", symbols: series.map(\.symbol), timeframe: timeframe, from: span.0, to: span.1, data: notes,
            costs: costs, run: main.run, rulesOnly: rulesOnly,
            notes: ["regime benchmark: \(config.signals.regime.benchmark)",
                    "no news feeds in backtests: M1 sees no items"])
        // Benchmarks on the same decision times: buy and hold (one taker fee) and ema_cross(--fast, --slow).
        let clock = Benchmarks.decisionTimes(series: series, from: from, to: to)
        let start = config.app.portfolio.startingEquityUsd
        report.attachBenchmarks(
            buyAndHold: Benchmarks.buyAndHold(series: series, clock: clock, initialEquity: start,
                                              feeFraction: settings.paper.takerFeeBps / 10_000),
            reference: Benchmarks.emaCross(series: series, clock: clock, initialEquity: start, parameters: emaParameters(fast: fast, slow: slow)))
        if rulesOnly == nil { report.notes.append("reviewers are off: the strategy is the rules-only run") }
        let verdicts = Verdicts(
            metrics: { altered in
                await PipelineBacktest(config: config, series: altered, settings: settings, reviewers: choice).run().run.metrics
            },
            decisions: { altered in
                await PipelineBacktest(config: config, series: altered, settings: settings, reviewers: choice).run().cycles.map { c in
                    Decision(time: c.time, text: "regime \(c.regime.rawValue), \(c.triggers) triggers, proposals [\(c.proposals.joined(separator: "; "))], approved [\(c.approved.joined(separator: "; "))]")
                }
            })
        return (report, verdicts)
    }

    private func runWalkForward(spec: WalkForwardSpec, grid: ParameterGrid, series: [CandleSeries], interval: Int64,
                                start: Int64, end: Int64) async throws {
        let chosen = grid.strategy ?? strategy
        let count = grid.combinationCount
        if count.map({ $0 > maxCombinations }) ?? true {
            throw CLIError.badInput("\(self.grid ?? "--grid"): \(count.map(String.init) ?? "too many") combinations, each run in every window: "
                                    + "above --max-combinations \(maxCombinations); pass --max-combinations \(count.map(String.init) ?? "N") to run them all")
        }
        let progress = ProgressReporter(label: "walk-forward", enabled: !quiet)
        let report: WalkForwardReport
        if chosen == "ema_cross" {
            guard series.count == 1, let s = series.first else {
                throw CLIError.badInput("ema_cross walk-forward needs exactly one --data file")
            }
            for key in grid.grid.keys where !["fast", "slow"].contains(key) {
                throw CLIError.badInput("\(self.grid ?? ""): grid key '\(key)' is not an ema_cross parameter (fast, slow)")
            }
            report = try await WalkForward.run(spec: spec, grid: grid, start: start, end: end, strategy: "ema_cross", interval: interval,
                                               progress: { progress.update($0, $1) }) { p, from, to in
                let f = Int(p["fast"] ?? "") ?? fast
                let sl = Int(p["slow"] ?? "") ?? slow
                guard f >= 1, sl > f else { throw CLIError.badInput("grid: fast \(f) / slow \(sl) (need 1 <= fast < slow)") }
                return EMACrossEngine.run(candles: s.candles, symbol: s.symbol, parameters: emaParameters(fast: f, slow: sl),
                                          interval: interval, from: from, to: to, maxCurvePoints: MetricsAccumulator.everyBar).run
            }
        } else {
            // Pipeline: grid keys are --set keys (e.g. signals.rules.min_trigger_strength).
            var baseSettings = try pipelineSettings(series: series, from: nil, to: nil)
            baseSettings.curvePoints = MetricsAccumulator.everyBar
            let base = common
            report = try await WalkForward.run(spec: spec, grid: grid, start: start, end: end, strategy: "pipeline", interval: interval,
                                               progress: { progress.update($0, $1) }) { p, from, to in
                var options = base
                options.overrides += p.keys.sorted().map { "\($0)=\(p[$0] ?? "")" }
                var config = try options.loadConfig().forBacktest(symbols: series.map(\.symbol), tier: tier.flatMap(Tier.init(rawValue:)))
                if let equity { config.app.portfolio.startingEquityUsd = equity }
                var settings = baseSettings
                // The combination's own exits and fill costs: grid keys may be `signals.exits.*` or `app.paper.*`.
                settings.exitPlan = config.signals.exits
                settings.paper = fillCosts(config)
                settings.from = from
                settings.to = to
                return await PipelineBacktest(config: config, series: series, settings: settings,
                                              reviewers: try reviewerChoice(config: config, interval: interval)).run().run
            }
        }
        if json {
            FileHandle.standardOutput.write(Data((try JSONCoding.string(report, pretty: pretty) + "\n").utf8))
            return
        }
        var text = "walk-forward \(report.strategy) \(report.spec), objective \(report.objective), \(report.combinations) combinations\n"
        for w in report.windows {
            let params = w.bestParameters.keys.sorted().map { "\($0)=\(w.bestParameters[$0] ?? "")" }.joined(separator: " ")
            text += String(format: "#%d test %@..%@  best %@  in-sample %@  OOS return %.2f%%  maxDD %.2f%%  trades %d\n",
                           w.index, String(w.testFrom.prefix(10)), String(w.testTo.prefix(10)), params,
                           w.trainObjective.map { String(format: "%.3f", $0) } ?? "-", w.test.totalReturn * 100,
                           w.test.maxDrawdown * 100, w.test.trades)
        }
        text += String(format: "mean OOS return %.2f%%, %d of %d windows profitable\n",
                       (report.meanTestReturn ?? 0) * 100, report.profitableWindows, report.windows.count)
        if let st = report.stitched {
            func f(_ v: Double?, _ pct: Bool = false) -> String { v.map { pct ? String(format: "%.2f%%", $0 * 100) : String(format: "%.3f", $0) } ?? "-" }
            let m = st.metrics
            text += "stitched out of sample: return \(f(m.totalReturn, true)), CAGR \(f(m.cagr, true)), Sharpe \(f(m.sharpe)), "
                + "max drawdown \(f(m.maxDrawdown, true)), profit factor \(f(m.profitFactor)), \(m.trades) trades, \(m.bars) bars\n"
            text += "\(report.objective) in sample \(f(st.inSampleMean)) vs out of sample \(f(st.outOfSampleMean)) (mean of windows; efficiency \(f(st.efficiency)))\n"
            if let d = st.deflatedSharpe {
                text += "deflated Sharpe: P(true Sharpe > \(f(d.expectedMaxSharpe)) per bar, the best of \(d.trials) luck-only tries) = \(f(d.probability)) "
                    + "(per-bar Sharpe \(f(d.sharpe)), \(d.observations) bars, skew \(f(d.skewness)), kurtosis \(f(d.kurtosis)))\n"
            }
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private func output(_ r: BacktestReport) throws {
        if let trades {
            do {
                try Data(ReportWriter.tradesCSV(r.run.trades).utf8).write(to: URL(fileURLWithPath: trades))
            } catch {
                throw CLIError.io("--trades \(trades): \(FileErrorText.cause(error))")
            }
        }
        if let report {
            let path = try ReportWriter.write(r, to: report)
            FileHandle.standardError.write(Data("agent backtest: report written to \(path)\n".utf8))
        }
        if json {
            FileHandle.standardOutput.write(Data((try JSONCoding.string(r, pretty: pretty) + "\n").utf8))
            return
        }
        FileHandle.standardOutput.write(Data(Self.text(r).utf8))
    }

    /// The metrics side by side as text.
    static func text(_ r: BacktestReport) -> String {
        let runs = [r.run] + (r.rulesOnly.map { [$0] } ?? [])
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        func num(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "-" }
        let rows: [(String, (BacktestMetrics) -> String)] = [
            ("final equity", { num($0.finalEquity) }), ("total return", { pct($0.totalReturn) }), ("CAGR", { pct($0.cagr) }),
            ("max drawdown", { pct($0.maxDrawdown) }), ("Sharpe", { num($0.sharpe) }), ("Sortino", { num($0.sortino) }),
            ("win rate", { pct($0.winRate) }), ("profit factor", { num($0.profitFactor) }),
            ("average win", { num($0.averageWin) }), ("average loss", { num($0.averageLoss) }),
            ("exposure", { pct($0.exposure) }), ("trades", { "\($0.trades)" }),
            ("avg holding (h)", { num($0.averageHoldingHours) }), ("fees paid", { num($0.feesPaid) }),
            ("funding paid", { num($0.fundingPaid) }), ("bars", { "\($0.bars)" }),
        ]
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var out = "\(r.strategy) on \(r.symbols.joined(separator: ", ")) \(r.timeframe), \(r.from) .. \(r.to)\n"
        for d in r.data {
            out += "  data \(d.source): \(d.candles) candles, \(d.gaps) gaps (\(d.missingBars) missing bars), \(d.duplicateBars) duplicates\n"
        }
        out += pad("", 18) + runs.map { pad($0.label, 30) }.joined() + "\n"
        for (name, value) in rows {
            out += pad(name, 18) + runs.map { pad(value($0.metrics), 30) }.joined() + "\n"
        }
        for run in runs {
            if let cycles = run.cycles {
                out += "\(run.label): \(cycles) cycles, \(run.proposals ?? 0) proposals, \(run.approved ?? 0) approved"
                if let v = run.violatedChecks, !v.isEmpty {
                    out += "; rejected by " + v.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                }
                if let v = run.vetoes, !v.isEmpty { out += "; vetoes " + v.keys.sorted().map { "\($0) \(v[$0] ?? 0)" }.joined(separator: ", ") }
                out += "\n"
                if let x = run.universeExclusions, !x.isEmpty {
                    out += "  not in the universe: " + x.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key) (\($0.value) cycles)" }
                        .joined(separator: ", ") + " — liquidity filters are universe.yaml's (change with --set)\n"
                }
            }
        }
        if let lines = r.benchmarks, !lines.isEmpty {
            out += "benchmarks" + pad("", 30) + ["return", "CAGR", "Sharpe", "Sortino", "max DD", "exposure", "trades", "excess ret", "excess CAGR"]
                .map { pad($0, 12) }.joined() + "\n"
            for l in lines {
                out += pad("  " + l.label, 40) + [pct(l.totalReturn), pct(l.cagr), num(l.sharpe), num(l.sortino), pct(l.maxDrawdown),
                                                 pct(l.exposure), "\(l.trades)", pct(l.excessReturn), pct(l.excessCagr)]
                    .map { pad($0, 12) }.joined() + "\n"
            }
        }
        if let p = r.permutation {
            out += "permutation test: \(p.metric) \(num(p.actual)) vs \(p.permutations) block-shuffled copies (\(p.blockBars)-bar blocks, seed \(p.seed)): "
                + "\(p.atLeastAsGood) at least as good, p = \(String(format: "%.4f", p.pValue))"
                + (p.permutedQuantiles.count == 3 ? "; shuffled 5/50/95%: " + p.permutedQuantiles.map { num($0) }.joined(separator: " / ") : "") + "\n"
        }
        if let l = r.lookahead {
            out += "look-ahead check: \(l.identical ? "identical" : "DIFFERENT") — \(l.decisionsCompared) decisions compared at cuts \(l.cuts.joined(separator: ", "))\n"
            for d in l.differences { out += "  \(d)\n" }
        }
        for note in r.notes { out += "note: \(note)\n" }
        return out
    }
}

/// Reads recorded reviews (and the proposals they name) from a ledger, for `--reviewers replay`.
enum RecordedReviewLoader {
    static func load(path: String, interval: Int64) throws -> RecordedReviews {
        let ledger: Ledger
        do { ledger = try Ledger(readingAt: path) } catch { throw CLIError.failed("cannot open the ledger: \(error)") }
        var proposals: [String: [String: (symbol: String, side: Side)]] = [:]
        var answers: [String: [ReviewerTier: ReviewerAnswer]] = [:]
        var times: [String: Int64] = [:]
        for event in try ledger.events(kinds: [.proposal, .review]) {
            times[event.cycleId] = event.time
            if event.kind == .proposal {
                let p = try event.value(.proposal)
                proposals[event.cycleId, default: [:]][p.id] = (p.symbol, p.side)
            } else {
                let tier = try event.value(.review)
                answers[event.cycleId, default: [:]][tier.reviewer] = tier.answer
            }
        }
        let cycles = answers.keys.sorted().map { id in
            RecordedReviews.Cycle(time: times[id] ?? 0, proposals: proposals[id] ?? [:], answers: answers[id] ?? [:])
        }
        return RecordedReviews(cycles: cycles, interval: interval)
    }
}
