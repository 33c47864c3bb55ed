import Foundation

/// UTC times as Unix seconds, formatted and parsed without locale or time zone surprises.
public enum UTC {
    private static func parts(_ t: Int64) -> tm {
        var time = time_t(t)
        var out = tm()
        gmtime_r(&time, &out)
        return out
    }

    /// `YYYY<d>MM<d>DDThh<t>mm<t>ssZ`, zero-padded by hand (it is built for every cycle; `String(format:)` is slow).
    private static func stamp(_ p: tm, dateSeparator: String, timeSeparator: String) -> String {
        let year = p.tm_year + 1900
        if (0...9999).contains(year), dateSeparator.utf8.count <= 1, timeSeparator.utf8.count <= 1 {
            let d = dateSeparator.utf8.first, t = timeSeparator.utf8.first
            // The usual case in one buffer: no intermediate strings (a backtest formats one per bar).
            return String(unsafeUninitializedCapacity: 20) { buffer in
                var i = 0
                func put(_ value: Int32, _ width: Int) {
                    var v = Int(value), k = width
                    while k > 0 {
                        k -= 1
                        buffer[i + k] = UInt8(48 + v % 10)
                        v /= 10
                    }
                    i += width
                }
                func mark(_ byte: UInt8?) {
                    guard let byte else { return }
                    buffer[i] = byte
                    i += 1
                }
                put(year, 4); mark(d); put(p.tm_mon + 1, 2); mark(d); put(p.tm_mday, 2); mark(84)  // T
                put(p.tm_hour, 2); mark(t); put(p.tm_min, 2); mark(t); put(p.tm_sec, 2); mark(90)  // Z
                return i
            }
        }
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return pad(p.tm_year + 1900, 4) + dateSeparator + pad(p.tm_mon + 1, 2) + dateSeparator + pad(p.tm_mday, 2) + "T"
            + pad(p.tm_hour, 2) + timeSeparator + pad(p.tm_min, 2) + timeSeparator + pad(p.tm_sec, 2) + "Z"
    }

    /// `2026-11-20T22:00:00Z`
    public static func iso8601(_ t: Int64) -> String {
        let p = parts(t)
        return stamp(p, dateSeparator: "-", timeSeparator: ":")
    }

    /// `20261120T220000Z`
    public static func compact(_ t: Int64) -> String {
        let p = parts(t)
        return stamp(p, dateSeparator: "", timeSeparator: "")
    }

    /// Parses `2026-11-20T22:00:00Z`, `2026-11-20T22:00Z`, `2026-11-20 22:00:00`, `2026-11-20`, with an
    /// optional `+hh:mm`/`-hh:mm` offset, or Unix seconds. Nil when it is none of these.
    public static func parse(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(s) { return seconds }
        let scanner = Scanner(string: s)
        scanner.charactersToBeSkipped = nil
        func number(_ digits: Int) -> Int? {
            guard let n = scanner.scanCharacters(from: .decimalDigits), n.count == digits else { return nil }
            return Int(n)
        }
        guard let year = number(4), scanner.scanString("-") != nil, let month = number(2), scanner.scanString("-") != nil,
              let day = number(2), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var hour = 0, minute = 0, second = 0
        if scanner.scanString("T") != nil || scanner.scanString(" ") != nil {
            guard let h = number(2), scanner.scanString(":") != nil, let m = number(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if scanner.scanString(":") != nil {
                // No leap seconds: `23:59:60` would silently become the next day.
                guard let sec = number(2), sec < 60 else { return nil }
                second = sec
                if scanner.scanString(".") != nil { _ = scanner.scanCharacters(from: .decimalDigits) }
            }
        }
        var offset = 0
        if scanner.scanString("Z") != nil {
        } else if let sign = scanner.scanCharacters(from: CharacterSet(charactersIn: "+-")) {
            guard sign.count == 1, let oh = number(2) else { return nil }
            _ = scanner.scanString(":")
            let om = number(2) ?? 0
            offset = (oh * 3600 + om * 60) * (sign == "-" ? -1 : 1)
        }
        guard scanner.isAtEnd else { return nil }
        var p = tm()
        p.tm_year = Int32(year - 1900)
        p.tm_mon = Int32(month - 1)
        p.tm_mday = Int32(day)
        p.tm_hour = Int32(hour)
        p.tm_min = Int32(minute)
        p.tm_sec = Int32(second)
        return Int64(timegm(&p)) - Int64(offset)
    }

    /// The days of `month` (1-12) in `year`, Gregorian.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The longest span accepted from the command line: a hundred years, far inside `Int64` seconds.
    public static let maxDuration: Int64 = 100 * 366 * 86_400

    /// Durations like `30m`, `24h`, `7d`, `2w` in seconds, at most ``maxDuration``.
    public static func duration(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = s.last, let value = Double(s.dropLast()), value >= 0, value.isFinite,
              value <= Double(maxDuration) else { return nil }
        let scale: Double
        switch unit {
        case "s": scale = 1
        case "m": scale = 60
        case "h": scale = 3_600
        case "d": scale = 86_400
        case "w": scale = 604_800
        default: return nil
        }
        let seconds = value * scale
        guard seconds <= Double(maxDuration) else { return nil }
        return Int64(seconds)
    }

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
    /// The wall clock in Unix milliseconds (stream and guard times).
    public static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000).rounded(.down)) }
}
