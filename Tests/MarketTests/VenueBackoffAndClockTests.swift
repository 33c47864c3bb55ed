import Foundation
import HTTP
@testable import Market
import Model
import Testing
import TestSupport
@testable import Venues

/// Issue 10 items 4 and 5 at the connector: a ban or a Retry-After window outlives the connector that saw it (the
/// next process restores it before its first call), and Coinbase JWTs follow the venue's clock.
@Suite(.serialized) struct VenueBackoffTests {
    /// What the agent's ledger does for a keeper: keeps every hold recorded.
    final class HoldLog: @unchecked Sendable {
        private let lock = NSLock()
        private var holds: [VenueBackoff] = []
        var all: [VenueBackoff] { lock.withLock { holds } }
        var last: VenueBackoff? { all.last }
        func keeper(restoring restored: VenueBackoff? = nil) -> VenueBackoffKeeper {
            VenueBackoffKeeper(restored: restored) { [self] hold in lock.withLock { holds.append(hold) } }
        }
    }

    static func binance(_ fake: FakeBinanceVenue, clock: VenueClock, keeper: VenueBackoffKeeper) -> BinanceFutures {
        BinanceFutures(settings: BinanceSettings(baseURL: fake.baseURL, limits: VenueLimits(maxRetries: 2, timeout: 5)),
                       credentials: nil, transport: CurlHTTPClient(), clock: clock, backoff: keeper)
    }

    @Test func aBanIsKeptAndTheNextProcessDoesNotCallUntilItEnds() async throws {
        let fake = try FakeBinanceVenue()
        let clock = FakeClock()
        let log = HoldLog()
        let first = Self.binance(fake, clock: clock.clock, keeper: log.keeper())
        fake.faults.inject(.banned(retryAfter: 120), path: "/fapi/v1/premiumIndex")
        await #expect { try await first.funding(symbol: "BTC-USD") } throws: { ($0 as? VenueError)?.reason == .banned }
        let hold = try #require(log.last)
        #expect(hold.venue == "binance" && hold.cause == .banned)
        #expect(abs(hold.bannedUntil - (clock.clock.now() + 120)) < 1)

        // A restart: a new connector, restored from what was kept. It refuses at once and sends nothing.
        let before = fake.requests.count
        let second = Self.binance(fake, clock: clock.clock, keeper: log.keeper(restoring: hold))
        await #expect { try await second.ticker(symbol: "BTC-USD") } throws: { error in
            let e = error as? VenueError
            return e?.reason == .banned && (e?.retryAfter ?? 0) > 100
        }
        #expect(fake.requests.count == before)
        clock.advance(121)
        #expect(try await second.ticker(symbol: "BTC-USD").last == 50_000)
        // A connector without a keeper (the old behaviour) would have called straight into the ban.
        let forgetful = BinanceFutures(settings: BinanceSettings(baseURL: fake.baseURL), transport: CurlHTTPClient(), clock: FakeClock().clock)
        _ = try await forgetful.ticker(symbol: "BTC-USD")
        #expect(fake.requests.count == before + 2)
    }

    @Test func aRetryAfterWindowIsWaitedOutAfterARestart() async throws {
        let fake = try FakeBinanceVenue()
        let clock = FakeClock()
        let log = HoldLog()
        let first = Self.binance(fake, clock: clock.clock, keeper: log.keeper())
        fake.faults.inject(.tooManyRequests(retryAfter: 30), path: "/fapi/v1/depth", times: 3)
        await #expect { try await first.book(symbol: "BTC-USD", levels: 5) } throws: { ($0 as? VenueError)?.reason == .rateLimited }
        let hold = try #require(log.last)
        #expect(hold.cause == .rateLimited && hold.pausedUntil > clock.clock.now() + 25)

        // The restarted connector's first call waits for the window's end before it is sent.
        let restarted = FakeClock(now: clock.clock.now())
        let second = Self.binance(fake, clock: restarted.clock, keeper: log.keeper(restoring: hold))
        let sent = fake.requests("/fapi/v1/depth").count
        _ = try await second.book(symbol: "BTC-USD", levels: 5)
        #expect(restarted.slept.count == 1 && abs((restarted.slept.first ?? 0) - (hold.pausedUntil - clock.clock.now())) < 0.5,
                "slept \(restarted.slept)")
        #expect(fake.requests("/fapi/v1/depth").count == sent + 1)
    }

    @Test func aHoldThatEndedOrBelongsToAnotherVenueIsNotRestored() async throws {
        let fake = try FakeCoinbaseVenue()
        let clock = FakeClock()
        let other = VenueBackoff(venue: "binance", cause: .banned, bannedUntil: clock.clock.now() + 600, pausedUntil: 0)
        let venue = Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL), transport: CurlHTTPClient(), clock: clock.clock,
                             backoff: HoldLog().keeper(restoring: other))
        #expect(try await venue.ticker(symbol: "BTC-USD").last == 50_000)
        #expect(await venue.usage().bannedUntil == 0)
    }
}

@Suite(.serialized) struct CoinbaseClockTests {
    static func connect(_ fake: FakeCoinbaseVenue) throws -> Coinbase {
        try CoinbaseFakeVenueTests.connect(fake, clock: RealTimeRecordingClock().clock)
    }

    /// The venue's clock 4 s behind ours: without the offset every token is "not valid yet".
    @Test func aVenueClockBehindOursIsMeasuredAndTokensFollowIt() async throws {
        let fake = try FakeCoinbaseVenue()
        fake.setSkew(seconds: -4)
        let venue = try Self.connect(fake)
        #expect(try await venue.balances().map(\.asset) == ["USD", "BTC"])
        #expect(fake.refusedTokens.isEmpty, "\(fake.refusedTokens)")
        #expect(fake.requests("/time").count == 1)
        let offset = try #require(await venue.clockOffset())
        #expect(offset < -3 && offset > -30)                     // the midpoint of a slow request under load lands later
        _ = try await venue.balances()
        #expect(fake.requests("/time").count == 1)                 // measured once, not per call
    }

    /// The clock drifts after the first measurement: the refused token makes it measure again and re-sign once,
    /// and an order sent then is placed exactly once.
    @Test func aDriftAfterTheFirstMeasurementIsMeasuredAgainOnTheAuthError() async throws {
        let fake = try FakeCoinbaseVenue()
        let venue = try Self.connect(fake)
        _ = try await venue.balances()
        fake.setSkew(seconds: 200)                                  // venue ahead: our tokens have expired
        let order = try await venue.place(OrderRequest(symbol: "BTC-USD", side: .buy, kind: .market, quantity: Decimal(string: "0.01") ?? 0,
                                                            clientOrderId: "c-skew-p1", referencePrice: 50_000))
        #expect(fake.refusedTokens == ["token expired"])
        #expect(fake.requests("/time").count == 2)
        #expect(fake.orderCount == 1 && fake.order("c-skew-p1")?["order_id"] == order.orderId)
        let offset = try #require(await venue.clockOffset())
        #expect(offset > 170 && offset < 205)
    }

    /// A refusal that is not about time (a key the venue does not know) fails after one re-measurement.
    @Test func aBadKeyStillFails() async throws {
        let fake = try FakeCoinbaseVenue()
        let stranger = Coinbase(settings: CoinbaseSettings(baseURL: fake.baseURL),
                                credentials: CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, p256: .init()),
                                clock: RealTimeRecordingClock().clock)
        await #expect { try await stranger.balances() } throws: { ($0 as? VenueError)?.reason == .authentication }
        #expect(fake.refusedTokens == ["bad signature", "bad signature"])
    }
}
