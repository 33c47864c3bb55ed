import Foundation
import Model

/// Why the candle store could not give a symbol's series.
public enum StoredSeriesError: Error, Sendable, CustomStringConvertible {
    /// Nothing stored at the bar length or at one dividing it; `stored` lists what is held for the symbol.
    case notStored(symbol: String, timeframe: String, root: String, stored: [String])
    /// Several exchanges hold usable bars and none was named.
    case severalExchanges(symbol: String, exchanges: [String])
    case unreadable(MarketError)

    public var description: String {
        switch self {
        case let .notStored(symbol, timeframe, root, stored):
            "no stored \(symbol) candles at \(timeframe) or a bar length dividing it under \(root)"
                + (stored.isEmpty ? "" : " (stored: \(stored.joined(separator: ", ")))")
                + "; run agent data download --exchange E --symbol \(symbol) --timeframe \(timeframe) --from ..."
        case let .severalExchanges(symbol, exchanges):
            "\(symbol) is stored from several exchanges (\(exchanges.joined(separator: ", "))): name the exchange"
        case let .unreadable(error): "\(error)"
        }
    }
}

extension CandleStore {
    /// The bar lengths stored for `symbol`, per exchange, read from the file names alone (no file is opened).
    public func held(symbol: String) -> [(exchange: String, interval: BarInterval)] {
        let fm = FileManager.default
        let stemPrefix = Self.fileSymbol(symbol) + "-"
        var out: [(exchange: String, interval: BarInterval)] = []
        for exchange in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() {
            let dir = (root as NSString).appendingPathComponent(exchange)
            for name in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            where name.hasPrefix(stemPrefix) && name.hasSuffix(".candles") {
                let bar = String(name.dropFirst(stemPrefix.count).dropLast(".candles".count))
                if let interval = BarInterval(bar) { out.append((exchange, interval)) }
            }
        }
        return out
    }

    /// `symbol`'s stored bars at `interval`: the longest stored bar length that divides it, resampled up when finer
    /// (only complete buckets are kept; incomplete ones become gaps). `exchange` picks among several holders. The
    /// one lookup of `agent backtest --symbol` and of `sim.stored` replays.
    public func series(symbol: String, exchange: String?, interval: Int64) throws(StoredSeriesError) -> CandleSeries {
        let timeframe = BarInterval(seconds: interval)?.description ?? "\(interval)s"
        let held = held(symbol: symbol).filter { exchange == nil || $0.exchange == exchange }
        let usable = held.filter { interval % $0.interval.seconds == 0 }
        guard let pick = usable.max(by: { $0.interval.seconds < $1.interval.seconds }) else {
            throw .notStored(symbol: symbol, timeframe: timeframe, root: root, stored: held.map { "\($0.exchange) \($0.interval)" })
        }
        let exchanges = Set(usable.map(\.exchange))
        if exchanges.count > 1 { throw .severalExchanges(symbol: symbol, exchanges: exchanges.sorted()) }
        let base: CandleSeries
        do { base = try load(exchange: pick.exchange, symbol: symbol, interval: pick.interval.seconds) } catch { throw .unreadable(error) }
        guard let series = base.resampled(to: interval) else {
            throw .unreadable(MarketError(source: base.source, message: "cannot resample \(pick.interval) bars to \(timeframe)"))
        }
        return series
    }
}

extension StoredSeriesError {
    /// Whether naming the exchange would settle it.
    public var isSeveralExchanges: Bool {
        if case .severalExchanges = self { true } else { false }
    }
}
