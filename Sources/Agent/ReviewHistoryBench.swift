import Config
import Engine
import Foundation
import Ledger
import Loopback
import Market
import Model
import Review

extension BenchCommand {
    /// The review stage over a growing ledger: 2,000 cycles into one ledger, 40 s apart so every review event
    /// stays inside the 24 h spend window. Each cycle loads the review history (spend, cache, news risk), runs
    /// the three tiers (openai_compatible at a fake server on 127.0.0.1; M1 has no news, so it makes no call)
    /// and appends its review events. Flat means the last 100 cycles cost what the first 100 did;
    /// `full_rebuild_ms_at_end` is what decoding every review event of the window costs at the end, which is
    /// what each cycle paid before the history was kept incrementally.
    func reviewHistory() async throws -> BenchResult {
        let cycles = 2_000, spacing: Int64 = 40, window = 100
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try Ledger(path: (dir as NSString).appendingPathComponent("agent.sqlite"))
        let server = try FakeLLMServer { FakeLLM.valid($0, FakeLLM.neutral($0)) }
        defer { server.stop() }
        var overrides = ["policy.ai_budget.max_calls_per_hour=100000"]
        for tier in ["m1", "m2", "m3"] {
            overrides += ["app.reviewers.\(tier).provider=openai_compatible", "app.reviewers.\(tier).model=bench-model",
                          "app.reviewers.\(tier).base_url=\(server.baseURL)"]
        }
        let config = try ConfigLoader(overrides: overrides).load()
        let board = try ReviewSetup.board(config, environment: [:])
        let catalog = SimMarket.catalog(count: 3)
        let clock = ContinuousClock()
        var totals: [Double] = [], loads: [Double] = []
        let t0: Int64 = 1_790_000_000
        for i in 0..<cycles {
            let time = t0 + Int64(i) * spacing
            // Convictions repeat every 50 cycles (2,000 s, longer than the cache TTL): every cycle pays for its calls.
            let proposals = catalog.enumerated().map { n, p in
                Proposal(id: "p\(n + 1)", symbol: p.symbol, tier: .rotational, side: .buy, sizePct: 1,
                         conviction: 0.5 + Double(i % 50) / 100, components: [], stopLossPct: 8, takeProfitPct: 16,
                         reason: "bench", triggers: [.momentum], referencePrice: p.basePrice)
            }
            let tape = proposals.map {
                TapeFacts(symbol: $0.symbol, price: $0.referencePrice, spreadBps: 3, depthUsd: 1e6, change24hPct: 2,
                          volume24hUsd: 1e8, volumeRatio: 1, fundingRate: nil)
            }
            let start = clock.now
            let history = try ReviewHistory.load(ledger: ledger, now: time, ttlMinutes: config.app.reviewCache.ttlMinutes,
                                                 policy: config.policy.reviewers.newsRisk)
            loads.append(Self.milliseconds(clock.now - start))
            let spend = SpendGuard(budget: config.policy.aiBudget, now: time, history: history.spend)
            let outcome = await board.run(ReviewContext(cycleId: "c-bench-\(i)", time: time, proposals: proposals, tape: tape,
                                                        policy: config.policy, spend: spend,
                                                        cache: ReviewCache(seed: history.cache)),
                                          newsRiskHistory: history.newsRisk)
            try ledger.append(outcome.tiers.map { try NewEvent.json("c-bench-\(i)", "review", time, $0) })
            totals.append(Self.milliseconds(clock.now - start))
            if outcome.calls != 2 { throw CLIError.failed("review_history bench: cycle \(i) made \(outcome.calls) calls, expected 2") }
        }
        let end = t0 + Int64(cycles - 1) * spacing
        let rebuildStart = clock.now
        _ = try ReviewHistory.rebuild(store: ledger, now: end, ttlMinutes: config.app.reviewCache.ttlMinutes,
                                      policy: config.policy.reviewers.newsRisk)
        let rebuild = Self.milliseconds(clock.now - rebuildStart)
        func mean(_ xs: ArraySlice<Double>) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }
        let first = mean(totals.prefix(window)), last = mean(totals.suffix(window))
        let total = totals.reduce(0, +) / 1_000
        return BenchResult(name: "review_history", items: cycles, unit: "cycles", seconds: total,
                           perSecond: Double(cycles) / total,
                           details: ["first_100_mean_ms": first, "last_100_mean_ms": last, "last_to_first_ratio": last / first,
                                     "history_load_first_100_mean_ms": mean(loads.prefix(window)),
                                     "history_load_last_100_mean_ms": mean(loads.suffix(window)),
                                     "full_rebuild_ms_at_end": rebuild,
                                     "review_events": Double(try ledger.count())],
                           note: "2,000 cycles 40 s apart into one ledger: review history load + M1/M2/M3 (openai_compatible, fake server on 127.0.0.1) + review events appended")
    }

    static func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) * 1_000 + Double(c.attoseconds) / 1e15
    }
}
