// `agent serve`'s routes: JSON under /api, HTML pages, the kill-switch form. Every ledger string shown in a
// page goes through `HTMLText.escape` (`h`).

import Charts
import Engine
import Foundation
import Ledger
import Model
import Risk
import Serve

private func h(_ s: String) -> String { HTMLText.escape(s) }
private let fmt = Format.number
/// Quantities keep their significant digits (0.0042 BTC is not 0).
private func qty(_ v: Double) -> String { String(format: "%.6g", v) }

struct DashboardSite: OperatorSite {
    let data: DashboardData
    let metrics: LedgerMetricsFeed
    /// Whether a token was configured (the kill-switch form is offered only then).
    let tokenConfigured: Bool

    let cache = ResponseCache()

    var writePaths: Set<String> { ["/kill"] }

    func metricsText() async -> String {
        let metrics = self.metrics
        return await ServeExecutor.shared.run { metrics.render() }
    }

    /// Ledger reads block, so they run on the server's own thread (``ServeExecutor``, lower CPU priority), never on
    /// the cooperative pool the cycle runs on (`--serve`). Requests are answered one at a time there, and an answer
    /// is cached until the ledger, the kill switch or the minute changes: clients that poll the same page cost one
    /// rendering per change, however many they are.
    func respond(to r: SiteRequest) async -> SiteResponse {
        if r.method == .post { return await ServeExecutor.shared.run { self.answer(r) } }
        let key = r.path + "?" + r.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return await ServeExecutor.shared.run {
            let stamp = "\((try? data.ledger.lastSeq()) ?? -1)/\(KillSwitch(dataDir: data.dataDir).status().isOn)/\(UTC.now() / 60)"
            if let hit = cache.get(key, stamp: stamp) { return hit }
            let response = answer(r)
            if response.status == 200 { cache.put(key, stamp: stamp, response) }
            return response
        }
    }

    private func answer(_ r: SiteRequest) -> SiteResponse {
        let isAPI = r.path.hasPrefix("/api/")
        do {
            if r.method == .post { return try kill(r) }
            if isAPI { return try api(r) }
            return try page(r)
        } catch {
            if isAPI { return .error(500, "\(error)") }
            return .html(Page.render(title: "Error", section: nil, body: "<p class=\"bad\">\(h("\(error)"))</p>"), status: 500)
        }
    }

    private func json<T: Encodable>(_ value: T) throws -> SiteResponse {
        .json(try JSONCoding.encoder(pretty: true).encode(value))
    }

    private func limit(_ r: SiteRequest, default value: Int) -> Int {
        min(max(Int(r.query["limit"] ?? "") ?? value, 1), 500)
    }

    // MARK: API

