import Config
import Engine
import Execution
import Foundation
import Ledger
import LiveExecution
import Logging
import Market
import Model
import Pipeline
import Risk
import Streams
import Venues

/// Between `--interval` cycles in PAPER and LIVE on coinbase or binance: the venue's streams stay open, every update
/// goes through the between-cycle guard, and user-stream fills reach the ledger as they happen.
///
/// Streams are read all the time; updates are acted on only between cycles (the cycle owns the book while it runs),
/// so what arrives during a cycle waits for its end. While a stream is down, prices are polled over REST. Every
/// connect, disconnect, stall and resync is a ledger event, and every guard action is recorded before it is carried
/// out. Events are filed under the cycle that ran last, so `agent show` of that cycle lists them.
final class BetweenCycleWatch: @unchecked Sendable {
    let config: LoadedConfig
    let runner: CycleRunner
    let ledger: Ledger
    let market: any VenueMarketData
    let liveDesk: LiveDesk?
    let keeper: GuardKeeper
    let logger: Logger
    let symbols: [String]

    private let inbox = Inbox()
    private var tasks: [Task<Void, Never>] = []
    private let lock = NSLock()
    private var downStreams: Set<String> = []
    /// The streams that carry our orders and fills (LIVE): while one is down, the REST fallback reconciles.
    private var accountStreams: Set<String> = []
    private var quotes: [String: (bid: Double, ask: Double)] = [:]

    enum Update: Sendable {
        case event(StreamEvent)
        case status(StreamStatus)
    }

    init(config: LoadedConfig, runner: CycleRunner, ledger: Ledger, market: any VenueMarketData, liveDesk: LiveDesk?,
         keeper: GuardKeeper, logger: Logger) {
        self.config = config
        self.runner = runner
        self.ledger = ledger
        self.market = market
        self.liveDesk = liveDesk
        self.keeper = keeper
        self.logger = logger
        var symbols = UniverseBuilder.candidateSymbols(config.universe)
        if !symbols.contains(config.signals.regime.benchmark) { symbols.append(config.signals.regime.benchmark) }
        self.symbols = symbols
    }

    var settings: StreamSettings {
        let s = config.app.streams
        return StreamSettings(pingInterval: .milliseconds(Int64(s.pingSeconds * 1_000)),
                              stallTimeout: .milliseconds(Int64(s.stallSeconds * 1_000)),
                              backoff: Backoff(initial: .milliseconds(Int64(s.backoffInitialMs)),
                                               maximum: .milliseconds(Int64(s.backoffMaxSeconds * 1_000))),
                              closeTimeout: .milliseconds(Int64(min(2, s.stallSeconds) * 1_000)))
    }

    /// Opens the venue's streams (once, before the first wait).
    func start() throws {
        let feed = inbox
        let sink: StreamSink = { feed.put(.event($0)) }
        let status: @Sendable (StreamStatus) async -> Void = { feed.put(.status($0)) }
        var subscriptions: [any StreamSubscription] = []
        var keepAlive: BinanceUserStream?
        switch runner.exchange {
        case .binance:
            let c = config.app.venues.binance
            let names = BinanceStreamNames(quote: c.quote)
            // Klines of the cycle's own bar interval.
            subscriptions.append(BinanceMarketStream.market(baseURL: c.wsBaseUrl, symbols: symbols, interval: CandleInterval.cycle.bar,
                                                            names: names, sink: sink))
            subscriptions.append(BinanceMarketStream.book(baseURL: c.wsBaseUrl, symbols: symbols, names: names, sink: sink))
            if runner.mode == .live, let futures = liveDesk?.venue as? any ListenKeySource {
                let user = BinanceUserStream(baseURL: c.wsBaseUrl, keys: futures, names: names, sink: sink)
                subscriptions.append(user)
                lock.withLock { _ = accountStreams.insert(user.name) }
                keepAlive = user
            }
        case .coinbase:
            var jwt: (@Sendable () throws -> String)?
            if runner.mode == .live, let credentials = try? CoinbaseCredentials.fromEnvironment() {
                jwt = { try CoinbaseJWT.websocketToken(credentials: credentials, now: UTC.now()) }
            }
            let stream = CoinbaseStream(baseURL: config.app.venues.coinbase.wsBaseUrl, products: symbols, jwt: jwt, sink: sink)
            subscriptions.append(stream)
            if jwt != nil { lock.withLock { _ = accountStreams.insert(stream.name) } }
        default:
            return
        }
        let settings = self.settings
        let logger = self.logger
        for s in subscriptions {
            tasks.append(Task { await StreamConnection(subscription: s, settings: settings, logger: logger).run(status: status) })
        }
        if let keepAlive {
            let every = Duration.milliseconds(Int64(config.app.streams.listenKeyKeepaliveMinutes * 60_000))
            tasks.append(Task {
                await keepAlive.keepAlive(every: every) { error in
                    feed.put(.status(.disconnected(stream: "binance.private", reason: "listenKey keepalive failed: \(error)",
                                                     reconnectIn: .zero)))
                }
            })
        }
    }

