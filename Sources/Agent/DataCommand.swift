import ArgumentParser
import Backtest
import Config
import Foundation
import Market
import Venues
import Model

/// `agent data download|list`: public candles from a venue into the candle store under the data dir.
struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Download public candles into the candle store, and list what is stored.",
        subcommands: [Download.self, List.self])

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch public candles from a venue into <data-dir>/candles (resumable, deduplicated, gaps reported).",
            discussion: """
            No keys are used. The base URL is app.yaml's venues.<exchange>.base_url, or --base-url. Rate and weight \
            limits are the connector's (Retry-After and usage headers are obeyed). A run resumes after the last bar \
            already stored in the span, so an interrupted download is simply run again.

            Examples:
              agent data download --exchange binance --symbol BTC-USD --timeframe 1h --from 2024-01-01 --to 2024-07-01
              agent data download --exchange coinbase --symbol ETH-USD --timeframe 4h --from 2023-01-01
            """)

        @OptionGroup var venue: VenueOption
        @OptionGroup var config: ConfigOptions
        @OptionGroup var data: DataDirOption

        @Option(help: "Our symbol, e.g. BTC-USD (Binance maps it to BTCUSDT).")
        var symbol: String

        @Option(help: "Bar length: 1h, 4h or 1d (what both venues serve).")
        var timeframe: String = "1h"

        @Option(help: "First bar open time (YYYY-MM-DD or ISO 8601, UTC).")
        var from: String

        @Option(help: "End of the span, exclusive (default: now; bars not yet closed are never stored).")
        var to: String?

        @Option(help: "The venue's REST base URL (default: app.yaml venues.<exchange>.base_url).")
        var baseUrl: String?

        @Flag(help: "Print the summary as JSON.")
        var json = false

        @Flag(help: "No progress on stderr.")
        var quiet = false

        func validate() throws {
            if CandleInterval(rawValue: timeframe) == nil { throw ValidationError("--timeframe must be 1h, 4h or 1d") }
            if symbol.isEmpty { throw ValidationError("--symbol is empty") }
        }

        func run() async throws {
            try await AgentMain.guarded {
                var loaded = try config.loadConfig()
                let exchange = venue.exchange ?? loaded.app.exchange
                guard exchange.trades else {
                    throw CLIError.badInput("agent data download needs --exchange binance or coinbase")
                }
                if let baseUrl {
                    if exchange == .binance { loaded.app.venues.binance.baseUrl = baseUrl } else { loaded.app.venues.coinbase.baseUrl = baseUrl }
                }
                guard let start = BacktestCalendar.parse(from) else { throw CLIError.badInput("--from '\(from)': expected YYYY-MM-DD or ISO 8601") }
                let end = try to.map { text -> Int64 in
                    guard let t = BacktestCalendar.parse(text) else { throw CLIError.badInput("--to '\(text)': expected YYYY-MM-DD or ISO 8601") }
                    return t
                } ?? UTC.now()
                guard start < end else { throw CLIError.badInput("--from \(from) is not before --to \(to ?? "now")") }
                // Public data only: no keys are read.
                let connector = try VenueFactory.market(exchange: exchange, config: loaded.app, environment: [:])
                let progress = ProgressReporter(label: "download \(exchange) \(symbol) \(timeframe)", enabled: !quiet)
                let interval = CandleInterval(rawValue: timeframe) ?? .oneHour
                let download = CandleDownload(venue: connector, exchange: exchange.rawValue, symbol: symbol, interval: interval,
                                              store: CandleStore(dataDir: data.dataDir), now: UTC.now())
                var summary = try await download.run(from: start, to: end, progress: { progress.update($0, $1) })
                // Perpetuals: the funding settlements of the same span, beside the candles (what --funding reads).
                summary.funding = try await download.runFunding(from: start, to: end)
                if json {
                    FileHandle.standardOutput.write(Data((try JSONCoding.string(summary) + "\n").utf8))
                } else {
                    FileHandle.standardOutput.write(Data(summary.text.utf8))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What the candle store holds: exchange, symbol, bars, span, gaps.")

        @OptionGroup var data: DataDirOption

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            try await AgentMain.guarded {
                let entries: [CandleStore.Entry]
                do { entries = try CandleStore(dataDir: data.dataDir).list() } catch { throw CLIError.failed("\(error)") }
                if json {
                    FileHandle.standardOutput.write(Data((try JSONCoding.string(entries) + "\n").utf8))
                    return
                }
                if entries.isEmpty {
                    FileHandle.standardOutput.write(Data("no candles stored under \(CandleStore(dataDir: data.dataDir).root) (agent data download ...)\n".utf8))
                    return
                }
                var out = "exchange  symbol      tf   candles  first                 last                  gaps (missing bars)  funding\n"
                for e in entries {
                    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
                    out += pad(e.exchange, 10) + pad(e.symbol, 12) + pad(e.timeframe, 5) + pad("\(e.candles)", 9)
                        + pad(e.first.map(UTC.iso8601) ?? "-", 22) + pad(e.last.map(UTC.iso8601) ?? "-", 22)
                        + pad("\(e.gaps) (\(e.missingBars))", 21) + (e.fundingRates.map { "\($0) rates" } ?? "-") + "\n"
                }
                FileHandle.standardOutput.write(Data(out.utf8))
            }
        }
    }
}

