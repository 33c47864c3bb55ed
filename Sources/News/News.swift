// RSS/Atom news ingestion for the M1 reviewer.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HTTP
import Model

/// One entry of a feed before tagging: what RSS `<item>` or Atom `<entry>` said.
public struct FeedEntry: Sendable, Equatable {
    public var title: String
    public var link: String?
    /// RSS `<guid>` or Atom `<id>`.
    public var guid: String?
    /// Unix seconds, when the feed gave a parseable date.
    public var published: Int64?
    public var summary: String?

    public init(title: String, link: String?, guid: String?, published: Int64?, summary: String?) {
        self.title = title
        self.link = link
        self.guid = guid
        self.published = published
        self.summary = summary
    }
}

/// Why a feed could not be read. Names the feed and, for XML errors, the line and column.
public enum FeedError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedXML(feed: String, line: Int, column: Int, message: String)
    case notAFeed(feed: String, root: String)
    case http(feed: String, status: Int)
    case transport(feed: String, message: String)

    public var description: String {
        switch self {
        case .malformedXML(let feed, let line, let column, let message):
            "feed \(feed): malformed XML at line \(line), column \(column): \(message)"
        case .notAFeed(let feed, let root):
            "feed \(feed): root element <\(root)> is neither RSS 2.0 <rss> nor Atom <feed>"
        case .http(let feed, let status):
            "feed \(feed): HTTP \(status)"
        case .transport(let feed, let message):
            "feed \(feed): \(message)"
        }
    }
}

/// Parses RSS 2.0 and Atom documents with Foundation's `XMLParser`.
public enum FeedParser {
    public static func parse(_ data: Data, feed: String) -> Result<[FeedEntry], FeedError> {
        let delegate = FeedDelegate()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        let ok = parser.parse()
        // FoundationXML on Linux may return true from `parse()` and still set `parserError` (e.g. mismatched tags).
        if !ok || parser.parserError != nil {
            let message = parser.parserError.map { e -> String in
                let ns = e as NSError
                return "XMLParser error \(ns.code)\(ns.code == 5 ? " (premature end or mismatched tag)" : ns.code == 4 ? " (empty or not XML)" : "")"
            } ?? "parse error"
            return .failure(.malformedXML(feed: feed, line: parser.lineNumber, column: parser.columnNumber, message: message))
        }
        guard let root = delegate.root, root == "rss" || root == "feed" || root == "rdf:RDF" else {
            return .failure(.notAFeed(feed: feed, root: delegate.root ?? "none"))
        }
        return .success(delegate.entries)
    }

    /// RFC 822 (RSS `pubDate`) or ISO 8601 (Atom `updated`/`published`) to Unix seconds.
    public static func date(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.isEmpty { return nil }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime]
        if let d = iso.date(from: t) { return Int64(d.timeIntervalSince1970) }
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = iso.date(from: t) { return Int64(d.timeIntervalSince1970) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEE, dd MMM yyyy HH:mm:ss Z", "dd MMM yyyy HH:mm:ss zzz",
                       "dd MMM yyyy HH:mm:ss Z", "EEE, dd MMM yyyy HH:mm zzz"] {
            f.dateFormat = format
            if let d = f.date(from: t) { return Int64(d.timeIntervalSince1970) }
        }
        return nil
    }
}

private final class FeedDelegate: NSObject, XMLParserDelegate {
    var root: String?
    var entries: [FeedEntry] = []
    private var current: [String: String]?
    private var link: String?
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        text = ""
        if name == "item" || name == "entry" {
            current = [:]
            link = nil
        } else if current != nil, name == "link", let href = attributes["href"] {
            // Atom: <link href="..." rel="alternate"/>; the first alternate (or rel-less) link wins.
            let rel = attributes["rel"] ?? "alternate"
            if rel == "alternate", link == nil { link = href }
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, foundCDATA block: Data) {
        text += String(decoding: block, as: UTF8.self)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard var item = current else { return }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch name {
        case "item", "entry":
            let title = Self.clean(item["title"] ?? "")
            if !title.isEmpty {
                let date = item["pubDate"] ?? item["published"] ?? item["updated"] ?? item["dc:date"] ?? ""
                entries.append(FeedEntry(title: title, link: link ?? item["link"].flatMap { $0.isEmpty ? nil : $0 },
                                         guid: (item["guid"] ?? item["id"]).flatMap { $0.isEmpty ? nil : $0 },
                                         published: FeedParser.date(date),
                                         summary: (item["description"] ?? item["summary"]).map(Self.clean)))
            }
            current = nil
            return
        case "title", "link", "guid", "id", "pubDate", "published", "updated", "dc:date", "description", "summary":
            if item[name] == nil { item[name] = value }
        default:
            break
        }
        current = item
        text = ""
    }

    /// Strips HTML tags and collapses whitespace; at most 500 characters.
    static func clean(_ s: String) -> String {
        var out = ""
        var inTag = false
        for ch in s {
            if ch == "<" { inTag = true; continue }
            if ch == ">" { inTag = false; out.append(" "); continue }
            if !inTag { out.append(ch) }
        }
        return String(out.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ").prefix(500))
    }
}

/// Tags the universe symbols an item mentions, by ticker (`BTC`, `$BTC`) or name (`Bitcoin`).
public struct SymbolTagger: Sendable {
    /// Symbol -> the words that mean it (ticker and names), lowercased.
    public let terms: [String: [String]]