    func stop() {
        for t in tasks { t.cancel() }
    }

    /// Acts on updates until `due` (or a stop signal): the guard, fills, stream events; REST polling while a stream
    /// is down. `cycleId` is the cycle that ran last.
    func watch(until due: ContinuousClock.Instant, cycleId: String, stop: StopSignal) async {
        let clock = ContinuousClock()
        var nextPoll = clock.now
        let poll = Duration.milliseconds(Int64(config.app.streams.restPollSeconds * 1_000))
        while clock.now < due, !stop.isStopped {
            let batch = inbox.takeAll()
            if batch.isEmpty { try? await Task.sleep(for: min(.milliseconds(20), due - clock.now)) }
            do {
                for update in batch { try await handle(update, cycleId: cycleId) }
                try await act(keeper.apply { $0.tick(timeMs: UTC.nowMs()) }, cycleId: cycleId)
                if lock.withLock({ !downStreams.isEmpty }), clock.now >= nextPoll {
                    nextPoll = clock.now + poll
                    try await pollOverREST(cycleId: cycleId)
                }
            } catch {
                logger.error("between-cycle watch: \(error)")
            }
        }
    }

    private func handle(_ update: Update, cycleId: String) async throws {
        let now = UTC.now()
        switch update {
        case .status(let s):
            switch s {
            case .connected(let stream, let url, let attempt):
                lock.withLock { _ = downStreams.remove(stream) }
                keeper.update { $0.streamUp(stream) }
                try note(.streamConnected, StreamNote(stream: stream, detail: "connected to \(url) (attempt \(attempt + 1))"), cycleId, now)
            case .disconnected(let stream, let reason, let wait):
                lock.withLock { _ = downStreams.insert(stream) }
                keeper.update { $0.streamDown(stream, timeMs: UTC.nowMs()) }
                try note(.streamDisconnected, StreamNote(stream: stream, detail: "\(reason); reconnecting in \(wait)"), cycleId, now)
            case .stalled(let stream, let silent):
                try note(.streamStalled, StreamNote(stream: stream, detail: "no message for \(silent): reconnecting"), cycleId, now)
            }
        case .event(let e):
            keeper.countMessage(e.kind)
            try await handle(e, cycleId: cycleId, now: now)
        }
    }

