import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// Runs the operator front on Hummingbird until the surrounding task is cancelled (or SIGINT/SIGTERM when
/// `handleSignals`). The server yields to trading: its event loop and the thread that answers requests
/// (``ServeExecutor``) run at a lower CPU priority, so a busy client only gets the CPU the cycles leave, whether the
/// server runs beside the loop or inside it (`--serve`).
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
            try await withTaskExecutorPreference(ServeExecutor.shared) { try await Self.answer(request, front: front) }
        }
        var logger = Logger(label: "agent.serve")
        // The server's own failures reach the caller as errors from `run`; what Hummingbird logs below that is
        // connection noise (a client gone, the task cancelled at the loop's end).
        logger.logLevel = .critical
        let group = ServePriority.eventLoopGroup()
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: settings.port), serverName: "agent"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") ? "[\(host)]" : host
                await onListening("http://\(shown):\(port)")
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
        do {
            // The connections' tasks are children of this one and inherit the preference: all of the server's Swift
            // code runs on the serve thread, none on the cooperative pool the cycles use (`--serve`).
            try await withTaskExecutorPreference(ServeExecutor.shared) {
                if handleSignals {
                    try await app.runService()
                } else {
                    try await app.run()
                }
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
    }

    private static func answer(_ request: Request, front: OperatorFront) async throws -> Response {
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
