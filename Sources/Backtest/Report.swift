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

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "–" }
    static func num(_ v: Double?, _ places: Int = 2) -> String { v.map { String(format: "%.\(places)f", $0) } ?? "–" }

    /// An inline SVG line chart of `values` over `times` (filled below when `area`).
    static func svg(times: [Int64], values: [Double], color: String, area: Bool, invert: Bool, title: String) -> String {
        let width = 900.0, height = 220.0, pad = 40.0
        guard let t0 = times.first, let t1 = times.last, values.count == times.count, values.count > 1 else {
            return "<p>\(escape(title)): not enough points to draw.</p>"
        }
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if invert { lo = 0 }
        if hi - lo < 1e-12 { hi = lo + 1 }
        let span = Double(max(t1 - t0, 1))
        func x(_ t: Int64) -> Double { pad + Double(t - t0) / span * (width - 2 * pad) }
        func y(_ v: Double) -> Double {
            let f = (v - lo) / (hi - lo)
            return invert ? pad / 2 + f * (height - pad) : height - pad / 2 - f * (height - pad)
        }
        var path = ""
        for (i, (t, v)) in zip(times, values).enumerated() {
            path += String(format: "%@%.1f,%.1f ", i == 0 ? "M" : "L", x(t), y(v))
        }
        let base = invert ? y(0) : height - pad / 2
        let fill = area ? String(format: "<path d=\"%@L%.1f,%.1f L%.1f,%.1f Z\" fill=\"%@\" fill-opacity=\"0.25\" stroke=\"none\"/>",
                                 path, x(t1), base, x(t0), base, color) : ""
        let top = invert ? pct(-lo) : num(hi)
        let bottom = invert ? pct(-hi) : num(lo)
        return """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="100%" role="img" aria-label="\(escape(title))">
        <text x="\(pad)" y="14" font-size="12">\(escape(title))</text>
        <text x="2" y="\(Int(pad / 2 + 10))" font-size="10">\(invert ? "0%" : top)</text>
        <text x="2" y="\(Int(height - pad / 2))" font-size="10">\(bottom)</text>
        <text x="\(pad)" y="\(Int(height - 4))" font-size="10">\(BacktestCalendar.iso(t0).prefix(10))</text>
        <text x="\(Int(width - pad - 60))" y="\(Int(height - 4))" font-size="10">\(BacktestCalendar.iso(t1).prefix(10))</text>
        <line x1="\(pad)" y1="\(Int(height - pad / 2))" x2="\(width - pad)" y2="\(Int(height - pad / 2))" stroke="#999"/>
        \(fill)<path d="\(path)" fill="none" stroke="\(color)" stroke-width="1.2"/>
        </svg>
        """
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
        let curve = r.run.equityCurve
        let times = curve.map(\.time)
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
        <h2>Metrics</h2>
        <table>\(metricsRows(runs))</table>
        <p>Per-bar simple returns; Sharpe and Sortino annualised with √(bars per year), risk-free 0; CAGR over 365-day years.</p>
        <h2>Equity</h2>
        \(svg(times: times, values: curve.map(\.equity), color: "#1565c0", area: false, invert: false, title: "Equity (\(r.run.label))"))
        <h2>Drawdown</h2>
        \(svg(times: times, values: curve.map { -$0.drawdown }, color: "#c62828", area: true, invert: true, title: "Drawdown from the running peak"))
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
