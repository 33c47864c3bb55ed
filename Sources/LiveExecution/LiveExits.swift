import Config
import Engine
import Execution
import Foundation
import Ledger
import Market
import Model
import Pipeline
import Venues

// The exits of LIVE positions on the venue (the ladder, moved and resized stops), fills pushed by the user stream,
// and the futures guard's margin exits: everything LiveDesk sends between reconciliations.
extension LiveDesk {
    /// The exit policy on the venue (`signals.yaml` `exits`, the same rules PAPER and backtests simulate), for the
    /// positions the agent manages:
    /// - the time stop: past `time_stop_hours` our orders on the symbol are cancelled and the rest is closed;
    /// - the stop follows `ExitManager.trail` (breakeven after a rung, then ATR trailing; never looser) and always
    ///   covers the whole remaining quantity;
    /// - the ladder, laid out by the venue's ``ExitOrderStyle``:
    ///   - futures: each remaining rung rests as a reduce-only `TAKE_PROFIT_MARKET` beside one stop for the whole
    ///     position; a moved stop is placed before the old one is cancelled;
    ///   - spot: a resting sell holds its coins, so the position is split into slices: one bracket per remaining
    ///     rung (limit at the rung, stop trigger at the stop) and a stop-limit for the rest (``layOutSlices``).
    /// Returns the protection changes for the portfolio to record.
    package func manageExits(positions: [PaperPosition], snapshot: MarketSnapshot, plan: ExitsConfig, atrPeriod: Int,
                     cycleId: String, time: Int64) async throws -> [ProtectionUpdate] {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        var updates: [ProtectionUpdate] = []
        for position in positions.sorted(by: { $0.symbol < $1.symbol }) {
            guard let held = j.book.positions[position.symbol], held.managed, let entry = held.entryClientOrderId,
                  let tape = snapshot.symbol(position.symbol) else { continue }
            let sign: Double = position.side == .buy ? 1 : -1
            let remaining = abs(held.quantity)
            let ours = j.book.orderIds.compactMap { j.book.orders[$0] }.filter { $0.intent.symbol == position.symbol && $0.isLive }

            if Double(time - position.entryTime) >= plan.timeStopHours * 3_600 {
                for order in ours { try await cancel(order.intent, reason: "time stop", journal: &j) }
                _ = try await sender.send(LiveProtection.closeRequest(symbol: position.symbol, positionSign: sign, quantity: remaining,
                                                                      referencePrice: tape.last,
                                                                      clientOrderId: ClientOrderId.derived(from: entry, suffix: "ts")),
                                          purpose: .timeStop, parent: entry, reason: "time stop after \(Format.number(plan.timeStopHours))h",
                                          cycleId: cycleId, time: time)
                try j.reload()
                continue
            }

            var p = position
            let checkedFrom = p.managedThrough.map { $0 + tape.interval.seconds } ?? p.entryTime
            let bars = tape.candles.filter { $0.time >= checkedFrom && $0.time >= p.entryTime }
            let atr = tape.newestATR(period: atrPeriod)
            for bar in bars { ExitManager.trail(&p, bar: bar, atr: atr, plan: plan) }
            if let last = bars.last {
                updates.append(ProtectionUpdate(symbol: p.symbol, stopPrice: p.stopPrice, highWater: p.highWater, rungsTaken: p.rungsTaken,
                                                managedThrough: last.time, reason: p.stopPrice != position.stopPrice ? "trailing" : "checked"))
            }

            switch venue.exitOrders {
            case .reduceOnlyConditional:
                try await restTakeProfits(p, entry: entry, remaining: remaining, working: ours, plan: plan, sender: sender, journal: &j)
                try await moveStop(p, entry: entry, remaining: remaining, sender: sender, journal: &j)
            case .slicedBrackets:
                try await layOutSlices(p, entry: entry, remaining: remaining, plan: plan, sender: sender, journal: &j)
            }
        }
        return updates
    }

