import Foundation
import Logging
import Venues
import Model
import Streams
import Testing
import TestSupport

/// Collects what a stream reports.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var eventList: [StreamEvent] = []
    private var statusList: [StreamStatus] = []

    var events: [StreamEvent] { lock.withLock { eventList } }
    var statuses: [StreamStatus] { lock.withLock { statusList } }
    var sink: StreamSink { { e in self.lock.withLock { self.eventList.append(e) } } }
    var status: @Sendable (StreamStatus) async -> Void { { s in self.lock.withLock { self.statusList.append(s) } } }

    var connects: Int { statuses.filter { if case .connected = $0 { true } else { false } }.count }
    var stalls: Int { statuses.filter { if case .stalled = $0 { true } else { false } }.count }
}

/// A listenKey source that hands out key-1, key-2, ... and counts keepalives.
final class CountingKeys: ListenKeySource, @unchecked Sendable {
    private let lock = NSLock()
    private var created = 0
    private var kept = 0
    var creates: Int { lock.withLock { created } }
    var keepAlives: Int { lock.withLock { kept } }
    func createListenKey() async throws -> String { lock.withLock { created += 1; return "key-\(created)" } }
    func keepAliveListenKey() async throws { lock.withLock { kept += 1 } }
}

let fast = StreamSettings(pingInterval: .seconds(5), stallTimeout: .seconds(60),
                          backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)), closeTimeout: .milliseconds(200))

func quiet() -> Logger {
    var l = Logger(label: "streams-test")
    l.logLevel = .critical
    return l
}

@Suite("Stream connections against loopback venues")
struct StreamConnectionTests {
    @Test func aDroppedConnectionReconnectsAndSubscribesAgain() async throws {
        let server = FakeStreamServer(replies: { _, m in StreamMessages.binanceSubscribed(m) })
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        let stream = BinanceMarketStream.market(baseURL: base, symbols: ["BTC-USD"], interval: .oneHour,
                                                names: BinanceStreamNames(quote: "USDT"), sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: fast, logger: quiet()).run(status: got.status) }
        defer { task.cancel() }

        try #require(await server.waitUntil { server.messages.count == 1 })
        #expect(server.connections.first?.path == "/market/ws")
        #expect(server.messages[0].contains("btcusdt@markPrice@1s") && server.messages[0].contains("btcusdt@kline_1h"))
        server.push(StreamMessages.binanceMark("BTCUSDT", price: 50_000, timeMs: 1_000))
        #expect(await server.waitUntil { got.events.contains(.mark(symbol: "BTC-USD", price: 50_000, timeMs: 1_000)) })

