import Config
import Foundation
import Model

/// What the futures guard says about one position re-marked at a new mark price.
package struct MarginVerdict: Sendable, Equatable {
    package enum Action: Sendable, Equatable { case none, reduce, close }
    package var action: Action
    /// Maintenance margin / margin balance.
    package var ratio: Double
    /// The threshold crossed (`reduce_margin_ratio` or `close_margin_ratio`).
    package var limit: Double
    /// Signed position size.
    package var quantity: Double

    package init(action: Action, ratio: Double, limit: Double, quantity: Double) {
        self.action = action
        self.ratio = ratio
        self.limit = limit
        self.quantity = quantity
    }
}

/// The account the margin rule watches: Engine's `FuturesMarginBook`, over Market's `FuturesMargin` (the same rule
/// reconciliation's futures guard runs). LIVE fills it from the venue, PAPER and backtests from the paper book. The
/// guard itself stays free of venue code.
package protocol MarginBook: Sendable {
    /// Re-marks `symbol` at `mark` and evaluates it; nil when no such position is held.
    mutating func mark(_ symbol: String, at mark: Double) -> MarginVerdict?
    /// The guard closed half of it.
    mutating func halve(_ symbol: String)
    /// The guard closed it.
    mutating func close(_ symbol: String)
}

/// Which rule of the between-cycle guard acted.
package enum GuardRule: String, Codable, Sendable, Equatable {
    /// The futures guard on a mark price (`futures.reduce_margin_ratio`, `close_margin_ratio`).
    case margin
    /// `circuit_breakers.flash_move`.
    case flashMove = "flash_move"
    /// `circuit_breakers.stream_lost_seconds` / `on_stream_lost`.
    case streamLost = "stream_lost"
}

/// What the guard does. It only ever reduces risk: it never opens or adds to a position.
package enum GuardActionKind: String, Codable, Sendable, Equatable {
    /// No new entries until the next cycle has seen it.
    case haltEntries = "halt_entries"
    /// Close every position reduce-only (and no new entries).
    case flatten
    /// Close half of one position reduce-only.
    case reduce
    /// Close one position reduce-only.
    case close
}

/// `guard_action`: recorded before the action is carried out.
package struct GuardAction: Codable, Sendable, Equatable {
    package var rule: GuardRule
    package var action: GuardActionKind
    package var symbol: String?
    package var value: Double?
    package var limit: Double?
    package var detail: String
    /// When the guard saw it (Unix ms of the update).
    package var timeMs: Int64
    /// The price that tripped it (the mark, for the margin rule).
    package var price: Double?
}

