import Foundation
import Model

/// JSON klines, `[[open_time, open, high, low, close, volume, ...], ...]` (Binance, freqtrade, ccxt), read
/// byte by byte from a file in chunks or from memory. Values are numbers or numeric strings; later columns
/// may be anything. Errors give `file:line:column` and the row and column index.
enum JSONCandles {
    /// Bytes with one byte of look-ahead, refilled from a file descriptor.
    struct Stream {
        let source: String
        private var fd: Int32 = -1
        private var buffer: UnsafeMutablePointer<UInt8>?
        private var owned = false
        private var count = 0
        private var index = 0
        private(set) var line = 1
        private(set) var column = 1
        private(set) var ioError: String?

        init(path: String) {
            source = path
            fd = open(path, O_RDONLY)
            if fd < 0 { ioError = String(cString: strerror(errno)) }
            buffer = .allocate(capacity: CandleBytes.chunkSize)
            owned = true
        }

        init(bytes: UnsafeBufferPointer<UInt8>) {
            source = ""
            buffer = UnsafeMutablePointer(mutating: bytes.baseAddress)
            count = bytes.count
        }

        mutating func close() {
            if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
            if owned { buffer?.deallocate(); buffer = nil; owned = false }
        }

        @inline(__always)
        mutating func peek() -> UInt8? {
            if index < count, let buffer { return buffer[index] }
            guard fd >= 0, let buffer else { return nil }
            while true {
                let n = Glibc.read(fd, buffer, CandleBytes.chunkSize)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { ioError = String(cString: strerror(errno)) }
                if n <= 0 {
                    count = 0
                    index = 0
                    return nil
                }
                count = n
                index = 0
                return buffer[0]
            }
        }

        @inline(__always)
        mutating func advance() {
            if let b = peek() {
                index += 1
                if b == 10 { line += 1; column = 1 } else { column += 1 }
            }
        }

        mutating func skipSpace() {
            while let b = peek(), b == 32 || b == 9 || b == 10 || b == 13 { advance() }
        }
    }

    static let names = ["open_time", "open", "high", "low", "close", "volume"]

    static func read<Sink: CandleSink>(_ s: inout Stream, _ options: CandleReader.Options,
                                       into sink: inout Sink) throws(MarketError) {
        defer { s.close() }
        if let e = s.ioError { throw MarketError(source: options.source, message: "cannot read file: \(e)") }
        let check = RowCheck(options)
        let numbers = CandleBytes.Numbers()
        func fail(_ message: String) -> MarketError {
            MarketError(source: "\(options.source):\(s.line):\(s.column)", message: message)
        }
        func found() -> String {
            guard let b = s.peek() else { return "the end of the file" }
            return b >= 32 && b < 127 ? "'\(Character(Unicode.Scalar(b)))'" : "byte \(b)"
        }
        let stem = URL(fileURLWithPath: options.source).deletingPathExtension().lastPathComponent
        sink.setSymbol(options.symbol ?? CandleReader.guessSymbol(stem))
        s.skipSpace()
        if s.peek() == 0xEF { s.advance(); s.advance(); s.advance(); s.skipSpace() }
        guard s.peek() == 91 else { throw fail("expected '[' (a JSON array of klines), found \(found())") }
        s.advance()
        s.skipSpace()
        var row = 0
        var scratch = [UInt8](repeating: 0, count: 64)
        if s.peek() == 93 {
            throw MarketError(source: options.source, message: "no candles")
        }
        while true {
            s.skipSpace()
            guard s.peek() == 91 else {
                throw fail("[\(row)]: expected a kline array [open_time, open, high, low, close, volume, ...], found \(found())")
            }
            let rowLine = s.line
            s.advance()
            var v = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            var column = 0
            s.skipSpace()
            if s.peek() != 93 {
                while true {
                    s.skipSpace()
                    if column < 6 {
                        let cellLine = s.line, cellColumn = s.column
                        guard let x = try scalar(&s, &scratch, numbers), x.isFinite else {
                            throw MarketError(source: "\(options.source):\(cellLine):\(cellColumn)",
                                              message: "[\(row)][\(column)] \(names[column]): expected a number or a numeric string")
                        }
                        KlineRow.set(&v, column, x)
                    } else {
                        try skipValue(&s, options.source)
                    }
                    column += 1
                    s.skipSpace()
                    if s.peek() == 44 { s.advance(); continue }
                    if s.peek() == 93 { break }
                    throw fail("[\(row)]: expected ',' or ']' in the kline, found \(found())")
                }
            }
            guard column >= 6 else {
                throw fail("[\(row)]: expected at least 6 values (open_time, open, high, low, close, volume), found \(column)")
            }
            s.advance() // ']'
            let candle = try KlineRow.candle(v, check: check, at: "\(options.source):\(rowLine) [\(row)]")
            try sink.add(candle.candle, raw: candle.raw, line: rowLine)
            row += 1
            s.skipSpace()
            if s.peek() == 44 { s.advance(); continue }
            if s.peek() == 93 { s.advance(); break }
            throw fail("expected ',' or ']' after kline [\(row - 1)], found \(found())")
        }
        s.skipSpace()
        if s.peek() != nil { throw fail("unexpected \(found()) after the end of the kline array") }
        if let e = s.ioError { throw MarketError(source: options.source, message: "cannot read file: \(e)") }
    }

    /// A number or a numeric string; nil for anything else (left unread).
    private static func scalar(_ s: inout Stream, _ scratch: inout [UInt8],
                               _ numbers: CandleBytes.Numbers) throws(MarketError) -> Double? {
        var quoted = false
        if s.peek() == 34 { quoted = true; s.advance() }
        var n = 0
        while let b = s.peek(), (b &- 48 < 10) || b == 45 || b == 43 || b == 46 || b == 101 || b == 69 {
            if n < scratch.count { scratch[n] = b }
            n += 1
            s.advance()
        }
        if quoted {
            guard s.peek() == 34 else { return nil }
            s.advance()
        }
        guard n > 0, n <= scratch.count else { return nil }
        return scratch.withUnsafeBufferPointer { numbers.double(UnsafeBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Skips any JSON value (string, number, literal, array, object).
    private static func skipValue(_ s: inout Stream, _ source: String) throws(MarketError) {
        func fail(_ message: String) -> MarketError {
            MarketError(source: "\(source):\(s.line):\(s.column)", message: message)
        }
        var depth = 0
        repeat {
            s.skipSpace()
            guard let b = s.peek() else { throw fail("unexpected end of the file inside a kline") }
            switch b {
            case 91, 123: depth += 1; s.advance()
            case 93, 125:
                guard depth > 0 else { return }
                depth -= 1
                s.advance()
            case 34:
                s.advance()
                while let c = s.peek(), c != 34 {
                    if c == 92 { s.advance() }
                    s.advance()
                }
                guard s.peek() == 34 else { throw fail("unterminated string") }
                s.advance()
            case 44, 58:
                guard depth > 0 else { return }
                s.advance()
            default:
                while let c = s.peek(), c != 44, c != 93, c != 125, c != 58, c != 32, c != 10, c != 13, c != 9 { s.advance() }
            }
        } while depth > 0
    }
}