        server.dropAll()
        try #require(await server.waitUntil { server.connections.count >= 2 && server.messages.count >= 2 })
        #expect(server.messages(connection: server.connections[1].id).first?.contains("SUBSCRIBE") == true)
        #expect(got.statuses.contains { if case .disconnected = $0 { true } else { false } })
        server.push(StreamMessages.binanceMark("BTCUSDT", price: 50_100, timeMs: 2_000))
        #expect(await server.waitUntil { got.events.contains(.mark(symbol: "BTC-USD", price: 50_100, timeMs: 2_000)) })
    }

    /// The kline stream is the cycle's bar interval (`<symbol>@kline_<tf>`), not a fixed hour.
    @Test(arguments: [(900, "15m"), (3_600, "1h"), (14_400, "4h"), (86_400, "1d")])
    func klinesFollowTheBarInterval(seconds: Int64, name: String) async throws {
        let interval = try #require(BarInterval(seconds: seconds))
        let stream = BinanceMarketStream.market(baseURL: "ws://127.0.0.1:1", symbols: ["BTC-USD", "ETH-USD"], interval: interval,
                                                names: BinanceStreamNames(quote: "USDT"), sink: { _ in })
        let message = try #require(try await stream.subscribeMessages().first)
        let params = try #require(try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any])["params"] as? [String]
        #expect(params == ["btcusdt@markPrice@1s", "btcusdt@kline_\(name)", "ethusdt@markPrice@1s", "ethusdt@kline_\(name)"])
    }

    /// The venue's pings are answered: a server pinging every 100 ms gets pongs back (counted on the wire; the
    /// wait is generous because a loaded machine only delays the answers).
    @Test func theVenuesPingsAreAnswered() async throws {
        let server = RawStreamServer(every: .milliseconds(50), pings: .milliseconds(100))
        let (got, task) = try openMarket(server.start(), settings: fast)
        defer { server.stop(); task.cancel() }
        #expect(await Self.until { server.pongs >= 3 }, "pongs: \(server.pongs)")
        #expect(got.statuses.contains { if case .connected = $0 { true } else { false } })
    }

    /// A venue that keeps sending data but no longer answers our pings: the missing pong closes the connection (the
    /// stall watch would not fire, data still flows) and the stream reconnects.
    @Test func aMissingPongReconnects() async throws {
        let server = RawStreamServer(every: .milliseconds(50))
        let settings = StreamSettings(pingInterval: .milliseconds(200), stallTimeout: .seconds(60),
                                      backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)), closeTimeout: .milliseconds(200))
        let (got, task) = try openMarket(server.start(), settings: settings)
        defer { server.stop(); task.cancel() }
        #expect(await Self.until { server.connections >= 2 }, "no reconnect after the missing pong")
        #expect(server.pings >= 1)
        let reasons = got.statuses.compactMap { if case .disconnected(_, let reason, _) = $0 { reason } else { nil } }
        #expect(reasons.first?.contains("no pong") == true, "\(reasons)")
        #expect(!got.statuses.contains { if case .stalled = $0 { true } else { false } })
    }

    /// A Binance market stream for BTC-USD at `base`, running until the task is cancelled.
    func openMarket(_ base: String, settings: StreamSettings) -> (Collected, Task<Void, Never>) {
        let got = Collected()
        let stream = BinanceMarketStream.market(baseURL: base, symbols: ["BTC-USD"], interval: .oneHour,
                                                names: BinanceStreamNames(quote: "USDT"), sink: got.sink)
        return (got, Task { await StreamConnection(subscription: stream, settings: settings, logger: quiet()).run(status: got.status) })
    }

    /// Waits up to 60 s for `condition`.
    static func until(_ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while !condition(), Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return condition()
    }

    @Test func aSilentConnectionIsStalledAndReopened() async throws {
        let server = FakeStreamServer(onOpen: { _ in [StreamMessages.coinbaseHeartbeat(sequence: 1, counter: 1)] })
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        var settings = fast
        settings.stallTimeout = .milliseconds(800)
        let stream = CoinbaseStream(baseURL: base, products: ["BTC-USD"], jwt: nil, sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: settings, logger: quiet()).run(status: got.status) }
        defer { task.cancel() }
        // The server sends one heartbeat and then nothing: the missing heartbeats are a stall.
        #expect(await server.waitUntil {
            got.stalls >= 1 && server.connections.count >= 2 && got.events.contains { if case .heartbeat = $0 { true } else { false } }
        })
    }

    @Test func aSequenceGapResyncsAndResubscribes() async throws {
        let server = FakeStreamServer()
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        let stream = CoinbaseStream(baseURL: base, products: ["BTC-USD"], jwt: { "test-jwt" }, sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: fast, logger: quiet()).run(status: got.status) }
        defer { task.cancel() }
        // One subscribe per channel, each signed.
        #expect(await server.waitUntil { server.messages.count == 4 })
        #expect(server.messages.allSatisfy { $0.contains(#""jwt":"test-jwt""#) })
        #expect(server.messages.contains { $0.contains(#""channel":"user""#) })
        server.push(StreamMessages.coinbaseTicker("BTC-USD", price: 100, sequence: 1))
        server.push(StreamMessages.coinbaseTicker("BTC-USD", price: 101, sequence: 2))
        server.push(StreamMessages.coinbaseTicker("BTC-USD", price: 102, sequence: 5))
        #expect(await server.waitUntil { got.events.contains { if case .resync = $0 { true } else { false } } })
        // Subscribed again on the same connection (4 subscribe messages, then 4 more).
        let firstConnection = try #require(server.connections.first)
        #expect(await server.waitUntil { server.messages(connection: firstConnection.id).count == 8 })
        // The gapped message itself is not trusted; prices before it are delivered.
        #expect(got.events.contains(.trade(symbol: "BTC-USD", price: 101, timeMs: 1_796_083_202_000)))
        #expect(!got.events.contains { if case .trade(_, 102, _) = $0 { true } else { false } })
    }

    @Test func anExpiredListenKeyIsRenewed() async throws {
        let server = FakeStreamServer()
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        let keys = CountingKeys()
        let stream = BinanceUserStream(baseURL: base, keys: keys, names: BinanceStreamNames(quote: "USDT"), sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: fast, logger: quiet()).run(status: got.status) }
        let keepAlive = Task { await stream.keepAlive(every: .milliseconds(50), failed: { _ in }) }
        defer { task.cancel(); keepAlive.cancel() }
        try #require(await server.waitUntil { server.openCount == 1 })
        #expect(server.connections[0].path == "/private/ws/key-1")
        server.push(StreamMessages.binanceListenKeyExpired("key-1", timeMs: 5_000))
        try #require(await server.waitUntil { server.connections.count == 2 && server.openCount == 1 })
        #expect(server.connections[1].path == "/private/ws/key-2")
        #expect(got.events.contains(.listenKeyExpired(timeMs: 5_000)))
        #expect(await server.waitUntil { keys.keepAlives >= 2 })
    }

    @Test func userStreamEventsAreTyped() async throws {
        let server = FakeStreamServer()
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        let stream = BinanceUserStream(baseURL: base, keys: CountingKeys(), names: BinanceStreamNames(quote: "USDT"), sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: fast, logger: quiet()).run(status: got.status) }
        defer { task.cancel() }
        try #require(await server.waitUntil { server.openCount == 1 })
        server.push(StreamMessages.binanceOrderTrade("BTCUSDT", clientId: "ag-1-tp1", side: "SELL", type: "MARKET", quantity: 0.01,
                                                     filled: 0.01, last: 0.01, price: 51_000, status: "FILLED", timeMs: 7_000))
        server.push(StreamMessages.binanceAlgoUpdate("BTCUSDT", clientAlgoId: "ag-1-tp2", side: "SELL", type: "TAKE_PROFIT_MARKET",
                                                     quantity: 0.01, status: "FINISHED", executed: 0.01, price: 52_000, timeMs: 8_000))
        server.push(StreamMessages.binanceMarginCall("BTCUSDT", amount: 0.03, mark: 40_000, timeMs: 9_000))
        server.push("not json at all")
        try #require(await server.waitUntil { got.events.count == 3 })
        guard case .order(let trade) = got.events[0], case .order(let algo) = got.events[1], case .marginCall(let calls, _) = got.events[2] else {
            Issue.record("unexpected events \(got.events)")
            return
        }
        #expect(trade.clientOrderId == "ag-1-tp1" && trade.status == .filled && trade.lastFillQuantity == 0.01 && trade.lastFillPrice == 51_000)
        #expect(algo.conditional && algo.status == .filled && algo.filledQuantity == 0.01 && algo.symbol == "BTC-USD")
        #expect(calls.first?.markPrice == 40_000 && calls.first?.marginType == .cross)
        // The unreadable message did not close the connection.
        #expect(server.connections.count == 1)
    }

    @Test func levelTwoUpdatesGiveTheBestBidAndAsk() async throws {
        let server = FakeStreamServer()
        let base = try await server.start()
        defer { server.stop() }
        let got = Collected()
        let stream = CoinbaseStream(baseURL: base, products: ["ETH-USD"], channels: [.level2], jwt: nil, sink: got.sink)
        let task = Task { await StreamConnection(subscription: stream, settings: fast, logger: quiet()).run(status: got.status) }
        defer { task.cancel() }
        try #require(await server.waitUntil { server.messages.count == 1 })
        #expect(server.messages[0].contains(#""channel":"level2""#))
        server.push(StreamMessages.coinbaseLevel2("ETH-USD", snapshot: true, bids: [(99, 1), (98, 2)], asks: [(101, 1), (102, 1)], sequence: 1))
        server.push(StreamMessages.coinbaseLevel2("ETH-USD", snapshot: false, bids: [(99, 0)], asks: [(100.5, 3)], sequence: 2))
        #expect(await server.waitUntil { got.events.count == 2 })
        #expect(got.events.last.map { if case .quote(_, 98, 100.5, _) = $0 { true } else { false } } == true)
    }

    @Test func backoffGrowsToItsCapWithJitter() {
        let b = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        #expect(b.delay(attempt: 0, unit: 1) == .milliseconds(100))
        #expect(b.delay(attempt: 0, unit: 0) == .milliseconds(50))
        #expect(b.delay(attempt: 3, unit: 1) == .milliseconds(800))
        #expect(b.delay(attempt: 10, unit: 1) == .seconds(2))
        #expect(b.delay(attempt: 10, unit: 0.5) == .milliseconds(1_500))
    }
}
