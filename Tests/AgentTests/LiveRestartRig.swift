@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// One strict fake venue (Binance USD-M or Coinbase spot) and a ledger that outlive the "processes" run against
/// them: each `desk()` is a fresh connector on a freshly opened ledger, as a restart would have.
struct RestartRig: Sendable {
    enum Venue: String, CaseIterable, Sendable, CustomStringConvertible {
        case binance, coinbase
        var description: String { rawValue }
    }

    let venue: Venue
    let binance: FakeBinanceVenue?
    let coinbase: FakeCoinbaseVenue?
    let key = LiveRig.randomHex(16)
    let secret = LiveRig.randomHex(32)
    /// The data folder of the processes (`agent.sqlite` in it).
    let data: String
    var ledgerPath: String { data + "/agent.sqlite" }
    static let symbols = ["BTC-USD", "ETH-USD", "SOL-USD"]
    static let entryTime: Int64 = 1_767_225_600

    init(_ venue: Venue) throws {
        self.venue = venue
        switch venue {
        case .binance:
            binance = try FakeBinanceVenue(seedPosition: false, apiKey: key, secret: secret)
            coinbase = nil
        case .coinbase:
            binance = nil
            coinbase = try FakeCoinbaseVenue(seedHoldings: false)
        }
        data = Fixtures.tempDir("agent-restart-\(venue)")
    }

    var ledger: Ledger { get throws { try Ledger(path: ledgerPath) } }

    /// A new process's connector and desk.
    func desk(timeout: Double = 5) throws -> LiveDesk {
        let limits = VenueLimits(maxRetries: 1, timeout: timeout)
        let connector: any TradingVenue & VenueMarketData = switch venue {
        case .binance:
            BinanceFutures(settings: BinanceSettings(baseURL: binance?.baseURL ?? "", limits: limits),
                           credentials: BinanceCredentials(apiKey: key, secret: secret))
        case .coinbase:
            Coinbase(settings: CoinbaseSettings(baseURL: coinbase?.baseURL ?? "", limits: limits),
                     credentials: try CoinbaseCredentials(keyName: FakeCoinbaseVenue.keyName, privateKey: coinbase?.privateKeyPEM ?? ""))
        }
        return LiveDesk(venue: connector, ledger: try ledger, settings: LiveRig.defaultSettings)
    }

    /// The LIVE entry of `LiveRig.intent()` (0.03 ETH on Binance, 0.0333 ETH on Coinbase) with its stop.
    func enter(_ desk: LiveDesk, proposal: String = "p1", notional: Double = 100) async throws {
        _ = try await desk.executor(haltReason: { nil }).execute(
            LiveRig.intent(notional: notional, proposal: proposal), tier: .core, quote: MarketQuote(bid: 2999, ask: 3000, depthUsd: 1e6), time: Self.entryTime)
    }

    /// The position as the portfolio sees it (for the exit policy).
    func position(_ symbol: String = "ETH-USD") throws -> PaperPosition? {
        try Portfolio.rebuild(store: ledger, mode: .live, startingEquity: nil).0.account.position(symbol)
    }

    static func snapshot(at time: Int64) -> MarketSnapshot {
        let bars = (0..<3).map { i in
            Candle(time: entryTime + Int64(i) * 3_600, open: 3000, high: 3010, low: 2995, close: 3005, volume: 10)
        }
        return MarketSnapshot(time: time, symbols: [SymbolSnapshot(symbol: "ETH-USD", candles: bars, bid: 3004, ask: 3006,
                                                                   bidDepthUSD: 1e6, askDepthUSD: 1e6, volume24hUSD: 1e9)])
    }

    // MARK: The venue's side

    /// What the venue holds of `symbol` (Binance position amount, Coinbase base balance).
    func held(_ symbol: String) -> Double {
        switch venue {
        case .binance: binance?.positionAmount(symbol.replacingOccurrences(of: "-USD", with: "USDT")) ?? 0
        case .coinbase: coinbase?.holding(String(symbol.split(separator: "-").first ?? "")) ?? 0
        }
    }

    /// The quantity still working on the venue for our order `clientId`; nil when it is not working.
    func working(_ clientId: String) -> Double? {
        switch venue {
        case .binance:
            guard let o = binance?.order(clientId), o["status"] == "NEW" else { return nil }
            return Double(o["origQty"] ?? "")
        case .coinbase:
            guard let o = coinbase?.order(clientId), o["status"] == "OPEN" else { return nil }
            return (Double(o["size"] ?? "") ?? 0) - (Double(o["filled"] ?? "") ?? 0)
        }
    }

    /// Client ids the venue created orders for.
    var venueClientIds: [String] { binance?.clientIds ?? coinbase?.clientIds ?? [] }

    /// Requests that created or re-submitted `clientId`.
    func sends(_ clientId: String) -> Int {
        binance?.orderRequests(clientId: clientId) ?? coinbase?.orderRequests(clientId: clientId) ?? 0
    }

    // MARK: Invariants

    /// What must hold after any crash and a restart's reconciliation; empty when all is well.
    /// - no duplicate: every order on the venue was intended in the ledger first, and sent once (Binance; Coinbase
    ///   answers a re-submitted client id with the original order, so a second send there creates nothing);
    /// - no unknown order: every intent has an established outcome;
    /// - the ledger's positions are the venue's;
    /// - coverage: the stops the ledger calls working are working on the venue and cover each position whole.
    func violations() throws -> [String] {
        var problems: [String] = []
        let book = try LiveBook.rebuild(ledger: ledger)
        for id in venueClientIds {
            if book.orders[id] == nil { problems.append("\(id) is on the venue but was never intended in the ledger") }
            if venue == .binance, sends(id) != 1 { problems.append("\(id) was sent \(sends(id)) times") }
        }
        let pending = book.pendingOrders.map(\.intent.clientOrderId)
        if !pending.isEmpty { problems.append("outcome unknown for \(pending)") }
        for symbol in Self.symbols {
            let venueQty = held(symbol)
            let ledgerQty = book.positions[symbol]?.quantity ?? 0
            if !LiveDesk.same(ledgerQty, venueQty) { problems.append("\(symbol): ledger \(ledgerQty), venue \(venueQty)") }
            let stops = book.stops(on: symbol).filter(\.isLive).map(\.intent.clientOrderId)
            let notWorking = stops.filter { working($0) == nil }
            if !notWorking.isEmpty { problems.append("\(symbol): ledger stops \(notWorking) are not working on the venue") }
            let covered = stops.compactMap(working).reduce(0, +)
            if covered < abs(venueQty) - max(1e-9, abs(venueQty) * 1e-6) {
                problems.append("\(symbol): position \(venueQty), stops cover \(covered)")
            }
        }
        return problems
    }
}
