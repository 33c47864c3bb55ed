import Foundation

/// The hour-indexed generator behind `SimMarket`.
///
/// Point `p` is the instant `p * 3600`; bar `h` opens at point `h` and closes at point `h + 1`.
/// A log-price path is a sum of
/// - anchors every `blockHours` hours, each a pure function of the block index: an independent jitter plus
///   slow "octaves" (piecewise-linear value noise with periods of weeks to years) that give trends,
///   downtrends and chop;
/// - inside each block, a seeded random walk bridged between its two anchors (Brownian-bridge style), so
///   prices are continuous across blocks and any hour costs O(blockHours) to regenerate.
/// On top, a shared market factor carries rare crashes (scaled per symbol by beta).
struct SimEngine: Sendable {
    static let blockHours: Int64 = 48
    /// (period in hours, amplitude as a multiple of the path's volatility over that period)
    static let octaves: [(period: Int64, scale: Double)] = [
        (336, 0.55), (1_008, 0.55), (3_024, 0.5), (9_072, 0.45), (27_216, 0.4),
    ]
    static let anchorJitter = 0.6
    static let factorAnnualVol = 0.55
    static let hoursPerYear = 8_760.0

    // Crash schedule: at most one crash per window.
    static let crashWindow: Int64 = 1_440
    static let crashProbability = 0.55
    static let crashTaper: Int64 = 2_000

