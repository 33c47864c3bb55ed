import Config
import Foundation
import HTTP
import Ledger
import Logging
import Model
import News

/// Payload of `news_fetch`: one poll of the allow-listed feeds.
package struct NewsFetchRecord: Codable, Sendable {
    package struct Feed: Codable, Sendable {
        package var name: String
        package var url: String
        package var entries: Int
        package var newItems: Int
        package var error: String?

        package init(name: String, url: String, entries: Int, newItems: Int, error: String? = nil) {
            self.name = name
            self.url = url
            self.entries = entries
            self.newItems = newItems
            self.error = error
        }
    }
    package var feeds: [Feed]

    package init(feeds: [Feed]) {
        self.feeds = feeds
    }
}

/// News for M1: polls the allow-listed feeds when due (the last `news_fetch` event says when), records new
/// items as `news_item` events (deduplicated by id), and returns the items of the last `max_age_hours`.
public struct NewsIngest: Sendable {
    public var config: NewsConfig
    public var tagger: SymbolTagger
    public var fetcher: NewsFetcher

    public init(config: NewsConfig, universe: UniverseConfig, transport: any HTTPTransport) {
        self.config = config
        let symbols = Tier.allCases.flatMap { universe.tiers.config(for: $0).symbols }
        self.tagger = SymbolTagger(symbols: symbols)
        self.fetcher = NewsFetcher(transport: transport, timeoutSeconds: config.timeoutSeconds)
    }

    /// The ingest app.yaml asks for, or nil when no feed is configured.
    public static func make(config: LoadedConfig, transport: any HTTPTransport = RetryingHTTPClient(CurlHTTPClient(), policy: RetryPolicy(maxAttempts: 2)))
        -> NewsIngest? {
        config.app.news.feeds.isEmpty ? nil : NewsIngest(config: config.app.news, universe: config.universe, transport: transport)
    }

    package func items(cycleId: String, time: Int64, store ledger: any EventStore, log: Logger) async throws -> [NewsItem] {
        let maxAge = Int64(config.maxAgeHours * 3_600)
        var known = Dictionary(try ledger.events(kinds: [.newsItem], since: time - maxAge - 86_400)
            .filter { $0.time <= time }
            .map { e -> (String, NewsItem) in let item = try e.value(.newsItem); return (item.id, item) },
            uniquingKeysWith: { a, _ in a })
        let lastFetch = try ledger.events(kinds: [.newsFetch], limit: 1, newestFirst: true).first?.time
        let due = lastFetch.map { Double(time - $0) >= config.pollIntervalMinutes * 60 || $0 > time } ?? true
        if due {
            var record = NewsFetchRecord(feeds: [])
            var fresh: [NewsItem] = []
            for fetch in await fetcher.fetch(config.feeds.map { ($0.name, $0.url) }) {
                switch fetch.result {
                case .success(let entries):
                    let items = NewsFetcher.items(entries, source: fetch.name, tagger: tagger, now: time,
                                                  maxAgeHours: config.maxAgeHours)
                    let new = items.filter { known[$0.id] == nil }
                    for item in new { known[item.id] = item }
                    fresh += new
                    record.feeds.append(.init(name: fetch.name, url: fetch.url, entries: entries.count, newItems: new.count, error: nil))
                case .failure(let error):
                    log.warning("news feed failed", metadata: ["feed": "\(fetch.name)", "error": "\(error)"])
                    record.feeds.append(.init(name: fetch.name, url: fetch.url, entries: 0, newItems: 0, error: error.description))
                }
            }
            try ledger.append(fresh.map { try NewEvent.json(cycleId, .newsItem, time, $0) })
            try ledger.append([NewEvent.json(cycleId, .newsFetch, time, record)])
        }
        return known.values.filter { time - $0.published <= maxAge && $0.published <= time + 3_600 }
            .sorted { $0.published != $1.published ? $0.published > $1.published : $0.id < $1.id }
    }
}

extension EventType where Payload == NewsFetchRecord {
    package static var newsFetch: Self { Self(.newsFetch) }
}
