import Model

/// Mirror tiling of a candle series for benchmarks: copy 0 as recorded, copy 1 backwards in time, copy 2
/// forwards again, and so on, so prices join continuously and stay in the recorded range. A backwards bar
/// swaps open and close (its high and low stay). Times continue on a regular grid in seconds (Int64):
/// 10 million hourly bars reach year 3158 with no overflow.
public struct MirrorTile: Sendable {
    public let base: [Candle]
    public let count: Int
    public let interval: Int64
    public let startTime: Int64

    /// `count` bars tiled from `base` (oldest first).
    public init(base: [Candle], count: Int, interval: Int64 = 3_600) {
        self.base = base
        self.count = max(0, base.isEmpty ? 0 : count)
        self.interval = interval
        self.startTime = base.first?.time ?? 0
    }

    /// Bar `i` of the tiled series.
    @inline(__always)
    public func candle(_ i: Int) -> Candle {
        let n = base.count
        let copy = i / n
        let j = i - copy * n
        let time = startTime + Int64(i) * interval
        if copy % 2 == 0 {
            var c = base[j]
            c.time = time
            return c
        }
        let b = base[n - 1 - j]
        return Candle(time: time, open: b.close, high: b.high, low: b.low, close: b.open, volume: b.volume)
    }

    /// Calls `body(time, open, close)` for every bar in order, without materialising the series.
    @inline(__always)
    public func forEachOpenClose(_ body: (Int64, Double, Double) -> Void) {
        let n = base.count
        guard n > 0 else { return }
        let opens = base.map(\.open)
        let closes = base.map(\.close)
        var i = 0
        var time = startTime
        var copy = 0
        while i < count {
            let len = min(n, count - i)
            if copy % 2 == 0 {
                for j in 0..<len {
                    body(time, opens[j], closes[j])
                    time += interval
                }
            } else {
                for j in 0..<len {
                    body(time, closes[n - 1 - j], opens[n - 1 - j])
                    time += interval
                }
            }
            i += len
            copy += 1
        }
    }

    /// The whole tiled series (memory: 48 bytes per bar).
    public func materialize() -> [Candle] {
        var out: [Candle] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(candle(i)) }
        return out
    }
}