    /// Well-known names by ticker; the universe decides which of them are used.
    public static let knownNames: [String: [String]] = [
        "BTC": ["bitcoin"], "ETH": ["ethereum", "ether"], "SOL": ["solana"], "XRP": ["ripple"],
        "ADA": ["cardano"], "DOGE": ["dogecoin"], "AVAX": ["avalanche"], "DOT": ["polkadot"],
        "LINK": ["chainlink"], "MATIC": ["polygon"], "POL": ["polygon"], "LTC": ["litecoin"],
        "BCH": ["bitcoin cash"], "ATOM": ["cosmos"], "UNI": ["uniswap"], "NEAR": ["near protocol"],
        "APT": ["aptos"], "ARB": ["arbitrum"], "OP": ["optimism"], "SUI": ["sui"], "PEPE": ["pepe"],
        "WIF": ["dogwifhat"], "BONK": ["bonk"], "SHIB": ["shiba inu"], "TON": ["toncoin"], "TRX": ["tron"],
        "FIL": ["filecoin"], "INJ": ["injective"], "TIA": ["celestia"], "SEI": ["sei network"],
    ]

    /// `symbols` are venue symbols such as `BTC-USD` or `BTCUSDT`; extra names may be added per base ticker.
    public init(symbols: [String], extraNames: [String: [String]] = [:]) {
        var t: [String: [String]] = [:]
        for symbol in symbols {
            let base = Self.base(of: symbol)
            guard !base.isEmpty else { continue }
            var words = [base.lowercased()]
            words += (Self.knownNames[base] ?? []) + (extraNames[base] ?? []).map { $0.lowercased() }
            t[symbol] = words
        }
        terms = t
    }

    static func base(of symbol: String) -> String {
        let upper = symbol.uppercased()
        if let dash = upper.firstIndex(where: { $0 == "-" || $0 == "/" }) { return String(upper[..<dash]) }
        for quote in ["USDT", "USDC", "USD"] where upper.hasSuffix(quote) && upper.count > quote.count {
            return String(upper.dropLast(quote.count))
        }
        return upper
    }

    /// The symbols `text` mentions, sorted. Matching is on whole words, case-insensitive.
    public func tag(_ text: String) -> [String] {
        let words = Self.words(text)
        let joined = " " + words.joined(separator: " ") + " "
        return terms.compactMap { symbol, names in
            names.contains { joined.contains(" " + $0 + " ") } ? symbol : nil
        }.sorted()
    }

    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }
}

/// Stable item ids, so the same story is one item however often it is fetched.
public enum NewsItemId {
    /// `n-` + 16 hex of FNV-1a 64 over (source | guid), or (source | normalised title) when there is no guid.
    public static func make(source: String, guid: String?, title: String) -> String {
        let key = guid.map { "\(source)|guid|\($0)" }
            ?? "\(source)|title|\(SymbolTagger.words(title).joined(separator: " "))"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "n-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// The result of fetching one allow-listed feed.
public struct FeedFetch: Sendable {
    public var name: String
    public var url: String
    public var result: Result<[FeedEntry], FeedError>
}

/// Fetches the allow-listed feeds over the project's HTTP client and turns their entries into tagged items.
public struct NewsFetcher: Sendable {
    public let transport: any HTTPTransport
    public let timeoutSeconds: Double

    public init(transport: any HTTPTransport, timeoutSeconds: Double) {
        self.transport = transport
        self.timeoutSeconds = timeoutSeconds
    }

    /// Fetches each feed (concurrently); one bad feed never hides the others.
    public func fetch(_ feeds: [(name: String, url: String)]) async -> [FeedFetch] {
        await withTaskGroup(of: (Int, FeedFetch).self) { group in
            for (i, feed) in feeds.enumerated() {
                group.addTask {
                    let request = HTTPRequest(method: "GET", url: feed.url,
                                              headers: [HTTPHeader("accept", "application/rss+xml, application/atom+xml, application/xml, text/xml")],
                                              timeout: timeoutSeconds, connectTimeout: min(timeoutSeconds, 5))
                    let result: Result<[FeedEntry], FeedError>
                    do {
                        let response = try await transport.send(request)
                        result = response.isSuccess ? FeedParser.parse(response.body, feed: feed.name)
                                                    : .failure(.http(feed: feed.name, status: response.status))
                    } catch {
                        result = .failure(.transport(feed: feed.name, message: "\(error)"))
                    }
                    return (i, FeedFetch(name: feed.name, url: SensitiveHeaders.redactedURL(feed.url), result: result))
                }
            }
            var out: [(Int, FeedFetch)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Items from entries: ids, symbol tags, the fetch time for undated entries. Items older than `maxAgeHours`
    /// and duplicates (same id) are dropped.
    public static func items(_ entries: [FeedEntry], source: String, tagger: SymbolTagger, now: Int64,
                             maxAgeHours: Double) -> [NewsItem] {
        var seen = Set<String>()
        var out: [NewsItem] = []
        for e in entries {
            let id = NewsItemId.make(source: source, guid: e.guid, title: e.title)
            let published = e.published ?? now
            guard seen.insert(id).inserted, Double(now - published) <= maxAgeHours * 3_600, published <= now + 3_600 else { continue }
            out.append(NewsItem(id: id, source: source, title: e.title, link: e.link, published: published,
                                symbols: tagger.tag(e.title + " " + (e.summary ?? "")),
                                summary: e.summary.map { String($0.prefix(300)) }))
        }
        return out
    }
}
