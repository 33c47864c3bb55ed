import Foundation
import HTTP
import Ledger
import TestSupport
import Testing

/// `agent serve`, `/metrics`, `--serve` and alerts, through the real executable on a ledger made by real cycles.
enum ServeFixture {
    static let hostile = #"<img src=x onerror="alert(1)"> maintenance"#

    struct Ledger: Sendable {
        var dataDir: String
        var lastCycle: String
    }

    /// Three PAPER cycles, then the kill switch on with a hostile reason and a fourth (HALTED) cycle.
    static let shared = Task<Ledger, any Error> {
        let data = Fixtures.tempDir("agent-serve")
        let common = AgentProcess.common(dataDir: data)
        let run = try await AgentProcess.run(["--interval", "0.001", "--cycles", "3", "--mode", "PAPER", "--now", pinnedNow] + common)
        guard run.status == 0 else { throw TestFailure("interval run failed: \(run.stderr)") }
        let kill = try await AgentProcess.run(["kill", "on", "--reason", hostile] + common)
        guard kill.status == 0 else { throw TestFailure("kill on failed: \(kill.stderr)") }
        let once = try await AgentProcess.run(["--once", "--mode", "PAPER", "--now", "2026-11-20T23:00:00Z"] + common)
        let summary = try jsonObject(once.lines.last ?? "")
        guard summary["status"] as? String == "HALTED", let id = summary["cycle_id"] as? String else {
            throw TestFailure("expected a HALTED cycle: \(once.stdout)")
        }
        return Ledger(dataDir: data, lastCycle: id)
    }
}

/// A running `agent serve`; stopped when the test ends.
struct RunningServer {
    let process: AgentProcess
    let url: String

    static func start(dataDir: String, extra: [String] = [], environment: [String: String]? = nil) async throws -> RunningServer {
        let p = try AgentProcess(["serve", "--port", "0", "--data-dir", dataDir, "--config-dir", Fixtures.repoRoot + "/config"] + extra,
                                 environment: environment)
        let lines = try await p.lines(1, timeout: 60)
        guard let url = lines.first, url.hasPrefix("http://127.0.0.1:") else {
            p.process.terminate()
            throw TestFailure("agent serve printed no URL first: \(lines)")
        }
        return RunningServer(process: p, url: url)
    }

    func stop() { process.process.terminate() }

    func get(_ path: String, headers: [HTTPHeader] = []) async throws -> HTTPResponse {
        try await CurlHTTPClient().send(HTTPRequest(url: url + path, headers: headers, timeout: 20))
    }

    func json(_ path: String, headers: [HTTPHeader] = []) async throws -> Any {
        let r = try await get(path, headers: headers)
        guard r.status == 200 else { throw TestFailure("GET \(path): HTTP \(r.status) \(r.text.prefix(300))") }
        return try JSONSerialization.jsonObject(with: r.body)
    }
}