    /// Futures: every remaining rung rests as a reduce-only take-profit beside the stop (they hold nothing).
    func restTakeProfits(_ p: PaperPosition, entry: String, remaining: Double, working: [LiveBook.Order], plan: ExitsConfig,
                                 sender: LiveOrderSender, journal j: inout Journal) async throws {
        let sign: Double = p.side == .buy ? 1 : -1
        var resting = working.filter { $0.intent.purpose == .takeProfit }.reduce(0.0) { $0 + $1.unfilled }
        for rung in min(p.rungsTaken, plan.ladder.count)..<plan.ladder.count {
            guard let target = ExitManager.target(p, rung: rung, plan: plan) else { break }
            let id = ClientOrderId.derived(from: entry, suffix: "tp\(rung + 1)")
            guard j.book.orders[id] == nil else { continue }
            let quantity = min(p.initialQuantity * plan.ladder[rung].fraction, remaining - resting)
            guard quantity > remaining * 1e-6 else { break }
            _ = try await sender.send(LiveProtection.takeProfitRequest(symbol: p.symbol, positionSign: sign, quantity: quantity,
                                                                       target: target, clientOrderId: id),
                                      purpose: .takeProfit, parent: entry,
                                      reason: "take-profit rung \(rung + 1) at \(Format.number(plan.ladder[rung].r))R", rung: rung,
                                      cycleId: j.cycleId, time: j.time)
            resting += quantity
        }
        try j.reload()
    }

    /// Futures: the stop is replaced for the whole remaining quantity when the policy moved it (`replaceStops`).
    func moveStop(_ p: PaperPosition, entry: String, remaining: Double, sender: LiveOrderSender,
                          journal j: inout Journal) async throws {
        let sign: Double = p.side == .buy ? 1 : -1
        let stops = j.book.stops(on: p.symbol).filter(\.isLive)
        guard let current = stops.compactMap({ $0.intent.triggerPrice.map(Dec.double) }).first,
              Self.tighter(p.stopPrice, than: current, long: p.side == .buy) else { return }
        try await replaceStops(stops, symbol: p.symbol, entry: entry, quantity: sign * remaining, trigger: p.stopPrice,
                               reason: "stop moved from \(Format.number(current)) to \(Format.number(p.stopPrice))", journal: &j)
    }

    /// Whether `stop` is tighter than `current` by more than a basis point (a tick is below that).
    static func tighter(_ stop: Double, than current: Double, long: Bool) -> Bool {
        long ? stop > current * (1 + 1e-4) : stop < current * (1 - 1e-4)
    }

    /// One slice of a spot position's exits: a rung's bracket (`rung` set) or the runner's stop.
    struct Slice: Equatable {
        var rung: Int?
        var quantity: Decimal
        var target: Double?
    }

    /// The slices a spot position's exits should rest as: one per remaining rung (its ladder fraction of the
    /// initial size, rounded down to the symbol's step, never more than is left) and the runner (the rest, so the
    /// slices add up to exactly the remaining quantity). A rung slice below the symbol's minimum size or notional
    /// stays with the runner (the venue would refuse it, and the layout would be retried every cycle).
    static func slices(_ p: PaperPosition, remaining: Decimal, plan: ExitsConfig, rules: SymbolRules) -> [Slice] {
        var out: [Slice] = []
        var left = remaining
        for rung in min(p.rungsTaken, plan.ladder.count)..<plan.ladder.count {
            guard let target = ExitManager.target(p, rung: rung, plan: plan) else { break }
            let wanted = SymbolRules.floor(Dec.from(p.initialQuantity * plan.ladder[rung].fraction), step: rules.stepSize)
            let quantity = min(wanted, left)
            guard quantity > 0, quantity >= rules.minQuantity, quantity * Dec.from(target) >= rules.minNotional else { break }
            out.append(Slice(rung: rung, quantity: quantity, target: target))
            left -= quantity
        }
        if left > 0 { out.append(Slice(rung: nil, quantity: left, target: nil)) }
        return out
    }

