import Foundation
import Model

/// Range and consistency checks per file, reported at the position of the offending key.
enum Validation {
    static let providers = ["offline", "openai", "anthropic", "openai_compatible"]
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static func app(_ c: AppConfig, _ v: inout ConfigValidator) {
        alerts(c.alerts, &v)
        v.range(c.paper.takerFeeBps, 0...1_000, at: "paper.taker_fee_bps")
        v.range(c.paper.makerFeeBps, -100...1_000, at: "paper.maker_fee_bps")
        v.range(c.paper.baseSlippageBps, 0...1_000, at: "paper.base_slippage_bps")
        v.range(c.paper.impactBpsAtDepth, 0...10_000, at: "paper.impact_bps_at_depth")
        v.range(c.paper.maxDepthMultiple, 0.01...100, at: "paper.max_depth_multiple")
        v.range(c.loop.intervalMinutes, 0.001...10_080, at: "loop.interval_minutes")
        v.range(c.loop.historyHours, 48...2_160, at: "loop.history_hours")
        v.range(c.portfolio.startingEquityUsd, 1...1e12, at: "portfolio.starting_equity_usd")
        v.check(logLevels.contains(c.logging.level), at: "logging.level",
                "unknown level '\(c.logging.level)': one of \(logLevels.joined(separator: ", "))")
        for (i, source) in c.sim.csv.enumerated() {
            v.check(!source.path.isEmpty, at: "sim.csv.\(i).path", "a CSV source needs a path")
            if let tf = source.timeframe {
                v.check(BarInterval(tf) != nil, at: "sim.csv.\(i).timeframe", "'\(tf)' is not a bar length from 1m to 1d (e.g. 15m, 1h, 4h, 1d)")
            }
        }
        for (i, source) in c.sim.stored.enumerated() {
            v.check(!source.symbol.isEmpty, at: "sim.stored.\(i).symbol", "a stored source needs a symbol")
            if let tf = source.timeframe {
                v.check(BarInterval(tf) != nil, at: "sim.stored.\(i).timeframe", "'\(tf)' is not a bar length from 1m to 1d (e.g. 15m, 1h, 4h, 1d)")
            }
            if let e = source.exchange {
                let venues = Exchange.allCases.filter(\.trades).map(\.rawValue)
                v.check(venues.contains(e), at: "sim.stored.\(i).exchange", "'\(e)' is not a venue with a candle store: one of \(venues.joined(separator: ", "))")
            }
        }
        for tier in ReviewerTier.allCases {
            let key = "reviewers.\(tier.rawValue.lowercased())"
            let r = c.reviewers.config(for: tier)
            v.check(providers.contains(r.provider), at: "\(key).provider",
                    "provider '\(r.provider)' is not available in this build: use \(providers.joined(separator: ", "))")
            v.check(!r.model.isEmpty, at: "\(key).model", "a model name is required")
            reviewer(r, key: key, prices: c.prices, &v)
        }
        v.range(c.reviewCache.ttlMinutes, 0...10_080, at: "review_cache.ttl_minutes")
        v.range(c.reviewCache.roundDecimals, 0...8, at: "review_cache.round_decimals")
        for (i, feed) in c.news.feeds.enumerated() {
            v.check(!feed.name.isEmpty, at: "news.feeds.\(i).name", "a feed needs a name")
            v.check(feed.url.hasPrefix("http://") || feed.url.hasPrefix("https://"), at: "news.feeds.\(i).url",
                    "feed url '\(feed.url)' must start with http:// or https://")
        }
        v.range(c.news.pollIntervalMinutes, 0...10_080, at: "news.poll_interval_minutes")
        v.range(c.news.maxAgeHours, 0.01...8_760, at: "news.max_age_hours")
        v.range(c.news.maxItemsPerProposal, 0...100, at: "news.max_items_per_proposal")
        v.range(c.news.timeoutSeconds, 0.1...600, at: "news.timeout_seconds")
        venues(c.venues, &v)
        streams(c.streams, &v)
        for (name, price) in c.prices.models {
            v.range(price.inputPerMtok, 0...1_000, at: "prices.models.\(name).input_per_mtok")
            v.range(price.outputPerMtok, 0...1_000, at: "prices.models.\(name).output_per_mtok")
        }
    }

