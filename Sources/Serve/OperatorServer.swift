// The operator web server: security (loopback default, token, session cookie, CSP), routing of the fixed
// routes, and a site that answers everything else from the ledger. It never writes; the site may perform
// its one write action (the kill switch, on) only for an authenticated request.

import Charts
import Foundation
import Hummingbird

/// How `agent serve` listens and who may read it.
public struct ServeSettings: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// `AGENT_SERVE_TOKEN`: when set, every route but `/healthz` needs it (bearer or session cookie).
    public var token: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Hosts that only this machine can reach.
    public static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }

    /// Refuses a non-loopback host without a token (the caller exits 2 on this).
    public func validate() throws(ServeError) {
        if !Self.isLoopback(host) && (token ?? "").isEmpty {
            throw ServeError("--host \(host) is reachable from other machines: set AGENT_SERVE_TOKEN to require a token, or serve on 127.0.0.1")
        }
        if !(0...65_535).contains(port) { throw ServeError("--port \(port): expected 0...65535") }
    }
}

public struct ServeError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A request as the site sees it.
public struct SiteRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }
    public var method: Method
    public var path: String
    public var query: [String: String]
    /// The decoded `application/x-www-form-urlencoded` body of a POST.
    public var form: [String: String]
    /// True when a token is configured and this request presented it: only then may the site write.
    public var authenticated: Bool

    public init(method: Method, path: String, query: [String: String] = [:], form: [String: String] = [:],
                authenticated: Bool = false) {
        self.method = method
        self.path = path
        self.query = query
        self.form = form
        self.authenticated = authenticated
    }
}

/// A response from the site.
public struct SiteResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data
    public var location: String?
    /// A `Set-Cookie` value (the login form's session).
    var setCookie: String?

    public init(status: Int = 200, contentType: String, body: Data, location: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.location = location
    }

    public static func html(_ text: String, status: Int = 200) -> SiteResponse {
        SiteResponse(status: status, contentType: "text/html; charset=utf-8", body: Data(text.utf8))
    }

    public static func json(_ data: Data, status: Int = 200) -> SiteResponse {
        SiteResponse(status: status, contentType: "application/json", body: data)
    }

    public static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> SiteResponse {
        SiteResponse(status: status, contentType: contentType, body: Data(text.utf8))
    }

    public static func redirect(_ location: String) -> SiteResponse {
        SiteResponse(status: 303, contentType: "text/plain; charset=utf-8", body: Data(), location: location)
    }

    /// A JSON error body `{"error": "..."}`.
    public static func error(_ status: Int, _ message: String) -> SiteResponse {
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data()
        return .json(body, status: status)
    }
}

/// What the server asks of the ledger side.
public protocol OperatorSite: Sendable {
    /// Pages, `/api/...` and the POST routes in `writePaths`.
    func respond(to request: SiteRequest) async -> SiteResponse
    /// The Prometheus text exposition for `/metrics`.
    func metricsText() async -> String
    /// The only paths that accept POST.
    var writePaths: Set<String> { get }
}

/// The HTTP front: fixed routes, authentication and headers; the site answers the rest.
public struct OperatorFront: Sendable {
    public static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    static let sessionCookie = "agent_session"

    let settings: ServeSettings
    let site: any OperatorSite
    let sessions = SessionStore()

    public init(settings: ServeSettings, site: any OperatorSite) {
        self.settings = settings
        self.site = site
    }

    /// One request in, one response out (the Hummingbird responder calls this; tests may call it directly).
    public func handle(method: String, path rawPath: String, query: [String: String], headers: [String: String],
                       body: Data) async -> SiteResponse {
        let path = rawPath.isEmpty ? "/" : rawPath
        guard let verb = SiteRequest.Method(rawValue: method == "HEAD" ? "GET" : method) else {
            return .error(405, "\(method) is not allowed: this server is read-only")
        }
        if path == "/healthz" { return .json(Data(#"{"status":"ok"}"#.utf8)) }
        if path == "/assets/style.css" { return .text(Page.stylesheet, contentType: "text/css; charset=utf-8") }
        let form = verb == .post ? Self.decodeForm(body) : [:]
        if path == "/login" {
            if verb == .get { return .html(Page.login(failed: false)) }
            guard let token = settings.token, !token.isEmpty else { return .redirect("/") }
            guard Self.sameOrigin(headers) else { return .error(403, "cross-origin form post refused") }
            guard Self.constantTimeEqual(form["token"] ?? "", token) else { return .html(Page.login(failed: true), status: 401) }
            return SiteResponse.redirect("/").withCookie("\(Self.sessionCookie)=\(await sessions.open()); Path=/; HttpOnly; SameSite=Strict")
        }
        let authenticated = await isAuthenticated(headers)
        if settings.token != nil && !authenticated {
            if path.hasPrefix("/api/") || path == "/metrics" || verb == .post {
                return .error(401, "this server needs a token: Authorization: Bearer <AGENT_SERVE_TOKEN>, or log in at /login")
            }
            return .redirect("/login")
        }
        if verb == .post {
            guard site.writePaths.contains(path) else { return .error(405, "POST \(path) is not allowed: this server is read-only") }
            guard Self.sameOrigin(headers) else { return .error(403, "cross-origin form post refused") }
        }
        if path == "/metrics" {
            return .text(await site.metricsText(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        return await site.respond(to: SiteRequest(method: verb, path: path, query: query, form: form, authenticated: authenticated))
    }

    private func isAuthenticated(_ headers: [String: String]) async -> Bool {
        guard let token = settings.token, !token.isEmpty else { return false }
        if let auth = headers["authorization"], auth.hasPrefix("Bearer ") {
            return Self.constantTimeEqual(String(auth.dropFirst(7)), token)
        }
        for part in (headers["cookie"] ?? "").split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2, pair[0] == Self.sessionCookie, await sessions.contains(pair[1]) { return true }
        }
        return false
    }

    /// A browser form post must come from this server's own pages (no Origin header: not a browser form).
    static func sameOrigin(_ headers: [String: String]) -> Bool {
        guard let origin = headers["origin"], origin != "null" else { return headers["origin"] == nil }
        guard let host = headers["host"] else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }

    static func decodeForm(_ body: Data) -> [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if let key = kv.first { out[key] = kv.count > 1 ? kv[1] : "" }
        }
        return out
    }

    /// Headers every response carries.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", contentSecurityPolicy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]
}

/// Session ids issued by the login form, kept in memory (a restart logs everyone out).
actor SessionStore {
    private var ids: Set<String> = []

    func open() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let id = bytes.map { String(format: "%02x", $0) }.joined()
        if ids.count > 10_000 { ids.removeAll() }
        ids.insert(id)
        return id
    }

    func contains(_ id: String) -> Bool { ids.contains(id) }
}

extension SiteResponse {
    func withCookie(_ cookie: String) -> SiteResponse {
        var copy = self
        copy.setCookie = cookie
        return copy
    }
}
