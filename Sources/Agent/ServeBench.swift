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
import Serve

extension BenchCommand {
    /// `serve`: concurrent dashboard/API/metrics requests while DRY_RUN cycles append to the same ledger, in the two
    /// ways the server is deployed: `agent serve` as its own process beside the loop, and `agent --interval ...
    /// --serve PORT` with the server inside the cycling process. Reports request latency (p50/p99) and the cycle
    /// time with and without the load; idle and loaded rounds alternate, so drift on a noisy machine hits both.
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
        var next: Int64 = 1_790_000_000
        let perRound = max(cycles, 10)
        let rounds = 3
        /// A loaded round lasts at least this long, so that it sees enough requests for stable percentiles.
        let loadedSeconds = 3.0
        /// At least `count` cycles, and until `seconds` have passed.
        func timedCycles(_ count: Int, seconds: Double = 0) async -> [Double] {
            var times: [Double] = []
            let began = clock.now
            while times.count < count || benchSeconds(clock.now - began) < seconds {
                let start = clock.now
                _ = await runner.run(at: next)
                next += 3_600
                times.append(benchSeconds(clock.now - start))
            }
            return times
        }
        _ = await timedCycles(perRound)  // warm-up: a first page has something to show

        struct Scenario { var name: String; var idle: [Double] = []; var busy: [Double] = []; var latencies: [Double] = []
                          var seconds = 0.0; var roundRatios: [Double] = [] }
        var scenarios: [Scenario] = []
        let paths = ["/api/status", "/api/cycles?limit=20", "/metrics", "/", "/api/equity", "/cycles", "/audit"]
        let workers = 4

        // 1. `agent serve` as its own process, as it is deployed beside a running loop.
        let (serving, processURL) = try Self.startServeProcess(dataDir: dir)
        defer { serving.terminate(); serving.waitUntilExit() }
        // 2. The same server in this process, as `--serve PORT` runs it beside the loop.
        let server = try OperatorService.server(host: "127.0.0.1", port: 0, dataDir: dir, config: config)
        let (urls, urlSink) = AsyncStream.makeStream(of: String.self)
        let inProcess = Task { try await server.run(handleSignals: false) { url in urlSink.yield(url) } }
        defer { inProcess.cancel() }
        var inProcessURL = ""
        for await url in urls { inProcessURL = url; break }

        for (name, base) in [("separate_process", processURL), ("in_process", inProcessURL)] {
            var s = Scenario(name: name)
            for round in 0..<rounds {
                // The ledger grows as the bench goes, so the order alternates: loaded first, then idle first.
                var idle: [Double] = []
                if round % 2 == 1 { idle = await timedCycles(perRound, seconds: loadedSeconds) }
                let load = ClientLoad(base: base, paths: paths, workers: workers)
                let start = clock.now
                let busy = await timedCycles(max(idle.count, perRound), seconds: idle.isEmpty ? loadedSeconds : 0)
                s.latencies += await load.stop()
                s.seconds += benchSeconds(clock.now - start)
                s.busy += busy
                if idle.isEmpty { idle = await timedCycles(busy.count) }
                s.idle += idle
                s.roundRatios.append((busy.reduce(0, +) / Double(busy.count)) / max(idle.reduce(0, +) / Double(idle.count), 1e-9))
            }
            scenarios.append(s)
        }

        var details: [String: Double] = ["concurrency": Double(workers), "rounds": Double(rounds)]
        var total = 0, seconds = 0.0
        for s in scenarios {
            let sorted = s.latencies.sorted()
            func percentile(_ p: Double) -> Double {
                sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))] * 1_000
            }
            let idle = s.idle.reduce(0, +) / Double(max(s.idle.count, 1)) * 1_000
            let busy = s.busy.reduce(0, +) / Double(max(s.busy.count, 1)) * 1_000
            details["\(s.name)_requests"] = Double(sorted.count)
            details["\(s.name)_cycles_under_load"] = Double(s.busy.count)
            details["\(s.name)_p50_ms"] = percentile(0.5)
            details["\(s.name)_p99_ms"] = percentile(0.99)
            details["\(s.name)_cycle_mean_ms_idle"] = idle
            details["\(s.name)_cycle_mean_ms_under_load"] = busy
            details["\(s.name)_cycle_slowdown_ratio"] = busy / max(idle, 1e-9)
            // Each round's own ratio: how much of the figure above is the machine's noise.
            details["\(s.name)_round_ratio_min"] = s.roundRatios.min() ?? 0
            details["\(s.name)_round_ratio_max"] = s.roundRatios.max() ?? 0
            total += sorted.count
            seconds += s.seconds
        }
        return BenchResult(name: "serve", items: total, unit: "requests", seconds: seconds,
                           perSecond: Double(total) / max(seconds, 1e-9), details: details,
                           note: "\(workers) concurrent clients with no think time (threads at nice 19, standing for browsers and scrapers on other machines) over \(paths.joined(separator: " ")); \(rounds) rounds per deployment of DRY_RUN sim cycles under load (at least \(perRound) cycles and \(Int(loadedSeconds)) s) and as many idle, in alternating order: `agent serve` as its own process (separate_process) and the server inside the cycling process as `--serve` runs it (in_process); the server works on one thread at nice \(ServePriority.nice)")
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

/// Clients that request `paths` round-robin, with no think time, until stopped: each is its own thread at nice 19,
/// with blocking transfers, so that the load they make here takes as little as possible from the cycles measured.
final class ClientLoad: @unchecked Sendable {
    private let done = LockedFlag()
    private let collected = LockedLatencies()
    private let finished = DispatchGroup()

    init(base: String, paths: [String], workers: Int) {
        for w in 0..<workers {
            finished.enter()
            let thread = Thread { [done, collected, finished] in
                defer { finished.leave() }
                ServePriority.lowerThisThread(to: 19)
                let client = CurlHTTPClient()
                var latencies: [Double] = []
                var i = 0
                while !done.isSet {
                    let start = ContinuousClock.now
                    let response = try? client.sendBlocking(HTTPRequest(url: base + paths[(w + i) % paths.count], timeout: 10))
                    if response?.isSuccess == true { latencies.append(benchSeconds(ContinuousClock.now - start)) }
                    i += 1
                }
                collected.add(latencies)
            }
            thread.name = "agent.bench.client"
            thread.start()
        }
    }

    /// Stops the clients and returns every successful request's latency in seconds.
    func stop() async -> [Double] {
        done.set()
        return await withCheckedContinuation { (c: CheckedContinuation<[Double], Never>) in
            finished.notify(queue: .global()) { [collected] in c.resume(returning: collected.all) }
        }
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
