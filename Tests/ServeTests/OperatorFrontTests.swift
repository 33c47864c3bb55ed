import Charts
import Foundation
import Serve
import Testing

/// A site that echoes what reached it, so the front's own decisions are what is tested.
struct EchoSite: OperatorSite {
    var writePaths: Set<String> { ["/kill"] }
    func metricsText() async -> String { "# TYPE agent_halted gauge\nagent_halted 0\n" }
    func respond(to request: SiteRequest) async -> SiteResponse {
        .text("\(request.method.rawValue) \(request.path) authenticated=\(request.authenticated) form=\(request.form.sorted { $0.key < $1.key })")
    }
}

@Suite struct OperatorFrontTests {
    let open = OperatorFront(settings: ServeSettings(), site: EchoSite())
    let guarded = OperatorFront(settings: ServeSettings(host: "0.0.0.0", token: "s3cret-token"), site: EchoSite())

    func get(_ front: OperatorFront, _ path: String, _ headers: [String: String] = [:]) async -> SiteResponse {
        await front.handle(method: "GET", path: path, query: [:], headers: headers, body: Data())
    }

    @Test func aNonLoopbackHostNeedsAToken() throws {
        #expect(throws: ServeError.self) { try ServeSettings(host: "0.0.0.0", port: 8080, token: nil).validate() }
        #expect(throws: ServeError.self) { try ServeSettings(host: "192.168.1.5", port: 8080, token: "").validate() }
        try ServeSettings(host: "0.0.0.0", port: 8080, token: "t").validate()
        try ServeSettings(host: "127.0.0.1", port: 0, token: nil).validate()
    }

    @Test func withATokenEveryRouteButHealthzIsRefusedWithoutIt() async {
        #expect(await get(guarded, "/healthz").status == 200)
        #expect(await get(guarded, "/api/status").status == 401)
        #expect(await get(guarded, "/metrics").status == 401)
        #expect(await get(guarded, "/api/status", ["authorization": "Bearer wrong"]).status == 401)
        #expect(await get(guarded, "/api/status", ["authorization": "Bearer s3cret-token"]).status == 200)
        #expect(await get(guarded, "/metrics", ["authorization": "Bearer s3cret-token"]).status == 200)
        // A page sends the browser to the login form.
        let page = await get(guarded, "/")
        #expect(page.status == 303 && page.location == "/login")
    }

    @Test func theLoginFormSetsASessionCookieThatAuthenticates() async throws {
        let wrong = await guarded.handle(method: "POST", path: "/login", query: [:], headers: [:], body: Data("token=nope".utf8))
        #expect(wrong.status == 401)
        let login = await guarded.handle(method: "POST", path: "/login", query: [:], headers: [:], body: Data("token=s3cret-token".utf8))
        #expect(login.status == 303)
        let cookie = try #require(OperatorServer.responseHeaders(login)["set-cookie"])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let session = String(cookie.split(separator: ";")[0])
        let page = await get(guarded, "/cycles", ["cookie": "theme=dark; " + session])
        #expect(page.status == 200)
        #expect(String(decoding: page.body, as: UTF8.self).contains("authenticated=true"))
        #expect(await get(guarded, "/cycles", ["cookie": "agent_session=forged"]).status == 303)
    }

