import Foundation

/// UTC calendar arithmetic on Unix seconds (Int64), valid far past year 3000.
public enum BacktestCalendar {
    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// (year, month, day) of a day number since 1970-01-01.
    public static func civil(days z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// `2019-10-17T09:00:00Z`.
    public static func iso(_ t: Int64) -> String {
        let d = floorDiv(t, 86_400)
        let s = t - d * 86_400
        let (y, m, day) = civil(days: d)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let digits = String(y)
        let year = y >= 0 && digits.count < 4 ? String(repeating: "0", count: 4 - digits.count) + digits : digits
        return "\(year)-\(two(m))-\(two(day))T\(two(s / 3_600)):\(two(s % 3_600 / 60)):\(two(s % 60))Z"
    }

    /// `t` plus `months` calendar months (the day clamped to the month's length), same time of day.
    public static func addMonths(_ t: Int64, _ months: Int) -> Int64 {
        let d = floorDiv(t, 86_400)
        let secs = t - d * 86_400
        let (y, m, day) = civil(days: d)
        let total = y * 12 + (m - 1) + Int64(months)
        let ny = floorDiv(total, 12)
        let nm = total - ny * 12 + 1
        let length = days(year: nm == 12 ? ny + 1 : ny, month: nm == 12 ? 1 : nm + 1, day: 1) - days(year: ny, month: nm, day: 1)
        return days(year: ny, month: nm, day: min(day, length)) * 86_400 + secs
    }

    /// Parses `2019-10-17`, `2019-10-17T09:00:00Z`, `2019-10-17 09:00` or Unix seconds (UTC).
    public static func parse(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let v = Int64(s) { return v }
        let b = Array(s.utf8)
        func num(_ at: Int, _ n: Int) -> Int64? {
            guard at + n <= b.count else { return nil }
            var v: Int64 = 0
            for c in b[at..<(at + n)] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 45, let m = num(5, 2), b[7] == 45, let d = num(8, 2),
              (1...12).contains(m), d >= 1, days(year: y, month: m, day: d) < days(year: m == 12 ? y + 1 : y, month: m == 12 ? 1 : m + 1, day: 1)
        else { return nil }  // 2026-02-30 is refused, not rolled into March
        var t = days(year: y, month: m, day: d) * 86_400
        if b.count == 10 { return t }
        guard b[10] == 84 || b[10] == 32, let h = num(11, 2), b.count >= 16, b[13] == 58, let mi = num(14, 2),
              h < 24, mi < 60 else { return nil }
        t += h * 3_600 + mi * 60
        var rest = 16
        if b.count >= 19, b[16] == 58, let sec = num(17, 2), sec < 60 {
            t += sec
            rest = 19
        }
        let tail = String(decoding: b[rest...], as: UTF8.self)
        return tail.isEmpty || tail == "Z" ? t : nil
    }
}
