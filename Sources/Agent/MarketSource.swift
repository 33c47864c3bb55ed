import Backtest
import Config
import Ledger
import Logging
import Market
import Model
import Venues

/// The market a run reads: the `sim` market (or CSV replay when `sim.csv` lists files), or a venue's public data.
package enum MarketSource {
    package static func make(exchange: Exchange, config: AppConfig, dataDir: String, ledger: Ledger? = nil, logger: Logger) throws -> any MarketDataSource {
        if exchange.trades {
            return try VenueFactory.market(exchange: exchange, config: config, backoff: VenueBackoffLedger.keeper(venue: exchange, ledger: ledger))
        }
        if config.sim.csv.isEmpty && config.sim.stored.isEmpty { return SimMarket(seed: config.sim.seed) }
        var series: [CandleSeries] = []
        let store = CandleStore(dataDir: dataDir)
        for (i, source) in config.sim.stored.enumerated() {
            let interval = source.timeframe.flatMap(BarInterval.init) ?? .oneHour
            do {
                let loaded = try store.series(symbol: source.symbol, exchange: source.exchange, interval: interval.seconds)
                if !loaded.gaps.isEmpty {
                    logger.warning("stored candles have gaps", metadata: ["symbol": "\(source.symbol)", "gaps": "\(loaded.gaps.count)"])
                }
                series.append(loaded)
            } catch {
                throw CLIError.badInput("sim.stored.\(i): \(error)" + (error.isSeveralExchanges ? " (set exchange on this entry)" : ""))
            }
        }
        for source in config.sim.csv {
            do {
                let loaded = try replaySeries(source)
                if !loaded.gaps.isEmpty || !loaded.duplicateTimes.isEmpty {
                    logger.warning("CSV has gaps or duplicate hours", metadata: [
                        "file": "\(source.path)", "gaps": "\(loaded.gaps.count)", "duplicates": "\(loaded.duplicateTimes.count)"])
                }
                series.append(loaded)
            } catch {
                throw CLIError.badInput("sim.csv: \(error)")
            }
        }
        return ReplayMarket(series: series)
    }

    /// One `sim.csv` file at its bar length: the configured `timeframe`, else the file's most common spacing.
    package static func replaySeries(_ source: CSVSource) throws -> CandleSeries {
        let symbol = source.symbol.isEmpty ? nil : source.symbol
        if let tf = source.timeframe {
            guard let interval = BarInterval(tf) else { throw CLIError.badInput("sim.csv \(source.path): timeframe '\(tf)' is not a bar length from 1m to 1d") }
            // A file of shorter bars (1h for a 4h timeframe) is resampled, as `agent backtest --timeframe` does.
            return try CandleFiles.load(path: source.path, symbol: symbol, resamplingTo: interval.seconds)
        }
        let first = try CandleCSV.load(path: source.path, symbol: symbol)
        guard let inferred = BarInterval.inferred(from: first.candles.map(\.time)) else {
            throw CLIError.badInput("sim.csv \(source.path): the bars are not evenly spaced, so their length cannot be inferred; set timeframe (e.g. 1h, 4h) on this entry")
        }
        if inferred.seconds == first.interval { return first }
        return try CandleCSV.load(path: source.path, symbol: symbol, interval: inferred.seconds)
    }
}