    /// An LLM tier needs a price (except local servers, which cost 0), a key variable name for paid APIs, and sane limits.
    static func reviewer(_ r: ReviewerConfig, key: String, prices: PriceTable, _ v: inout ConfigValidator) {
        // Invariant 11, for every provider (offline too: a shared file must not carry a venue key into a later switch).
        v.check(!VenueCredentials.isVenueCredential(r.apiKeyEnv), at: "\(key).api_key_env",
                "api_key_env '\(r.apiKeyEnv)' names a venue credential: a reviewer is never handed an exchange key")
        guard r.provider != "offline" else { return }
        if r.provider == "openai" || r.provider == "anthropic" {
            v.check(prices.models[r.model] != nil, at: "\(key).model",
                    "model '\(r.model)' has no entry in prices.models: its worst-case cost cannot be reserved")
            v.check(!r.apiKeyEnv.isEmpty, at: "\(key).api_key_env",
                    "provider \(r.provider) needs api_key_env: the name of the environment variable holding the key")
        }
        v.check(r.baseUrl.isEmpty || r.baseUrl.hasPrefix("http://") || r.baseUrl.hasPrefix("https://"), at: "\(key).base_url",
                "base_url '\(r.baseUrl)' must start with http:// or https://")
        // Invariant 11: its own key goes only over https or to loopback.
        v.check(r.apiKeyEnv.isEmpty || r.baseUrl.isEmpty || Endpoint.mayCarryKey(r.baseUrl), at: "\(key).base_url",
                "base_url '\(r.baseUrl)' is plain http to a non-loopback host: the key in api_key_env would travel unencrypted (use https, or 127.0.0.1)")
        // A remote OpenAI-compatible endpoint may bill: it needs a price (an entry of 0 acknowledges a free one).
        if r.provider == "openai_compatible", !r.baseUrl.isEmpty, !Endpoint.isLoopback(r.baseUrl) {
            v.check(prices.models[r.model] != nil, at: "\(key).model",
                    "model '\(r.model)' at non-loopback base_url \(r.baseUrl) has no entry in prices.models: add its price, or {input_per_mtok: 0, output_per_mtok: 0} to acknowledge it is free")
        }
        v.check(!r.apiKeyEnv.contains("-") && !r.apiKeyEnv.contains(" ") && r.apiKeyEnv.count <= 100, at: "\(key).api_key_env",
                "api_key_env is the NAME of an environment variable (letters, digits, _), not a key")
        v.range(r.maxTokens, 16...65_536, at: "\(key).max_tokens")
        v.range(r.temperature, 0...2, at: "\(key).temperature")
        v.check(r.timeoutSeconds == 0 || (0.05...600).contains(r.timeoutSeconds), at: "\(key).timeout_seconds",
                "\(r.timeoutSeconds) is out of range: 0 (the provider's default) or 0.05 to 600 seconds")
        v.range(r.connectTimeoutSeconds, 0.05...120, at: "\(key).connect_timeout_seconds")
        v.range(r.maxAttempts, 1...6, at: "\(key).max_attempts")
    }

    static let binanceQuotes = ["USDT", "USDC"]

    static func venues(_ c: VenuesConfig, _ v: inout ConfigValidator) {
        url(c.coinbase.baseUrl, at: "venues.coinbase.base_url", &v)
        v.range(c.coinbase.timeoutSeconds, 0.1...120, at: "venues.coinbase.timeout_seconds")
        v.range(c.coinbase.maxRetries, 0...10, at: "venues.coinbase.max_retries")
        url(c.binance.baseUrl, at: "venues.binance.base_url", &v)
        webSocketURL(c.binance.wsBaseUrl, at: "venues.binance.ws_base_url", &v)
        webSocketURL(c.coinbase.wsBaseUrl, at: "venues.coinbase.ws_base_url", &v)
        v.check(binanceQuotes.contains(c.binance.quote), at: "venues.binance.quote",
                "unknown quote '\(c.binance.quote)': one of \(binanceQuotes.joined(separator: ", "))")
        v.range(c.binance.recvWindowMs, 1...60_000, at: "venues.binance.recv_window_ms")
        v.range(c.binance.timeoutSeconds, 0.1...120, at: "venues.binance.timeout_seconds")
        v.range(c.binance.maxRetries, 0...10, at: "venues.binance.max_retries")
        v.range(c.binance.weightLimitPerMinute, 1...100_000, at: "venues.binance.weight_limit_per_minute")
        v.range(c.binance.slowdownFraction, 0.1...1, at: "venues.binance.slowdown_fraction")
    }