/// Protects positions between cycles, on every price update (stream marks, quotes and trades; in a backtest, the
/// bars). Pure and deterministic: the caller feeds updates and the stream state, records each returned action in
/// the ledger, and carries it out. The same type runs in PAPER, LIVE and backtests.
package struct BetweenCycleGuard: Sendable {
    package var flash: FlashMoveLimit
    package var streamLostSeconds: Double
    package var onStreamLost: StreamLostAction

    /// The futures book the margin rule watches (LIVE and PAPER on Binance, backtests with leverage); nil = no margin
    /// rule (spot).
    package var margin: (any MarginBook)?

    /// Prices within the flash window, per symbol, oldest first.
    private var window: [String: [(timeMs: Int64, price: Double)]] = [:]
    /// Symbols whose flash move has tripped and not yet calmed down (no second action for the same move).
    private var flashTripped: Set<String> = []
    /// Positions halved since their ratio last stood below `reduce_margin_ratio` (halving an isolated position does not
    /// lower its ratio, so it is halved once; `close` still acts).
    private var reduced: Set<String> = []
    /// Streams down, with the time each went down.
    private var down: [String: Int64] = [:]
    private var lostTripped = false
    /// Set once the guard halted entries (or flattened): the next cycle halts.
    package private(set) var haltReason: String?

    package init(policy: PolicyConfig) {
        flash = policy.circuitBreakers.flashMove
        streamLostSeconds = policy.circuitBreakers.streamLostSeconds
        onStreamLost = policy.circuitBreakers.onStreamLost
    }

    /// A price of `symbol` at `timeMs`; `isMark` when it is the venue's mark (the margin rule's input).
    package mutating func observe(symbol: String, price: Double, timeMs: Int64, isMark: Bool) -> [GuardAction] {
        var actions: [GuardAction] = []
        observe(symbol: symbol, price: price, timeMs: timeMs, isMark: isMark, into: &actions)
        return actions
    }

    /// A bar (backtests): its open, extremes and close in time order within the bar, and its own range when the bar
    /// is no longer than the flash window. Each point is also a mark for the margin rule, so a position is judged at
    /// the bar's adverse extreme.
    package mutating func observe(symbol: String, bar: Candle, interval: BarInterval) -> [GuardAction] {
        let startMs = bar.time * 1_000, lengthMs = interval.seconds * 1_000
        let upFirst = bar.close < bar.open  // a falling bar most likely made its high first
        var actions: [GuardAction] = []
        observe(symbol: symbol, price: bar.open, timeMs: startMs, isMark: true, into: &actions)
        observe(symbol: symbol, price: upFirst ? bar.high : bar.low, timeMs: startMs + lengthMs / 3, isMark: true, into: &actions)
        observe(symbol: symbol, price: upFirst ? bar.low : bar.high, timeMs: startMs + 2 * lengthMs / 3, isMark: true, into: &actions)
        observe(symbol: symbol, price: bar.close, timeMs: startMs + lengthMs - 1, isMark: true, into: &actions)
        return actions
    }

    private mutating func observe(symbol: String, price: Double, timeMs: Int64, isMark: Bool, into actions: inout [GuardAction]) {
        guard price > 0, price.isFinite else { return }
        if let a = flashMove(symbol: symbol, price: price, timeMs: timeMs) { actions.append(a) }
        if isMark, let a = margin(symbol: symbol, mark: price, timeMs: timeMs) { actions.append(a) }
    }

    private mutating func flashMove(symbol: String, price: Double, timeMs: Int64) -> GuardAction? {
        let spanMs = Int64(flash.seconds * 1_000)
        // In place (one lookup, no copy of the window), and the window's extremes in the same pass.
        func slide(_ w: inout [(timeMs: Int64, price: Double)]) -> (low: Double, high: Double) {
            w.removeAll { $0.timeMs < timeMs - spanMs || $0.timeMs > timeMs }
            w.append((timeMs, price))
            var low = price, high = price
            for point in w {
                low = min(low, point.price)
                high = max(high, point.price)
            }
            return (low, high)
        }
        let (low, high) = slide(&window[symbol, default: []])
        guard low > 0 else { return nil }
        // The move that ends at this price: up from the window's low, or down from its high.
        let up = (price / low - 1) * 100, downMove = (1 - price / high) * 100
        let move = max(up, downMove)
        guard move >= flash.pct else {
            if (high / low - 1) * 100 < flash.pct { flashTripped.remove(symbol) }
            return nil
        }
        guard !flashTripped.contains(symbol) else { return nil }
        flashTripped.insert(symbol)
        let direction = up >= downMove ? "up" : "down"
        let detail = "\(symbol) moved \(direction) \(Format.number(move))% within \(Format.number(flash.seconds)) s (limit \(Format.number(flash.pct))%)"
        let kind: GuardActionKind = flash.action == .flatten ? .flatten : .haltEntries
        let action = GuardAction(rule: .flashMove, action: kind, symbol: symbol, value: move, limit: flash.pct, detail: detail, timeMs: timeMs,
                                 price: price)
        haltReason = Self.haltReason(of: action)
        return action
    }

    private mutating func margin(symbol: String, mark: Double, timeMs: Int64) -> GuardAction? {
        guard var book = margin else { return nil }
        // Moved out while it is marked, so that marking mutates the one copy instead of copying the book.
        margin = nil
        defer { margin = book }
        guard let v = book.mark(symbol, at: mark) else { return nil }
        guard v.action != .none else {
            reduced.remove(symbol)
            return nil
        }
        if v.action == .close {
            book.close(symbol)
            reduced.remove(symbol)
            return GuardAction(rule: .margin, action: .close, symbol: symbol, value: v.ratio, limit: v.limit,
                               detail: "margin ratio \(Format.number(v.ratio)) above \(v.limit) at mark \(Format.number(mark)): close \(Format.number(abs(v.quantity))) \(symbol)",
                               timeMs: timeMs, price: mark)
        }
        guard !reduced.contains(symbol) else { return nil }
        reduced.insert(symbol)
        book.halve(symbol)
        return GuardAction(rule: .margin, action: .reduce, symbol: symbol, value: v.ratio, limit: v.limit,
                           detail: "margin ratio \(Format.number(v.ratio)) above \(v.limit) at mark \(Format.number(mark)): close half of \(Format.number(abs(v.quantity))) \(symbol)",
                           timeMs: timeMs, price: mark)
    }

    /// A stream went down at `timeMs`.
    package mutating func streamDown(_ stream: String, timeMs: Int64) {
        if down[stream] == nil { down[stream] = timeMs }
    }

    /// A stream is up again.
    package mutating func streamUp(_ stream: String) {
        down[stream] = nil
        if down.isEmpty { lostTripped = false }
    }

    /// Whether a stream has been down past `stream_lost_seconds`.
    package var streamsLost: Bool { lostTripped }

    /// The clock moved to `timeMs`: a stream down past `stream_lost_seconds` halts entries (and with `flatten`,
    /// closes positions), once per outage.
    package mutating func tick(timeMs: Int64) -> [GuardAction] {
        guard !lostTripped, let since = down.values.min() else { return [] }
        let seconds = Double(timeMs - since) / 1_000
        guard seconds >= streamLostSeconds else { return [] }
        lostTripped = true
        let names = down.keys.sorted().joined(separator: ", ")
        let detail = "streams down for \(Format.number(seconds)) s (\(names)); limit \(Format.number(streamLostSeconds)) s"
        let action = GuardAction(rule: .streamLost, action: onStreamLost == .flatten ? .flatten : .haltEntries, symbol: nil,
                                 value: seconds, limit: streamLostSeconds, detail: detail, timeMs: timeMs, price: nil)
        haltReason = Self.haltReason(of: action)
        return [action]
    }

    /// Clears the halt once a cycle has acted on it.
    package mutating func clearHalt() { haltReason = nil }

    /// A halt recorded before a restart that no cycle has acted on yet (`GuardKeeper.restoring`).
    package mutating func restoreHalt(_ reason: String) {
        if haltReason == nil { haltReason = reason }
    }

    /// The halt an action leaves for the next cycle (nil for the margin rule's reduce and close).
    package static func haltReason(of action: GuardAction) -> String? {
        guard action.action == .haltEntries || action.action == .flatten else { return nil }
        return switch action.rule {
        case .flashMove: "flash move: \(action.detail)"
        case .streamLost: "stream lost: \(action.detail)"
        case .margin: nil
        }
    }
}