/// What a download did.
struct DownloadSummary: Codable, Sendable, Equatable {
    var exchange: String
    var symbol: String
    var timeframe: String
    var path: String
    var from: String
    var to: String
    /// Where this run started: after the last bar already stored in the span (or `from`).
    var resumedFrom: String
    var requests: Int
    var received: Int
    var added: Int
    /// Bars stored in `[from, to)` after the run, and those the span should hold.
    var stored: Int
    var expected: Int
    var gaps: Int
    var missingBars: Int
    /// The first few gaps, e.g. `2024-01-05T00:00:00Z..2024-01-05T03:00:00Z (3 bars)`.
    var gapExamples: [String]
    /// Perpetuals: the funding settlements fetched beside the candles (nil on spot).
    var funding: FundingDownload?

    var text: String {
        var out = "\(exchange) \(symbol) \(timeframe) \(from) .. \(to): \(added) new bars from \(requests) requests (resumed at \(resumedFrom)); "
        out += "\(stored) of \(expected) bars stored in \(path)\n"
        if gaps > 0 { out += "gaps: \(gaps) (\(missingBars) missing bars): \(gapExamples.joined(separator: ", "))\n" }
        if let f = funding {
            out += "funding: \(f.added) new settlements from \(f.requests) requests; \(f.stored) stored for the span in \(f.path)\n"
        }
        return out
    }
}

/// Pages a venue's candles forward from the last stored bar into the store.
struct CandleDownload: Sendable {
    var venue: any VenueMarketData
    var exchange: String
    var symbol: String
    var interval: CandleInterval
    var store: CandleStore
    /// Bars that have not closed by `now` are never requested.
    var now: Int64
    /// How often a page refused for rate limits (after the connector's own retries) is tried again.
    var rateLimitRetries = 5

    /// Bars per request: one page of the venue's candles endpoint.
    var pageBars: Int { venue.candlesPerRequest }