@Suite(.serialized) struct OperatorSurfaceTests {
    @Test func theAPIAnswersInTheSummarysFieldNames() async throws {
        let ledger = try await ServeFixture.shared.value
        let server = try await RunningServer.start(dataDir: ledger.dataDir)
        defer { server.stop() }

        let health = try await server.json("/healthz") as? [String: Any]
        #expect(health?["status"] as? String == "ok")

        let status = try #require(try await server.json("/api/status") as? [String: Any])
        for field in ["mode", "exchange", "kill_switch", "halted", "circuit_breakers", "last_cycle", "portfolio", "ai_spend", "last_seq"] {
            #expect(status.keys.contains(field), "status.\(field)")
        }
        #expect(status["mode"] as? String == "PAPER")
        #expect((status["kill_switch"] as? [String: Any])?["on"] as? Bool == true)
        #expect(status["halted"] as? Bool == true)
        let last = try #require(status["last_cycle"] as? [String: Any])
        #expect(last["cycle_id"] as? String == ledger.lastCycle)
        #expect(last["status"] as? String == "HALTED")
        #expect((last["reason"] as? String)?.contains(ServeFixture.hostile) == true)
        let spend = try #require(status["ai_spend"] as? [String: Any])
        for field in ["today_usd", "calls_today", "max_cost_per_day_usd", "max_cost_per_cycle_usd", "max_calls_per_hour"] {
            #expect(spend.keys.contains(field), "ai_spend.\(field)")
        }

        let page = try #require(try await server.json("/api/cycles?limit=2") as? [String: Any])
        let cycles = try #require(page["cycles"] as? [[String: Any]])
        #expect(cycles.count == 2)
        #expect(cycles.first?["cycle_id"] as? String == ledger.lastCycle)
        for field in CommandLineTests.summaryFields { #expect(cycles.first?.keys.contains(field) == true, "cycles[].\(field)") }
        let before = try #require(page["next_before"] as? Int)
        let older = try #require(try await server.json("/api/cycles?limit=10&before=\(before)") as? [String: Any])
        #expect((older["cycles"] as? [[String: Any]])?.count == 2)
        #expect(older["next_before"] is NSNull)
        let halted = try #require(try await server.json("/api/cycles?status=HALTED") as? [String: Any])
        #expect((halted["cycles"] as? [[String: Any]])?.map { $0["status"] as? String } == ["HALTED"])
        #expect(try await server.get("/api/cycles?status=BOGUS").status == 400)

        let trail = try #require(try await server.json("/api/cycles/\(ledger.lastCycle)") as? [String: Any])
        #expect(trail["cycle_id"] as? String == ledger.lastCycle)
        #expect(((trail["events"] as? [[String: Any]])?.map { $0["type"] as? String } ?? []).contains("halted"))
        #expect(try await server.get("/api/cycles/c-nope").status == 404)

        let audit = try #require(try await server.json("/api/audit?since=3650d") as? [String: Any])
        for field in ["cycles", "statuses", "violated_checks", "reviewer_vetoes", "ai_cost_usd", "halts"] {
            #expect(audit.keys.contains(field), "audit.\(field)")
        }
        #expect(audit["halts"] as? Int == 1)
        #expect(try await server.get("/api/audit?since=yesterday-ish").status == 400)

        let positions = try #require(try await server.json("/api/positions") as? [[String: Any]])
        for p in positions {
            for field in ["symbol", "side", "quantity", "entry_price", "stop_price", "take_profit_prices"] { #expect(p.keys.contains(field), "positions[].\(field)") }
        }
        let trades = try #require(try await server.json("/api/trades") as? [[String: Any]])
        for t in trades {
            for field in ["cycle_id", "time", "symbol", "side", "quantity", "price", "reason"] { #expect(t.keys.contains(field), "trades[].\(field)") }
        }
        #expect(positions.isEmpty || !trades.isEmpty)
        let equity = try #require(try await server.json("/api/equity") as? [[String: Any]])
        #expect(equity.count >= 3)
        #expect(equity.first?["equity_usd"] is Double)

        // Read-only: nothing but the kill-switch form takes a POST.
        let post = try await CurlHTTPClient().send(HTTPRequest(method: "POST", url: server.url + "/api/status", timeout: 10))
        #expect(post.status == 405)
    }

    @Test func metricsComeFromTheLedger() async throws {
        let ledger = try await ServeFixture.shared.value
        let server = try await RunningServer.start(dataDir: ledger.dataDir)
        defer { server.stop() }
        let response = try await server.get("/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type")?.hasPrefix("text/plain") == true)
        let text = response.text
        #expect(text.contains(#"agent_cycles_total{status="HALTED"} 1"#))
        #expect(text.contains("# TYPE agent_cycle_duration_seconds histogram"))
        #expect(text.contains(#"agent_cycle_duration_seconds_count{stage="total"} 4"#))
        for family in ["agent_equity_usd", "agent_open_positions", "agent_ai_spend_usd", "agent_ai_calls_total", "agent_halted 1",
                       "agent_venue_weight_used"] {
            #expect(text.contains(family), "\(family)")
        }
        // A second scrape does not count the same events twice.
        #expect(try await server.get("/metrics").text.contains(#"agent_cycles_total{status="HALTED"} 1"#))
    }

    @Test func aRealBrowserShowsTheLatestCycleTheKillSwitchAndEscapedReasons() async throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("SKIPPED real-browser test: chromium is not installed (.ci/run installs it: apt-get install chromium)")
            return
        }
        let ledger = try await ServeFixture.shared.value
        let server = try await RunningServer.start(dataDir: ledger.dataDir)
        defer { server.stop() }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--user-data-dir=" + Fixtures.tempDir("chromium-profile")]
        let dom = try await Self.run(chromium, flags + ["--dump-dom", server.url + "/"])
        #expect(dom.contains(ledger.lastCycle), "latest cycle id")
        #expect(dom.range(of: #"Kill switch<b class="bad">ON</b>"#) != nil, "kill switch state")
        #expect(dom.contains("&lt;img src=x onerror=\"alert(1)\"&gt; maintenance"), "the hostile reason is shown as text")
        #expect(!dom.contains("<img"), "no element was injected")
        let detail = try await Self.run(chromium, flags + ["--dump-dom", server.url + "/cycles/" + ledger.lastCycle])
        #expect(detail.contains("HALTED") || detail.contains("halted"))
        #expect(!detail.contains("<img"))

        let shot = Fixtures.tempDir("dashboard-shot") + "/overview.png"
        _ = try await Self.run(chromium, flags + ["--screenshot=" + shot, "--window-size=1280,1100", server.url + "/"])
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 10_000, "screenshot at \(shot)")
        print("dashboard screenshot: \(shot)")
    }

    @Test func aTokenGuardsEveryRouteButHealthz() async throws {
        let ledger = try await ServeFixture.shared.value
        var env = ProcessInfo.processInfo.environment
        env["AGENT_SERVE_TOKEN"] = "fake-serve-token-for-tests"
        let server = try await RunningServer.start(dataDir: ledger.dataDir, environment: env)
        defer { server.stop() }
        #expect(try await server.get("/healthz").status == 200)
        #expect(try await server.get("/api/status").status == 401)
        #expect(try await server.get("/metrics").status == 401)
        #expect(try await server.get("/api/status", headers: [HTTPHeader("Authorization", "Bearer wrong")]).status == 401)
        #expect(try await server.get("/api/status", headers: [HTTPHeader("Authorization", "Bearer fake-serve-token-for-tests")]).status == 200)
        let page = try await server.get("/")
        #expect(page.status == 303 && page.header("location") == "/login")

        // Without a token, a non-loopback host is refused (exit 2).
        var bare = ProcessInfo.processInfo.environment
        bare["AGENT_SERVE_TOKEN"] = nil
        let refused = try await AgentProcess.run(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", ledger.dataDir], environment: bare)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("AGENT_SERVE_TOKEN"))
    }

    @Test func theKillSwitchCanBeTurnedOnWithTheTokenAndIsRecorded() async throws {
        let data = Fixtures.tempDir("agent-serve-kill")
        let once = try await AgentProcess.run(["--once", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        #expect(once.status == 0)
        let anonymous = try await RunningServer.start(dataDir: data)
        let refused = try await CurlHTTPClient().send(HTTPRequest(method: "POST", url: anonymous.url + "/kill", body: Data("reason=x".utf8), timeout: 10))
        anonymous.stop()
        #expect(refused.status == 403)
        #expect(!FileManager.default.fileExists(atPath: data + "/KILL_SWITCH"))

        var env = ProcessInfo.processInfo.environment
        env["AGENT_SERVE_TOKEN"] = "fake-serve-token-for-tests"
        let server = try await RunningServer.start(dataDir: data, environment: env)
        defer { server.stop() }
        let on = try await CurlHTTPClient().send(HTTPRequest(
            method: "POST", url: server.url + "/kill",
            headers: [HTTPHeader("Authorization", "Bearer fake-serve-token-for-tests"), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
            body: Data("reason=web+test".utf8), timeout: 10))
        #expect(on.status == 303)
        #expect(FileManager.default.fileExists(atPath: data + "/KILL_SWITCH"))
        let events = try Ledger(path: data + "/agent.sqlite").events(types: ["kill_switch"])
        #expect(events.count == 1)
        let payload = String(decoding: events.first?.payload ?? Data(), as: UTF8.self)
        #expect(payload.contains("web test"))
    }

    @Test func intervalWithServeRunsTheLoopAndTheServerInOneProcess() async throws {
        let data = Fixtures.tempDir("agent-interval-serve")
        let port = try LoopbackHTTPServer.unusedPort()
        let p = try AgentProcess(["--interval", "0.02", "--cycles", "4", "--serve", "\(port)", "--now", pinnedNow] + AgentProcess.common(dataDir: data))
        let first = try await p.lines(1, timeout: 60)
        #expect(first.count == 1)
        // The loop does not wait for the server, which binds on its own lower-priority threads: on a busy machine
        // the first cycle can finish first, so the client retries for a while.
        var status: HTTPResponse?
        let deadline = ContinuousClock.now + .seconds(30)
        while status == nil, ContinuousClock.now < deadline {
            status = try? await CurlHTTPClient().send(HTTPRequest(url: "http://127.0.0.1:\(port)/api/status", timeout: 10))
            if status == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status?.status == 200)
        let out = try await p.finish(timeout: 60)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("serving the dashboard at http://127.0.0.1:\(port)"))
    }

    @Test func alertsAreDeliveredOffTheCyclesPathAndSecretsStayOut() async throws {
        let received = try LoopbackHTTPServer { _ in .text("ok") }
        let slow = try LoopbackHTTPServer { _ in StubResponse.text("late").delayed(by: 5) }
        defer { received.stop(); slow.stop() }
        let config = Fixtures.tempDir("agent-alerts-config")
        try """
        alerts:
          timeout_seconds: 0.5
          max_attempts: 2
          channels:
            - {name: ops, kind: slack, url_env: AGENT_TEST_SLACK_URL, events: [halted, circuit_breaker, error]}
            - {name: pager, kind: webhook, url_env: AGENT_TEST_SLOW_URL, events: [halted]}
        """.write(toFile: config + "/app.yaml", atomically: true, encoding: .utf8)
        let data = Fixtures.tempDir("agent-alerts")
        let secret = "/services/T0FAKE/B0FAKE/fake-secret-path"
        var env = ProcessInfo.processInfo.environment
        env["AGENT_TEST_SLACK_URL"] = received.baseURL + secret
        env["AGENT_TEST_SLOW_URL"] = slow.baseURL + secret
        let args = ["--config-dir", config, "--data-dir", data]
        _ = try await AgentProcess.run(["kill", "on", "--reason", "alert test"] + args, environment: env)
        let once = try await AgentProcess.run(["--once", "--now", pinnedNow] + args, environment: env)
        #expect(once.status == 0, "\(once.stderr)")
        let summary = try jsonObject(once.lines.last ?? "")
        #expect(summary["status"] as? String == "HALTED")
        // The cycle itself does not wait for the channel that answers after 5 s.
        let total = (summary["timings_ms"] as? [String: Any])?["total"] as? Double ?? 1e9
        #expect(total < 4_500)

        #expect(received.requests.count == 1)
        let text = received.requests.first.map { String(decoding: $0.body, as: UTF8.self) } ?? ""
        #expect(text.contains("HALTED") && text.contains(summary["cycle_id"] as? String ?? "?"))

        let ledger = try Ledger(path: data + "/agent.sqlite")
        #expect(try ledger.events(types: ["alert_delivered"]).count == 1)
        let failed = try ledger.events(types: ["alert_failed"])
        #expect(failed.count == 1)
        let failure = String(decoding: failed.first?.payload ?? Data(), as: UTF8.self)
        #expect(failure.contains("timeout"))
        // Secrets never reach the ledger, stdout or stderr.
        let file = try Data(contentsOf: URL(fileURLWithPath: data + "/agent.sqlite")) + ((try? Data(contentsOf: URL(fileURLWithPath: data + "/agent.sqlite-wal"))) ?? Data())
        #expect(file.range(of: Data("fake-secret-path".utf8)) == nil)
        #expect(!once.stdout.contains("fake-secret-path") && !once.stderr.contains("fake-secret-path"))

        // `agent alerts test` reaches the working channel and names the failing one.
        let test = try await AgentProcess.run(["alerts", "test", "--channel", "ops"] + args, environment: env)
        #expect(test.status == 0, "\(test.stdout) \(test.stderr)")
        #expect(test.stdout.contains("ops (slack): delivered"))
        #expect(received.requests.count == 2)
        #expect(!test.stdout.contains("fake-secret-path"))
    }

    @Test func concurrentReadersNeverBlockARunningLoop() async throws {
        let data = Fixtures.tempDir("agent-serve-load")
        let common = AgentProcess.common(dataDir: data)
        #expect(try await AgentProcess.run(["--once", "--now", pinnedNow] + common).status == 0)
        let server = try await RunningServer.start(dataDir: data)
        defer { server.stop() }
        let cycles = 12
        let loop = try AgentProcess(["--interval", "0.005", "--cycles", "\(cycles)", "--now", pinnedNow] + common)
        let paths = ["/api/status", "/api/cycles?limit=5", "/metrics", "/", "/audit", "/api/equity"]
        let statuses = await withTaskGroup(of: [Int].self) { group in
            for w in 0..<4 {
                group.addTask {
                    var out: [Int] = []
                    for i in 0..<15 {
                        let r = try? await CurlHTTPClient().send(HTTPRequest(url: server.url + paths[(w + i) % paths.count], timeout: 30))
                        out.append(r?.status ?? -1)
                    }
                    return out
                }
            }
            var all: [Int] = []
            for await part in group { all += part }
            return all
        }
        let out = try await loop.finish(timeout: 120)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.lines.count == cycles)
        for line in out.lines { #expect((try? jsonObject(line))?["status"] as? String != "ERROR", "\(line.prefix(300))") }
        #expect(!out.stderr.contains("database is locked"))
        #expect(statuses.count == 60 && statuses.allSatisfy { $0 == 200 }, "\(statuses)")
    }

    static func run(_ exe: String, _ args: [String]) async throws -> String {
        try await offload {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
    }
}