    private func api(_ r: SiteRequest) throws -> SiteResponse {
        switch r.path {
        case "/api/status": return try json(data.status())
        case "/api/cycles":
            var status: CycleStatus?
            if let s = r.query["status"], !s.isEmpty {
                guard let parsed = CycleStatus(rawValue: s.uppercased()) else {
                    return .error(400, "status '\(s)': one of \(CycleStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = parsed
            }
            var before: Int64?
            if let b = r.query["before"], !b.isEmpty {
                guard let seq = Int64(b) else { return .error(400, "before '\(b)': the next_before number of the previous page") }
                before = seq
            }
            return try json(data.cycles(status: status, limit: limit(r, default: 50), before: before))
        case "/api/audit":
            guard let since = DashboardData.cutoff(r.query["since"]) else {
                return .error(400, "since '\(r.query["since"] ?? "")': a span like 24h or 7d, or an ISO 8601 time")
            }
            return try json(data.audit(since: since))
        case "/api/positions": return try json(data.positions())
        case "/api/trades": return try json(data.trades(limit: limit(r, default: 100)))
        case "/api/equity": return try json(data.equity())
        default:
            let prefix = "/api/cycles/"
            if r.path.hasPrefix(prefix) {
                let id = String(r.path.dropFirst(prefix.count))
                guard let cycle = try data.resolveCycle(id) else { return .error(404, "no cycle '\(id)' in the ledger") }
                return .json(Data(try CycleTrail.json(cycleId: cycle, events: data.ledger.events(cycleId: cycle)).utf8))
            }
            return .error(404, "no API route \(r.path)")
        }
    }

    // MARK: Write

    private func kill(_ r: SiteRequest) throws -> SiteResponse {
        guard r.authenticated else {
            return .error(403, "turning the kill switch on from the web needs AGENT_SERVE_TOKEN set when the server starts")
        }
        try data.killSwitchOn(reason: String((r.form["reason"] ?? "").prefix(200)))
        return .redirect("/")
    }

    // MARK: Pages

    private func page(_ r: SiteRequest) throws -> SiteResponse {
        switch r.path {
        case "/": return .html(Page.render(title: "Overview", section: .overview, body: try overview()))
        case "/cycles": return .html(Page.render(title: "Cycles", section: .cycles, body: try cycleList(r)))
        case "/audit": return .html(Page.render(title: "Audit", section: .audit, body: try auditPage(r)))
        case "/trades": return .html(Page.render(title: "Trades", section: .trades, body: try tradesPage()))
        default:
            let prefix = "/cycles/"
            if r.path.hasPrefix(prefix) {
                let id = String(r.path.dropFirst(prefix.count))
                guard let cycle = try data.resolveCycle(id) else {
                    return .html(Page.render(title: "No such cycle", section: .cycles, body: "<p>No cycle \(h(id)) in the ledger.</p>"), status: 404)
                }
                let text = try CycleTrail.text(cycleId: cycle, events: data.ledger.events(cycleId: cycle))
                return .html(Page.render(title: "Cycle \(cycle)", section: .cycles, body: "<pre>\(h(text))</pre>", refreshSeconds: nil))
            }
            return .html(Page.render(title: "Not found", section: nil, body: "<p>Nothing at \(h(r.path)).</p>"), status: 404)
        }
    }

    private func card(_ label: String, _ value: String, _ cls: String = "") -> String {
        "<div class=\"card\">\(h(label))<b class=\"\(cls)\">\(value)</b></div>"
    }

    private func overview() throws -> String {
        let s = try data.status()
        var out = "<div class=\"cards\">"
        out += card("Mode", h(s.mode?.rawValue ?? "–"))
        out += card("Exchange", h(s.exchange?.rawValue ?? "–"))
        out += card("Kill switch", s.killSwitch.on ? "ON" : "off", s.killSwitch.on ? "bad" : "good")
        out += card("Circuit breakers", s.circuitBreakers.isEmpty ? "none tripped" : h(s.circuitBreakers.map(\.breaker).joined(separator: ", ")),
                    s.circuitBreakers.isEmpty ? "good" : "bad")
        if let last = s.lastCycle {
            out += card("Last cycle", "<a href=\"/cycles/\(h(last.cycleId))\" id=\"last-cycle\">\(h(last.cycleId))</a>")
            out += card("Status", h(last.status.rawValue), last.status == .error || last.status == .halted ? "bad" : "")
        } else {
            out += card("Last cycle", "none yet")
        }
        if let p = s.portfolio {
            out += card("Equity", "$" + fmt(p.equityUsd))
            out += card("Open positions", "\(p.openPositions)")
        }
        out += "</div>"
        if s.killSwitch.on { out += "<p class=\"bad\" id=\"kill-reason\">\(h(s.killSwitch.reason ?? "kill switch on"))</p>" }
        if let reason = s.lastCycle?.reason { out += "<p>Last cycle: <span id=\"last-reason\">\(h(reason))</span></p>" }
        for b in s.circuitBreakers { out += "<p class=\"bad\">Circuit breaker \(h(b.breaker)) (\(h(b.action))): \(h(b.detail))</p>" }

        let spend = s.aiSpend
        out += "<h2>AI spend today</h2><table><tr><th>window</th><th>spent</th><th>cap</th></tr>"
        out += "<tr><td>today (USD)</td><td class=\"num\">$\(fmt(spend.todayUsd))</td><td class=\"num\">\(spend.maxCostPerDayUsd.map { "$" + fmt($0) } ?? "–")</td></tr>"
        if let rem = spend.remaining {
            out += "<tr><td>last cycle (USD)</td><td class=\"num\">$\(fmt(rem.cycleSpentUsd))</td><td class=\"num\">\(spend.maxCostPerCycleUsd.map { "$" + fmt($0) } ?? "–")</td></tr>"
            out += "<tr><td>calls, last hour</td><td class=\"num\">\(rem.callsLastHour)</td><td class=\"num\">\(spend.maxCallsPerHour.map(String.init) ?? "–")</td></tr>"
        } else {
            out += "<tr><td>calls today</td><td class=\"num\">\(spend.callsToday)</td><td class=\"num\">\(spend.maxCallsPerHour.map { "\($0)/hour" } ?? "–")</td></tr>"
        }
        out += "</table>"

        let equity = try data.equity()
        out += "<h2>Equity</h2>" + SVGChart.line(
            title: "Equity (USD)", series: [ChartSeries(label: "equity", points: equity.map { ChartPoint(x: Double($0.unixTime), y: $0.equityUsd) }, color: "#1565c0")],
            xLabel: { UTC.iso8601(Int64($0)) }, yLabel: { fmt($0) })

        let positions = try data.positions()
        out += "<h2>Open positions (\(positions.count))</h2>"
        if positions.isEmpty {
            out += "<p class=\"empty\">No open positions.</p>"
        } else {
            out += "<table><tr><th>symbol</th><th>side</th><th>quantity</th><th>entry</th><th>mark</th><th>stop</th><th>take profit</th><th>unrealised P&amp;L</th></tr>"
            for p in positions {
                out += "<tr><td>\(h(p.symbol))</td><td>\(p.side.rawValue)</td><td class=\"num\">\(qty(p.quantity))</td><td class=\"num\">\(fmt(p.entryPrice))</td>"
                out += "<td class=\"num\">\(p.markPrice.map(fmt) ?? "–")</td><td class=\"num\">\(fmt(p.stopPrice))</td>"
                out += "<td>\(p.takeProfitPrices.map(fmt).joined(separator: ", "))</td><td class=\"num\">\(p.unrealizedPnlUsd.map(fmt) ?? "–")</td></tr>"
            }
            out += "</table>"
        }
        out += "<h2>Kill switch</h2>"
        if s.killSwitch.on {
            out += "<p>On. Turn it off from a shell: <code>agent kill off</code> (the dashboard can only reduce risk).</p>"
        } else if tokenConfigured {
            out += "<form method=\"post\" action=\"/kill\"><label>Reason <input name=\"reason\" maxlength=\"200\"></label> <button type=\"submit\">Turn the kill switch ON</button></form>"
        } else {
            out += "<p class=\"empty\">Start <code>agent serve</code> with AGENT_SERVE_TOKEN set to turn the kill switch on from here.</p>"
        }
        return out
    }

    private func cycleList(_ r: SiteRequest) throws -> String {
        let status = r.query["status"].flatMap { CycleStatus(rawValue: $0.uppercased()) }
        let before = r.query["before"].flatMap { Int64($0) }
        let page = try data.cycles(status: status, limit: limit(r, default: 50), before: before)
        var out = "<form method=\"get\" action=\"/cycles\"><label>Status <select name=\"status\"><option value=\"\">any</option>"
        for s in CycleStatus.allCases {
            out += "<option value=\"\(s.rawValue)\"\(s == status ? " selected" : "")>\(s.rawValue)</option>"
        }
        out += "</select></label> <button type=\"submit\">Filter</button></form>"
        out += "<table><tr><th>cycle</th><th>time</th><th>mode</th><th>status</th><th>proposals</th><th>approved</th><th>violated checks</th><th>reason</th><th>AI $</th></tr>"
        for c in page.cycles {
            out += "<tr><td><a href=\"/cycles/\(h(c.cycleId))\">\(h(c.cycleId))</a></td><td>\(h(c.timestamp))</td><td>\(c.mode.rawValue)</td>"
            out += "<td>\(c.status.rawValue)</td><td class=\"num\">\(c.proposalsGenerated)</td><td class=\"num\">\(c.proposalsApproved)</td>"
            out += "<td>\(h(c.violatedChecks.joined(separator: ", ")))</td><td>\(h(c.noTradeReason ?? c.error ?? ""))</td><td class=\"num\">\(fmt(c.review.costUsd))</td></tr>"
        }
        out += "</table>"
        if page.cycles.isEmpty { out += "<p class=\"empty\">No cycles\(status.map { " with status \($0.rawValue)" } ?? "").</p>" }
        if let next = page.nextBefore {
            out += "<p><a href=\"/cycles?before=\(next)\(status.map { "&status=\($0.rawValue)" } ?? "")\">Older cycles →</a></p>"
        }
        return out
    }

    private func auditPage(_ r: SiteRequest) throws -> String {
        let since = (DashboardData.cutoff(r.query["since"] ?? "7d") ?? nil) ?? nil
        let report = try data.audit(since: since)
        let overTime = try data.violationsOverTime(since: since)
        var out = "<p>\(h(report.since.map { "Since \($0)" } ?? "The whole ledger")): \(report.cycles) cycles, "
        out += "\(report.proposalsEvaluated) proposals evaluated, \(report.proposalsApproved) approved, \(report.proposalsRejected) rejected. "
        out += "<a href=\"/audit?since=24h\">24h</a> · <a href=\"/audit?since=7d\">7d</a> · <a href=\"/audit?since=30d\">30d</a></p>"
        out += SVGChart.line(title: "Violated policy checks per hour",
                             series: [ChartSeries(label: "violations", points: overTime.map { ChartPoint(x: Double($0.time), y: Double($0.count)) },
                                                  color: "#c62828", area: true)],
                             yRange: 0...Double(max(overTime.map(\.count).max() ?? 1, 1)),
                             xLabel: { UTC.iso8601(Int64($0)) }, yLabel: { String(Int($0.rounded())) })
        out += SVGChart.bars(title: "Violations by check", bars: report.violatedChecks.map { ChartBar(label: $0.check, value: Double($0.violations), color: "#c62828") },
                             valueLabel: { String(Int($0)) })
        out += SVGChart.bars(title: "Vetoes by reviewer", bars: report.reviewerVetoes.map { ChartBar(label: $0.reviewer.rawValue, value: Double($0.vetoes), color: "#6a1b9a") },
                             valueLabel: { String(Int($0)) })
        for v in report.reviewerVetoes {
            for reason in v.recentReasons { out += "<p>\(v.reviewer.rawValue) veto: <span class=\"reason\">\(h(reason))</span></p>" }
        }
        out += "<h2>AI spend</h2><p>\(report.aiCalls) calls, \(report.aiCacheHits) cache hits, \(report.aiInputTokens) input + \(report.aiOutputTokens) output tokens, $\(String(format: "%.4f", report.aiCostUsd))</p>"
        if !report.circuitBreakers.isEmpty {
            out += "<h2>Circuit breakers</h2><table><tr><th>breaker</th><th>trips</th><th>latest</th></tr>"
            for b in report.circuitBreakers { out += "<tr><td>\(h(b.breaker))</td><td class=\"num\">\(b.trips)</td><td>\(h(b.latest))</td></tr>" }
            out += "</table>"
        }
        out += "<h2>Text audit</h2><pre>\(h(Auditor.text(report, check: nil)))</pre>"
        return out
    }

    private func tradesPage() throws -> String {
        let trades = try data.trades(limit: 200)
        if trades.isEmpty { return "<p class=\"empty\">No fills yet (DRY_RUN places no orders; PAPER and LIVE fills appear here).</p>" }
        var out = "<table><tr><th>time</th><th>cycle</th><th>symbol</th><th>side</th><th>quantity</th><th>price</th><th>reason</th><th>fee</th></tr>"
        for t in trades {
            out += "<tr><td>\(h(t.time))</td><td><a href=\"/cycles/\(h(t.cycleId))\">\(h(t.cycleId))</a></td><td>\(h(t.symbol))</td><td>\(h(t.side))</td>"
            out += "<td class=\"num\">\(qty(t.quantity))</td><td class=\"num\">\(fmt(t.price))</td><td>\(h(t.reason))</td><td class=\"num\">\(t.feeUsd.map(fmt) ?? "–")</td></tr>"
        }
        return out + "</table>"
    }
}

/// Recent answers by request, valid while their stamp (ledger seq, kill switch, minute) is current.
final class ResponseCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (stamp: String, response: SiteResponse)] = [:]

    func get(_ key: String, stamp: String) -> SiteResponse? {
        lock.withLock {
            guard let entry = entries[key], entry.stamp == stamp else { return nil }
            return entry.response
        }
    }

    func put(_ key: String, stamp: String, _ response: SiteResponse) {
        lock.withLock {
            if entries.count >= 256 { entries = entries.filter { $0.value.stamp == stamp } }
            if entries.count >= 256 { entries.removeAll() }
            entries[key] = (stamp, response)
        }
    }
}
