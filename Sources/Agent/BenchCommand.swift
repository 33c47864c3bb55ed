import ArgumentParser
import Backtest
import Config
import Engine
import Execution
import Foundation
import Ledger
import Logging
import Loopback
import Market
import Model
import Pipeline
import Review
import Risk

/// One benchmark's numbers.
struct BenchResult: Codable, Sendable {
    var name: String
    /// What was processed: candles, values, cycles, events.
    var items: Int
    var unit: String
    var seconds: Double
    var perSecond: Double
    /// Peak resident memory (VmHWM) of the process that ran this benchmark, MiB.
    var peakMemoryMib: Double?
    /// Extra figures (e.g. per-indicator rates, mean cycle milliseconds).
    var details: [String: Double]
    var note: String?
}

/// The machine and build the numbers come from.
struct BenchMachine: Codable, Sendable {
    var cpuModel: String
    var cores: Int
    var memoryGib: Double
    var build: String
    var os: String
}

struct BenchReport: Codable, Sendable {
    var machine: BenchMachine
    var benchmarks: [BenchResult]
}

/// `agent bench`: throughput and memory of the backtest engines, indicators, a cycle, and the ledger.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (JSON on stdout): backtest throughput, indicator kernels, cycle time, ledger, peak memory.",
        discussion: """
        Each benchmark runs in its own child process so its peak memory (VmHWM) is its own. Build in release for \
        meaningful numbers: swift run -c release agent bench

        Benchmarks:
          ema_cross         the ema_cross engine alone, streaming mirror-tiled candles (--candles)
          backtest_command  `agent backtest --strategy ema_cross` as a whole process (wall, CPU, peak RSS) on \
        kline files of --command-candles rows, beside backtesting.py's EMA cross on the same files
          loader            the candle reader on a --loader-rows kline CSV (load and streamed replay), and the candle store holding the same rows
          pipeline          the full pipeline backtest (--pipeline-candles)
          indicators        EMA, SMA, ATR, RSI, rolling max/min kernels (--indicator-values), beside TA-Lib's C
          cycle             one --once cycle on the sim venue (--symbols, --cycles)
          review            the AI review stage against a fake LLM server on 127.0.0.1
          review_history    2,000 cycles of reviews into one ledger: per-cycle review time stays flat
          ledger            append and state rebuild (--ledger-events)
          serve             dashboard, API and /metrics latency while DRY_RUN cycles write the same ledger

        Peers (backtesting.py 0.6.6, TA-Lib) run when a Python with `backtesting`, `talib` and `pandas` is found \
        (--python, AGENT_BENCH_PYTHON, else python3 on PATH); otherwise they are skipped with a note. The default \
        data (../shared/data/coinbase_btcusd_1h.csv) is found from any directory.
        """)

    static let names = ["ema_cross", "backtest_command", "loader", "pipeline", "indicators", "cycle", "review", "review_history",
                        "ledger", "serve"]

    @Option(help: "Run only this benchmark (ema_cross, backtest_command, loader, pipeline, indicators, cycle, review, review_history, ledger, serve).")
    var only: String?

    @Option(help: "Candle file to tile (default: the shared coinbase_btcusd_1h.csv, found from any directory, else a synthetic walk).")
    var data: String?

    @Option(help: "Measured runs per benchmark (the best is reported).")
    var repeats: Int = 3

    @Option(help: "Unmeasured warm-up runs before them.")
    var warmup: Int = 1

    @Option(help: "backtest_command: measured runs of the peer (backtesting.py is slow at 10M).")
    var peerRepeats: Int = 1

    @Option(help: "backtest_command: file sizes in candles, comma-separated.")
    var commandCandles: String = "1000000,10000000"

    @Option(help: "loader: rows of the kline CSV.")
    var loaderRows: Int = 1_000_000

    @Option(help: "Python with backtesting.py and TA-Lib for the peers (default: AGENT_BENCH_PYTHON, else python3).")
    var python: String?

    @Option(help: "ema_cross: candles, mirror-tiled from the data.")
    var candles: Int = 10_000_000

    @Option(help: "pipeline: candles, mirror-tiled from the data.")
    var pipelineCandles: Int = 20_000

    @Option(help: "indicators: values per kernel.")
    var indicatorValues: Int = 10_000_000

    @Option(help: "cycle: symbols in the sim catalog.")
    var symbols: Int = 30

    @Option(help: "cycle: how many --once cycles to time.")
    var cycles: Int = 5

    @Option(help: "ledger: events to append, then rebuild state from.")
    var ledgerEvents: Int = 1_000_000

    @Flag(help: "Run in this process instead of one child per benchmark.")
    var inProcess = false

    @Flag(help: "Pretty-print the JSON.")
    var pretty = false

    func validate() throws {
        if let only, !Self.names.contains(only) {
            throw ValidationError("--only must be one of \(Self.names.joined(separator: ", "))")
        }
        if candles < 1 || pipelineCandles < 1 || indicatorValues < 2 || symbols < 1 || cycles < 1 || ledgerEvents < 1
            || loaderRows < 1 || repeats < 1 || warmup < 0 || peerRepeats < 1 {
            throw ValidationError("sizes must be positive")
        }
        if commandCandleCounts.isEmpty { throw ValidationError("--command-candles: positive counts, e.g. 1000000,10000000") }
    }

    func run() async throws {
        try await AgentMain.guarded {
            let selected = only.map { [$0] } ?? Self.names
            var results: [BenchResult] = []
            for name in selected {
                if !inProcess, only == nil, let child = try runChild(name) {
                    results.append(child)
                } else {
                    var r = try await runOne(name)
                    r.peakMemoryMib = Self.peakMemoryMib()
                    if only == nil && selected.count > 1 { r.note = (r.note.map { $0 + "; " } ?? "") + "peak memory is cumulative (in-process)" }
                    results.append(r)
                }
            }
            let report = BenchReport(machine: Self.machine(), benchmarks: results)
            FileHandle.standardOutput.write(Data((try JSONCoding.string(report, pretty: pretty) + "\n").utf8))
        }
    }

    /// Runs `agent bench --only NAME` as a child; nil if the executable cannot be found.
    private func runChild(_ name: String) throws -> BenchResult? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        var args = ["bench", "--only", name, "--candles", "\(candles)", "--pipeline-candles", "\(pipelineCandles)",
                    "--indicator-values", "\(indicatorValues)", "--symbols", "\(symbols)", "--cycles", "\(cycles)",
                    "--ledger-events", "\(ledgerEvents)", "--repeats", "\(repeats)", "--warmup", "\(warmup)",
                    "--peer-repeats", "\(peerRepeats)", "--command-candles", commandCandles, "--loader-rows", "\(loaderRows)"]
        if let data { args += ["--data", data] }
        if let python { args += ["--python", python] }
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        do { try process.run() } catch { return nil }
        let bytes = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError.failed("benchmark \(name) failed (exit \(process.terminationStatus))")
        }
        let report = try JSONCoding.decoder().decode(BenchReport.self, from: bytes)
        return report.benchmarks.first
    }

    // MARK: - Benchmarks

    private func runOne(_ name: String) async throws -> BenchResult {
        switch name {
        case "ema_cross": return try emaCross()
        case "pipeline": return try await pipeline()
        case "indicators": return try indicators()
        case "cycle": return try await cycle()
        case "review": return try await review()
        case "review_history": return try await reviewHistory()
        case "serve": return try await serveLoad()
        case "backtest_command": return try backtestCommand()
        case "loader": return try loader()
        default: return try ledger()
        }
    }

    /// The base series to tile: the shared BTC data, else a deterministic synthetic walk.
    func baseCandles() throws -> (candles: [Candle], source: String) {
        let path = data ?? Self.sharedDataPath() ?? "../shared/data/coinbase_btcusd_1h.csv"
        if FileManager.default.fileExists(atPath: path) {
            do {
                return (try CandleFiles.load(path: path).candles, path)
            } catch {
                throw CLIError.badInput("\(error)")
            }
        }
        if data != nil { throw CLIError.badInput("--data \(path): no such file") }
        var candles: [Candle] = []
        var price = 10_000.0
        var state: UInt64 = 42
        for i in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double(state >> 11) / Double(1 << 53) - 0.5
            let next = price * (1 + u * 0.02)
            candles.append(Candle(time: Int64(i) * 3_600, open: price, high: max(price, next) * 1.002,
                                  low: min(price, next) * 0.998, close: next, volume: 100))
            price = next
        }
        return (candles, "synthetic random walk (shared data not found)")
    }

    var commandCandleCounts: [Int] {
        let counts = commandCandles.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return counts.allSatisfy { $0 > 0 } ? counts : []
    }

    /// CPU time of the calling thread (user and system, page faults included): on a shared machine it leaves out
    /// the time other processes hold the cores, unlike wall time. The TA-Lib side uses Python's `thread_time`.
    static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    private func emaCross() throws -> BenchResult {
        let (base, source) = try baseCandles()
        let tile = MirrorTile(base: base, count: candles)
        var engine = EMACrossEngine(parameters: EMACrossParameters(), symbol: "BTC-USD")
        let clock = ContinuousClock()
        let start = clock.now
        tile.forEachOpenClose { t, o, c in engine.step(time: t, open: o, close: c) }
        let run = engine.finish()
        let s = Self.seconds(clock.now - start)
        let lastTime = tile.startTime + Int64(candles - 1) * tile.interval
        return BenchResult(name: "ema_cross", items: candles, unit: "candles", seconds: s, perSecond: Double(candles) / s,
                           details: ["trades": Double(run.metrics.trades), "last_bar_year": Double(BacktestCalendar.civil(days: lastTime / 86_400).year)],
                           note: "mirror-tiled from \(source); streaming, not materialised")
    }

    private func pipeline() async throws -> BenchResult {
        let (base, source) = try baseCandles()
        let tiled = MirrorTile(base: base, count: pipelineCandles).materialize()
        let series = CandleSeries(symbol: "BTC-USD", candles: tiled, source: "tiled")
        var config = try ConfigLoader().load().forBacktest(symbols: ["BTC-USD"], tier: .core)
        // Let the recorded (2017-2019) volumes pass the liquidity filters, so every stage runs.
        config.universe.tiers.tier1Core.min24hVolumeUsd = 0
        config.universe.tiers.tier1Core.minDepthUsd = 0
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = await PipelineBacktest(config: config, series: [series], settings: PipelineBacktestSettings(),
                                             reviewers: .board(.offline(policy: config.policy), label: "offline", paid: false)).run()
        let s = Self.seconds(clock.now - start)
        return BenchResult(name: "pipeline", items: pipelineCandles, unit: "candles", seconds: s,
                           perSecond: Double(pipelineCandles) / s,
                           details: ["cycles": Double(outcome.run.cycles ?? 0), "proposals": Double(outcome.run.proposals ?? 0),
                                     "trades": Double(outcome.run.metrics.trades)],
                           note: "mirror-tiled from \(source); one full cycle (regime, universe, triggers, rules, offline reviewers, policy, paper fills, exits) per candle")
    }

    private func indicators() throws -> BenchResult {
        let (base, source) = try baseCandles()
        let tiled = MirrorTile(base: base, count: indicatorValues).materialize()
        let closes = tiled.map(\.close), highs = tiled.map(\.high), lows = tiled.map(\.low)
        var details: [String: Double] = [:]
        var total = 0.0
        var checksum = 0.0
        var kernels = 0
        var ours: [String: IndicatorLine] = [:]
        // Best of --repeats after --warmup, like the TA-Lib side. The kernels' line form (NaN warm-up, as
        // TA-Lib's arrays), each call allocating its output like TA-Lib's binding does.
        func time(_ name: String, _ body: () -> IndicatorLine) {
            var best = Double.infinity
            var last = IndicatorLine(values: [], start: 0)
            for round in 0..<(warmup + repeats) {
                last = IndicatorLine(values: [], start: 0)
                let start = Self.threadCPUSeconds()
                last = body()
                let s = Self.threadCPUSeconds() - start
                if round >= warmup { best = min(best, s) }
            }
            checksum += last.last ?? 0
            ours[name] = last
            total += best
            kernels += 1
            details["\(name)_values_per_second"] = Double(indicatorValues) / best
        }
        func stream(_ name: String, _ body: () -> Double) {
            var best = Double.infinity
            for round in 0..<(warmup + repeats) {
                let start = Self.threadCPUSeconds()
                checksum += body()
                let s = Self.threadCPUSeconds() - start
                if round >= warmup { best = min(best, s) }
            }
            total += best
            kernels += 1
            details["\(name)_values_per_second"] = Double(indicatorValues) / best
        }
        time("ema_14") { Indicators.emaLine(closes, period: 14) }
        time("sma_14") { Indicators.smaLine(closes, period: 14) }
        time("atr_14") { Indicators.atrLine(high: highs, low: lows, close: closes, period: 14) }
        time("rsi_14") { Indicators.rsiLine(closes, period: 14) }
        time("max_20") { Indicators.rollingHighLine(highs, period: 20) }
        time("min_20") { Indicators.rollingLowLine(lows, period: 20) }
        // The optional-per-value array form the triggers used to call, for comparison.
        stream("ema_14_optional_array") { Indicators.ema(closes, period: 14).last.flatMap { $0 } ?? 0 }
        stream("ema_14_streaming") {
            var state = EMAState(period: 14)
            for c in closes { state.update(c) }
            return state.value ?? 0
        }
        stream("rsi_14_streaming") {
            var state = RSIState(period: 14)
            for c in closes { state.update(c) }
            return state.value ?? 0
        }
        stream("atr_14_streaming") {
            var state = ATRState(period: 14)
            for c in tiled { state.update(high: c.high, low: c.low, close: c.close) }
            return state.value ?? 0
        }
        details["checksum"] = checksum
        var note = "\(indicatorValues) values per kernel, mirror-tiled from \(source), best of \(repeats) after \(warmup) warm-up in thread CPU time (both sides); array kernels return an IndicatorLine ([Double], NaN warm-up) like TA-Lib's NaN-padded output; ATR from high/low/close columns like TA-Lib"
        if let peer = try talibPeer(closes: closes, highs: highs, lows: lows, ours: ours) {
            details.merge(peer) { a, _ in a }
            for name in ours.keys {
                if let mine = details["\(name)_values_per_second"], let theirs = peer["talib_\(name)_values_per_second"] {
                    details["\(name)_speed_vs_talib"] = mine / theirs
                }
            }
            note += "; TA-Lib \(peerPython().note) timed on the C call only, values compared (max relative difference)"
        } else {
            note += "; \(peerPython().note)"
        }
        return BenchResult(name: "indicators", items: indicatorValues * kernels, unit: "values", seconds: total,
                           perSecond: Double(indicatorValues * kernels) / total, details: details, note: note)
    }

    private func cycle() async throws -> BenchResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try ConfigLoader().load()
        let catalog = SimMarket.catalog(count: symbols)
        config.universe.tiers.tier1Core.symbols = catalog.filter { $0.tier == .core }.map(\.symbol)
        config.universe.tiers.tier2Rotational.symbols = catalog.filter { $0.tier == .rotational }.map(\.symbol)
        config.universe.tiers.tier3EventDriven.symbols = catalog.filter { $0.tier == .eventDriven }.map(\.symbol)
        let ledger = try Ledger(path: (dir as NSString).appendingPathComponent("agent.sqlite"))
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let runner = CycleRunner(config: config, mode: .dryRun, exchange: .sim,
                                 market: SimMarket(seed: 42, catalog: catalog), ledger: ledger,
                                 board: .offline(policy: config.policy), executor: DryRunExecutor(),
                                 killSwitch: KillSwitch(dataDir: dir), logger: logger)
        let clock = ContinuousClock()
        var times: [Double] = []
        let t0: Int64 = 1_790_000_000
        for i in 0..<cycles {
            let start = clock.now
            let summary = await runner.run(at: t0 + Int64(i) * 3_600)
            times.append(Self.seconds(clock.now - start))
            if summary.status == .error { throw CLIError.failed("bench cycle failed: \(summary.error ?? "?")") }
        }
        let total = times.reduce(0, +)
        return BenchResult(name: "cycle", items: cycles, unit: "cycles", seconds: total, perSecond: Double(cycles) / total,
                           details: ["mean_ms": total / Double(cycles) * 1_000, "min_ms": (times.min() ?? 0) * 1_000,
                                     "max_ms": (times.max() ?? 0) * 1_000, "symbols": Double(symbols)],
                           note: "--once on sim with SimMarket.catalog(count: \(symbols)), DRY_RUN, offline reviewers, ledger in a temp dir")
    }

    /// The AI review stage against a fake OpenAI-compatible server on 127.0.0.1 answering after a fixed 100 ms:
    /// 10 proposals, three tiers (M1 and M2 together, then M3), one batched call each, through the real providers
    /// and libcurl. Ideal is 2 x 100 ms; the ratio says how close the stage comes.
    private func review() async throws -> BenchResult {
        let latencyMs = 100.0, proposalCount = 10, rounds = 5
        let latency = latencyMs / 1_000
        let server = try FakeLLMServer { FakeLLM.valid($0, FakeLLM.neutral($0)).delayed(by: latency) }
        defer { server.stop() }
        var overrides: [String] = []
        for tier in ["m1", "m2", "m3"] {
            overrides += ["app.reviewers.\(tier).provider=openai_compatible", "app.reviewers.\(tier).model=bench-model",
                          "app.reviewers.\(tier).base_url=\(server.baseURL)", "app.review_cache.enabled=false"]
        }
        let config = try ConfigLoader(overrides: overrides).load()
        let board = try ReviewSetup.board(config, environment: [:])
        let catalog = SimMarket.catalog(count: proposalCount)
        let proposals = catalog.enumerated().map { i, p in
            Proposal(id: "p\(i + 1)", symbol: p.symbol, tier: .rotational, side: .buy, sizePct: 1, conviction: 0.7,
                     components: [], stopLossPct: 8, takeProfitPct: 16, reason: "bench", triggers: [.momentum],
                     referencePrice: p.basePrice)
        }
        let tape = proposals.map {
            TapeFacts(symbol: $0.symbol, price: $0.referencePrice, spreadBps: 3, depthUsd: 1e6, change24hPct: 2,
                      volume24hUsd: 1e8, volumeRatio: 1, fundingRate: nil)
        }
        let clock = ContinuousClock()
        var times: [Double] = []
        for round in 0..<rounds {
            let time = 1_790_000_000 + Int64(round) * 3_600
            let spend = SpendGuard(budget: config.policy.aiBudget, now: time, history: [])
            let start = clock.now
            // One news item per symbol, so M1 has something to read and makes its call (M1 and M2 run together).
            let news = proposals.enumerated().map { i, p in
                NewsItem(id: "n-" + String(repeating: "0", count: 15) + String(i % 10), source: "bench",
                         title: "\(p.symbol) bench headline", link: nil, published: time - 600, symbols: [p.symbol])
            }
            let outcome = await board.run(ReviewContext(cycleId: "c-bench-\(round)", time: time, proposals: proposals,
                                                        tape: tape, policy: config.policy, news: news, spend: spend))
            times.append(Self.seconds(clock.now - start))
            if outcome.calls != 3 { throw CLIError.failed("review bench: expected 3 calls, made \(outcome.calls)") }
        }
        let mean = times.reduce(0, +) / Double(rounds)
        let ideal = 2 * latency
        return BenchResult(name: "review", items: rounds, unit: "cycles", seconds: times.reduce(0, +), perSecond: 1 / mean,
                           details: ["mean_ms": mean * 1_000, "ideal_ms": 2 * latencyMs, "ratio_to_ideal": mean / ideal,
                                     "proposals": Double(proposalCount), "server_latency_ms": latencyMs,
                                     "requests": Double(server.requests.count)],
                           note: "M1, M2, M3 as openai_compatible over libcurl against a fake server on 127.0.0.1 answering in \(Int(latency * 1_000)) ms; 10 proposals per batched call")
    }

    private func ledger() throws -> BenchResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try Ledger(path: (dir as NSString).appendingPathComponent("agent.sqlite"))
        let now: Int64 = 1_790_000_000
        let encoder = JSONCoding.encoder()
        let clock = ContinuousClock()
        var start = clock.now
        let batch = 1_000
        var written = 0
        while written < ledgerEvents {
            let n = min(batch, ledgerEvents - written)
            var events: [NewEvent] = []
            events.reserveCapacity(n)
            for k in 0..<n {
                let i = written + k
                let order = OrderIntent(clientOrderId: "ag-bench-\(i)", cycleId: "c-bench-\(i / 10)", proposalId: "p\(i % 10)",
                                        symbol: i % 2 == 0 ? "BTC-USD" : "ETH-USD", side: .buy, sizePct: 1, notionalUsd: 100,
                                        quantity: 0.001, price: 100_000, stopLossPct: 6, takeProfitPct: 12, mode: .dryRun,
                                        status: .simulated)
                events.append(NewEvent(cycleId: order.cycleId, kind: .orderResult,
                                       time: now - Int64(ledgerEvents - i) * 6 * 86_400 / Int64(max(ledgerEvents, 1)),
                                       symbol: order.symbol, payload: try encoder.encode(order)))
            }
            try ledger.append(events)
            written += n
        }
        let appendSeconds = Self.seconds(clock.now - start)
        start = clock.now
        let state = try StateProjection.rebuild(ledger: ledger, mode: .dryRun, now: now, startingEquity: 10_000)
        let rebuildSeconds = Self.seconds(clock.now - start)
        return BenchResult(name: "ledger", items: ledgerEvents, unit: "events", seconds: appendSeconds + rebuildSeconds,
                           perSecond: Double(ledgerEvents) / (appendSeconds + rebuildSeconds),
                           details: ["append_seconds": appendSeconds, "append_events_per_second": Double(ledgerEvents) / appendSeconds,
                                     "rebuild_seconds": rebuildSeconds, "rebuild_events_per_second": Double(ledgerEvents) / rebuildSeconds,
                                     "rebuilt_trades": Double(state.recentTrades.count)],
                           note: "order_result events appended in batches of \(batch) (WAL, synchronous=FULL), then StateProjection.rebuild over all of them")
    }

    // MARK: - Machine

    /// VmHWM of this process in MiB.
    static func peakMemoryMib() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first
            return kb.map { $0 / 1_024 }
        }
        return nil
    }

    static func machine() -> BenchMachine {
        var model = "unknown"
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpu.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let value = line.split(separator: ":", maxSplits: 1).last {
            model = value.trimmingCharacters(in: .whitespaces)
        }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        let info = ProcessInfo.processInfo
        return BenchMachine(cpuModel: model, cores: info.activeProcessorCount,
                            memoryGib: Double(info.physicalMemory) / 1_073_741_824, build: build,
                            os: info.operatingSystemVersionString)
    }
}
