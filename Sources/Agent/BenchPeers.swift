import Backtest
import Foundation
import Market
import Model
import Pipeline

/// The benchmarks measured against their peers: the candle loader, the `agent backtest` command as a whole
/// process beside backtesting.py's, and the indicator kernels beside TA-Lib's C. Peers run when a Python with
/// `backtesting` and `talib` is found (`--python`, `AGENT_BENCH_PYTHON`, else `python3`); otherwise they are
/// skipped with a note.
extension BenchCommand {
    /// The shared BTC data, found from the working directory, the executable or the source tree.
    static func sharedDataPath(_ name: String = "coinbase_btcusd_1h.csv") -> String? {
        var candidates = ["../shared/data/\(name)", "shared/data/\(name)"]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            // <repo>/.build/<triple>/<config>/agent or <repo>/.build/<config>/agent
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<5 {
                dir = dir.deletingLastPathComponent()
                candidates.append(dir.appendingPathComponent("../shared/data/\(name)").standardized.path)
            }
        }
        // Sources/Agent/BenchPeers.swift -> <repo>/../shared/data
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(source.appendingPathComponent("shared/data/\(name)").path)
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    // MARK: - Files

    /// Writes `count` mirror-tiled bars as a Binance kline CSV (12 columns, no header) on a 1-minute grid from
    /// 2001-01-01, so that even 10M bars end in the past.
    static func writeKlineCSV(base: [Candle], count: Int, to path: String) throws {
        let tile = MirrorTile(base: base, count: count, interval: 60)
        guard let out = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw CLIError.io("cannot write \(path)") }
        defer { try? out.close() }
        var chunk = ""
        chunk.reserveCapacity(1 << 21)
        let start: Int64 = 978_307_200
        for i in 0..<count {
            let c = tile.candle(i)
            let ms = (start + Int64(i) * 60) * 1_000
            chunk += "\(ms),\(c.open),\(c.high),\(c.low),\(c.close),\(c.volume),\(ms + 59_999),\(c.volume * c.close),\(i % 97 + 1),\(c.volume / 2),\(c.volume * c.close / 2),0\n"
            if chunk.utf8.count >= 1 << 21 {
                out.write(Data(chunk.utf8))
                chunk.removeAll(keepingCapacity: true)
            }
        }
        out.write(Data(chunk.utf8))
    }

    func scratchDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    // MARK: - Child processes

    /// Wall seconds, CPU seconds, peak RSS (MiB) and stdout of one child process.
    struct ProcessRun {
        var wall: Double
        var cpu: Double
        var peakMib: Double
        var status: Int32
        var output: String
    }

    /// Runs `argv` (argv[0] a path) with stdout captured to a file, measured with wait4's rusage.
    static func measure(_ argv: [String]) throws -> ProcessRun {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-out-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let clock = ContinuousClock()
        let start = clock.now
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw CLIError.failed("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            if errno != EINTR { throw CLIError.failed("wait4: \(String(cString: strerror(errno)))") }
        }
        let wall = seconds(clock.now - start)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessRun(wall: wall, cpu: cpu, peakMib: Double(usage.ru_maxrss) / 1_024, status: exit, output: output)
    }

    /// Runs `argv` `warmup + repeats` times and keeps the fastest of the measured runs (wall time).
    func best(_ argv: [String], repeats: Int, warmup: Int) throws -> (best: ProcessRun, walls: [Double]) {
        for _ in 0..<warmup { _ = try Self.measure(argv) }
        var runs: [ProcessRun] = []
        for _ in 0..<max(repeats, 1) {
            let run = try Self.measure(argv)
            guard run.status == 0 else {
                throw CLIError.failed("\(argv.joined(separator: " ")) failed (exit \(run.status))")
            }
            runs.append(run)
        }
        let fastest = runs.min { $0.wall < $1.wall } ?? runs[0]
        return (fastest, runs.map(\.wall))
    }

    /// A Python with backtesting.py and TA-Lib, or why there is none.
    func peerPython() -> (path: String?, note: String) {
        let candidates = [python, ProcessInfo.processInfo.environment["AGENT_BENCH_PYTHON"]].compactMap { $0 }
            + ["/usr/bin/python3", "/usr/local/bin/python3"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            if let run = try? Self.measure([path, "-c", "import backtesting, talib, pandas; print(backtesting.__version__, talib.__version__)"]),
               run.status == 0 {
                return (path, "peers: backtesting.py and TA-Lib \(run.output.trimmingCharacters(in: .whitespacesAndNewlines)) from \(path)")
            }
        }
        return (nil, "peers skipped: no Python with backtesting, talib and pandas (pip install backtesting TA-Lib; pass --python PATH)")
    }

    // MARK: - Loader

    /// The candle reader on a 1M-row (`--loader-rows`) mirror-tiled Binance kline CSV: load (materialised) and
    /// replay (streamed), best of `--repeats` after a warm-up.
    func loader() throws -> BenchResult {
        let (base, source) = try baseCandles()
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent("BTCUSDT-1m-tiled.csv")
        try Self.writeKlineCSV(base: base, count: loaderRows, to: path)
        let clock = ContinuousClock()
        func time(_ body: () throws -> Double) throws -> (best: Double, bestCPU: Double, checksum: Double) {
            var bestSeconds = Double.infinity, bestCPU = Double.infinity, sum = 0.0
            for round in 0..<(warmup + repeats) {
                let start = clock.now, startCPU = Self.threadCPUSeconds()
                let value = try body()
                let s = Self.seconds(clock.now - start), cpu = Self.threadCPUSeconds() - startCPU
                if round >= warmup {
                    bestSeconds = min(bestSeconds, s)
                    bestCPU = min(bestCPU, cpu)
                }
                sum = value
            }
            return (bestSeconds, bestCPU, sum)
        }
        let load = try time { try CandleFiles.load(path: path, interval: 60).candles.last?.close ?? 0 }
        let stream = try time {
            try CandleFiles.replay(path: path, interval: 60, initial: { _ in 0.0 }, step: { $0 += $1.close }).0
        }
        // The candle store (`agent data download`) holding the same rows: it must load at least as fast as the CSV.
        let store = CandleStore(root: (dir as NSString).appendingPathComponent("store"))
        try store.add(try CandleFiles.load(path: path, interval: 60).candles, exchange: "bench", symbol: "BTC-USD", interval: 60)
        let stored = try time { try store.load(exchange: "bench", symbol: "BTC-USD", interval: 60).candles.last?.close ?? 0 }
        let storeBytes = (try? FileManager.default.attributesOfItem(atPath: store.path(exchange: "bench", symbol: "BTC-USD", interval: 60))[.size] as? Int) ?? 0
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return BenchResult(name: "loader", items: loaderRows, unit: "rows", seconds: stream.best,
                           perSecond: Double(loaderRows) / stream.best,
                           details: ["load_rows_per_second": Double(loaderRows) / load.best,
                                     "replay_rows_per_second": Double(loaderRows) / stream.best,
                                     "load_rows_per_cpu_second": Double(loaderRows) / load.bestCPU,
                                     "replay_rows_per_cpu_second": Double(loaderRows) / stream.bestCPU,
                                     "file_mib": Double(bytes) / 1_048_576, "target_rows_per_second": 5_000_000,
                                     "store_load_rows_per_second": Double(loaderRows) / stored.best,
                                     "store_load_rows_per_cpu_second": Double(loaderRows) / stored.bestCPU,
                                     "store_file_mib": Double(storeBytes) / 1_048_576,
                                     "repeats": Double(repeats), "warmup": Double(warmup)],
                           note: "Binance kline CSV (12 columns) mirror-tiled from \(source); best of \(repeats) after \(warmup) warm-up, wall and thread CPU time; replay streams (flat memory), load materialises [Candle]; store_load reads the same rows from the candle store")
    }

    // MARK: - The command as a whole process

    /// `agent backtest --strategy ema_cross` as a whole process (wall, CPU, peak RSS) on mirror-tiled kline
    /// files of `--command-candles` rows, beside backtesting.py's EMA cross on the same file.
    func backtestCommand() throws -> BenchResult {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw CLIError.failed("cannot find the agent executable (/proc/self/exe)")
        }
        let (base, source) = try baseCandles()
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peer = peerPython()
        var script = ""
        if peer.path != nil {
            script = (dir as NSString).appendingPathComponent("bt_ema_cross.py")
            try Data(Self.backtestingScript.utf8).write(to: URL(fileURLWithPath: script))
        }
        var details: [String: Double] = [:]
        var notes = [peer.note]
        var totalSeconds = 0.0
        var totalItems = 0
        for n in commandCandleCounts {
            let path = (dir as NSString).appendingPathComponent("BTCUSDT-1m-\(n).csv")
            try Self.writeKlineCSV(base: base, count: n, to: path)
            let label = n % 1_000_000 == 0 ? "\(n / 1_000_000)m" : "\(n)"
            let agent = try best([exe, "backtest", "--data", path, "--strategy", "ema_cross", "--timeframe", "1m",
                                  "--quiet"], repeats: repeats, warmup: warmup)
            details["agent_\(label)_wall_seconds"] = agent.best.wall
            details["agent_\(label)_cpu_seconds"] = agent.best.cpu
            details["agent_\(label)_peak_mib"] = agent.best.peakMib
            details["agent_\(label)_candles_per_second"] = Double(n) / agent.best.wall
            // The text report's `trades` row (the JSON one would add the whole trade list to the measurement).
            if let row = agent.best.output.split(separator: "\n").first(where: { $0.hasPrefix("trades ") }),
               let trades = row.split(separator: " ").last.flatMap({ Double($0) }) {
                details["agent_\(label)_trades"] = trades
            }
            totalSeconds += agent.best.wall
            totalItems += n
            if let python = peer.path {
                let bt = try best([python, script, path], repeats: peerRepeats, warmup: 0)
                details["backtesting_py_\(label)_wall_seconds"] = bt.best.wall
                details["backtesting_py_\(label)_cpu_seconds"] = bt.best.cpu
                details["backtesting_py_\(label)_peak_mib"] = bt.best.peakMib
                if let trades = Self.jsonNumber(bt.best.output, key: "trades") { details["backtesting_py_\(label)_trades"] = trades }
                details["speedup_\(label)_wall"] = bt.best.wall / agent.best.wall
                details["speedup_\(label)_cpu"] = bt.best.cpu / max(agent.best.cpu, 1e-9)
            }
            try? FileManager.default.removeItem(atPath: path)
        }
        notes.append("files: Binance kline CSV mirror-tiled from \(source), 1-minute grid; agent best of \(repeats) after \(warmup) warm-up, peer best of \(peerRepeats)")
        notes.append("goal: >= 20x backtesting.py, <= 100 MiB at 1M and <= 512 MiB at 10M candles")
        return BenchResult(name: "backtest_command", items: totalItems, unit: "candles", seconds: totalSeconds,
                           perSecond: Double(totalItems) / max(totalSeconds, 1e-9), details: details,
                           note: notes.joined(separator: "; "))
    }

    /// The first number after `"key":` in a JSON text.
    static func jsonNumber(_ text: String, key: String) -> Double? {
        guard let range = text.range(of: "\"\(key)\":") else { return nil }
        let rest = text[range.upperBound...].prefix { "0123456789.-+eE".contains($0) }
        return Double(rest)
    }

    /// backtesting.py's EMA cross (8/21) on a Binance kline CSV, the whole process: read, run, print.
    static let backtestingScript = """
    import json, sys, warnings
    warnings.filterwarnings("ignore")
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def ema(values, n):
        return pd.Series(values).ewm(span=n, adjust=False, min_periods=n).mean()

    class EmaCross(Strategy):
        fast, slow = 8, 21
        def init(self):
            self.f = self.I(ema, self.data.Close, self.fast)
            self.s = self.I(ema, self.data.Close, self.slow)
        def next(self):
            if not self.position and crossover(self.f, self.s):
                self.buy()
            elif self.position and crossover(self.s, self.f):
                self.position.close()

    df = pd.read_csv(sys.argv[1], header=None, usecols=range(6), names=["t", "Open", "High", "Low", "Close", "Volume"])
    df.index = pd.to_datetime(df.pop("t"), unit="ms")
    stats = Backtest(df, EmaCross, cash=10_000_000, commission=0.0006, finalize_trades=True).run()
    print(json.dumps({"trades": int(stats["# Trades"]), "return_pct": float(stats["Return [%]"])}))
    """

    // MARK: - Indicators beside TA-Lib

    /// TA-Lib's C kernels (through the Python binding, timing only the C call) on the same values, and the
    /// largest difference from ours. Nil when no peer Python.
    func talibPeer(closes: [Double], highs: [Double], lows: [Double], ours: [String: IndicatorLine]) throws -> [String: Double]? {
        guard let python = peerPython().path else { return nil }
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ values: [Double]) throws {
            try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name))) }
        }
        try write("close.f64", closes)
        try write("high.f64", highs)
        try write("low.f64", lows)
        let script = (dir as NSString).appendingPathComponent("talib_kernels.py")
        try Data(Self.talibScript.utf8).write(to: URL(fileURLWithPath: script))
        let run = try Self.measure([python, script, dir, "\(repeats)"])
        guard run.status == 0 else { throw CLIError.failed("TA-Lib peer failed (exit \(run.status))") }
        var out: [String: Double] = [:]
        for line in run.output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let seconds = Double(parts[1]) else { continue }
            let name = String(parts[0])
            out["talib_\(name)_values_per_second"] = Double(closes.count) / seconds
            // Values: TA-Lib's output written beside, compared with ours.
            let file = (dir as NSString).appendingPathComponent("\(name).out.f64")
            if let data = FileManager.default.contents(atPath: file), let mine = ours[name] {
                let theirs = data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
                var worst = mine.count == theirs.count ? 0.0 : .infinity
                for (i, b) in zip(mine.values.indices, theirs) {
                    switch (mine[i], b.isNaN) {
                    case (nil, true): continue
                    case (let x?, false): worst = max(worst, abs(x - b) / max(abs(b), 1))
                    default: worst = .infinity
                    }
                }
                out["talib_\(name)_max_relative_difference"] = worst
            }
        }
        return out
    }

    static let talibScript = """
    import sys, time, os
    import numpy as np, talib
    d, repeats = sys.argv[1], int(sys.argv[2])
    c = np.fromfile(os.path.join(d, "close.f64")); h = np.fromfile(os.path.join(d, "high.f64")); l = np.fromfile(os.path.join(d, "low.f64"))
    kernels = {
        "ema_14": lambda: talib.EMA(c, 14), "sma_14": lambda: talib.SMA(c, 14), "atr_14": lambda: talib.ATR(h, l, c, 14),
        "rsi_14": lambda: talib.RSI(c, 14), "max_20": lambda: talib.MAX(h, 20), "min_20": lambda: talib.MIN(l, 20),
    }
    for name, f in kernels.items():
        f()
        best = float("inf")
        for _ in range(repeats):
            t = time.thread_time(); out = f(); best = min(best, time.thread_time() - t)
        out.astype(np.float64).tofile(os.path.join(d, name + ".out.f64"))
        print(name, best)
    """
}
