import Config
import Logging
import Market
import Model

/// The market a run reads: the `sim` market (or CSV replay when `sim.csv` lists files), or a venue's public data.
enum MarketSource {
    static func make(exchange: String, config: AppConfig, logger: Logger) throws -> any MarketDataSource {
        if exchange != "sim" { return try VenueFactory.market(exchange: exchange, config: config) }
        if config.sim.csv.isEmpty { return SimMarket(seed: config.sim.seed) }
        var series: [CandleSeries] = []
        for source in config.sim.csv {
            do {
                let loaded = try CandleCSV.load(path: source.path, symbol: source.symbol.isEmpty ? nil : source.symbol)
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
}