    /// Spot (Coinbase): each remaining rung's slice rests as one bracket (a limit at the rung and a stop trigger at
    /// the stop on the same coins) and the rest under a stop-limit, so every coin of the position sits under the
    /// stop at all times and no two orders hold the same coins. When the layout differs from what rests (a rung
    /// filled, the size changed, the stop moved tighter), every slice is replaced: all of our exits on the symbol
    /// are cancelled first (they hold the coins), ledger first, then the new slices are placed. A slice the venue
    /// refuses falls to the runner's stop; a runner stop refused is a protection alarm.
    func layOutSlices(_ p: PaperPosition, entry: String, remaining: Double, plan: ExitsConfig, sender: LiveOrderSender,
                              journal j: inout Journal) async throws {
        let long = p.side == .buy
        let working = j.book.stops(on: p.symbol).filter(\.isLive)
        let rules = try await venue.rules(for: p.symbol)
        let size = SymbolRules.floor(Dec.from(remaining), step: rules.stepSize)
        let wanted = Self.slices(p, remaining: size, plan: plan, rules: rules)
        let current = working.compactMap { $0.intent.triggerPrice.map(Dec.double) }.min(by: { long ? $0 < $1 : $0 > $1 })
        let resting = working.map { Slice(rung: $0.intent.rung, quantity: Dec.from($0.unfilled), target: nil) }
        let sameSlices = resting.count == wanted.count && zip(resting.sorted { ($0.rung ?? 99) < ($1.rung ?? 99) }, wanted).allSatisfy {
            $0.rung == $1.rung && LiveDesk.same(Dec.double($0.quantity), Dec.double($1.quantity))
        }
        let stopMoved = current.map { Self.tighter(p.stopPrice, than: $0, long: long) } ?? true
        guard !sameSlices || stopMoved else { return }
        let stopPrice = current.map { stopMoved ? p.stopPrice : $0 } ?? p.stopPrice
        let why = current.map { stopMoved ? "stop moved from \(Format.number($0)) to \(Format.number(stopPrice))" : "slices resized" }
            ?? "exits laid out"
        for order in working { try await cancel(order.intent, reason: "\(why): replaced by new slices", journal: &j) }

        let sign: Double = long ? 1 : -1
        var uncovered: Decimal = 0
        for slice in wanted {
            guard let rung = slice.rung, let target = slice.target else { continue }
            let count = j.book.count(.takeProfit, parent: entry, rung: rung)
            let id = ClientOrderId.derived(from: entry, suffix: count == 0 ? "tp\(rung + 1)" : "tp\(rung + 1)-\(count + 1)")
            let placed = try await sender.send(LiveProtection.bracketRequest(symbol: p.symbol, positionSign: sign,
                                                                             quantity: Dec.double(slice.quantity), target: target,
                                                                             stop: stopPrice, clientOrderId: id),
                                               purpose: .takeProfit, parent: entry,
                                               reason: "take-profit rung \(rung + 1) at \(Format.number(plan.ladder[rung].r))R with its stop at \(Format.number(stopPrice)) (\(why))",
                                               rung: rung, cycleId: j.cycleId, time: j.time)
            try j.reload()
            if !placed.isLive { uncovered += slice.quantity }
        }
        let runner = (wanted.last { $0.rung == nil }?.quantity ?? 0) + uncovered
        guard runner > 0 else { return }
        let id = ClientOrderId.derived(from: entry, suffix: "sl\(j.book.count(.stop, parent: entry) + 1)")
        let placed = try await sender.send(LiveProtection.stopRequest(style: venue.exitOrders, symbol: p.symbol,
                                                                      quantity: sign * Dec.double(runner), trigger: stopPrice,
                                                                      offsetPct: settings.stopLimitOffsetPct, clientOrderId: id),
                                           purpose: .stop, parent: entry,
                                           reason: "stop for the \(Format.number(Dec.double(runner))) not under a rung's bracket (\(why))",
                                           cycleId: j.cycleId, time: j.time)
        try j.reload()
        if !(placed.isLive || placed.status == .filled) {
            // Nothing else to fall back to here; reconciliation replaces the stop for the full size next cycle.
            try j.emit(.protectionAlarm, symbol: p.symbol, ProtectionAlarm(
                symbol: p.symbol, entryClientOrderId: entry,
                problem: "stop \(id) for \(Format.number(Dec.double(runner))) could not be placed: \(placed.status.rawValue) \(placed.error ?? "")",
                action: "reconciliation places a stop for the full size"))
        }
    }