    private func handle(_ e: StreamEvent, cycleId: String, now: Int64) async throws {
        switch e {
        case .resync(let stream, let reason):
            try note(.streamResync, StreamNote(stream: stream, detail: "\(reason); resubscribed, resyncing over REST"), cycleId, now)
            if let liveDesk { _ = try await liveDesk.reconcile(cycleId: cycleId, time: now, act: true) }
        case .listenKeyExpired:
            try note(.streamResync, StreamNote(stream: "binance.private", detail: "listenKeyExpired: reconnecting with a new key"), cycleId, now)
        case .order(let u):
            guard let liveDesk else { return }
            let order = VenueOrder(symbol: u.symbol, orderId: "", clientOrderId: u.clientOrderId, side: u.side, type: u.type,
                                   status: u.status, quantity: Dec.from(u.quantity), filledQuantity: Dec.from(u.filledQuantity),
                                   averagePrice: u.averagePrice > 0 ? Dec.from(u.averagePrice) : (u.lastFillPrice > 0 ? Dec.from(u.lastFillPrice) : nil))
            if let purpose = try await liveDesk.recordStreamUpdate(order, cycleId: cycleId, time: now) {
                logger.info("fill from the user stream", metadata: ["client_order_id": "\(u.clientOrderId)", "purpose": "\(purpose.rawValue)"])
            }
        case .positions(let positions, _, _):
            // ACCOUNT_UPDATE carries the isolated wallet: the margin balance is it plus the unrealised P&L.
            keeper.update { g in
                guard var book = g.margin as? FuturesMarginBook else { return }
                for p in positions {
                    let mark = p.entryPrice + (p.quantity == 0 ? 0 : p.unrealizedPnl / p.quantity)
                    book.hold(VenuePosition(symbol: p.symbol, quantity: Dec.from(p.quantity), entryPrice: Dec.from(p.entryPrice),
                                            markPrice: Dec.from(mark), unrealizedPnl: Dec.from(p.unrealizedPnl), leverage: 0,
                                            marginType: p.marginType, liquidationPrice: 0,
                                            isolatedMargin: Decimal(p.marginType == .isolated ? p.isolatedWallet + p.unrealizedPnl : 0)))
                }
                g.margin = book
            }
        case .marginCall(let positions, let timeMs):
            for p in positions {
                guard let mark = p.markPrice else { continue }
                try await act(keeper.apply { $0.observe(symbol: p.symbol, price: mark, timeMs: timeMs, isMark: true) }, cycleId: cycleId)
            }
        case .quote(let symbol, let bid, let ask, _):
            lock.withLock { quotes[symbol] = (bid, ask) }
            if let p = e.price {
                try await act(keeper.apply { $0.observe(symbol: p.symbol, price: p.price, timeMs: p.timeMs, isMark: false) }, cycleId: cycleId)
            }
        case .mark, .trade, .bar:
            guard let p = e.price else { return }
            let isMark = if case .mark = e { true } else { false }
            try await act(keeper.apply { $0.observe(symbol: p.symbol, price: p.price, timeMs: p.timeMs, isMark: isMark) }, cycleId: cycleId)
        case .heartbeat:
            break
        }
    }

    /// Records and carries out the guard's actions, ledger first.
    private func act(_ actions: [GuardAction], cycleId: String) async throws {
        for a in actions {
            let now = UTC.now()
            try ledger.append(NewEvent.json(cycleId, .guardAction, now, symbol: a.symbol, a))
            logger.warning("between-cycle guard", metadata: ["rule": "\(a.rule.rawValue)", "action": "\(a.action.rawValue)", "detail": "\(a.detail)"])
            switch a.action {
            case .haltEntries:
                break
            case .flatten:
                if let liveDesk {
                    _ = try await liveDesk.flatten(cycleId: cycleId, time: now, reason: "\(a.rule.rawValue): \(a.detail)")
                } else {
                    try flattenPaper(reason: "\(a.rule.rawValue): \(a.detail)", cycleId: cycleId, time: now)
                }
            case .reduce, .close:
                if let liveDesk, let symbol = a.symbol {
                    try await liveDesk.marginExit(a.action == .close ? .close : .reduce, symbol: symbol, markPrice: a.price ?? 0,
                                                  reason: a.detail, cycleId: cycleId, time: now)
                } else {
                    try recordPaper(cycleId: cycleId, time: now) { book in
                        PaperDesk.guardExit(book, a, settings: self.config.app.paper, time: now)
                    }
                }
            }
        }
    }

    /// PAPER: the paper book closed at the streams' latest quotes, recorded as the cycle would.
    private func flattenPaper(reason: String, cycleId: String, time: Int64) throws {
        let tapes = lock.withLock { quotes }.map { symbol, q in
            SymbolSnapshot(symbol: symbol, candles: [], bid: q.bid, ask: q.ask, bidDepthUSD: 0, askDepthUSD: 0, volume24hUSD: 0)
        }
        try recordPaper(cycleId: cycleId, time: time) { book in
            PaperDesk.flatten(book, snapshot: MarketSnapshot(time: time, symbols: tapes), settings: self.config.app.paper, time: time,
                              reason: reason)
        }
    }

