import Foundation
import Model

/// Byte-level building blocks of the candle readers: a chunked line reader over a file descriptor (the text is
/// never held whole), ASCII field splitting, and number and date parsing straight from bytes. Nothing here goes
/// through Foundation's string APIs per field; a `String` is only built for the header and for error messages.
enum CandleBytes {
    /// A view of one line's bytes (no terminator).
    typealias Line = UnsafeBufferPointer<UInt8>

    static let comma: UInt8 = 44, quote: UInt8 = 34, space: UInt8 = 32, tab: UInt8 = 9
    static let newline: UInt8 = 10, carriageReturn: UInt8 = 13

    /// Read size of the line reader; a longer line grows the buffer.
    static let chunkSize = 1 << 20

    // MARK: - Lines

    /// Calls `body(line, number)` for every line of the file at `path` (1-based numbers), reading it in chunks.
    /// Lines end at `\n`, `\r\n` or a lone `\r`. Errors opening or reading name `path`.
    static func forEachLine<E: Error>(path: String,
                                      _ body: (Line, Int) throws(E) -> Void) throws(CandleReadFailure<E>) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw .io(MarketError(source: path, message: "cannot read file: \(String(cString: strerror(errno)))"))
        }
        defer { close(fd) }
        var capacity = chunkSize
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        var number = 1
        while true {
            if filled == capacity {
                // One line longer than the buffer: grow it.
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                bigger.update(from: buffer, count: filled)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let n = read(fd, buffer + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(MarketError(source: path, message: "cannot read file: \(String(cString: strerror(errno)))"))
            }
            let atEnd = n == 0
            filled += n
            let consumed: Int
            do {
                consumed = try lines(UnsafeBufferPointer(start: buffer, count: filled), final: atEnd, number: &number, body)
            } catch {
                throw .body(error)
            }
            if atEnd { return }
            if consumed > 0 {
                memmove(buffer, buffer + consumed, filled - consumed)
                filled -= consumed
            }
        }
    }

    /// Calls `body` for every line of `bytes` (all of it: the last line needs no terminator).
    static func forEachLine<E: Error>(bytes: UnsafeBufferPointer<UInt8>, _ body: (Line, Int) throws(E) -> Void) throws(E) {
        var number = 1
        _ = try lines(bytes, final: true, number: &number, body)
    }

    /// The complete lines of `bytes`; returns how many bytes were consumed. Unless `final`, a trailing partial
    /// line (or a trailing `\r` that a `\n` may follow) is left for the next call.
    @inline(__always)
    private static func lines<E: Error>(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, number: inout Int,
                                        _ body: (Line, Int) throws(E) -> Void) throws(E) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let end = bytes.count
        var start = 0
        // Lone `\r` are rare: look for one once per chunk, then per line only if the chunk has any.
        let anyReturn = memchr(base, Int32(carriageReturn), end) != nil
        while start < end {
            let found = memchr(base + start, Int32(newline), end - start)
            let stop: Int
            if let found {
                stop = UnsafePointer(found.assumingMemoryBound(to: UInt8.self)) - base
            } else {
                if !final { return start }
                stop = end
            }
            // Lone `\r` inside the line are line breaks too; a trailing `\r` belongs to `\r\n`.
            var lineStart = start
            while anyReturn, let cr = memchr(base + lineStart, Int32(carriageReturn), stop - lineStart) {
                let at = UnsafePointer(cr.assumingMemoryBound(to: UInt8.self)) - base
                if at == stop - 1 && found != nil { break }
                try body(Line(start: base + lineStart, count: at - lineStart), number)
                number += 1
                lineStart = at + 1
                if lineStart >= stop { break }
            }
            var lineEnd = stop
            if lineEnd > lineStart, base[lineEnd - 1] == carriageReturn { lineEnd -= 1 }
            if lineStart < stop || found != nil {
                try body(Line(start: base + lineStart, count: lineEnd - lineStart), number)
                number += 1
            }
            start = stop + 1
        }
        return min(start, end)
    }

    /// True if the line is empty or only spaces and tabs.
    @inline(__always)
    static func isBlank(_ line: Line) -> Bool {
        for b in line where b != space && b != tab { return false }
        return true
    }

    // MARK: - Fields

    /// Field boundaries of one line: `starts[i] ..< ends[i]`, trimmed of spaces and tabs and of one pair of
    /// surrounding double quotes. Reused from line to line (no allocation per row).
    struct Fields {
        private(set) var starts: UnsafeMutableBufferPointer<Int>
        private(set) var ends: UnsafeMutableBufferPointer<Int>
        /// Fields found (at most `limit`).
        private(set) var count = 0
        /// Whether the line has more fields than were split.
        private(set) var truncated = false

        init(capacity: Int) {
            starts = .allocate(capacity: max(capacity, 1))
            ends = .allocate(capacity: max(capacity, 1))
        }

        func deallocate() {
            starts.deallocate()
            ends.deallocate()
        }

        /// Splits `line` at commas into at most `limit` fields (the rest of the line is not scanned).
        @inline(__always)
        mutating func split(_ line: Line, limit: Int) {
            let limit = min(limit, starts.count)
            count = 0
            truncated = false
            guard let p = line.baseAddress else {
                if limit > 0 { starts[0] = 0; ends[0] = 0; count = 1 }
                return
            }
            let n = line.count
            var fieldStart = 0
            var i = 0
            while true {
                while i < n && p[i] != CandleBytes.comma { i += 1 }
                var s = fieldStart, e = i
                while s < e && (p[s] == CandleBytes.space || p[s] == CandleBytes.tab) { s += 1 }
                while e > s && (p[e - 1] == CandleBytes.space || p[e - 1] == CandleBytes.tab) { e -= 1 }
                if e - s >= 2 && p[s] == CandleBytes.quote && p[e - 1] == CandleBytes.quote { s += 1; e -= 1 }
                starts[count] = s
                ends[count] = e
                count += 1
                if i >= n { return }
                i += 1
                fieldStart = i
                if count == limit {
                    truncated = true
                    return
                }
            }
        }

        /// Field `i` of `line` as bytes.
        @inline(__always)
        func bytes(_ i: Int, in line: Line) -> Line {
            Line(rebasing: line[starts[i]..<ends[i]])
        }
    }

    /// How many comma-separated fields `line` has (for error messages).
    static func fieldCount(_ line: Line) -> Int {
        var n = 1
        for b in line where b == comma { n += 1 }
        return n
    }

    /// The trimmed, unquoted text of every field (header lines and messages only).
    static func strings(_ line: Line) -> [String] {
        var fields = Fields(capacity: fieldCount(line) + 1)
        defer { fields.deallocate() }
        fields.split(line, limit: Int.max)
        return (0..<fields.count).map { text(fields.bytes($0, in: line)) }
    }

    static func text(_ bytes: Line) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: - Numbers

    /// Powers of ten that are exact in a Double.
    private static let exactPowers: [Double] = (0...22).map { (0..<$0).reduce(1.0) { r, _ in r * 10 } }

    /// A number parser with its tables fetched once (use one per file).
    struct Numbers {
        private let powers = CandleBytes.exactPowers

        /// The value of `bytes` as `Double(String)` would read it, or nil. Plain decimals of up to 19
        /// significant digits with a small exponent are converted exactly here (Clinger's fast path: one
        /// correctly rounded multiplication or division); anything else goes through `Double(String)`.
        @inline(__always)
        func double(_ bytes: Line) -> Double? {
            guard let p = bytes.baseAddress, bytes.count > 0 else { return nil }
            let n = bytes.count
            var i = 0
            var negative = false
            if p[0] == 45 { negative = true; i = 1 } else if p[0] == 43 { i = 1 }
            var mantissa: UInt64 = 0
            var significant = 0
            var exponent = 0
            var intDigits = 0, fracDigits = 0
            while i < n {
                let d = p[i] &- 48
                if d >= 10 { break }
                if mantissa != 0 || d != 0 { significant += 1 }
                mantissa = mantissa &* 10 &+ UInt64(d)
                intDigits += 1
                i += 1
            }
            if i < n && p[i] == 46 {
                i += 1
                while i < n {
                    let d = p[i] &- 48
                    if d >= 10 { break }
                    if mantissa != 0 || d != 0 { significant += 1 }
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    exponent -= 1
                    fracDigits += 1
                    i += 1
                }
            }
            if i < n && (p[i] == 101 || p[i] == 69) {
                i += 1
                var expNegative = false
                if i < n && (p[i] == 45 || p[i] == 43) { expNegative = p[i] == 45; i += 1 }
                var e = 0, expDigits = 0
                while i < n, p[i] &- 48 < 10, expDigits < 5 {
                    e = e * 10 + Int(p[i] &- 48)
                    expDigits += 1
                    i += 1
                }
                if expDigits == 0 { return slow(bytes) }
                exponent += expNegative ? -e : e
            }
            guard i == n, intDigits > 0, significant <= 19, mantissa <= 1 << 53, exponent >= -22, exponent <= 22,
                  fracDigits > 0 || p[n - 1] != 46
            else { return slow(bytes) }
            let m = Double(mantissa)
            let v = exponent >= 0 ? m * powers[exponent] : m / powers[-exponent]
            return negative ? -v : v
        }

        private func slow(_ bytes: Line) -> Double? { Double(CandleBytes.text(bytes)) }

        /// The first six fields of a kline row in one pass, when each is a plain decimal (`-`? digits, then
        /// `.` and digits, at most 19 digits in all, no space or quote) ended by a comma or the line's end;
        /// nil for anything else (the caller then splits and parses field by field, with its messages). The
        /// value is the fast path of `double` (exact mantissa, one correctly rounded division by a power of
        /// ten), so it is bit for bit what `double` returns for the same text.
        @inline(__always)
        func klineFields(_ line: Line) -> (Double, Double, Double, Double, Double, Double)? {
            guard let p = line.baseAddress else { return nil }
            let n = line.count
            var i = 0
            @inline(__always) func field() -> Double? {
                var negative = false
                if i < n && p[i] == 45 { negative = true; i &+= 1 }
                let start = i
                var mantissa: UInt64 = 0
                while i < n {
                    let d = p[i] &- 48
                    if d >= 10 { break }
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    i &+= 1
                }
                let intDigits = i &- start
                var fracDigits = 0
                if i < n && p[i] == 46 {
                    i &+= 1
                    let fracStart = i
                    while i < n {
                        let d = p[i] &- 48
                        if d >= 10 { break }
                        mantissa = mantissa &* 10 &+ UInt64(d)
                        i &+= 1
                    }
                    fracDigits = i &- fracStart
                    if fracDigits == 0 { return nil }
                }
                guard intDigits > 0, intDigits &+ fracDigits <= 19, mantissa <= 1 << 53, i == n || p[i] == 44
                else { return nil }
                i &+= 1
                let m = Double(mantissa)
                let v = fracDigits == 0 ? m : m / powers[fracDigits]
                return negative ? -v : v
            }
            guard let t = field(), let o = field(), let h = field(), let l = field(), let c = field() else { return nil }
            // The fifth field must have ended at a comma (a sixth follows).
            guard i <= n, let v = field() else { return nil }
            return (t, o, h, l, c, v)
        }
    }

    /// Unix seconds from a number of seconds, milliseconds (>= 1e11) or microseconds (>= 1e14); nil when it
    /// cannot be a time (not finite, or beyond year 9999).
    @inline(__always)
    static func epochSeconds(_ raw: Double) -> Int64? {
        let s = raw >= 1e14 ? raw / 1e6 : raw >= 1e11 ? raw / 1e3 : raw
        guard s.isFinite, s > -62_135_596_800, s < 253_402_300_800 else { return nil }
        return Int64(s.rounded(.down))
    }

    // MARK: - Dates

    /// Unix seconds for one date cell, or nil: `2019-10-17 09-AM`, `YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|±HH[:]MM]`
    /// (space or `T`), or Unix seconds/milliseconds.
    static func time(_ cell: Line) -> Int64? {
        guard let p = cell.baseAddress, cell.count > 0 else { return nil }
        let n = cell.count
        @inline(__always) func digits(_ at: Int, _ count: Int) -> Int? {
            guard at >= 0, at + count <= n else { return nil }
            var v = 0
            for k in at..<(at + count) {
                let d = p[k] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            return v
        }
        // Unix seconds or milliseconds (optionally fractional).
        if p[0] &- 48 < 10 {
            var numeric = true
            for b in cell where !(b &- 48 < 10 || b == 46) { numeric = false; break }
            if numeric {
                guard let v = Numbers().double(cell), v.isFinite else { return nil }
                let seconds = v >= 1e11 ? v / 1_000 : v
                guard seconds < 253_402_300_800 else { return nil }
                return Int64(seconds.rounded(.down))
            }
        }
        guard n >= 10, let year = digits(0, 4), year >= 1, p[4] == 45, let month = digits(5, 2), p[7] == 45,
              let day = digits(8, 2), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let midnight = daysFromCivil(year: year, month: month, day: day) * 86_400
        if n == 10 { return midnight }
        guard p[10] == 32 || p[10] == 84 || p[10] == 116 else { return nil } // ' ', 'T', 't'
        var restEnd = n
        let rest = 11
        // CryptoDataDownload: `09-AM`, `12-PM`.
        if n - rest == 5, p[rest + 2] == 45, let hour = digits(rest, 2) {
            let a = p[rest + 3] | 0x20, m = p[rest + 4] | 0x20
            guard (1...12).contains(hour), a == 97 || a == 112, m == 109 else { return nil }
            return midnight + Int64(hour % 12 + (a == 112 ? 12 : 0)) * 3_600
        }
        // HH:MM[:SS[.fff]][Z|±HH[:]MM]
        var offset: Int64 = 0
        if p[n - 1] == 90 || p[n - 1] == 122 { // Z
            restEnd = n - 1
        } else if n - rest > 6 {
            var signAt = -1
            for k in stride(from: n - 1, through: rest, by: -1) where p[k] == 43 || p[k] == 45 {
                signAt = k
                break
            }
            if signAt - rest >= 5 {
                var zone: [Int] = []
                for k in (signAt + 1)..<n where p[k] != 58 {
                    let d = p[k] &- 48
                    guard d < 10 else { return nil }
                    zone.append(Int(d))
                }
                guard zone.count == 4 || zone.count == 2 else { return nil }
                let zh = zone[0] * 10 + zone[1]
                let zm = zone.count == 4 ? zone[2] * 10 + zone[3] : 0
                guard zh <= 23, zm <= 59 else { return nil }
                offset = Int64(zh * 3_600 + zm * 60) * (p[signAt] == 45 ? -1 : 1)
                restEnd = signAt
            }
        }
        // Clock: HH:MM or HH:MM:SS[.fff]
        let length = restEnd - rest
        guard length == 5 || length >= 8, p[rest + 2] == 58, let hour = digits(rest, 2), (0...23).contains(hour),
              let minute = digits(rest + 3, 2), (0...59).contains(minute)
        else { return nil }
        var second = 0
        if length >= 8 {
            guard p[rest + 5] == 58, let sec = digits(rest + 6, 2), (0...60).contains(sec) else { return nil }
            if length > 8 {
                guard p[rest + 8] == 46, length > 9 else { return nil }
                for k in (rest + 9)..<restEnd where p[k] &- 48 >= 10 { return nil }
            }
            second = sec
        }
        return midnight + Int64(hour * 3_600 + minute * 60 + second) - offset
    }

    static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (year >= 1).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        func leapsBefore(_ y: Int) -> Int { (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 }
        var days = 365 * (year - 1970) + leapsBefore(year) - leapsBefore(1970)
        for m in 1..<month { days += daysIn(month: m, year: year) }
        return Int64(days + day - 1)
    }

    /// `2019-10-17T09:00:00Z` for messages.
    static func iso(_ t: Int64) -> String {
        let days = t >= 0 ? t / 86_400 : -((-t + 86_399) / 86_400)
        let secs = t - days * 86_400
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3_600)):\(two(secs % 3_600 / 60)):\(two(secs % 60))Z"
    }
}

/// Either the reader's own failure (opening or reading the file) or one its line handler threw.
enum CandleReadFailure<E: Error>: Error {
    case io(MarketError)
    case body(E)
}
