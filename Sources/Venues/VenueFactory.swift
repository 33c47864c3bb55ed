import Config
import Foundation
import Market
import Model

/// Builds the venue connectors from `app.yaml`'s `venues` section and the environment.
package enum VenueFactory {
    /// Binance settings from config.
    package static func binanceSettings(_ c: BinanceVenueConfig) -> BinanceSettings {
        BinanceSettings(baseURL: c.baseUrl, quote: c.quote, recvWindowMs: c.recvWindowMs,
                        limits: VenueLimits(maxRetries: c.maxRetries, weightPerMinute: c.weightLimitPerMinute,
                                            slowdownFraction: c.slowdownFraction, timeout: c.timeoutSeconds))
    }

    /// Coinbase settings from config.
    package static func coinbaseSettings(_ c: CoinbaseVenueConfig) -> CoinbaseSettings {
        CoinbaseSettings(baseURL: c.baseUrl, limits: VenueLimits(maxRetries: c.maxRetries, ordersPer10s: 300,
                                                                 ordersPerMinute: 1800, timeout: c.timeoutSeconds))
    }

    /// The connector for `exchange` (`coinbase` or `binance`). Keys are read from the environment when present;
    /// public market data works without them. Malformed keys are bad input.
    package static func market(exchange: String, config: AppConfig,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any VenueMarketData {
        switch exchange {
        case "binance":
            return BinanceFutures(settings: binanceSettings(config.venues.binance),
                                  credentials: BinanceCredentials.fromEnvironment(environment))
        case "coinbase":
            let credentials: CoinbaseCredentials?
            do {
                credentials = try CoinbaseCredentials.fromEnvironment(environment)
            } catch {
                throw CLIError.badInput("coinbase keys: \(error.message)")
            }
            return Coinbase(settings: coinbaseSettings(config.venues.coinbase), credentials: credentials)
        default:
            throw CLIError.badInput("exchange '\(exchange)' has no venue connector: use coinbase or binance (or sim)")
        }
    }

    /// The trading connector for LIVE: the same connector as `market`, but keys are required.
    package static func trading(exchange: String, config: AppConfig,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any TradingVenue & VenueMarketData {
        switch exchange {
        case "binance":
            guard let credentials = BinanceCredentials.fromEnvironment(environment) else {
                throw CLIError.badInput("LIVE on binance needs BINANCE_API_KEY and BINANCE_API_SECRET in the environment")
            }
            return BinanceFutures(settings: binanceSettings(config.venues.binance), credentials: credentials)
        case "coinbase":
            let credentials: CoinbaseCredentials?
            do {
                credentials = try CoinbaseCredentials.fromEnvironment(environment)
            } catch {
                throw CLIError.badInput("coinbase keys: \(error.message)")
            }
            guard let credentials else {
                throw CLIError.badInput("LIVE on coinbase needs COINBASE_API_KEY_NAME and COINBASE_API_PRIVATE_KEY in the environment")
            }
            return Coinbase(settings: coinbaseSettings(config.venues.coinbase), credentials: credentials)
        default:
            throw CLIError.badInput("exchange '\(exchange)' cannot trade LIVE: use coinbase or binance")
        }
    }
}