    /// PAPER: the events `body` makes of the paper book, recorded as the cycle would.
    private func recordPaper(cycleId: String, time: Int64, _ body: (Portfolio) -> [PortfolioEvent]) throws {
        let start = config.app.portfolio.startingEquityUsd
        let (portfolio, seq) = try runner.keeper.take(store: ledger, mode: runner.mode, startingEquity: start,
                                                      history: runner.bookHistory)
        var journal = CycleJournal(store: ledger, cycleId: cycleId, time: time, portfolio: portfolio, seq: seq)
        try journal.catchUp()
        try journal.record(body(journal.portfolio))
        runner.keeper.put(journal.portfolio, seq: journal.seq)
    }

    /// While a stream is down: prices over REST (Binance: the positions' marks, for the margin rule too), and in LIVE
    /// while the stream of our orders is down, a reconciliation (account, positions, open orders), so fills the user
    /// stream would have brought are still found between cycles and a filled take-profit rung still resizes the stop.
    private func pollOverREST(cycleId: String) async throws {
        let accountDown = lock.withLock { !downStreams.isDisjoint(with: accountStreams) }
        if let liveDesk, accountDown { _ = try await liveDesk.reconcile(cycleId: cycleId, time: UTC.now(), act: true) }
        let nowMs = UTC.nowMs()
        if let futures = liveDesk?.venue.futures {
            for p in try await futures.positions() {
                try await act(keeper.apply { $0.observe(symbol: p.symbol, price: Dec.double(p.markPrice), timeMs: nowMs, isMark: true) },
                              cycleId: cycleId)
            }
        }
        let held = runner.portfolio?.account.positions.map(\.symbol) ?? []
        for symbol in Set(held).sorted() {
            guard let t = try? await market.ticker(symbol: symbol) else { continue }
            try await act(keeper.apply { $0.observe(symbol: symbol, price: t.last, timeMs: nowMs, isMark: false) }, cycleId: cycleId)
        }
    }

    /// After a cycle: the margin rule watches the venue's positions with their brackets (LIVE on Binance), or the
    /// paper book, each position at its own leverage (PAPER on Binance).
    func refreshMarginBook() async {
        if liveDesk == nil, let rule = runner.paperMargin, let portfolio = runner.portfolio {
            let book = rule.book(portfolio, marks: [:])
            keeper.update { $0.margin = book }
            return
        }
        guard let futures = liveDesk?.venue.futures else { return }
        do {
            let positions = try await futures.positions()
            var brackets: [String: [LeverageBracket]] = [:]
            for p in positions { brackets[p.symbol] = try await futures.leverageBrackets(symbol: p.symbol) }
            let wallet = try await futures.balances().filter { LiveDesk.quoteAssets.contains($0.asset) }.reduce(0) { $0 + Dec.double($1.total) }
            let book = FuturesMarginBook(positions: positions, brackets: brackets, walletBalance: wallet,
                                         thresholds: FuturesThresholds(config.policy.futures))
            keeper.update { $0.margin = book }
        } catch {
            logger.warning("between-cycle watch: cannot read the futures positions for the margin guard: \(error)")
        }
    }

    private func note(_ type: EventType<StreamNote>, _ value: StreamNote, _ cycleId: String, _ time: Int64) throws {
        try ledger.append(NewEvent.json(cycleId, type, time, symbol: nil, value))
    }
}

/// Updates from the stream tasks, kept in arrival order until the watch takes them (a cycle may be running).
private final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [BetweenCycleWatch.Update] = []
    /// Beyond this many, the oldest price updates are dropped first (orders and statuses are always kept).
    private let limit = 100_000

    func put(_ u: BetweenCycleWatch.Update) {
        lock.withLock {
            items.append(u)
            if items.count > limit, let i = items.firstIndex(where: { if case .event(let e) = $0 { e.price != nil } else { false } }) {
                items.remove(at: i)
            }
        }
    }

    func takeAll() -> [BetweenCycleWatch.Update] {
        lock.withLock {
            defer { items = [] }
            return items
        }
    }
}
