import Foundation
import Hummingbird
import Logging

/// Runs the operator front on Hummingbird until the surrounding task is cancelled (or SIGINT/SIGTERM when
/// `handleSignals`).
public struct OperatorServer: Sendable {
    public let settings: ServeSettings
    public let front: OperatorFront
    /// POST bodies above this are refused (the only forms are the login and the kill switch).
    static let maxBody = 16 * 1024

    public init(settings: ServeSettings, site: any OperatorSite) {
        self.settings = settings
        self.front = OperatorFront(settings: settings, site: site)
    }

    /// `onListening` receives `http://HOST:PORT` once the socket is bound (the real port when `--port 0`).
    public func run(handleSignals: Bool, onListening: @escaping @Sendable (String) async -> Void) async throws {
        let front = self.front
        let host = settings.host
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            var request = request
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            var body = Data()
            if request.method == .post {
                let buffer = try await request.collectBody(upTo: Self.maxBody)
                body = Data(buffer.readableBytesView)
            }
            let answer = await front.handle(method: request.method.rawValue, path: request.uri.path, query: query,
                                            headers: headers, body: body)
            return Self.response(answer)
        }
        var logger = Logger(label: "agent.serve")
        logger.logLevel = .warning
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: settings.port), serverName: "agent"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") ? "[\(host)]" : host
                await onListening("http://\(shown):\(port)")
            },
            logger: logger)
        if handleSignals {
            try await app.runService()
        } else {
            try await app.run()
        }
    }

    /// The headers a response is sent with (lowercased names), for tests.
    public static func responseHeaders(_ answer: SiteResponse) -> [String: String] {
        var out: [String: String] = [:]
        for field in response(answer).headers { out[field.name.canonicalName] = field.value }
        return out
    }

    static func response(_ answer: SiteResponse) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = answer.contentType
        for (name, value) in OperatorFront.securityHeaders {
            if let field = HTTPFields.Element.Name(name) { fields[field] = value }
        }
        if let location = answer.location { fields[.location] = location }
        if let cookie = answer.setCookie { fields[.setCookie] = cookie }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