    /// Replaces `stops` by one stop for `quantity` (signed) at `trigger`: on futures the new one is placed first and the
    /// old ones cancelled once it works; on spot the old ones go first, because they hold the coins.
    func replaceStops(_ stops: [LiveBook.Order], symbol: String, entry: String, quantity: Double, trigger: Double,
                              reason: String, journal j: inout Journal) async throws {
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        if stopsHoldTheirCoins {
            for stop in stops { try await cancel(stop.intent, reason: reason, journal: &j) }
        }
        let id = ClientOrderId.derived(from: entry, suffix: "sl\(j.book.count(.stop, parent: entry) + 1)")
        let placed = try await sender.send(LiveProtection.stopRequest(style: venue.exitOrders, symbol: symbol, quantity: quantity,
                                                                      trigger: trigger, offsetPct: settings.stopLimitOffsetPct,
                                                                      clientOrderId: id),
                                           purpose: .stop, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        try j.reload()
        if !stopsHoldTheirCoins, placed.isLive {
            for stop in stops { try await cancel(stop.intent, reason: "replaced by \(id): \(reason)", journal: &j) }
        }
    }

    /// An order update from the user stream, recorded at once: the new state, and the fill it adds beyond what the
    /// ledger already has (reconciliation later finds nothing new, so nothing is counted twice). A take-profit fill
    /// resizes the stop to what remains. Returns the purpose of a filled order, or nil when nothing was new.
    @discardableResult
    package func recordStreamUpdate(_ order: VenueOrder, cycleId: String, time: Int64) async throws -> LiveOrderPurpose? {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        guard let known = j.book.orders[order.clientOrderId] else { return nil }
        let filled = order.filledQuantity
        guard filled > known.filled || order.status != known.result?.status else { return nil }
        try record(LiveOrderSender.result(order, purpose: known.intent.purpose, source: "stream"), intent: known.intent,
                   previous: known.filled, into: &j)
        guard filled > known.filled else { return nil }
        if known.intent.purpose == .takeProfit { try await resizeStops(symbol: order.symbol, journal: &j) }
        return known.intent.purpose
    }

    /// The working stops of a managed position, replaced by one for its current size at the same trigger when they
    /// cover more or less than it (a take-profit rung filled between cycles).
    func resizeStops(symbol: String, journal j: inout Journal) async throws {
        guard let position = j.book.positions[symbol], position.managed, let entry = position.entryClientOrderId else { return }
        let stops = j.book.stops(on: symbol).filter(\.isLive)
        let covered = stops.reduce(0.0) { $0 + $1.unfilled }
        let size = abs(position.quantity)
        guard let trigger = stops.compactMap({ $0.intent.triggerPrice.map(Dec.double) }).first, !Self.same(covered, size) else { return }
        if size < 1e-12 {
            for stop in stops { try await cancel(stop.intent, reason: "the position is closed", journal: &j) }
            return
        }
        try await replaceStops(stops, symbol: symbol, entry: entry, quantity: position.quantity, trigger: trigger,
                               reason: "stop resized from \(Format.number(covered)) to the remaining \(Format.number(size))", journal: &j)
    }

    /// The futures guard acting between cycles on a mark price: closes half (`reduce`) or all (`close`, stops cancelled
    /// first) of a managed position reduce-only, ledger first. Returns false when the agent does not manage it.
    @discardableResult
    package func marginExit(_ action: FuturesRisk.Action, symbol: String, markPrice: Double, reason: String, cycleId: String,
                    time: Int64) async throws -> Bool {
        var j = Journal(desk: self, cycleId: cycleId, time: time, act: true, book: try LiveBook.rebuild(ledger: ledger))
        guard action != .none, let ours = j.book.positions[symbol], ours.managed, let entry = ours.entryClientOrderId else { return false }
        let held = try await positionsOnVenue()[symbol].map { Dec.double($0.quantity) } ?? ours.quantity
        try await marginExit(action, symbol: symbol, quantity: held, entry: entry, markPrice: markPrice, reason: reason, journal: &j)
        return true
    }

    func marginExit(_ action: FuturesRisk.Action, symbol: String, quantity: Double, entry: String, markPrice: Double,
                            reason: String, journal j: inout Journal) async throws {
        let sender = LiveOrderSender(venue: venue, recorder: recorder)
        guard abs(quantity) > 1e-12 else { return }
        if action == .close {
            for stop in j.book.stops(on: symbol) where stop.isLive {
                try await cancel(stop.intent, reason: "futures guard closes the position", journal: &j)
            }
            _ = try await sender.send(
                LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity), referencePrice: markPrice,
                                            clientOrderId: ClientOrderId.derived(from: entry, suffix: "gc\(j.book.count(.guardClose, parent: entry) + 1)")),
                purpose: .guardClose, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        } else {
            _ = try await sender.send(
                LiveProtection.closeRequest(symbol: symbol, positionSign: quantity, quantity: abs(quantity) / 2, referencePrice: markPrice,
                                            clientOrderId: ClientOrderId.derived(from: entry, suffix: "gr\(j.book.count(.guardReduce, parent: entry) + 1)")),
                purpose: .guardReduce, parent: entry, reason: reason, cycleId: j.cycleId, time: j.time)
        }
        try j.reload()
    }
}