    @Test func onlyTheWritePathsTakeAPostAndOnlyFromThisOrigin() async {
        let auth = ["authorization": "Bearer s3cret-token", "host": "box:8080"]
        #expect(await guarded.handle(method: "POST", path: "/api/status", query: [:], headers: auth, body: Data()).status == 405)
        #expect(await guarded.handle(method: "DELETE", path: "/kill", query: [:], headers: auth, body: Data()).status == 405)
        var crossSite = auth
        crossSite["origin"] = "http://evil.example"
        #expect(await guarded.handle(method: "POST", path: "/kill", query: [:], headers: crossSite, body: Data()).status == 403)
        var sameSite = auth
        sameSite["origin"] = "http://box:8080"
        let ok = await guarded.handle(method: "POST", path: "/kill", query: [:], headers: sameSite, body: Data("reason=a+b%21".utf8))
        #expect(ok.status == 200)
        #expect(String(decoding: ok.body, as: UTF8.self) == "POST /kill authenticated=true form=[(key: \"reason\", value: \"a b!\")]")
        // Without a token nobody is authenticated, so the site refuses the write itself.
        let anonymous = await open.handle(method: "POST", path: "/kill", query: [:], headers: [:], body: Data())
        #expect(String(decoding: anonymous.body, as: UTF8.self).contains("authenticated=false"))
    }

    @Test func everyResponseCarriesAStrictContentSecurityPolicy() async {
        let headers = OperatorServer.responseHeaders(await get(open, "/"))
        #expect(headers["content-security-policy"] == OperatorFront.contentSecurityPolicy)
        #expect(OperatorFront.contentSecurityPolicy.contains("default-src 'none'"))
        #expect(!OperatorFront.contentSecurityPolicy.contains("unsafe-inline"))
        #expect(!OperatorFront.contentSecurityPolicy.contains("script-src"))
        #expect(headers["x-content-type-options"] == "nosniff")
        #expect(headers["x-frame-options"] == "DENY")
    }

    @Test func escapingKeepsHostileTextInert() {
        let hostile = #"<img src=x onerror="alert(1)"> & 'quoted'"#
        let escaped = HTMLText.escape(hostile)
        #expect(escaped == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#39;quoted&#39;")
        let page = Page.render(title: hostile, section: .overview, body: "<p>\(escaped)</p>")
        #expect(!page.contains("<img"))
    }
}

@Suite struct OperatorMetricsTests {
    @Test func theExpositionIsPrometheusText() {
        let m = OperatorMetrics()
        m.cycleFinished(status: "NO_TRADE", stageMilliseconds: ["review": 12, "total": 40])
        m.cycleFinished(status: "NO_TRADE", stageMilliseconds: ["review": 8, "total": 30])
        m.cycleFinished(status: "HALTED", stageMilliseconds: ["total": 1])
        m.equity(usd: 10_250.5)
        m.openPositions(2)
        m.aiSpend(window: "day", usd: 0.42)
        m.aiCalls(tier: "M1", source: "offline")
        m.policyViolation(check: "max_open_positions")
        m.halted(true)
        m.venueWeightUsed(0.25)
        m.error(kind: "cycle")
        let text = m.render()
        #expect(text.contains("# TYPE agent_cycles_total counter"))
        #expect(text.contains(#"agent_cycles_total{status="NO_TRADE"} 2"#))
        #expect(text.contains(#"agent_cycles_total{status="HALTED"} 1"#))
        #expect(text.contains("# TYPE agent_cycle_duration_seconds histogram"))
        #expect(text.contains(#"agent_cycle_duration_seconds_count{stage="total"} 3"#))
        #expect(text.contains(#"agent_cycle_duration_seconds_bucket{stage="review",le="0.025"} 2"#))
        #expect(text.contains("agent_equity_usd 10250.5"))
        #expect(text.contains("agent_open_positions 2"))
        #expect(text.contains(#"agent_ai_spend_usd{window="day"} 0.42"#))
        #expect(text.contains(#"agent_ai_calls_total{tier="M1",source="offline"} 1"#))
        #expect(text.contains(#"agent_policy_violations_total{check="max_open_positions"} 1"#))
        #expect(text.contains("agent_halted 1"))
        #expect(text.contains("agent_venue_weight_used 0.25"))
        #expect(text.contains(#"agent_errors_total{kind="cycle"} 1"#))
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.range(of: #"^[a-z_]+(\{[^}]*\})? -?[0-9.e+Inf-]+$"#, options: .regularExpression) != nil, "\(line)")
        }
    }
}