    /// A ws:// or wss:// URL with a host and no query or fragment.
    static func webSocketURL(_ text: String, at path: String, _ v: inout ConfigValidator) {
        let lower = text.lowercased()
        guard lower.hasPrefix("wss://") || lower.hasPrefix("ws://") else {
            v.report("'\(text)' must be a ws:// or wss:// URL", at: path)
            return
        }
        let rest = text.drop(while: { $0 != "/" }).dropFirst(2)
        v.check(!rest.isEmpty && !rest.hasPrefix("/") && !text.contains("?") && !text.contains("#"), at: path,
                "'\(text)' needs a host and no query or fragment")
    }

    static func streams(_ c: StreamsConfig, _ v: inout ConfigValidator) {
        v.range(c.pingSeconds, 0.01...600, at: "streams.ping_seconds")
        v.range(c.stallSeconds, 0.05...3_600, at: "streams.stall_seconds")
        v.range(c.backoffInitialMs, 1...60_000, at: "streams.backoff_initial_ms")
        v.range(c.backoffMaxSeconds, 0.001...3_600, at: "streams.backoff_max_seconds")
        v.range(c.listenKeyKeepaliveMinutes, 0.001...59, at: "streams.listen_key_keepalive_minutes")
        v.range(c.restPollSeconds, 0.01...3_600, at: "streams.rest_poll_seconds")
    }

