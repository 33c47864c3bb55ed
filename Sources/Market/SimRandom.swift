import Foundation

/// Stateless, stable hashing used by the simulated market.
///
/// Every random number in `SimMarket` is a pure function of `(seed, key, stream, index)`, so any hour of any
/// symbol can be regenerated on its own, bit for bit, without replaying history. Nothing here uses Swift's
/// per-process randomized `hashValue`.
enum SimHash {
    /// The splitmix64 finalizer: a bijective 64-bit mix with good avalanche.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 64-bit FNV-1a over the UTF-8 bytes of `text`: stable across processes and platforms.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// Hash of a key, a stream tag and a (possibly negative) index.
    @inline(__always)
    static func hash(_ key: UInt64, _ stream: UInt64, _ index: Int64) -> UInt64 {
        mix(mix(key ^ mix(stream)) ^ UInt64(bitPattern: index))
    }

    /// Uniform in (0, 1]; never exactly zero so it is safe under `log`.
    @inline(__always)
    static func unit(_ h: UInt64) -> Double {
        Double((h >> 11) + 1) * 0x1p-53
    }

    /// Uniform in (0, 1] for `(key, stream, index)`.
    @inline(__always)
    static func uniform(_ key: UInt64, _ stream: UInt64, _ index: Int64) -> Double {
        unit(hash(key, stream, index))
    }

    /// A standard normal deviate for `(key, stream, index)` (Box-Muller over two derived uniforms).
    @inline(__always)
    static func normal(_ key: UInt64, _ stream: UInt64, _ index: Int64) -> Double {
        let h = hash(key, stream, index)
        let u1 = unit(h)
        let u2 = unit(mix(h ^ 0x5851_F42D_4C95_7F2D))
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Stream tags: one per independent use of randomness.
enum SimStream {
    static let anchor: UInt64 = 1
    static let octave: UInt64 = 100 // + octave number
    static let bridge: UInt64 = 2
    static let slowVol: UInt64 = 3
    static let wickHigh: UInt64 = 4
    static let wickLow: UInt64 = 5
    static let volumeNoise: UInt64 = 6
    static let volumeSpike: UInt64 = 7
    static let crash: UInt64 = 8
    static let spread: UInt64 = 9
    static let depth: UInt64 = 10
    static let funding: UInt64 = 11
    static let catalog: UInt64 = 12
}

/// Floor division and modulo that round toward negative infinity (times may precede 1970).
@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}

@inline(__always)
func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    a - floorDiv(a, b) * b
}
