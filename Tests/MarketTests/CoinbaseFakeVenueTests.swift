import Foundation
import HTTP
@testable import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// The Coinbase connector against a fake venue on 127.0.0.1 that verifies every JWT.
@Suite(.serialized) struct CoinbaseFakeVenueTests {
    static func connect(_ fake: FakeCoinbaseVenue, clock: VenueClock, timeout: Double = 5, ed25519: Bool = false,
                        signed: Bool = true) throws -> Coinbase {
        let credentials: CoinbaseCredentials? = signed
            ? (ed25519 ? CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, ed25519: fake.ed25519Key)
                       : try CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, privateKey: fake.privateKeyPEM))
            : nil
        return Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 2, timeout: timeout)),
                        credentials: credentials, transport: CurlHTTPClient(), clock: clock)
    }

    @Test func snapshotFromPublicDataWithoutKeys() async throws {
        let fake = try FakeCoinbaseVenue()
        let venue = try Self.connect(fake, clock: RealTimeRecordingClock().clock, signed: false)
        let now = Int64(Date().timeIntervalSince1970)
        let snapshot = try await venue.snapshot(symbols: ["BTC-USD", "PEPE-USD", "SOL-USD"], at: now, historyHours: 400)
        #expect(snapshot.symbols.map(\.symbol) == ["BTC-USD", "SOL-USD"])
        let btc = try #require(snapshot.symbol("BTC-USD"))
        #expect(btc.candles.count == 400)                         // two pages (the venue serves at most 350)
        #expect(fake.requests("/market/products/BTC-USD/candles").count == 2)
        #expect(zip(btc.candles, btc.candles.dropFirst()).allSatisfy { $0.time + 3600 == $1.time })
        #expect((btc.candles.last?.time ?? .max) + 3600 <= now)
        #expect(btc.bid < btc.ask && btc.bidDepthUSD > 0)
        #expect(btc.volume24hUSD == 2000.5 * 50_000)
        #expect(btc.fundingRate == nil)
        #expect(fake.requests.allSatisfy { $0.header("authorization") == nil })
    }

    @Test func privateCallsCarryVerifiedJWTsWithFreshNonces() async throws {
        for ed in [false, true] {
            let fake = try FakeCoinbaseVenue()
            let venue = try Self.connect(fake, clock: RealTimeRecordingClock().clock, ed25519: ed)
            let balances = try await venue.balances()
            #expect(balances.map(\.asset) == ["USD", "BTC"])
            #expect(balances.first?.total == Decimal(string: "1010.5") && balances.first?.available == Decimal(string: "1000.5"))
            _ = try await venue.balances()
            #expect(fake.refusedTokens.isEmpty, "\(fake.refusedTokens)")
            #expect(fake.requests("/accounts").count == 2)
        }
        // A key the venue does not know is refused.
        let fake = try FakeCoinbaseVenue()
        let stranger = Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL), credentials: CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, p256: .init()),
                                clock: RealTimeRecordingClock().clock)
        await #expect { try await stranger.balances() } throws: { ($0 as? VenueError)?.reason == .authentication }
        #expect(fake.refusedTokens == ["bad signature", "bad signature"])   // the clock measured again, re-signed once
    }

    @Test func orderLifecycleAndFills() async throws {
        let fake = try FakeCoinbaseVenue()
        let venue = try Self.connect(fake, clock: RealTimeRecordingClock().clock)
        let limit = try await venue.place(OrderRequest(symbol: "ETH-USD", side: .buy, kind: .limit(price: Decimal(string: "2999.999") ?? 0, postOnly: true),
                                                            quantity: Decimal(string: "0.123456") ?? 0, clientOrderId: "c-1-p1"))
        #expect(limit.quantity == Decimal(string: "0.1234") && limit.price == Decimal(string: "2999.99"))
        #expect(try await venue.openOrders(symbol: "ETH-USD").map(\.clientOrderId) == ["c-1-p1"])
        let cancelled = try await venue.cancelOrder(symbol: "ETH-USD", clientOrderId: "c-1-p1")
        #expect(cancelled.status == .cancelled)
        let market = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                             clientOrderId: "c-1-p2", referencePrice: 50_000))
        #expect(try await venue.order(symbol: "BTC-USD", clientOrderId: "c-1-p2")?.status == .filled)
        let fills = try await venue.fills(symbol: "BTC-USD", clientOrderId: "c-1-p2")
        #expect(fills.count == 1 && fills.first?.orderId == market.orderId && fills.first?.fee == Decimal(string: "1.25"))
        #expect(fills.first?.time == 1_767_225_601)
        #expect(fake.refusedTokens.isEmpty, "\(fake.refusedTokens)")
    }

    @Test func rejectionOnHTTP200CarriesTheReason() async throws {
        let fake = try FakeCoinbaseVenue()
        let venue = try Self.connect(fake, clock: RealTimeRecordingClock().clock)
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: 50, clientOrderId: "big",
                                                                  referencePrice: 50_000)) } throws: { error in
            let e = error as? VenueError
            return e?.isRejection == true && e?.code == "INSUFFICIENT_FUND" && e?.message == "Insufficient balance in source account"
        }
        #expect(fake.orderCount == 0)
    }

    @Test func timeoutOnCreateResubmitsTheSameClientIdAndGetsTheOriginalOrder() async throws {
        let fake = try FakeCoinbaseVenue()
        let venue = try Self.connect(fake, clock: RealTimeRecordingClock().clock, timeout: 0.5)
        fake.faults.inject(.slowAnswer(seconds: 1.5), path: "/orders", method: "POST")
        let order = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                            clientOrderId: "c-5-p1", referencePrice: 50_000))
        let posts = fake.requests("/orders", method: "POST")
        #expect(posts.count == 2)
        #expect(posts[0].body == posts[1].body)              // same client_order_id, same order
        #expect(fake.orderCount == 1)                        // never a second order
        #expect(order.orderId == "cb-1")
    }

    @Test func rateLimitedBacksOffAndServerErrorsOnReadsRetry() async throws {
        let fake = try FakeCoinbaseVenue()
        let recorder = RealTimeRecordingClock()
        let venue = try Self.connect(fake, clock: recorder.clock, signed: false)
        fake.faults.inject(.tooManyRequests(retryAfter: 2), path: "/market/product_book")
        fake.faults.inject(.serviceUnavailable, path: "/market/products/BTC-USD")
        _ = try await venue.book(symbol: "BTC-USD", levels: 10)
        #expect(fake.requests("/market/product_book").count == 2)
        #expect(recorder.slept.contains { abs($0 - 2) < 0.5 })
        // 503 on a read is not retried by the transport layer: it surfaces as retryable.
        await #expect { try await venue.ticker(symbol: "BTC-USD") } throws: { ($0 as? VenueError)?.isRetryable == true }
        #expect(try await venue.ticker(symbol: "BTC-USD").last == 50_000)
    }
}