    /// An absolute http(s) URL with a host and no query or fragment.
    static func url(_ text: String, at path: String, _ v: inout ConfigValidator) {
        let lower = text.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://") else {
            v.report("'\(text)' must be an http:// or https:// URL", at: path)
            return
        }
        guard let url = URL(string: text), let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil,
              !text.contains(" ") else {
            v.report("'\(text)' is not a valid base URL (scheme://host[:port][/path], no query)", at: path)
            return
        }
    }

    /// The one symbol form every venue connector maps: `BTC-USD`, `1000PEPE-USDT` (not `btc-usd`, `BTC/USD`, `../x`).
    static func isSymbol(_ symbol: String) -> Bool {
        let parts = symbol.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        func ok(_ p: Substring, _ length: ClosedRange<Int>) -> Bool {
            length.contains(p.count) && p.allSatisfy { ($0.isASCII && $0.isUppercase) || ($0.isASCII && $0.isNumber) }
        }
        return ok(parts[0], 1...20) && ok(parts[1], 2...10)
    }

    static func universe(_ c: UniverseConfig, _ v: inout ConfigValidator) {
        var seen: [String: Tier] = [:]
        for tier in Tier.allCases {
            let t = c.tiers.config(for: tier)
            let key = "tiers.\(tier.rawValue)"
            for (i, symbol) in t.symbols.enumerated() {
                if let other = seen[symbol] {
                    v.report("\(symbol) is already in \(other.rawValue)", at: "\(key).symbols.\(i)")
                }
                seen[symbol] = tier
                v.check(isSymbol(symbol), at: "\(key).symbols.\(i)",
                        "invalid symbol '\(ConfigProblem.excerpt(symbol))': write BASE-QUOTE in capitals and digits, e.g. BTC-USD (every venue maps this form)")
            }
            v.range(t.baseSizePct, 0...100, at: "\(key).base_size_pct")
            v.range(t.min24hVolumeUsd, 0...1e13, at: "\(key).min_24h_volume_usd")
            v.range(t.maxSpreadBps, 0...10_000, at: "\(key).max_spread_bps")
            v.range(t.minDepthUsd, 0...1e12, at: "\(key).min_depth_usd")
            v.range(t.stopLossPct, 0.1...100, at: "\(key).stop_loss_pct")
            v.range(t.takeProfitPct, 0.1...1_000, at: "\(key).take_profit_pct")
        }
        for (i, symbol) in c.neverTrade.enumerated() where !isSymbol(symbol) {
            v.report("invalid symbol '\(ConfigProblem.excerpt(symbol))': write BASE-QUOTE in capitals and digits, e.g. BTC-USD", at: "never_trade.\(i)")
        }
        for regime in Regime.allCases {
            v.range(c.regimes.rule(for: regime).sizeMultiplier, 0...1, at: "regimes.\(regime.rawValue).size_multiplier")
        }
    }

    static func signals(_ c: SignalsConfig, _ v: inout ConfigValidator) {
        var previousR = 0.0
        for (i, rung) in c.exits.ladder.enumerated() {
            v.check(rung.r > previousR, at: "exits.ladder.\(i).r", "rungs must rise: r \(Format.number(rung.r)) after \(Format.number(previousR))")
            v.range(rung.fraction, 0.01...1, at: "exits.ladder.\(i).fraction")
            previousR = rung.r
        }
        let total = c.exits.ladder.reduce(0) { $0 + $1.fraction }
        v.check(total <= 1 + 1e-9, at: "exits.ladder", "the ladder sells \(Format.number(total * 100))% of the position: at most 100%")
        v.range(c.exits.trailingAtr, 0.1...50, at: "exits.trailing_atr")
        v.range(c.exits.timeStopHours, 1...8_760, at: "exits.time_stop_hours")
        v.range(c.regime.trendLookbackHours, 24...720, at: "regime.trend_lookback_hours")
        v.check(c.regime.bullTrendPct > c.regime.bearTrendPct, at: "regime.bull_trend_pct",
                "bull_trend_pct (\(Format.number(c.regime.bullTrendPct))) must be above bear_trend_pct (\(Format.number(c.regime.bearTrendPct)))")
        v.range(c.regime.crashChange24hPct, -100...0, at: "regime.crash_change_24h_pct")
        v.range(c.regime.crashVolatilityPct, 0...10_000, at: "regime.crash_volatility_pct")
        let t = c.triggers
        v.range(t.volumeSpike.ratio, 1...100, at: "triggers.volume_spike.ratio")
        v.range(t.volumeSpike.lookbackHours, 2...720, at: "triggers.volume_spike.lookback_hours")
        v.range(t.breakout.lookbackHours, 2...720, at: "triggers.breakout.lookback_hours")
        v.range(t.breakout.minClearancePct, 0...100, at: "triggers.breakout.min_clearance_pct")
        v.range(t.reversal.rsiPeriod, 2...100, at: "triggers.reversal.rsi_period")
        v.range(t.reversal.oversold, 1...50, at: "triggers.reversal.oversold")
        v.range(t.reversal.minBouncePct, 0...100, at: "triggers.reversal.min_bounce_pct")
        v.range(t.momentum.change24hPct, 0.01...1_000, at: "triggers.momentum.change_24h_pct")
        v.range(t.momentum.change4hPct, 0...1_000, at: "triggers.momentum.change_4h_pct")
        v.range(t.priceMove.change1hPct, 0.01...1_000, at: "triggers.price_move.change_1h_pct")
        v.range(t.trend.fastEma, 2...500, at: "triggers.trend.fast_ema")
        v.range(t.trend.slowEma, 3...1_000, at: "triggers.trend.slow_ema")
        v.check(t.trend.fastEma < t.trend.slowEma, at: "triggers.trend.fast_ema",
                "fast_ema (\(t.trend.fastEma)) must be shorter than slow_ema (\(t.trend.slowEma))")
        v.range(t.trend.atrPeriod, 2...500, at: "triggers.trend.atr_period")
        v.range(t.trend.pullbackAtr, 0...20, at: "triggers.trend.pullback_atr")
        v.range(t.trend.breakoutLookbackHours, 2...720, at: "triggers.trend.breakout_lookback_hours")
        v.range(t.funding.maxLongFundingRate, -0.05...0.05, at: "triggers.funding.max_long_funding_rate")
        for regime in Regime.allCases {
            v.range(t.regimeThresholdMultiplier.value(for: regime), 0.1...10, at: "triggers.regime_threshold_multiplier.\(regime.rawValue)")
            v.range(c.rules.regimeAdjustment.value(for: regime), -1...1, at: "rules.regime_adjustment.\(regime.rawValue)")
        }
        v.range(c.rules.minTriggerStrength, 0...1, at: "rules.min_trigger_strength")
        v.range(c.rules.maxProposals, 0...50, at: "rules.max_proposals")
        v.range(c.rules.baseConviction, 0...1, at: "rules.base_conviction")
        v.range(c.rules.strengthWeight, 0...1, at: "rules.strength_weight")
        v.range(c.rules.confluenceBonus, 0...1, at: "rules.confluence_bonus")
        v.range(c.rules.leverage, 1...125, at: "rules.leverage")
        let st = c.strategy
        if let tf = BarInterval(st.higherTimeframe.timeframe) {
            v.check(tf.seconds >= 3_600, at: "strategy.higher_timeframe.timeframe",
                    "'\(st.higherTimeframe.timeframe)' is shorter than the cycle's 1h bars")
        } else {
            v.check(false, at: "strategy.higher_timeframe.timeframe",
                    "'\(st.higherTimeframe.timeframe)' is not a bar length from 1m to 1d (e.g. 4h, 12h, 1d)")
        }
        v.range(st.higherTimeframe.fastEma, 1...200, at: "strategy.higher_timeframe.fast_ema")
        v.range(st.higherTimeframe.slowEma, 2...400, at: "strategy.higher_timeframe.slow_ema")
        v.check(st.higherTimeframe.fastEma < st.higherTimeframe.slowEma, at: "strategy.higher_timeframe.fast_ema",
                "fast_ema (\(st.higherTimeframe.fastEma)) must be shorter than slow_ema (\(st.higherTimeframe.slowEma))")
        for (name, w) in [("trend", st.composite.trend), ("volatility", st.composite.volatility),
                          ("entry_quality", st.composite.entryQuality), ("funding", st.composite.funding)] {
            v.range(w, 0...1, at: "strategy.composite.\(name)")
        }
        let weights = st.composite.trend + st.composite.volatility + st.composite.entryQuality + st.composite.funding
        v.check(weights <= 1 + 1e-9, at: "strategy.composite.trend",
                "the composite weights add up to \(Format.number(weights)): at most 1")
        v.range(st.composite.targetVolatilityPct, 1...1_000, at: "strategy.composite.target_volatility_pct")
        v.range(st.sizing.riskPerTradePct, 0.01...10, at: "strategy.sizing.risk_per_trade_pct")
        v.range(st.sizing.kellyFraction, 0...1, at: "strategy.sizing.kelly_fraction")
        v.range(st.sizing.kellyLookbackTrades, 5...1_000, at: "strategy.sizing.kelly_lookback_trades")
        v.range(st.sizing.kellyMinTrades, 1...1_000, at: "strategy.sizing.kelly_min_trades")
        v.check(st.sizing.kellyMinTrades <= st.sizing.kellyLookbackTrades, at: "strategy.sizing.kelly_min_trades",
                "kelly_min_trades (\(st.sizing.kellyMinTrades)) must not exceed kelly_lookback_trades (\(st.sizing.kellyLookbackTrades))")
        v.range(st.sizing.kellyFloorPct, 0...100, at: "strategy.sizing.kelly_floor_pct")
        v.range(st.leverage.targetVolatilityPct, 0...10_000, at: "strategy.leverage.target_volatility_pct")
        v.range(st.leverage.drawdownPct, 0...100, at: "strategy.leverage.drawdown_pct")
        v.range(st.leverage.drawdownMaxLeverage, 1...125, at: "strategy.leverage.drawdown_max_leverage")
        v.range(st.leverage.afterLossStep, 0...124, at: "strategy.leverage.after_loss_step")
    }

    static func policy(_ c: PolicyConfig, _ v: inout ConfigValidator) {
        v.range(c.circuitBreakers.maxLosses24h, 1...1_000, at: "circuit_breakers.max_losses_24h")
        v.range(c.circuitBreakers.losses24hCooldownMinutes, 0...100_000, at: "circuit_breakers.losses_24h_cooldown_minutes")
        v.range(c.circuitBreakers.maxDataAgeMinutes, 60...100_000, at: "circuit_breakers.max_data_age_minutes")
        v.range(c.circuitBreakers.flashMove.pct, 0.1...100, at: "circuit_breakers.flash_move.pct")
        v.range(c.circuitBreakers.flashMove.seconds, 1...86_400, at: "circuit_breakers.flash_move.seconds")
        v.range(c.circuitBreakers.streamLostSeconds, 0.01...86_400, at: "circuit_breakers.stream_lost_seconds")
        let r = c.risk
        v.range(r.dailyStopLossPct, 0...100, at: "risk.daily_stop_loss_pct")
        v.range(r.weeklyStopLossPct, 0...100, at: "risk.weekly_stop_loss_pct")
        v.range(r.maxDrawdownPct, 0...100, at: "risk.max_drawdown_pct")
        v.range(r.maxTradesPerDay, 0...10_000, at: "risk.max_trades_per_day")
        v.range(r.maxTradesPerHour, 0...1_000, at: "risk.max_trades_per_hour")
        v.range(r.minSecondsBetweenTrades, 0...604_800, at: "risk.min_seconds_between_trades")
        v.range(r.consecutiveLossCooldown.losses, 1...1_000, at: "risk.consecutive_loss_cooldown.losses")
        v.range(r.consecutiveLossCooldown.cooldownMinutes, 0...100_000, at: "risk.consecutive_loss_cooldown.cooldown_minutes")
        v.range(r.maxOpenPositions, 0...1_000, at: "risk.max_open_positions")
        for tier in Tier.allCases {
            v.range(r.maxPositionPct.value(for: tier), 0...100, at: "risk.max_position_pct.\(tier.rawValue)")
        }
        v.range(r.maxTotalAtRiskPct, 0...1_000, at: "risk.max_total_at_risk_pct")
        v.range(r.maxPerAssetPct, 0...100, at: "risk.max_per_asset_pct")
        v.range(r.clusterLimitPct, 0...1_000, at: "risk.cluster_limit_pct")
        v.range(r.minConviction, 0...1, at: "risk.min_conviction")
        v.range(r.minCombinedConviction, 0...1, at: "risk.min_combined_conviction")
        v.range(r.maxSpreadBps, 0...10_000, at: "risk.max_spread_bps")
        v.range(r.min24hVolumeUsd, 0...1e13, at: "risk.min_24h_volume_usd")
        v.range(r.maxLeverage, 1...125, at: "risk.max_leverage")
        v.range(r.perSymbolCooldownMinutes, 0...100_000, at: "risk.per_symbol_cooldown_minutes")
        v.range(r.minSizePct, 0...100, at: "risk.min_size_pct")
        v.range(c.reviewers.deltaBound, 0...0.5, at: "reviewers.delta_bound")
        v.range(c.reviewers.m2.maxSpreadBps, 0...10_000, at: "reviewers.m2.max_spread_bps")
        v.range(c.reviewers.m2.parabolicMovePct, 0...10_000, at: "reviewers.m2.parabolic_move_pct")
        v.range(c.reviewers.m2.thinDepthUsd, 0...1e12, at: "reviewers.m2.thin_depth_usd")
        v.range(c.reviewers.newsRisk.highRiskBlockHours, 0...720, at: "reviewers.news_risk.high_risk_block_hours")
        v.range(c.reviewers.newsRisk.mediumRiskHours, 0...720, at: "reviewers.news_risk.medium_risk_hours")
        v.range(c.aiBudget.maxCostPerCycleUsd, 0...1_000, at: "ai_budget.max_cost_per_cycle_usd")
        v.range(c.aiBudget.maxCallsPerHour, 0...100_000, at: "ai_budget.max_calls_per_hour")
        v.range(c.aiBudget.maxCostPerDayUsd, 0...100_000, at: "ai_budget.max_cost_per_day_usd")
        v.check(["isolated", "cross"].contains(c.execution.marginType), at: "execution.margin_type",
                "margin type '\(c.execution.marginType)': use isolated or cross")
        v.range(c.execution.stopLimitOffsetPct, 0...20, at: "execution.stop_limit_offset_pct")
        let f = c.futures
        v.range(f.reduceMarginRatio, 0.01...1, at: "futures.reduce_margin_ratio")
        v.range(f.closeMarginRatio, 0.01...1, at: "futures.close_margin_ratio")
        v.check(f.closeMarginRatio > f.reduceMarginRatio, at: "futures.close_margin_ratio",
                "close_margin_ratio (\(f.closeMarginRatio)) must be above reduce_margin_ratio (\(f.reduceMarginRatio))")
        v.range(f.minLiquidationDistancePct, 0...100, at: "futures.min_liquidation_distance_pct")
        v.range(f.maintenanceMarginRate, 0...0.5, at: "futures.maintenance_margin_rate")
    }
}
