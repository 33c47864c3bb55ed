import Foundation
import Market
import Model
import TestSupport
import Testing

/// The shared real data beside the repository (`<repo root>/../shared/data`).
enum SharedData {
    static let directory = URL(fileURLWithPath: Fixtures.repoRoot).deletingLastPathComponent()
        .appendingPathComponent("shared/data").path

    static func path(_ name: String) -> String? {
        let p = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    static var btcPath: String? { path("coinbase_btcusd_1h.csv") }

    /// Skip message when the shared data is absent (CI clones `shared/` beside the repository).
    static let missing = "shared data not found at <repo root>/../shared/data (clone shared/ beside the repository)"

    /// The BTC rows parsed independently of the product's CSV reader: (time, open, high, low, close), oldest first.
    static func rawBTCRows() throws -> [(time: Int64, open: Double, high: Double, low: Double, close: Double)] {
        guard let path = btcPath else { throw TestFailure(missing) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [(Int64, Double, Double, Double, Double)] = []
        for line in text.split(whereSeparator: \.isNewline).dropFirst(2) {
            let f = line.split(separator: ",").map(String.init)
            // "2019-10-17 09-AM"
            let d = f[0]
            let y = Int(d.prefix(4)) ?? 0, m = Int(d.dropFirst(5).prefix(2)) ?? 0, day = Int(d.dropFirst(8).prefix(2)) ?? 0
            var h = Int(d.dropFirst(11).prefix(2)) ?? 0
            let pm = d.hasSuffix("PM")
            h = h % 12 + (pm ? 12 : 0)
            var comps = DateComponents()
            comps.year = y; comps.month = m; comps.day = day; comps.hour = h
            comps.timeZone = TimeZone(identifier: "UTC")
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC") ?? .current
            let t = Int64(cal.date(from: comps)?.timeIntervalSince1970 ?? 0)
            rows.append((t, Double(f[2]) ?? 0, Double(f[3]) ?? 0, Double(f[4]) ?? 0, Double(f[5]) ?? 0))
        }
        return rows.reversed()
    }

    /// The first `count` BTC candles through the product's loader.
    static func btcCandles(_ count: Int? = nil) throws -> CandleSeries {
        guard let path = btcPath else { throw TestFailure(missing) }
        var s = try CandleCSV.load(path: path)
        if let count { s.candles = Array(s.candles.prefix(count)) }
        return s
    }
}

/// An EMA written the plain way, for checking: SMA of the first `period` values, then alpha = 2/(n+1).
func handEMA(_ values: [Double], _ period: Int) -> [Double?] {
    var out: [Double?] = Array(repeating: nil, count: values.count)
    guard values.count >= period else { return out }
    var e = values[0..<period].reduce(0, +) / Double(period)
    out[period - 1] = e
    let a = 2.0 / Double(period + 1)
    for i in period..<values.count {
        e = a * values[i] + (1 - a) * e
        out[i] = e
    }
    return out
}

/// A test precondition that failed, with its reason.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
