import Charts
import Foundation
import Model

/// Writes the trade list as CSV and the self-contained HTML report.
public enum ReportWriter {
    /// The trade list's columns, shared by `agent backtest --trades` and `agent trades --csv`.
    public static let tradeColumns = "entry_time,exit_time,symbol,side,entry_price,exit_price,size,fees,pnl,exit_reason"

    /// `tradeColumns` rows (times ISO 8601 UTC; side of the entry).
    public static func tradesCSV(_ trades: [BacktestTrade]) -> String {
        var out = tradeColumns + "\n"
        for t in trades {
            out += "\(BacktestCalendar.iso(t.entryTime)),\(BacktestCalendar.iso(t.exitTime)),\(t.symbol),\(t.side.rawValue),"
            out += "\(t.entryPrice),\(t.exitPrice),\(t.size),\(t.fees),\(t.pnl),\(t.exitReason)\n"
        }
        return out
    }

    /// Writes `index.html` (and `trades.csv`, `report.json`) into `directory`; returns the HTML path.
    public static func write(_ report: BacktestReport, to directory: String) throws(BacktestError) -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let html = (directory as NSString).appendingPathComponent("index.html")
            try Data(self.html(report).utf8).write(to: URL(fileURLWithPath: html))
            try Data(tradesCSV(report.run.trades).utf8)
                .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("trades.csv")))
            try JSONCoding.encoder(pretty: true).encode(report)
                .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("report.json")))
            return html
        } catch let e as BacktestError {
            throw e
        } catch {
            throw BacktestError(source: directory, message: "cannot write the report: \(FileErrorText.cause(error))")
        }
    }

    static func escape(_ s: String) -> String { HTMLText.escape(s) }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "–" }
    static func num(_ v: Double?, _ places: Int = 2) -> String { v.map { String(format: "%.\(places)f", $0) } ?? "–" }
    static func day(_ t: Double) -> String { String(BacktestCalendar.iso(Int64(t)).prefix(10)) }

    /// Equity with every benchmark beside it (the rules-only shadow, the `ema_cross` reference, buy and hold).
    static func equityChart(_ r: BacktestReport) -> String {
        func line(_ run: BacktestRun, _ color: String, dashed: Bool = false) -> ChartSeries {
            ChartSeries(label: run.label, points: run.equityCurve.map { ChartPoint(x: Double($0.time), y: $0.equity) },
                        color: color, dashed: dashed)
        }
        var series = [line(r.run, "#1565c0")]
        if let run = r.rulesOnly { series.append(line(run, "#2e7d32")) }
        if let run = r.reference { series.append(line(run, "#ef6c00")) }
        if let run = r.buyAndHold { series.append(line(run, "#757575", dashed: true)) }
        return SVGChart.line(title: "Equity", series: series, xLabel: day, yLabel: { num($0) })
    }

    /// The strategy and its benchmarks side by side: headline figures and the excess over buy and hold.
    static func benchmarkTable(_ r: BacktestReport) -> String {
        guard let lines = r.benchmarks, !lines.isEmpty else { return "<p class=\"empty\">No benchmarks in this report.</p>" }
        var out = "<table><tr><th>run</th><th>role</th><th>return</th><th>CAGR</th><th>Sharpe</th><th>Sortino</th>"
            + "<th>max drawdown</th><th>exposure</th><th>trades</th><th>excess return</th><th>excess CAGR</th></tr>\n"
        for l in lines {
            out += "<tr><td>\(escape(l.label))</td><td>\(l.role.rawValue)</td><td>\(pct(l.totalReturn))</td><td>\(pct(l.cagr))</td>"
            out += "<td>\(num(l.sharpe))</td><td>\(num(l.sortino))</td><td>\(pct(l.maxDrawdown))</td><td>\(pct(l.exposure))</td>"
            out += "<td>\(l.trades)</td><td class=\"\((l.excessReturn ?? 0) >= 0 ? "win" : "loss")\">\(pct(l.excessReturn))</td>"
            out += "<td class=\"\((l.excessCagr ?? 0) >= 0 ? "win" : "loss")\">\(pct(l.excessCagr))</td></tr>\n"
        }
        return out + "</table>"
    }

    /// The permutation test and the look-ahead check, when they ran.
    static func verdicts(_ r: BacktestReport) -> String {
        var out = ""
        if let p = r.permutation {
            let quantiles = p.permutedQuantiles.map { num($0) }.joined(separator: " / ")
            out += "<h2>Permutation test</h2><p>\(escape(p.metric)) \(num(p.actual)) on the real data; \(p.atLeastAsGood) of "
            out += "\(p.permutations) block-shuffled copies (\(p.blockBars)-bar blocks, seed \(p.seed)) did at least as well: "
            out += "<strong>p = \(String(format: "%.4f", p.pValue))</strong>"
            if !quantiles.isEmpty { out += "; shuffled 5% / 50% / 95%: " + quantiles }
            out += ".</p>\n"
        }
        if let l = r.lookahead {
            out += "<h2>Look-ahead check</h2><p>\(l.identical ? "Identical" : "<strong class=\"loss\">Different</strong>"): "
                + "\(l.decisionsCompared) decisions compared at cuts \(escape(l.cuts.joined(separator: ", "))).</p>\n"
            if !l.differences.isEmpty { out += "<ul>" + l.differences.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n" }
        }
        return out
    }

    /// Drawdown in percent, on an axis from its own worst point to 0.
    static func drawdownChart(_ r: BacktestReport) -> String {
        let points = r.run.equityCurve.map { ChartPoint(x: Double($0.time), y: -$0.drawdown * 100) }
        let worst = min(points.map(\.y).min() ?? 0, -0.01)
        return SVGChart.line(title: "Drawdown from the running peak",
                             series: [ChartSeries(label: "drawdown", points: points, color: "#c62828", area: true)],
                             yRange: worst...0, xLabel: day, yLabel: { String(format: "%.1f%%", $0) })
    }

    /// One price chart per symbol (up to four) with entry (triangle up) and exit (triangle down) markers.
    static func priceCharts(_ r: BacktestReport) -> String {
        guard let lines = r.prices, let t0 = r.run.equityCurve.first?.time, let t1 = r.run.equityCurve.last?.time else {
            return "<p class=\"empty\">No price data in this report.</p>"
        }
        return lines.prefix(4).map { line in
            let points = zip(line.times, line.closes).filter { $0.0 >= t0 && $0.0 <= t1 }.map { ChartPoint(x: Double($0.0), y: $0.1) }
            var markers: [ChartMarker] = []
            for t in r.run.trades where t.symbol == line.symbol {
                let long = t.side == .buy
                markers.append(ChartMarker(point: ChartPoint(x: Double(t.entryTime), y: t.entryPrice), shape: .up,
                                           color: long ? "#2e7d32" : "#6a1b9a",
                                           note: "\(long ? "long" : "short") entry \(BacktestCalendar.iso(t.entryTime)) @ \(num(t.entryPrice, 4))"))
                markers.append(ChartMarker(point: ChartPoint(x: Double(t.exitTime), y: t.exitPrice), shape: .down,
                                           color: t.pnl >= 0 ? "#1565c0" : "#c62828",
                                           note: "exit \(BacktestCalendar.iso(t.exitTime)) @ \(num(t.exitPrice, 4)), pnl \(num(t.pnl, 2))"))
                if markers.count >= 1_000 { break }
            }
            return SVGChart.line(title: "\(line.symbol) close, entries ▲ and exits ▼",
                                 series: [ChartSeries(label: line.symbol, points: points, color: "#37474f")], markers: markers,
                                 height: 260, xLabel: day, yLabel: { num($0) })
        }.joined(separator: "\n")
    }

    /// Month-by-month returns of the equity curve (month-end over the previous month-end), one row per year.
    static func monthlyReturns(_ r: BacktestReport) -> String {
        let curve = r.run.equityCurve
        guard !curve.isEmpty else { return "<p class=\"empty\">No equity curve.</p>" }
        var monthEnd: [(year: Int, month: Int, equity: Double)] = []
        for p in curve {
            let iso = BacktestCalendar.iso(p.time)
            let year = Int(iso.prefix(4)) ?? 0, month = Int(iso.dropFirst(5).prefix(2)) ?? 0
            if let last = monthEnd.last, last.year == year, last.month == month {
                monthEnd[monthEnd.count - 1].equity = p.equity
            } else {
                monthEnd.append((year, month, p.equity))
            }
        }
        var returns: [Int: [Int: Double]] = [:]
        var yearly: [Int: (start: Double, end: Double)] = [:]
        var previous = r.run.metrics.initialEquity
        for m in monthEnd {
            if previous > 0 { returns[m.year, default: [:]][m.month] = m.equity / previous - 1 }
            yearly[m.year] = (yearly[m.year]?.start ?? previous, m.equity)
            previous = m.equity
        }
        let names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var out = "<table><tr><th>year</th>" + names.map { "<th>\($0)</th>" }.joined() + "<th>year</th></tr>\n"
        for year in returns.keys.sorted() {
            out += "<tr><td>\(year)</td>"
            for month in 1...12 {
                if let v = returns[year]?[month] {
                    out += "<td class=\"\(v >= 0 ? "win" : "loss")\">\(pct(v))</td>"
                } else {
                    out += "<td></td>"
                }
            }
            let y = yearly[year].map { $0.start > 0 ? $0.end / $0.start - 1 : 0 }
            out += "<td class=\"\((y ?? 0) >= 0 ? "win" : "loss")\">\(pct(y))</td></tr>\n"
        }
        return out + "</table>"
    }

    static func metricsRows(_ runs: [BacktestRun]) -> String {
        let rows: [(String, (BacktestMetrics) -> String)] = [
            ("Initial equity", { num($0.initialEquity) }), ("Final equity", { num($0.finalEquity) }),
            ("Total return", { pct($0.totalReturn) }), ("CAGR", { pct($0.cagr) }),
            ("Max drawdown", { pct($0.maxDrawdown) }), ("Sharpe", { num($0.sharpe) }), ("Sortino", { num($0.sortino) }),
            ("Win rate", { pct($0.winRate) }), ("Profit factor", { num($0.profitFactor) }),
            ("Average win", { num($0.averageWin) }), ("Average loss", { num($0.averageLoss) }),
            ("Exposure", { pct($0.exposure) }), ("Trades", { "\($0.trades)" }),
            ("Average holding (h)", { num($0.averageHoldingHours, 1) }), ("Fees paid", { num($0.feesPaid) }),
            ("Funding paid", { num($0.fundingPaid) }), ("Bars", { "\($0.bars)" }),
        ]
        var out = "<tr><th>metric</th>" + runs.map { "<th>\(escape($0.label))</th>" }.joined() + "</tr>\n"
        for (name, value) in rows {
            out += "<tr><td>\(name)</td>" + runs.map { "<td>\(value($0.metrics))</td>" }.joined() + "</tr>\n"
        }
        return out
    }

    /// The report as one HTML page with inline SVG charts and no external resources.
    public static func html(_ r: BacktestReport) -> String {
        let runs = [r.run] + (r.rulesOnly.map { [$0] } ?? [])
        var trades = ""
        for t in r.run.trades.prefix(5_000) {
            trades += "<tr><td>\(BacktestCalendar.iso(t.entryTime))</td><td>\(BacktestCalendar.iso(t.exitTime))</td>"
            trades += "<td>\(escape(t.symbol))</td><td>\(t.side.rawValue)</td><td>\(num(t.entryPrice, 4))</td>"
            trades += "<td>\(num(t.exitPrice, 4))</td><td>\(num(t.size, 6))</td><td>\(num(t.fees, 4))</td>"
            trades += "<td class=\"\(t.pnl >= 0 ? "win" : "loss")\">\(num(t.pnl, 4))</td></tr>\n"
        }
        let more = r.run.trades.count > 5_000 ? "<p>First 5,000 of \(r.run.trades.count) trades; all are in trades.csv.</p>" : ""
        let data = r.data.map { d in
            "<li>\(escape(d.symbol)) from \(escape(d.source)): \(d.candles) candles \(d.first ?? "") .. \(d.last ?? ""); "
                + "\(d.gaps) gaps (\(d.missingBars) missing bars), \(d.duplicateBars) duplicate bars"
                + (d.gapExamples.isEmpty ? "" : " — e.g. \(escape(d.gapExamples.joined(separator: ", ")))") + "</li>"
        }.joined(separator: "\n")
        let costs = r.costs.sorted { $0.key < $1.key }.map { "<li>\(escape($0.key)): \(escape($0.value))</li>" }.joined()
        let notes = r.notes.map { "<li>\(escape($0))</li>" }.joined()
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Backtest: \(escape(r.strategy)) \(escape(r.symbols.joined(separator: ", ")))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}
        table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th:first-child,td:first-child{text-align:left}.win{color:#070}.loss{color:#a00}
        </style></head><body>
        <h1>Backtest: \(escape(r.strategy))</h1>
        <p>\(escape(r.symbols.joined(separator: ", "))), \(escape(r.timeframe)) bars, \(escape(r.from)) .. \(escape(r.to))</p>
        <h2>Benchmarks</h2>
        \(benchmarkTable(r))
        <p>Buy and hold: equal weight, bought at the first decision time's close with one taker fee, marked to the end.</p>
        \(verdicts(r))
        <h2>Metrics</h2>
        <table>\(metricsRows(runs))</table>
        <p>Per-bar simple returns; Sharpe and Sortino annualised with √(bars per year), risk-free 0; CAGR over 365-day years.</p>
        <h2>Price</h2>
        \(priceCharts(r))
        <h2>Equity</h2>
        \(equityChart(r))
        <h2>Drawdown</h2>
        \(drawdownChart(r))
        <h2>Monthly returns</h2>
        \(monthlyReturns(r))
        <h2>Data</h2><ul>\(data)</ul>
        <h2>Costs</h2><ul>\(costs)</ul>
        \(notes.isEmpty ? "" : "<h2>Notes</h2><ul>\(notes)</ul>")
        <h2>Trades (\(r.run.trades.count))</h2>\(more)
        <table><tr><th>entry</th><th>exit</th><th>symbol</th><th>side</th><th>entry price</th><th>exit price</th><th>size</th><th>fees</th><th>pnl</th></tr>
        \(trades)</table>
        </body></html>
        """
    }
}

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise.
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let label: String
    private let tty: Bool
    private let enabled: Bool
    private var lastDraw = 0.0
    private var lastPercent = -1

    /// `enabled: false` prints nothing (e.g. `--quiet`).
    public init(label: String, enabled: Bool = true) {
        self.label = label
        self.enabled = enabled
        self.tty = isatty(2) != 0
    }

    /// Reports `done` of `total`.
    public func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date().timeIntervalSince1970
        let percent = Int(Double(done) / Double(total) * 100)
        if tty {
            guard percent != lastPercent || done == total else { return }
            lastPercent = percent
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)% (\(done)/\(total))\(done == total ? "\n" : "")".utf8))
        } else if now - lastDraw >= 5 || done == total {
            lastDraw = now
            FileHandle.standardError.write(Data("\(label): \(done)/\(total) bars (\(percent)%)\n".utf8))
        }
    }
}