/// The guard shared by the watch between cycles and the cycle itself, with the actions it took since the last cycle.
package final class GuardKeeper: @unchecked Sendable {
    private let lock = NSLock()
    private var guardState: BetweenCycleGuard
    private var sinceCycle: [GuardAction] = []
    private var messagesSinceCycle: [StreamMessageKind: Int] = [:]

    package init(_ guardState: BetweenCycleGuard) {
        self.guardState = guardState
    }

    /// Runs `body` on the guard; the actions it returns are kept for the next cycle's summary.
    @discardableResult
    package func apply(_ body: (inout BetweenCycleGuard) -> [GuardAction]) -> [GuardAction] {
        lock.withLock {
            let actions = body(&guardState)
            sinceCycle += actions
            return actions
        }
    }

    package func update(_ body: (inout BetweenCycleGuard) -> Void) {
        lock.withLock { body(&guardState) }
    }

    /// One stream message arrived (counted for the next cycle's summary, whatever the guard made of it).
    package func countMessage(_ kind: StreamMessageKind) {
        lock.withLock { messagesSinceCycle[kind, default: 0] += 1 }
    }

    /// For a starting cycle: the actions and the stream messages since the last one, and why new entries must stop (a
    /// trip since the last cycle, or streams still lost). Clears all three.
    package func takeForCycle() -> (actions: [GuardAction], messages: [StreamMessageCount], haltReason: String?) {
        lock.withLock {
            let actions = sinceCycle
            sinceCycle = []
            let messages = StreamMessageCount.list(messagesSinceCycle)
            messagesSinceCycle = [:]
            var reason = guardState.haltReason
            if reason == nil, guardState.streamsLost { reason = "stream lost: the venue streams are still down" }
            guardState.clearHalt()
            return (actions, messages, reason)
        }
    }
}

/// Payload of `stream_connected`, `stream_disconnected`, `stream_stalled` and `stream_resync`.
package struct StreamNote: Codable, Sendable, Equatable {
    package var stream: String
    package var detail: String

    package init(stream: String, detail: String) {
        self.stream = stream
        self.detail = detail
    }
}

extension EventType where Payload == GuardAction {
    package static var guardAction: Self { Self(.guardAction) }
}

extension EventType where Payload == StreamNote {
    package static var streamConnected: Self { Self(.streamConnected) }
    package static var streamDisconnected: Self { Self(.streamDisconnected) }
    package static var streamStalled: Self { Self(.streamStalled) }
    package static var streamResync: Self { Self(.streamResync) }
    /// The four stream events.
    package static var streamEvents: [Self] { [.streamConnected, .streamDisconnected, .streamStalled, .streamResync] }
}