    let factorKey: UInt64
    let volKey: UInt64
    let crashKey: UInt64
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        factorKey = SimHash.hash(seed, SimHash.fnv1a("market-factor"), 0)
        volKey = SimHash.hash(seed, SimHash.fnv1a("market-vol"), 0)
        crashKey = SimHash.hash(seed, SimHash.fnv1a("market-crash"), 0)
    }

    func symbolKey(_ symbol: String) -> UInt64 {
        SimHash.hash(seed, SimHash.fnv1a(symbol), 1)
    }

    // MARK: - Crashes

    /// One market-wide crash: a sharp drop over a few hours, a quick partial recovery, then a slow fade.
    struct Crash: Sendable, Equatable {
        var start: Int64
        var logDepth: Double
        var dropHours: Int64
        var recovery: Double
        var recoveryHours: Double

        /// Contribution to the market factor's log level at point `p`.
        func level(at p: Int64) -> Double {
            let tau = p - start
            if tau <= 0 { return 0 }
            if tau < dropHours {
                let x = Double(tau) / Double(dropHours)
                return logDepth * x * x * (3 - 2 * x)
            }
            let after = tau - dropHours
            if after >= SimEngine.crashTaper { return 0 }
            let quick = 1 - recovery * (1 - exp(-Double(after) / recoveryHours))
            let fade = 1 - Double(after) / Double(SimEngine.crashTaper)
            return logDepth * quick * fade * fade
        }

        /// Extra volatility / volume multiplier for the bar opening at hour `h`.
        func excitement(at h: Int64) -> Double {
            let tau = h - start
            if tau < 0 || tau > 400 { return 0 }
            return exp(-Double(tau) / 36)
        }
    }

    /// The crash of window `w`, if any.
    func crash(inWindow w: Int64) -> Crash? {
        let u = { (k: Int64) in SimHash.uniform(self.crashKey, SimStream.crash, w &* 8 &+ k) }
        guard u(0) < Self.crashProbability else { return nil }
        let start = w * Self.crashWindow + Int64(u(1) * Double(Self.crashWindow - 48))
        let depth = 0.15 + 0.20 * u(2)
        return Crash(start: start, logDepth: log(1 - depth), dropHours: 3 + Int64(u(3) * 5),
                     recovery: 0.3 + 0.4 * u(4), recoveryHours: 24 + 144 * u(5))
    }

    /// Crashes whose effect overlaps points `a...b`.
    func crashes(overlapping a: Int64, _ b: Int64) -> [Crash] {
        let longest = 8 + Self.crashTaper
        let first = floorDiv(a - longest, Self.crashWindow)
        let last = floorDiv(b, Self.crashWindow)
        var out: [Crash] = []
        var w = first
        while w <= last {
            if let c = crash(inWindow: w), c.start <= b, c.start + longest >= a { out.append(c) }
            w += 1
        }
        return out
    }

    // MARK: - Paths

    /// Piecewise-linear value noise of unit-ish variance with lattice spacing `period` hours.
    func valueNoise(_ key: UInt64, _ stream: UInt64, _ p: Int64, period: Int64) -> Double {
        let i = floorDiv(p, period)
        let frac = Double(p - i * period) / Double(period)
        let n0 = SimHash.normal(key, stream, i)
        let n1 = SimHash.normal(key, stream, i + 1)
        return n0 + (n1 - n0) * frac
    }

    /// Log-level of a path at anchor `k` (point `k * blockHours`).
    func anchor(_ key: UInt64, sigmaH: Double, block k: Int64) -> Double {
        let p = k * Self.blockHours
        var level = Self.anchorJitter * sigmaH * Double(Self.blockHours).squareRoot()
            * SimHash.normal(key, SimStream.anchor, k)
        for (j, octave) in Self.octaves.enumerated() {
            level += octave.scale * sigmaH * Double(octave.period).squareRoot()
                * valueNoise(key, SimStream.octave + UInt64(j), p, period: octave.period)
        }
        return level
    }

    /// Market-wide state over a block-aligned span of hours.
    struct MarketSpan: Sendable {
        /// First hour of the block-aligned span (`volMult[0]` is for the bar opening then).
        var alignedStart: Int64
        /// Volatility multiplier per bar over the aligned span (slow vol regimes times crash excitement).
        var volMult: [Double]
        /// Volume multiplier per bar over the aligned span (crash excitement).
        var volumeMult: [Double]
        /// First point of `factor`.
        var first: Int64
        /// Market factor log level (random path plus crashes) at points `first...`.
        var factor: [Double]
    }

    /// Market state for points `a...b` (`a <= b`).
    func marketSpan(points a: Int64, through b: Int64) -> MarketSpan {
        let alignedStart = floorDiv(a, Self.blockHours) * Self.blockHours
        let alignedEnd = (floorDiv(b, Self.blockHours) + 1) * Self.blockHours
        let crashes = crashes(overlapping: alignedStart, alignedEnd)
        let count = Int(alignedEnd - alignedStart)
        var volMult = [Double](repeating: 1, count: count)
        var volumeMult = [Double](repeating: 1, count: count)
        for i in 0..<count {
            let h = alignedStart + Int64(i)
            let slow = exp(0.3 * valueNoise(volKey, SimStream.slowVol, h, period: 720) - 0.045)
            var excitement = 0.0
            for c in crashes { excitement += c.excitement(at: h) }
            volMult[i] = slow * (1 + 2.5 * excitement)
            volumeMult[i] = 1 + 4 * excitement
        }
        let sigma = Self.factorAnnualVol / Self.hoursPerYear.squareRoot()
        var factor = pathLevels(factorKey, sigmaH: sigma, from: a, through: b,
                                volMult: volMult, alignedStart: alignedStart)
        for i in factor.indices {
            let p = a + Int64(i)
            for c in crashes { factor[i] += c.level(at: p) }
        }
        return MarketSpan(alignedStart: alignedStart, volMult: volMult, volumeMult: volumeMult,
                          first: a, factor: factor)
    }

    /// Log levels of path `key` at points `a...b`: anchors bridged by a seeded walk, block by block.
    func pathLevels(_ key: UInt64, sigmaH: Double, from a: Int64, through b: Int64,
                    volMult: [Double], alignedStart: Int64) -> [Double] {
        let blockLen = Int(Self.blockHours)
        var out: [Double] = []
        out.reserveCapacity(Int(b - a + 1))
        var walk = [Double](repeating: 0, count: blockLen + 1)
        var k = floorDiv(a, Self.blockHours)
        var nextAnchor = anchor(key, sigmaH: sigmaH, block: k)
        while k * Self.blockHours <= b {
            let start = k * Self.blockHours
            let a0 = nextAnchor
            let a1 = anchor(key, sigmaH: sigmaH, block: k + 1)
            nextAnchor = a1
            var s = 0.0
            for i in 0..<blockLen {
                let h = start + Int64(i)
                let vi = Int(h - alignedStart)
                let mult = (vi >= 0 && vi < volMult.count) ? volMult[vi] : 1
                s += SimHash.normal(key, SimStream.bridge, h) * sigmaH * mult
                walk[i + 1] = s
            }
            let total = walk[blockLen]
            for i in 0..<blockLen {
                let p = start + Int64(i)
                if p < a || p > b { continue }
                let frac = Double(i) / Double(blockLen)
                out.append(a0 + (a1 - a0) * frac + walk[i] - frac * total)
            }
            k += 1
        }
        return out
    }
}
