import Charts

/// The dashboard's page frame: navigation, a self-refresh (plain polling, no script), one stylesheet.
public enum Page {
    public enum Section: String, CaseIterable, Sendable {
        case overview = "/", cycles = "/cycles", audit = "/audit", trades = "/trades"

        var title: String {
            switch self {
            case .overview: "Overview"
            case .cycles: "Cycles"
            case .audit: "Audit"
            case .trades: "Trades"
            }
        }
    }

    /// A whole page. `body` is trusted markup built by the site (every ledger string in it already escaped).
    public static func render(title: String, section: Section?, body: String, refreshSeconds: Int? = 15) -> String {
        let nav = Section.allCases.map { s in
            "<a href=\"\(s.rawValue)\"\(s == section ? " class=\"here\"" : "")>\(s.title)</a>"
        }.joined(separator: " ")
        let refresh = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? ""
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">\(refresh)
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>agent · \(HTMLText.escape(title))</title>
        <link rel="stylesheet" href="/assets/style.css"></head>
        <body><header><strong>agent</strong> <nav>\(nav)</nav></header>
        <main><h1>\(HTMLText.escape(title))</h1>
        \(body)
        </main><footer>read-only view of the ledger · JSON at <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></footer>
        </body></html>
        """
    }

    static func login(failed: Bool) -> String {
        render(title: "Log in", section: nil, body: """
        \(failed ? "<p class=\"bad\">That token is not the one this server was started with.</p>" : "")
        <form method="post" action="/login"><label>Token (AGENT_SERVE_TOKEN) <input type="password" name="token" autocomplete="current-password"></label>
        <button type="submit">Log in</button></form>
        """, refreshSeconds: nil)
    }

    static let stylesheet = """
    body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
    header{background:#263238;color:#fff;padding:8px 16px}header a{color:#cfd8dc;margin-left:12px;text-decoration:none}
    header a.here{color:#fff;font-weight:bold}main{padding:8px 16px;max-width:1100px}footer{padding:8px 16px;color:#777;font-size:12px}
    table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
    th{background:#eceff1}.num{text-align:right}.good{color:#2e7d32}.bad{color:#c62828;font-weight:bold}.warn{color:#ef6c00}
    .cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #ddd;padding:8px 12px;min-width:150px}
    .card b{display:block;font-size:18px}pre{background:#fff;border:1px solid #ddd;padding:8px;white-space:pre-wrap;font-size:12px}
    .empty{color:#777}form.inline{display:inline}button{cursor:pointer}
    """
}
