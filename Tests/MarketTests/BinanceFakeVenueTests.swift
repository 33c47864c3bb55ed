import Foundation
import HTTP
@testable import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// The Binance connector against a fake venue on 127.0.0.1 that verifies signatures and timestamps.
@Suite(.serialized) struct BinanceFakeVenueTests {
    static func connect(_ fake: FakeBinanceVenue, clock: VenueClock, timeout: Double = 5,
                        credentials: BinanceCredentials? = BinanceCredentials(apiKey: FakeBinanceVenue.apiKey, secret: FakeBinanceVenue.secret)) -> BinanceFutures {
        BinanceFutures(settings: BinanceSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 2, timeout: timeout)),
                       credentials: credentials, transport: CurlHTTPClient(), clock: clock)
    }

    @Test func snapshotBuildsClosedCandlesBookDepthVolumeAndFunding() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock, credentials: nil)
        let now = Int64(Date().timeIntervalSince1970)
        let snapshot = try await venue.snapshot(symbols: ["BTC-USD", "DOGE-USD", "XRP-USD", "ETH-USD"], at: now, historyHours: 48)
        #expect(snapshot.symbols.map(\.symbol) == ["BTC-USD", "ETH-USD"])   // unknown and halted symbols are left out
        let btc = try #require(snapshot.symbol("BTC-USD"))
        #expect(btc.candles.count == 48)
        #expect(zip(btc.candles, btc.candles.dropFirst()).allSatisfy { $0.time + 3600 == $1.time })
        #expect((btc.candles.last?.time ?? .max) + 3600 <= now)
        #expect(btc.bid < btc.ask)
        #expect(btc.bidDepthUSD > 0 && btc.askDepthUSD > 0)
        #expect(btc.volume24hUSD == 50_000 * 1000.5)
        #expect(btc.fundingRate == 0.0001)
        // No signed request and no key header for public data.
        #expect(fake.requests.allSatisfy { $0.header("x-mbx-apikey") == nil })
        let funding = try #require(try await venue.funding(symbol: "BTC-USD"))
        #expect(funding.markPrice == 50_000 && funding.nextFundingTime == 1_767_225_600)
    }

    @Test func accountCallsAreSignedAndVerified() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        let balances = try await venue.balances()
        #expect(balances == [VenueBalance(asset: "USDT", total: Decimal(string: "1000.5") ?? 0, available: Decimal(string: "900.25") ?? 0)])
        let positions = try await venue.positions()
        #expect(positions.count == 1 && positions.first?.marginType == .isolated && positions.first?.leverage == 10)
        #expect(try await venue.setLeverage(symbol: "BTC-USD", leverage: 7) == 7)
        try await venue.setMarginType(symbol: "BTC-USD", .cross)            // -4046: already cross, not an error
        try await venue.setMarginType(symbol: "BTC-USD", .isolated)
        let brackets = try await venue.leverageBrackets(symbol: "BTC-USD")
        #expect(brackets.map(\.maintMarginRatio) == [0.004, 0.005])
        #expect(fake.rejectedSignatures == 0)

        let wrong = Self.connect(fake, clock: RealTimeRecordingClock().clock, credentials: BinanceCredentials(apiKey: FakeBinanceVenue.apiKey, secret: "wrong"))
        await #expect { try await wrong.balances() } throws: { ($0 as? VenueError)?.reason == .authentication }
        #expect(fake.rejectedSignatures == 1)
        let keyless = Self.connect(fake, clock: RealTimeRecordingClock().clock, credentials: nil)
        await #expect { try await keyless.balances() } throws: { ($0 as? VenueError)?.reason == .missingCredentials }
    }

    @Test func orderLifecycleByClientId() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        let limit = try await venue.place(OrderRequest(symbol: "ETH-USD", side: .buy, kind: .limit(price: Decimal(string: "2900.123") ?? 0, postOnly: true),
                                                            quantity: Decimal(string: "0.0567") ?? 0, clientOrderId: "c-1-p1"))
        #expect(limit.status == .open && limit.quantity == Decimal(string: "0.05") && limit.price == Decimal(string: "2900.12"))
        let stop = try await venue.place(OrderRequest(symbol: "ETH-USD", side: .sell, kind: .stopMarket(triggerPrice: 2_700),
                                                           quantity: Decimal(string: "0.05") ?? 0, clientOrderId: "c-1-p1-sl", reduceOnly: true))
        #expect(stop.status == .pending && stop.triggerPrice == 2_700)
        #expect(try await venue.openOrders(symbol: "ETH-USD").map(\.clientOrderId).sorted() == ["c-1-p1", "c-1-p1-sl"])
        #expect(try await venue.order(symbol: "ETH-USD", clientOrderId: "c-1-p1")?.orderId == limit.orderId)
        #expect(try await venue.order(symbol: "ETH-USD", clientOrderId: "c-1-p1-sl")?.type == "STOP_MARKET")
        #expect(try await venue.order(symbol: "ETH-USD", clientOrderId: "nope") == nil)
        #expect(try await venue.cancelOrder(symbol: "ETH-USD", clientOrderId: "c-1-p1").status == .cancelled)
        #expect(try await venue.cancelOrder(symbol: "ETH-USD", clientOrderId: "c-1-p1-sl").status == .cancelled)
        #expect(try await venue.openOrders(symbol: "ETH-USD").isEmpty)
        #expect(fake.requests("/fapi/v1/algoOrder", method: "POST").count == 1)
    }

    @Test func partialFillIsReportedWithItsFills() async throws {
        let fake = try FakeBinanceVenue()
        fake.setFillRatio(0.5)
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        let order = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                            clientOrderId: "c-2-p1", referencePrice: 50_000))
        #expect(order.status == .partiallyFilled)
        #expect(order.filledQuantity == Decimal(string: "0.005"))
        #expect(order.averagePrice == 50_000)
        let fills = try await venue.fills(symbol: "BTC-USD", clientOrderId: "c-2-p1")
        #expect(fills.count == 1 && fills.first?.quantity == Decimal(string: "0.005") && fills.first?.feeAsset == "USDT")
    }

    @Test func unknownOutcomeIsResolvedByLookupNeverByResending() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        // The venue executed the order, then answered 503 "Unknown error".
        fake.faults.inject(.unknownErrorAfterExecuting, path: "/fapi/v1/order", method: "POST")
        let order = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                            clientOrderId: "c-3-p1", referencePrice: 50_000))
        #expect(order.clientOrderId == "c-3-p1" && order.status == .filled)
        #expect(fake.requests("/fapi/v1/order", method: "POST").count == 1)
        #expect(fake.requests("/fapi/v1/order", method: "GET").count == 1)
        #expect(fake.orderCount == 1)

        // The venue did NOT execute it: the caller gets unknown-outcome, and still nothing was resent.
        fake.faults.inject(.unknownErrorWithoutExecuting, path: "/fapi/v1/order", method: "POST")
        await #expect { try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                                  clientOrderId: "c-3-p2", referencePrice: 50_000)) } throws: { error in
            let e = error as? VenueError
            return e?.isUnknownOutcome == true && e?.status == 503 && e?.message.contains("not found on lookup") == true
        }
        #expect(fake.requests("/fapi/v1/order", method: "POST").count == 2)
        #expect(fake.orderCount == 1)
    }

    @Test func orderTimeoutIsUnknownOutcomeAndLookedUp() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock, timeout: 0.5)
        fake.faults.inject(.slowAnswer(seconds: 1.5), path: "/fapi/v1/order", method: "POST")
        let order = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .sell, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                            clientOrderId: "c-4-p1", referencePrice: 50_000))
        #expect(order.status == .filled)
        #expect(fake.requests("/fapi/v1/order", method: "POST").count == 1)
        #expect(fake.orderCount == 1)
    }

    @Test func readTimeoutIsRetried() async throws {
        let fake = try FakeBinanceVenue()
        let recorder = RealTimeRecordingClock()
        let venue = Self.connect(fake, clock: recorder.clock, timeout: 0.5, credentials: nil)
        fake.faults.inject(.slowAnswer(seconds: 1.5), path: "/fapi/v1/ticker/24hr")
        let ticker = try await venue.ticker(symbol: "BTC-USD")
        #expect(ticker.last == 50_000)
        #expect(fake.requests("/fapi/v1/ticker/24hr").count == 2)
        #expect(recorder.slept == [1])
    }

    @Test func timestampOutsideWindowResyncsAndResigns() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        _ = try await venue.balances()
        #expect(fake.requests("/fapi/v1/time").count == 1)
        fake.setSkew(ms: 30_000)      // the server clock jumps 30 s ahead: our timestamps fall outside recvWindow
        _ = try await venue.balances()
        #expect(fake.requests("/fapi/v1/time").count == 2)
        #expect(fake.requests("/fapi/v2/account").count == 3)   // ok, -1021, ok after resync
        let offset = await venue.timeOffsetMs ?? 0
        #expect(offset > 25_000 && offset < 35_000)
    }

    @Test func tooManyRequestsBacksOffHonouringRetryAfter() async throws {
        let fake = try FakeBinanceVenue()
        let recorder = RealTimeRecordingClock()
        let venue = Self.connect(fake, clock: recorder.clock, credentials: nil)
        fake.faults.inject(.tooManyRequests(retryAfter: 7), path: "/fapi/v1/depth")
        let book = try await venue.book(symbol: "BTC-USD", levels: 20)
        #expect(!book.bids.isEmpty)
        #expect(fake.requests("/fapi/v1/depth").count == 2)
        #expect(recorder.slept.count == 1 && abs((recorder.slept.first ?? 0) - 7) < 0.5)

        fake.faults.inject(.tooManyRequests(retryAfter: nil), path: "/fapi/v1/depth", times: 3)
        await #expect { try await venue.book(symbol: "BTC-USD", levels: 20) } throws: { error in
            let e = error as? VenueError
            return e?.reason == .rateLimited && e?.isRetryable == true && e?.status == 429
        }
        #expect(fake.requests("/fapi/v1/depth").count == 5)   // 1 + maxRetries 2
    }

    @Test func bannedStopsCallingUntilTheBanEnds() async throws {
        let fake = try FakeBinanceVenue()
        let clock = FakeClock()
        let venue = Self.connect(fake, clock: clock.clock, credentials: nil)
        fake.faults.inject(.banned(retryAfter: 120), path: "/fapi/v1/premiumIndex")
        await #expect { try await venue.funding(symbol: "BTC-USD") } throws: { error in
            let e = error as? VenueError
            return e?.reason == .banned && e?.status == 418 && e?.retryAfter == 120
        }
        let before = fake.requests.count
        await #expect { try await venue.ticker(symbol: "BTC-USD") } throws: { ($0 as? VenueError)?.reason == .banned }
        #expect(fake.requests.count == before)      // nothing was sent while banned
        clock.advance(121)
        #expect(try await venue.ticker(symbol: "BTC-USD").last == 50_000)
        #expect(fake.requests.count == before + 1)
    }

    @Test func slowsDownBeforeTheWeightLimit() async throws {
        let fake = try FakeBinanceVenue()
        let recorder = RealTimeRecordingClock()
        let venue = Self.connect(fake, clock: recorder.clock, credentials: nil)
        fake.setReportedWeight(100)
        _ = try await venue.ticker(symbol: "BTC-USD")
        _ = try await venue.ticker(symbol: "BTC-USD")
        #expect(recorder.slept.isEmpty)
        fake.setReportedWeight(2_300)                  // above 90% of 2400
        _ = try await venue.ticker(symbol: "BTC-USD")
        #expect(await venue.usage().usedWeight1m == 2_300)
        _ = try await venue.ticker(symbol: "BTC-USD")  // waits for the next minute first
        #expect(recorder.slept.count == 1)
        #expect((recorder.slept.first ?? 0) > 0 && (recorder.slept.first ?? 99) <= 60)
    }

    @Test func stopTypesOnTheOrderEndpointAreRejectedByTheVenue() async throws {
        let fake = try FakeBinanceVenue()
        let venue = Self.connect(fake, clock: RealTimeRecordingClock().clock)
        await #expect { _ = try await venue.call("POST", "/fapi/v1/order", [("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "STOP_MARKET"),
                                                                          ("quantity", "0.01"), ("newClientOrderId", "z")], signed: true, idempotent: false) } throws: { error in
            (error as? VenueError)?.code == "-4120" && (error as? VenueError)?.isRejection == true
        }
    }
}
