import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// A loopback WebSocket server (127.0.0.1, a free port) standing in for a venue's streams. Tests push venue
/// messages to the open connections, drop them, or go silent; every connection's path and every message a client
/// sent is recorded. `replies` answers client messages the way the venue does (subscription acknowledgements).
public final class FakeStreamServer: @unchecked Sendable {
    public struct Connection: Sendable {
        public var id: Int
        public var path: String
    }

    private enum Command { case text(String), close }

    private let lock = NSLock()
    private var task: Task<Void, any Error>?
    private var port: Int?
    private var outlets: [Int: AsyncStream<Command>.Continuation] = [:]
    private var opened: [Connection] = []
    private var received: [(connection: Int, text: String)] = []
    private var nextId = 0
    private let replies: @Sendable (String, String) -> [String]
    /// Messages sent to every new connection right after it opens (a venue's greeting).
    private let onOpen: @Sendable (String) -> [String]

    public init(replies: @escaping @Sendable (_ path: String, _ message: String) -> [String] = { _, _ in [] },
                onOpen: @escaping @Sendable (_ path: String) -> [String] = { _ in [] }) {
        self.replies = replies
        self.onOpen = onOpen
    }

    /// Starts listening; returns `ws://127.0.0.1:PORT`.
    @discardableResult
    public func start() async throws -> String {
        let ready = AsyncStream<Int>.makeStream()
        let router = Router()
        var logger = Logger(label: "fake-stream")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade { request, _, _ in
                let path = request.path ?? "/"
                return .upgrade([:]) { [weak self] inbound, outbound, _ in
                    guard let self else { return }
                    await self.serve(path: path, inbound: inbound, outbound: outbound)
                }
            },
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            },
            logger: logger)
        let task = Task { try await app.run() }
        var port = 0
        for await p in ready.stream { port = p }
        lock.withLock {
            self.task = task
            self.port = port
        }
        return "ws://127.0.0.1:\(port)"
    }

    public var baseURL: String { "ws://127.0.0.1:\(lock.withLock { port ?? 1 })" }

    public func stop() {
        lock.withLock {
            for o in outlets.values { o.finish() }
            task?.cancel()
        }
    }

    deinit { task?.cancel() }

    private func serve(path: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (stream, continuation) = AsyncStream<Command>.makeStream()
        let id: Int = lock.withLock {
            nextId += 1
            outlets[nextId] = continuation
            opened.append(Connection(id: nextId, path: path))
            return nextId
        }
        for m in onOpen(path) { continuation.yield(.text(m)) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        self.lock.withLock { self.received.append((id, text)) }
                        for reply in self.replies(path, text) { continuation.yield(.text(reply)) }
                    }
                } catch {}
                continuation.finish()
            }
            group.addTask {
                for await command in stream {
                    switch command {
                    case .text(let text): try? await outbound.write(.text(text))
                    case .close: return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
        _ = lock.withLock { outlets.removeValue(forKey: id) }
    }

    /// Sends `text` to every open connection whose path starts with `pathPrefix`.
    public func push(_ text: String, pathPrefix: String = "/") {
        lock.withLock {
            for c in opened where c.path.hasPrefix(pathPrefix) { outlets[c.id]?.yield(.text(text)) }
        }
    }

    /// Closes every open connection from the server's side (a dropped connection).
    public func dropAll() {
        lock.withLock {
            for o in outlets.values { o.yield(.close) }
        }
    }

    /// Connections opened so far, in order.
    public var connections: [Connection] { lock.withLock { opened } }
    /// Connections open now.
    public var openCount: Int { lock.withLock { outlets.count } }
    /// Every message a client sent, in order.
    public var messages: [String] { lock.withLock { received.map(\.text) } }
    public func messages(connection: Int) -> [String] { lock.withLock { received.filter { $0.connection == connection }.map(\.text) } }

    /// Waits (polling, at most `seconds`) until `condition` holds; returns whether it did.
    @discardableResult
    public func waitUntil(seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// Venue messages in the documented formats, for the fakes and the tests.
public enum StreamMessages {
    /// Binance's answer to `SUBSCRIBE`.
    public static func binanceSubscribed(_ message: String) -> [String] {
        guard message.contains("\"SUBSCRIBE\"") else { return [] }
        let id = message.range(of: #""id":(\d+)"#, options: .regularExpression).map { String(message[$0].dropFirst(5)) } ?? "1"
        return [#"{"result":null,"id":\#(id)}"#]
    }

    public static func binanceMark(_ venueSymbol: String, price: Double, timeMs: Int64) -> String {
        #"{"e":"markPriceUpdate","E":\#(timeMs),"s":"\#(venueSymbol)","p":"\#(price)","i":"\#(price)","P":"\#(price)","r":"0.00010000","T":\#(timeMs + 3_600_000)}"#
    }

    public static func binanceBookTicker(_ venueSymbol: String, bid: Double, ask: Double, timeMs: Int64) -> String {
        #"{"e":"bookTicker","u":400900217,"E":\#(timeMs),"T":\#(timeMs),"s":"\#(venueSymbol)","b":"\#(bid)","B":"3.5","a":"\#(ask)","A":"2.1"}"#
    }

    /// `ORDER_TRADE_UPDATE` for a trade of `last` at `price` (cumulative `filled`).
    public static func binanceOrderTrade(_ venueSymbol: String, clientId: String, side: String, type: String, quantity: Double,
                                         filled: Double, last: Double, price: Double, status: String, timeMs: Int64) -> String {
        #"{"e":"ORDER_TRADE_UPDATE","E":\#(timeMs),"T":\#(timeMs),"o":{"s":"\#(venueSymbol)","c":"\#(clientId)","S":"\#(side)","o":"\#(type)","f":"GTC","q":"\#(quantity)","p":"0","ap":"\#(price)","sp":"0","x":"TRADE","X":"\#(status)","i":8886774,"l":"\#(last)","z":"\#(filled)","L":"\#(price)","N":"USDT","n":"0.01","T":\#(timeMs),"t":1,"b":"0","a":"0","m":false,"R":true,"wt":"CONTRACT_PRICE","ot":"\#(type)","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0}}"#
    }

    /// `ALGO_UPDATE` of a conditional order (`X`: NEW, TRIGGERED, FINISHED, CANCELED, ...).
    public static func binanceAlgoUpdate(_ venueSymbol: String, clientAlgoId: String, side: String, type: String, quantity: Double,
                                         status: String, executed: Double, price: Double, timeMs: Int64) -> String {
        #"{"e":"ALGO_UPDATE","T":\#(timeMs),"E":\#(timeMs),"o":{"caid":"\#(clientAlgoId)","aid":2148719,"at":"CONDITIONAL","o":"\#(type)","s":"\#(venueSymbol)","S":"\#(side)","ps":"BOTH","f":"GTC","q":"\#(quantity)","X":"\#(status)","ai":"","ap":"\#(price)","aq":"\#(executed)","act":"0","tp":"\#(price)","p":"0","V":"EXPIRE_MAKER","wt":"CONTRACT_PRICE","pm":"NONE","cp":false,"pP":false,"R":true,"tt":0,"gtd":0}}"#
    }

    /// `ACCOUNT_UPDATE` with one position (`iw` = isolated wallet).
    public static func binanceAccountUpdate(_ venueSymbol: String, amount: Double, entry: Double, unrealized: Double,
                                            isolatedWallet: Double, timeMs: Int64) -> String {
        #"{"e":"ACCOUNT_UPDATE","E":\#(timeMs),"T":\#(timeMs),"a":{"m":"ORDER","B":[{"a":"USDT","wb":"20000","cw":"20000","bc":"0"}],"P":[{"s":"\#(venueSymbol)","pa":"\#(amount)","ep":"\#(entry)","bep":"0","cr":"0","up":"\#(unrealized)","mt":"isolated","iw":"\#(isolatedWallet)","ps":"BOTH"}]}}"#
    }

    public static func binanceListenKeyExpired(_ key: String, timeMs: Int64) -> String {
        #"{"e":"listenKeyExpired","E":"\#(timeMs)","listenKey":"\#(key)"}"#
    }

    public static func binanceMarginCall(_ venueSymbol: String, amount: Double, mark: Double, timeMs: Int64) -> String {
        #"{"e":"MARGIN_CALL","E":\#(timeMs),"cw":"3.16812045","p":[{"s":"\#(venueSymbol)","ps":"BOTH","pa":"\#(amount)","mt":"CROSSED","iw":"0","mp":"\#(mark)","up":"-1.166074","mm":"1.614445"}]}"#
    }

    /// Coinbase's answer to a subscribe message.
    public static func coinbaseSubscribed(_ message: String, sequence: Int64) -> String {
        #"{"channel":"subscriptions","client_id":"","timestamp":"2026-12-01T00:00:00.000000000Z","sequence_num":\#(sequence),"events":[{"subscriptions":{}}]}"#
    }

    public static func coinbaseHeartbeat(sequence: Int64, counter: Int) -> String {
        #"{"channel":"heartbeats","client_id":"","timestamp":"2026-12-01T00:00:01.123456789Z","sequence_num":\#(sequence),"events":[{"current_time":"2026-12-01 00:00:01.123 +0000 UTC m=+91717.525857105","heartbeat_counter":\#(counter)}]}"#
    }

    public static func coinbaseTicker(_ product: String, price: Double, sequence: Int64, timestamp: String = "2026-12-01T00:00:02.000000000Z") -> String {
        #"{"channel":"ticker","client_id":"","timestamp":"\#(timestamp)","sequence_num":\#(sequence),"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"\#(product)","price":"\#(price)","volume_24_h":"1000","low_24_h":"1","high_24_h":"2","low_52_w":"1","high_52_w":"2","price_percent_chg_24_h":"0.5","best_bid":"\#(price - 0.5)","best_bid_quantity":"1","best_ask":"\#(price + 0.5)","best_ask_quantity":"1"}]}]}"#
    }

    public static func coinbaseLevel2(_ product: String, snapshot: Bool, bids: [(Double, Double)], asks: [(Double, Double)], sequence: Int64) -> String {
        let levels = bids.map { #"{"side":"bid","event_time":"2026-12-01T00:00:02Z","price_level":"\#($0.0)","new_quantity":"\#($0.1)"}"# }
            + asks.map { #"{"side":"offer","event_time":"2026-12-01T00:00:02Z","price_level":"\#($0.0)","new_quantity":"\#($0.1)"}"# }
        return #"{"channel":"l2_data","client_id":"","timestamp":"2026-12-01T00:00:02.000000000Z","sequence_num":\#(sequence),"events":[{"type":"\#(snapshot ? "snapshot" : "update")","product_id":"\#(product)","updates":[\#(levels.joined(separator: ","))]}]}"#
    }

    public static func coinbaseUserOrder(_ product: String, clientId: String, side: String, status: String, filled: Double,
                                         leaves: Double, price: Double, sequence: Int64) -> String {
        #"{"channel":"user","client_id":"","timestamp":"2026-12-01T00:00:03.000000000Z","sequence_num":\#(sequence),"events":[{"type":"update","orders":[{"order_id":"o-1","client_order_id":"\#(clientId)","cumulative_quantity":"\#(filled)","leaves_quantity":"\#(leaves)","avg_price":"\#(price)","total_fees":"0.1","status":"\#(status)","product_id":"\#(product)","creation_time":"2026-12-01T00:00:00Z","order_side":"\#(side)","order_type":"Limit"}]}]}"#
    }
}
