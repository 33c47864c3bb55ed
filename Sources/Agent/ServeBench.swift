import Config
import Engine
import Execution
import Foundation
import HTTP
import Ledger
import Logging
import Market
import Model
import Risk

extension BenchCommand {
    /// `serve`: concurrent dashboard/API/metrics requests against `agent serve`'s server while cycles append to
    /// the same ledger. Reports request latency (p50/p99) and the cycle time with and without the load.
    func serveLoad() async throws -> BenchResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-serve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try ConfigLoader().load()
        let ledger = try Ledger(path: (dir as NSString).appendingPathComponent("agent.sqlite"))
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let runner = CycleRunner(config: config, mode: .dryRun, exchange: .sim, market: SimMarket(seed: 42), ledger: ledger,
                                 board: .offline(policy: config.policy), executor: DryRunExecutor(),
                                 killSwitch: KillSwitch(dataDir: dir), logger: logger)
        let clock = ContinuousClock()
        let t0: Int64 = 1_790_000_000
        let rounds = max(cycles, 10)
        func timedCycles(from index: Int) async -> [Double] {
            var times: [Double] = []
            for i in index..<(index + rounds) {
                let start = clock.now
                _ = await runner.run(at: t0 + Int64(i) * 3_600)
                times.append(benchSeconds(clock.now - start))
            }
            return times
        }
        let idle = await timedCycles(from: 0)

        // `agent serve` as its own process, as it is deployed beside a running loop.
        let (serving, base) = try Self.startServeProcess(dataDir: dir)
        defer { serving.terminate(); serving.waitUntilExit() }

        let paths = ["/api/status", "/api/cycles?limit=20", "/metrics", "/", "/api/equity", "/cycles", "/audit"]
        let workers = 4, perWorker = 500
        let done = LockedFlag()
        let loadStart = clock.now
        // The clients stand for browsers and scrapers on other machines: each is its own thread at nice 10, like
        // `agent serve` itself, so the load they generate here does not take the cycle's core.
        let collected = LockedLatencies()
        let finished = DispatchGroup()
        for w in 0..<workers {
            finished.enter()
            let thread = Thread {
                defer { finished.leave() }
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)  // Linux: who 0 is this thread
                let client = CurlHTTPClient()
                var latencies: [Double] = []
                for i in 0..<perWorker where !done.isSet {
                    let start = ContinuousClock.now
                    let response = try? client.sendBlocking(HTTPRequest(url: base + paths[(w + i) % paths.count], timeout: 10))
                    if response?.isSuccess == true { latencies.append(benchSeconds(ContinuousClock.now - start)) }
                }
                collected.add(latencies)
            }
            thread.name = "agent.bench.client"
            thread.start()
        }
        let load = Task.detached { () -> [Double] in
            await withCheckedContinuation { (c: CheckedContinuation<[Double], Never>) in
                finished.notify(queue: .global()) { c.resume(returning: collected.all) }
            }
        }
        let busy = await timedCycles(from: rounds)
        done.set()
        let latencies = await load.value.sorted()
        let loadSeconds = benchSeconds(clock.now - loadStart)
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count - 1) * p))] * 1_000
        }
        let idleMean = idle.reduce(0, +) / Double(idle.count) * 1_000
        let busyMean = busy.reduce(0, +) / Double(busy.count) * 1_000
        return BenchResult(name: "serve", items: latencies.count, unit: "requests", seconds: loadSeconds,
                           perSecond: Double(latencies.count) / max(loadSeconds, 1e-9),
                           details: ["p50_ms": percentile(0.5), "p99_ms": percentile(0.99), "concurrency": Double(workers),
                                     "cycle_mean_ms_idle": idleMean, "cycle_mean_ms_under_load": busyMean,
                                     "cycle_slowdown_ratio": busyMean / max(idleMean, 1e-9)],
                           note: "\(workers) concurrent clients (threads at nice 10, as clients elsewhere would be) over \(paths.joined(separator: " ")) against `agent serve` (its own process, read-only ledger) while \(rounds) DRY_RUN sim cycles append to the same ledger")
    }

    /// Starts `agent serve --port 0` on `dataDir` and reads the URL it prints first.
    static func startServeProcess(dataDir: String) throws -> (Process, String) {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let url = String(decoding: line, as: UTF8.self)
        guard url.hasPrefix("http://") else {
            process.terminate()
            throw CLIError.failed("agent serve did not print its URL (got '\(url)')")
        }
        return (process, url)
    }
}

final class LockedLatencies: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ more: [Double]) { lock.withLock { values += more } }
    var all: [Double] { lock.withLock { values } }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

private func benchSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