    func run(from: Int64, to: Int64, progress: (Int, Int) -> Void = { _, _ in }) async throws -> DownloadSummary {
        let step = interval.seconds
        let first = (from + step - 1) / step * step
        let end = min(to, now / step * step)
        let stored = (try? store.load(exchange: exchange, symbol: symbol, interval: step).candles) ?? []
        let lastInSpan = stored.last { $0.time >= first && $0.time < end }?.time
        var cursor = lastInSpan.map { $0 + step } ?? first
        let resumedFrom = cursor
        var requests = 0, received = 0, added = 0
        let total = max(Int((end - cursor) / step), 0)
        while cursor < end {
            let pageEnd = min(end, cursor + Int64(pageBars) * step)
            let page = try await fetch(end: pageEnd, limit: Int((pageEnd - cursor) / step))
            requests += 1
            let kept = page.filter { $0.time >= cursor && $0.time + step <= pageEnd }
            received += kept.count
            do {
                added += try store.add(kept, exchange: exchange, symbol: symbol, interval: step)
            } catch {
                throw CLIError.io("\(error)")
            }
            cursor = pageEnd
            progress(total - Int((end - cursor) / step), total)
        }
        progress(total, total)
        let all = (try? store.load(exchange: exchange, symbol: symbol, interval: step).candles) ?? []
        let inSpan = all.filter { $0.time >= first && $0.time < end }.map(\.time)
        var gaps: [String] = []
        var missing = 0
        var expectedNext = first
        for t in inSpan + [end] {
            if t > expectedNext {
                let bars = Int((t - expectedNext) / step)
                missing += bars
                gaps.append("\(UTC.iso8601(expectedNext))..\(UTC.iso8601(t - step)) (\(bars) bars)")
            }
            expectedNext = t + step
        }
        return DownloadSummary(exchange: exchange, symbol: symbol, timeframe: interval.rawValue,
                               path: store.path(exchange: exchange, symbol: symbol, interval: step),
                               from: UTC.iso8601(first), to: UTC.iso8601(end), resumedFrom: UTC.iso8601(resumedFrom),
                               requests: requests, received: received, added: added, stored: inSpan.count,
                               expected: max(Int((end - first) / step), 0), gaps: gaps.count, missingBars: missing,
                               gapExamples: Array(gaps.prefix(5)))
    }

    /// Funding settlements in `[from, to)` into the symbol's funding file, resuming after the last one stored;
    /// nil on a spot venue (it has none).
    func runFunding(from: Int64, to: Int64) async throws -> FundingDownload? {
        guard venue.settlesFunding else { return nil }
        let file = store.fundingPath(exchange: exchange, symbol: symbol)
        let stored = (try? FundingFile.read(file)) ?? []
        let end = min(to, now)
        var cursor = (stored.last { $0.time >= from && $0.time < end }?.time).map { $0 + 1 } ?? from
        var requests = 0, received = 0, added = 0
        while cursor < end {
            let from = cursor
            let page = try await patiently(stoppedAt: "funding download stopped at \(UTC.iso8601(cursor))") {
                try await venue.fundingSettlements(symbol: symbol, from: from, to: end - 1, limit: 1_000)
            }
            requests += 1
            let kept = page.filter { $0.time >= cursor && $0.time < end }
            guard let last = kept.last else { break }
            received += kept.count
            do { added += try store.addFunding(kept, exchange: exchange, symbol: symbol) } catch { throw CLIError.io("\(error)") }
            cursor = last.time + 1
        }
        let inSpan = ((try? FundingFile.read(file)) ?? []).filter { $0.time >= from && $0.time < end }.count
        return FundingDownload(path: file, requests: requests, received: received, added: added, stored: inSpan)
    }

    /// One page of candles.
    private func fetch(end: Int64, limit: Int) async throws -> [Candle] {
        try await patiently(stoppedAt: "download stopped at \(UTC.iso8601(end - Int64(limit) * interval.seconds))") {
            try await venue.candles(symbol: symbol, interval: interval, end: end, limit: limit)
        }
    }

    /// One venue call; a rate-limit refusal that outlasted the connector's retries waits its Retry-After and tries
    /// again. Any other failure ends the download with `stoppedAt` (what was fetched is already stored).
    private func patiently<T>(stoppedAt: String, _ call: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await call()
            } catch let e as VenueError where e.reason == .rateLimited && attempt < rateLimitRetries {
                attempt += 1
                try await Task.sleep(nanoseconds: UInt64(min(max(e.retryAfter ?? 1, 0.1), 60) * 1e9))
            } catch {
                throw CLIError.failed("\(stoppedAt) (what was fetched is stored; run again to resume): \(error)")
            }
        }
    }
}

/// The funding part of a perpetual's download.
struct FundingDownload: Codable, Sendable, Equatable {
    var path: String
    var requests: Int
    var received: Int
    var added: Int
    /// Settlements stored in the span after the run.
    var stored: Int
}
