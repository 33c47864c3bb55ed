import Foundation
import HTTP
import Model
import TestSupport
import Testing
@testable import News

/// Fixture feeds, inline so the tests need no resources.
enum FeedFixtures {
    static let rss = """
    <?xml version="1.0" encoding="UTF-8"?>
    <rss version="2.0"><channel><title>Crypto Wire</title>
      <item>
        <title>Bitcoin tops $100k as ETF inflows surge</title>
        <link>https://example.test/btc</link>
        <guid isPermaLink="false">wire-1</guid>
        <pubDate>Fri, 20 Nov 2026 20:00:00 GMT</pubDate>
        <description><![CDATA[<p>Spot <b>BTC</b> demand keeps rising.</p>]]></description>
      </item>
      <item>
        <title>Solana outage halts block production</title>
        <link>https://example.test/sol</link>
        <pubDate>Fri, 20 Nov 2026 21:30:00 +0000</pubDate>
      </item>
      <item>
        <title>Old news about Ethereum</title>
        <guid>wire-old</guid>
        <pubDate>Mon, 16 Nov 2026 10:00:00 GMT</pubDate>
      </item>
      <item><title></title><guid>empty</guid></item>
    </channel></rss>
    """

    static let atom = """
    <?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom">
      <title>Chain Notes</title>
      <entry>
        <title type="html">Ethereum &amp; Polygon bridge exploit drains $40M</title>
        <link rel="alternate" href="https://example.test/eth"/>
        <link rel="self" href="https://example.test/self"/>
        <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
        <updated>2026-11-20T21:00:00Z</updated>
        <summary>The ETH bridge was paused.</summary>
      </entry>
      <entry>
        <title>Dogecoin memes return</title>
        <id>urn:uuid:2</id>
        <published>2026-11-20T19:15:30.500Z</published>
      </entry>
    </feed>
    """

    static let malformed = """
    <?xml version="1.0"?><rss version="2.0"><channel><item><title>Broken <b>tag</title></item></channel></rss>
    """
}

let now: Int64 = 1_795_212_000  // 2026-11-20T22:00:00Z

@Suite struct FeedParserTests {
    @Test func parsesRSS2() throws {
        let entries = try FeedParser.parse(Data(FeedFixtures.rss.utf8), feed: "wire").get()
        #expect(entries.count == 3)  // the untitled item is skipped
        #expect(entries[0].title == "Bitcoin tops $100k as ETF inflows surge")
        #expect(entries[0].guid == "wire-1")
        #expect(entries[0].link == "https://example.test/btc")
        #expect(entries[0].published == now - 7_200)
        #expect(entries[0].summary == "Spot BTC demand keeps rising.")
        #expect(entries[1].guid == nil)
        #expect(entries[1].published == now - 1_800)
    }

    @Test func parsesAtom() throws {
        let entries = try FeedParser.parse(Data(FeedFixtures.atom.utf8), feed: "notes").get()
        #expect(entries.count == 2)
        #expect(entries[0].title == "Ethereum & Polygon bridge exploit drains $40M")
        #expect(entries[0].link == "https://example.test/eth")
        #expect(entries[0].guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a")
        #expect(entries[0].published == now - 3_600)
        #expect(entries[1].published == now - 9_870)
    }

    @Test func malformedFeedsAreErrorsWithAPosition() {
        guard case .failure(let error) = FeedParser.parse(Data(FeedFixtures.malformed.utf8), feed: "bad") else {
            Issue.record("malformed XML parsed")
            return
        }
        guard case .malformedXML(let feed, let line, _, _) = error else {
            Issue.record("wrong error \(error)")
            return
        }
        #expect(feed == "bad")
        #expect(line >= 1)
        #expect(error.description.contains("feed bad: malformed XML at line"))
        #expect(FeedParser.parse(Data("<html><body>hi</body></html>".utf8), feed: "page")
            == .failure(.notAFeed(feed: "page", root: "html")))
        if case .success = FeedParser.parse(Data("not xml at all".utf8), feed: "junk") { Issue.record("junk parsed") }
        if case .success = FeedParser.parse(Data(), feed: "empty") { Issue.record("empty parsed") }
    }

    @Test func tagsSymbolsByTickerAndNameOnWholeWords() {
        let tagger = SymbolTagger(symbols: ["BTC-USD", "ETH-USD", "SOL-USD", "OP-USD", "POL-USD"])
        #expect(tagger.tag("Bitcoin tops $100k") == ["BTC-USD"])
        #expect(tagger.tag("$ETH and Solana rally") == ["ETH-USD", "SOL-USD"])
        #expect(tagger.tag("Optimism upgrade; operators stop") == ["OP-USD"])  // "operators" is not OP
        #expect(tagger.tag("Police report nothing") == [])                       // "Police" is not POL
        #expect(tagger.tag("DOGE pumps") == [])                                  // not in the universe
    }

    @Test func itemsAreDedupedAgedAndIdentifiedStably() throws {
        let tagger = SymbolTagger(symbols: ["BTC-USD", "ETH-USD", "SOL-USD"])
        let entries = try FeedParser.parse(Data(FeedFixtures.rss.utf8), feed: "wire").get()
        let items = NewsFetcher.items(entries + entries, source: "wire", tagger: tagger, now: now, maxAgeHours: 24)
        #expect(items.count == 2)  // duplicates collapse; the 4-day-old item is dropped
        #expect(items.map(\.symbols) == [["BTC-USD"], ["SOL-USD"]])
        #expect(items[0].id == NewsItemId.make(source: "wire", guid: "wire-1", title: "anything"))
        // No guid: the id comes from the normalised title.
        #expect(items[1].id == NewsItemId.make(source: "wire", guid: nil, title: "solana OUTAGE halts block production!"))
        #expect(items[0].id != NewsItemId.make(source: "other", guid: "wire-1", title: ""))
        #expect(items.allSatisfy { $0.id.hasPrefix("n-") && $0.id.count == 18 })
    }

    @Test func fetchesFromTheLoopbackServerAndIsolatesBadFeeds() async throws {
        let server = try LoopbackHTTPServer { request in
            switch request.pathWithoutQuery {
            case "/rss": return .text(FeedFixtures.rss)
            case "/atom": return .text(FeedFixtures.atom)
            case "/bad": return .text(FeedFixtures.malformed)
            default: return .text("gone", status: 404)
            }
        }
        let fetcher = NewsFetcher(transport: CurlHTTPClient(), timeoutSeconds: 5)
        let results = await fetcher.fetch([("wire", server.baseURL + "/rss"), ("notes", server.baseURL + "/atom"),
                                           ("bad", server.baseURL + "/bad"), ("gone", server.baseURL + "/nothing")])
        #expect(results.map(\.name) == ["wire", "notes", "bad", "gone"])
        #expect((try? results[0].result.get())?.count == 3)
        #expect((try? results[1].result.get())?.count == 2)
        if case .failure(.malformedXML) = results[2].result {} else { Issue.record("bad feed: \(results[2].result)") }
        #expect(results[3].result == .failure(.http(feed: "gone", status: 404)))
    }
}
